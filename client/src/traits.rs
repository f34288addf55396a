//! The calls of each context as traits, so that an application writes its code once against
//! them and runs it on the real handles in production and on an in-memory vault (the `fake`
//! feature) in its own unit tests.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};

use crate::credentials::CredentialMap;
use crate::error::VaultError;
use crate::reference::{CredentialReference, CredentialVersion, IntegrationId, VaultSecretId};
use crate::vault::{ServiceVault, UserVault};

/// What every call of the traits returns: a boxed `Send` future, so that the traits are
/// dyn-compatible (an application can keep an `Arc<dyn CredentialVault>` in its shared state)
/// and the calls can run in spawned tasks.
pub type VaultFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, VaultError>> + Send + 'a>>;

/// The calls any context may make: what a signed-in user (role `authenticated`, for the
/// integrations the database's authorizer lets them manage) and the service role share.
/// Implemented by [`UserVault`] and [`ServiceVault`] (each in a transaction of its own, as their
/// methods of the same names), and by the in-memory vault of the `fake` feature.
///
/// Dyn-compatible, `Send` and `Sync`: take `&impl CredentialVault`, or keep an
/// `Arc<dyn CredentialVault>` (a web framework's shared state, say). Every future is `Send`
/// ([`VaultFuture`]). Each method is documented on [`UserVault`]; the errors are the same
/// [`VaultError`] variants whichever implementation answers.
///
/// ```
/// use credential_vault_client::{CredentialMap, CredentialVault, IntegrationId, VaultError};
///
/// /// Connects an integration: its first credentials, or new ones in place of the current.
/// async fn connect(
///     vault: &(impl CredentialVault + ?Sized),
///     integration: IntegrationId,
///     credentials: &CredentialMap,
/// ) -> Result<(), VaultError> {
///     match vault.list(integration).await?.first() {
///         Some(current) => vault.rotate(current.vault_secret_id(), credentials).await?,
///         None => vault.store(integration, credentials).await?,
///     };
///     Ok(())
/// }
/// ```
pub trait CredentialVault: Send + Sync {
    /// See [`UserVault::store`].
    fn store<'a>(
        &'a self,
        integration_id: IntegrationId,
        credentials: &'a CredentialMap,
    ) -> VaultFuture<'a, CredentialReference>;

    /// See [`UserVault::store_expiring`].
    fn store_expiring<'a>(
        &'a self,
        integration_id: IntegrationId,
        credentials: &'a CredentialMap,
        expires_at: DateTime<Utc>,
    ) -> VaultFuture<'a, CredentialReference>;

    /// See [`UserVault::rotate`].
    fn rotate<'a>(
        &'a self,
        vault_secret_id: VaultSecretId,
        credentials: &'a CredentialMap,
    ) -> VaultFuture<'a, CredentialReference>;

    /// See [`UserVault::rotate_expiring`].
    fn rotate_expiring<'a>(
        &'a self,
        vault_secret_id: VaultSecretId,
        credentials: &'a CredentialMap,
        expires_at: DateTime<Utc>,
    ) -> VaultFuture<'a, CredentialReference>;

    /// See [`UserVault::delete`].
    fn delete<'a>(&'a self, vault_secret_id: VaultSecretId) -> VaultFuture<'a, ()>;

    /// See [`UserVault::list`].
    fn list<'a>(
        &'a self,
        integration_id: IntegrationId,
    ) -> VaultFuture<'a, Vec<CredentialReference>>;

    /// See [`UserVault::versions`].
    fn versions<'a>(
        &'a self,
        integration_id: IntegrationId,
    ) -> VaultFuture<'a, Vec<CredentialVersion>>;

    /// See [`UserVault::restore`].
    fn restore<'a>(
        &'a self,
        vault_secret_id: VaultSecretId,
    ) -> VaultFuture<'a, CredentialReference>;
}

/// The calls of the service role: all of [`CredentialVault`], for any integration, plus reading
/// credentials back and destroying a version. Implemented by [`ServiceVault`] and by the
/// in-memory vault of the `fake` feature; a [`UserVault`] does not implement it, so code that
/// needs it cannot be handed a user's handle.
///
/// **Warning:** [`retrieve`](Self::retrieve) returns credentials **in plaintext**: take this
/// trait only in background sync services, never in user-facing code.
///
/// ```
/// use credential_vault_client::{ServiceCredentialVault, VaultError, VaultSecretId};
/// use secrecy::ExposeSecret;
///
/// /// The bearer token of a sync job.
/// async fn bearer(
///     vault: &(impl ServiceCredentialVault + ?Sized),
///     reference: VaultSecretId,
/// ) -> Result<Option<String>, VaultError> {
///     let credentials = vault.retrieve(reference).await?;
///     Ok(credentials.get("api_key").map(|key| format!("Bearer {}", key.expose_secret())))
/// }
/// ```
pub trait ServiceCredentialVault: CredentialVault {
    /// See [`ServiceVault::retrieve`].
    fn retrieve<'a>(&'a self, vault_secret_id: VaultSecretId) -> VaultFuture<'a, CredentialMap>;

    /// See [`ServiceVault::destroy`].
    fn destroy<'a>(&'a self, vault_secret_id: VaultSecretId) -> VaultFuture<'a, ()>;
}

/// [`CredentialVault`] for a handle whose inherent methods of the same names are the calls
/// (inherent methods take precedence, so `Self::store` is the handle's own).
macro_rules! credential_vault_by_inherent_methods {
    ($handle:ty) => {
        impl CredentialVault for $handle {
            fn store<'a>(
                &'a self,
                integration_id: IntegrationId,
                credentials: &'a CredentialMap,
            ) -> VaultFuture<'a, CredentialReference> {
                Box::pin(Self::store(self, integration_id, credentials))
            }

            fn store_expiring<'a>(
                &'a self,
                integration_id: IntegrationId,
                credentials: &'a CredentialMap,
                expires_at: DateTime<Utc>,
            ) -> VaultFuture<'a, CredentialReference> {
                Box::pin(Self::store_expiring(
                    self,
                    integration_id,
                    credentials,
                    expires_at,
                ))
            }

            fn rotate<'a>(
                &'a self,
                vault_secret_id: VaultSecretId,
                credentials: &'a CredentialMap,
            ) -> VaultFuture<'a, CredentialReference> {
                Box::pin(Self::rotate(self, vault_secret_id, credentials))
            }

            fn rotate_expiring<'a>(
                &'a self,
                vault_secret_id: VaultSecretId,
                credentials: &'a CredentialMap,
                expires_at: DateTime<Utc>,
            ) -> VaultFuture<'a, CredentialReference> {
                Box::pin(Self::rotate_expiring(
                    self,
                    vault_secret_id,
                    credentials,
                    expires_at,
                ))
            }

            fn delete<'a>(&'a self, vault_secret_id: VaultSecretId) -> VaultFuture<'a, ()> {
                Box::pin(Self::delete(self, vault_secret_id))
            }

            fn list<'a>(
                &'a self,
                integration_id: IntegrationId,
            ) -> VaultFuture<'a, Vec<CredentialReference>> {
                Box::pin(Self::list(self, integration_id))
            }

            fn versions<'a>(
                &'a self,
                integration_id: IntegrationId,
            ) -> VaultFuture<'a, Vec<CredentialVersion>> {
                Box::pin(Self::versions(self, integration_id))
            }

            fn restore<'a>(
                &'a self,
                vault_secret_id: VaultSecretId,
            ) -> VaultFuture<'a, CredentialReference> {
                Box::pin(Self::restore(self, vault_secret_id))
            }
        }
    };
}

credential_vault_by_inherent_methods!(UserVault);
credential_vault_by_inherent_methods!(ServiceVault);

impl ServiceCredentialVault for ServiceVault {
    fn retrieve<'a>(&'a self, vault_secret_id: VaultSecretId) -> VaultFuture<'a, CredentialMap> {
        Box::pin(Self::retrieve(self, vault_secret_id))
    }

    fn destroy<'a>(&'a self, vault_secret_id: VaultSecretId) -> VaultFuture<'a, ()> {
        Box::pin(Self::destroy(self, vault_secret_id))
    }
}
