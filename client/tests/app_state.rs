//! An application as an adopter writes it: a web handler (axum-style: the state shared by every
//! request holds the vault as `Arc<dyn ...>`) with its retry path, unit-tested on the in-memory
//! fake with failures on demand. No web framework is needed to show the shapes: the handler is
//! a plain async function of the state, spawned on the runtime as a framework would.

use std::sync::Arc;
use std::time::Duration;

use credential_vault_client::fake::{Call, FakeVault};
use credential_vault_client::{
    CredentialMap, CredentialVault, IntegrationId, ServiceCredentialVault, UserClaims, VaultError,
};
use uuid::Uuid;

/// What an axum app keeps in `State<AppState>`: `Clone + Send + Sync + 'static`.
#[derive(Clone)]
struct AppState {
    /// For request handlers (a `UserVault` per request in production; here one for the admin).
    vault: Arc<dyn CredentialVault>,
    /// For the background sync job only.
    sync: Arc<dyn ServiceCredentialVault>,
}

/// An HTTP status, as a handler would answer.
type Status = u16;

/// `POST /integrations/:id/credentials`: connects an integration, retrying once what may be
/// retried, and answers with a status and a safe message.
async fn connect_integration(
    state: AppState,
    integration: IntegrationId,
    credentials: CredentialMap,
) -> (Status, String) {
    let mut attempt = state.vault.store(integration, &credentials).await;
    if attempt.as_ref().is_err_and(VaultError::is_retryable) {
        attempt = state.vault.store(integration, &credentials).await;
    }
    match attempt {
        Ok(reference) => (201, reference.to_string()),
        Err(VaultError::AlreadyHasCredentials) => (409, "already connected".to_owned()),
        Err(VaultError::IntegrationNotFound) => (404, "no such integration".to_owned()),
        Err(error) if error.is_retryable() => (503, error.to_string()),
        Err(error) => (500, error.to_string()),
    }
}

fn state_on(vault: &FakeVault, admin: &UserClaims) -> AppState {
    AppState {
        vault: Arc::new(vault.user(admin)),
        sync: Arc::new(vault.service()),
    }
}

fn credentials() -> CredentialMap {
    CredentialMap::new([("api_key", "sk-test-app")]).expect("valid")
}

#[tokio::test]
async fn the_handler_retries_once_what_may_be_retried() {
    let vault = FakeVault::new();
    let admin = UserClaims::authenticated(Uuid::new_v4());
    let integration = IntegrationId::from(Uuid::new_v4());
    vault.allow(admin.user_id(), integration);
    let state = state_on(&vault, &admin);

    // One timeout: the retry goes through. Spawned, as a framework runs handlers.
    vault.fail_next_call(
        Call::Store,
        1,
        VaultError::Timeout {
            after: Duration::from_secs(1),
        },
    );
    let handler = tokio::spawn(connect_integration(
        state.clone(),
        integration,
        credentials(),
    ));
    let (status, body) = handler.await.expect("the handler ran");
    assert_eq!(status, 201, "{body}");
    let stored = state.vault.list(integration).await.unwrap();
    assert_eq!(body, stored[0].to_string());
    let read = state.sync.retrieve(stored[0].vault_secret_id()).await;
    assert!(read.is_ok());

    // Connected already: the app's rule, as the server answers it.
    let (status, _) = connect_integration(state.clone(), integration, credentials()).await;
    assert_eq!(status, 409);

    // Unavailable twice: the retry fails too, and the caller is told to come back.
    let other = IntegrationId::from(Uuid::new_v4());
    vault.allow(admin.user_id(), other);
    vault.fail_next(2, VaultError::Unavailable);
    let (status, body) = connect_integration(state.clone(), other, credentials()).await;
    assert_eq!(
        (status, body.as_str()),
        (503, "the credential vault is unavailable")
    );
    assert_eq!(state.vault.list(other).await, Ok(vec![]), "nothing stored");

    // An integration the admin may not manage does not exist for them.
    let foreign = IntegrationId::from(Uuid::new_v4());
    let (status, _) = connect_integration(state, foreign, credentials()).await;
    assert_eq!(status, 404);
}
