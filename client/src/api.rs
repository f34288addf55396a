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
use crate::reference::{
    CredentialReference, CredentialVersion, IntegrationId, VaultSecretId, VersionState, expiry_text,
};

// Without an expiry, the two-argument forms: the same calls as before 0.4.0, so that store and
// rotate keep working on an older server.
const STORE_SQL: &str =
    "select vault_secret_id, created_at from public.vault_store_integration_credentials($1, $2)";
const STORE_EXPIRING_SQL: &str = "select vault_secret_id, created_at \
     from public.vault_store_integration_credentials($1, $2, $3)";
const ROTATE_SQL: &str =
    "select vault_secret_id, created_at from public.vault_rotate_integration_credentials($1, $2)";
const ROTATE_EXPIRING_SQL: &str = "select vault_secret_id, created_at \
     from public.vault_rotate_integration_credentials($1, $2, $3)";
const DELETE_SQL: &str = "select public.vault_delete_integration_credentials($1)";
const LIST_SQL: &str =
    "select vault_secret_id, created_at from public.vault_list_integration_credentials($1)";
const VERSIONS_SQL: &str = "select vault_secret_id, created_at, state, replaced_at, destroy_after \
     from public.vault_list_integration_credential_versions($1)";
const RESTORE_SQL: &str =
    "select vault_secret_id, created_at from public.vault_restore_integration_credentials($1)";
const DESTROY_SQL: &str = "select public.vault_destroy_integration_credentials($1)";
// As text, so the plaintext lands in one String that is then wiped, not in a JSON value tree.
const RETRIEVE_SQL: &str = "select public.vault_retrieve_integration_credentials($1)::text";

pub(crate) async fn store<'c>(
    executor: impl Executor<'c, Database = Postgres>,
    integration_id: IntegrationId,
    credentials: &CredentialMap,
    expires_at: Option<DateTime<Utc>>,
) -> Result<CredentialReference, VaultError> {
    let id = integration_id.to_string();
    write(
        executor,
        (STORE_SQL, STORE_EXPIRING_SQL),
        &id,
        credentials,
        expires_at,
    )
    .await
}

pub(crate) async fn rotate<'c>(
    executor: impl Executor<'c, Database = Postgres>,
    vault_secret_id: VaultSecretId,
    credentials: &CredentialMap,
    expires_at: Option<DateTime<Utc>>,
) -> Result<CredentialReference, VaultError> {
    let id = vault_secret_id.to_string();
    write(
        executor,
        (ROTATE_SQL, ROTATE_EXPIRING_SQL),
        &id,
        credentials,
        expires_at,
    )
    .await
}

/// A store or rotate of `credentials` for `id`: the two-argument form `sql.0` without an
/// expiry, the three-argument form `sql.1` with one.
async fn write<'c>(
    executor: impl Executor<'c, Database = Postgres>,
    sql: (&'static str, &'static str),
    id: &str,
    credentials: &CredentialMap,
    expires_at: Option<DateTime<Utc>>,
) -> Result<CredentialReference, VaultError> {
    // Checked before the credentials are exposed: a refused expiry leaves no plaintext behind.
    let expires_at = expires_at.map(expiry_text).transpose()?;
    let json = credentials.expose_json();
    let rows = match &expires_at {
        None => references(executor, sql.0, &[id, &json]).await?,
        Some(expires_at) => references(executor, sql.1, &[id, &json, expires_at]).await?,
    };
    the_only(rows)
}

pub(crate) async fn delete<'c>(
    executor: impl Executor<'c, Database = Postgres>,
    vault_secret_id: VaultSecretId,
) -> Result<(), VaultError> {
    void(executor, DELETE_SQL, vault_secret_id).await
}

pub(crate) async fn destroy<'c>(
    executor: impl Executor<'c, Database = Postgres>,
    vault_secret_id: VaultSecretId,
) -> Result<(), VaultError> {
    void(executor, DESTROY_SQL, vault_secret_id).await
}

pub(crate) async fn restore<'c>(
    executor: impl Executor<'c, Database = Postgres>,
    vault_secret_id: VaultSecretId,
) -> Result<CredentialReference, VaultError> {
    let id = vault_secret_id.to_string();
    the_only(references(executor, RESTORE_SQL, &[&id]).await?)
}

pub(crate) async fn versions<'c>(
    executor: impl Executor<'c, Database = Postgres>,
    integration_id: IntegrationId,
) -> Result<Vec<CredentialVersion>, VaultError> {
    let id = integration_id.to_string();
    let rows: Vec<VersionRow> = sqlx::query_as_with(VERSIONS_SQL, text_arguments(&[&id])?)
        .persistent(false)
        .fetch_all(executor)
        .await?;
    rows.into_iter().map(version_from_server).collect()
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

/// A call of `sql` on one id that returns `void`.
async fn void<'c>(
    executor: impl Executor<'c, Database = Postgres>,
    sql: &'static str,
    vault_secret_id: VaultSecretId,
) -> Result<(), VaultError> {
    let id = vault_secret_id.to_string();
    sqlx::query_with(sql, text_arguments(&[&id])?)
        .persistent(false)
        .execute(executor)
        .await?;
    Ok(())
}

/// A row of `public.vault_credential_version`.
type VersionRow = (
    Uuid,
    DateTime<Utc>,
    String,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// A version as the server listed it; a state it does not name is an unexpected answer.
pub(crate) fn version_from_server(row: VersionRow) -> Result<CredentialVersion, VaultError> {
    let (id, created_at, state, replaced_at, destroy_after) = row;
    let state = VersionState::from_server(&state).ok_or(VaultError::UNEXPECTED_RESPONSE)?;
    let reference = CredentialReference::new(id.into(), created_at);
    Ok(CredentialVersion::new(
        reference,
        state,
        replaced_at,
        destroy_after,
    ))
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

/// The one row a store, rotate or restore returns.
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
