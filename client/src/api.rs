//! The extension's SQL API, each call as the one statement it is on one executor: its SQL, its
//! bind parameters and what the client makes of the answer. The handles run these in a
//! transaction of their own or on the caller's executor.
//!
//! Every argument is a `text` bind parameter, never spliced into SQL text, and every statement
//! is unnamed (`persistent(false)`): a named prepared statement does not survive from one
//! transaction to the next behind a transaction pooler.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::{Arguments, Executor, Postgres};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::credentials::CredentialMap;
use crate::error::VaultError;
use crate::reference::{CredentialReference, IntegrationId, VaultSecretId};

const STORE_SQL: &str =
    "select vault_secret_id, created_at from public.vault_store_integration_credentials($1, $2)";
const ROTATE_SQL: &str =
    "select vault_secret_id, created_at from public.vault_rotate_integration_credentials($1, $2)";
const DELETE_SQL: &str = "select public.vault_delete_integration_credentials($1)";
const LIST_SQL: &str =
    "select vault_secret_id, created_at from public.vault_list_integration_credentials($1)";
// As text, so the plaintext lands in one String that is then wiped, not in a JSON value tree.
const RETRIEVE_SQL: &str = "select public.vault_retrieve_integration_credentials($1)::text";

pub(crate) async fn store<'c>(
    executor: impl Executor<'c, Database = Postgres>,
    integration_id: IntegrationId,
    credentials: &CredentialMap,
) -> Result<CredentialReference, VaultError> {
    let (id, json) = (integration_id.to_string(), credentials.expose_json());
    the_only(references(executor, STORE_SQL, &[&id, &json]).await?)
}

pub(crate) async fn rotate<'c>(
    executor: impl Executor<'c, Database = Postgres>,
    vault_secret_id: VaultSecretId,
    credentials: &CredentialMap,
) -> Result<CredentialReference, VaultError> {
    let (id, json) = (vault_secret_id.to_string(), credentials.expose_json());
    the_only(references(executor, ROTATE_SQL, &[&id, &json]).await?)
}

pub(crate) async fn delete<'c>(
    executor: impl Executor<'c, Database = Postgres>,
    vault_secret_id: VaultSecretId,
) -> Result<(), VaultError> {
    let id = vault_secret_id.to_string();
    sqlx::query_with(DELETE_SQL, text_arguments(&[&id])?)
        .persistent(false)
        .execute(executor)
        .await?;
    Ok(())
}

pub(crate) async fn list<'c>(
    executor: impl Executor<'c, Database = Postgres>,
    integration_id: IntegrationId,
) -> Result<Vec<CredentialReference>, VaultError> {
    let id = integration_id.to_string();
    references(executor, LIST_SQL, &[&id]).await
}

pub(crate) async fn retrieve<'c>(
    executor: impl Executor<'c, Database = Postgres>,
    vault_secret_id: VaultSecretId,
) -> Result<CredentialMap, VaultError> {
    let id = vault_secret_id.to_string();
    let text: String = sqlx::query_scalar_with(RETRIEVE_SQL, text_arguments(&[&id])?)
        .persistent(false)
        .fetch_one(executor)
        .await?;
    credentials_from_server(&Zeroizing::new(text))
}

/// Every argument as a `text` bind parameter.
fn text_arguments(binds: &[&str]) -> Result<PgArguments, sqlx::Error> {
    let mut arguments = PgArguments::default();
    for bind in binds {
        arguments.add(*bind).map_err(sqlx::Error::Encode)?;
    }
    Ok(arguments)
}

/// Rows of `(vault_secret_id uuid, created_at timestamptz)`.
async fn references<'c>(
    executor: impl Executor<'c, Database = Postgres>,
    sql: &'static str,
    binds: &[&str],
) -> Result<Vec<CredentialReference>, VaultError> {
    let rows: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as_with(sql, text_arguments(binds)?)
        .persistent(false)
        .fetch_all(executor)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, created_at)| CredentialReference::new(id.into(), created_at))
        .collect())
}

/// The one row a store or rotate returns.
pub(crate) fn the_only(rows: Vec<CredentialReference>) -> Result<CredentialReference, VaultError> {
    match rows.as_slice() {
        [reference] => Ok(*reference),
        _ => Err(VaultError::UNEXPECTED_RESPONSE),
    }
}

/// The credentials a retrieve returned. The server only ever stores valid maps: anything else is
/// an unexpected answer, not the caller's bad input, and its content is not reported.
pub(crate) fn credentials_from_server(json: &str) -> Result<CredentialMap, VaultError> {
    CredentialMap::from_json(json).map_err(|_| VaultError::UNEXPECTED_RESPONSE)
}
