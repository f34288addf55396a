//! The five calls, written once over [`Backend`]: the SQL each one runs, its deadline, and what it
//! makes of the answer.

use std::future::Future;
use std::time::Duration;

use crate::backend::Backend;
use crate::credentials::CredentialMap;
use crate::error::VaultError;
use crate::reference::{CredentialReference, IntegrationId, VaultSecretId};

pub(crate) const STORE_SQL: &str =
    "select vault_secret_id, created_at from public.vault_store_integration_credentials($1, $2)";
pub(crate) const ROTATE_SQL: &str =
    "select vault_secret_id, created_at from public.vault_rotate_integration_credentials($1, $2)";
pub(crate) const DELETE_SQL: &str = "select public.vault_delete_integration_credentials($1)";
pub(crate) const LIST_SQL: &str =
    "select vault_secret_id, created_at from public.vault_list_integration_credentials($1)";
// As text, so the plaintext lands in one String that is then wiped, not in a JSON value tree.
pub(crate) const RETRIEVE_SQL: &str =
    "select public.vault_retrieve_integration_credentials($1)::text";

/// Runs `call` to completion within `deadline`, or gives it up (dropping, so wiping, whatever
/// secret it held) and reports a timeout.
async fn within<T>(
    deadline: Duration,
    call: impl Future<Output = Result<T, VaultError>>,
) -> Result<T, VaultError> {
    tokio::time::timeout(deadline, call)
        .await
        .unwrap_or(Err(VaultError::Timeout { after: deadline }))
}

/// The one row a store or rotate returns.
fn the_only(rows: Vec<CredentialReference>) -> Result<CredentialReference, VaultError> {
    match rows.as_slice() {
        [reference] => Ok(*reference),
        _ => Err(VaultError::UNEXPECTED_RESPONSE),
    }
}

pub(crate) async fn store(
    backend: impl Backend,
    deadline: Duration,
    integration_id: IntegrationId,
    credentials: &CredentialMap,
) -> Result<CredentialReference, VaultError> {
    within(deadline, async {
        let (id, json) = (integration_id.to_string(), credentials.expose_json());
        the_only(backend.fetch_references(STORE_SQL, &[&id, &json]).await?)
    })
    .await
}

pub(crate) async fn rotate(
    backend: impl Backend,
    deadline: Duration,
    vault_secret_id: VaultSecretId,
    credentials: &CredentialMap,
) -> Result<CredentialReference, VaultError> {
    within(deadline, async {
        let (id, json) = (vault_secret_id.to_string(), credentials.expose_json());
        the_only(backend.fetch_references(ROTATE_SQL, &[&id, &json]).await?)
    })
    .await
}

pub(crate) async fn delete(
    backend: impl Backend,
    deadline: Duration,
    vault_secret_id: VaultSecretId,
) -> Result<(), VaultError> {
    within(deadline, async {
        let id = vault_secret_id.to_string();
        Ok(backend.execute(DELETE_SQL, &[&id]).await?)
    })
    .await
}

pub(crate) async fn list(
    backend: impl Backend,
    deadline: Duration,
    integration_id: IntegrationId,
) -> Result<Vec<CredentialReference>, VaultError> {
    within(deadline, async {
        let id = integration_id.to_string();
        Ok(backend.fetch_references(LIST_SQL, &[&id]).await?)
    })
    .await
}

pub(crate) async fn retrieve(
    backend: impl Backend,
    deadline: Duration,
    vault_secret_id: VaultSecretId,
) -> Result<CredentialMap, VaultError> {
    within(deadline, async {
        let id = vault_secret_id.to_string();
        let json = backend.fetch_secret_text(RETRIEVE_SQL, &[&id]).await?;
        // The server only ever stores valid maps: anything else is an unexpected answer, not
        // the caller's bad input.
        CredentialMap::from_json(&json).map_err(|_| VaultError::UNEXPECTED_RESPONSE)
    })
    .await
}
