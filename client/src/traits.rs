//! The calls of each context as traits, so that an application writes its code once against
//! them and runs it on the real handles in production and on an in-memory vault (the `fake`
//! feature) in its own unit tests.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::credentials::CredentialMap;
use crate::error::VaultError;
use crate::reference::{CredentialReference, CredentialVersion, IntegrationId, VaultSecretId};
use crate::vault::{ServiceVault, UserVault};

/// The calls any context may make: what a signed-in user (role `authenticated`, for the
/// integrations the database's authorizer lets them manage) and the service role share.
/// Implemented by [`UserVault`] and [`ServiceVault`] (each in a transaction of its own, as their
/// methods of the same names), and by the in-memory vault of the `fake` feature.
///
/// Every future is `Send`, so the calls can run in spawned tasks. Each method is documented on
/// [`UserVault`]; the errors are the same [`VaultError`] variants whichever implementation
/// answers.
///
/// ```
/// use credential_vault_client::{CredentialMap, CredentialVault, IntegrationId, VaultError};
///
/// /// Connects an integration: its first credentials, or new ones in place of the current.
/// async fn connect(
///     vault: &impl CredentialVault,
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
pub trait CredentialVault {
    /// See [`UserVault::store`].
    fn store(
        &self,
        integration_id: IntegrationId,
        credentials: &CredentialMap,
    ) -> impl Future<Output = Result<CredentialReference, VaultError>> + Send;

    /// See [`UserVault::store_expiring`].
    fn store_expiring(
        &self,
        integration_id: IntegrationId,
        credentials: &CredentialMap,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<CredentialReference, VaultError>> + Send;

    /// See [`UserVault::rotate`].
    fn rotate(
        &self,
        vault_secret_id: VaultSecretId,
        credentials: &CredentialMap,
    ) -> impl Future<Output = Result<CredentialReference, VaultError>> + Send;

    /// See [`UserVault::rotate_expiring`].
    fn rotate_expiring(
        &self,
        vault_secret_id: VaultSecretId,
        credentials: &CredentialMap,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<CredentialReference, VaultError>> + Send;

    /// See [`UserVault::delete`].
    fn delete(
        &self,
        vault_secret_id: VaultSecretId,
    ) -> impl Future<Output = Result<(), VaultError>> + Send;

    /// See [`UserVault::list`].
    fn list(
        &self,
        integration_id: IntegrationId,
    ) -> impl Future<Output = Result<Vec<CredentialReference>, VaultError>> + Send;

    /// See [`UserVault::versions`].
    fn versions(
        &self,
        integration_id: IntegrationId,
    ) -> impl Future<Output = Result<Vec<CredentialVersion>, VaultError>> + Send;

    /// See [`UserVault::restore`].
    fn restore(
        &self,
        vault_secret_id: VaultSecretId,
    ) -> impl Future<Output = Result<CredentialReference, VaultError>> + Send;
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
///     vault: &impl ServiceCredentialVault,
///     reference: VaultSecretId,
/// ) -> Result<Option<String>, VaultError> {
///     let credentials = vault.retrieve(reference).await?;
///     Ok(credentials.get("api_key").map(|key| format!("Bearer {}", key.expose_secret())))
/// }
/// ```
pub trait ServiceCredentialVault: CredentialVault {
    /// See [`ServiceVault::retrieve`].
    fn retrieve(
        &self,
        vault_secret_id: VaultSecretId,
    ) -> impl Future<Output = Result<CredentialMap, VaultError>> + Send;

    /// See [`ServiceVault::destroy`].
    fn destroy(
        &self,
        vault_secret_id: VaultSecretId,
    ) -> impl Future<Output = Result<(), VaultError>> + Send;
}

/// [`CredentialVault`] for a handle whose inherent methods of the same names are the calls
/// (inherent methods take precedence, so `Self::store` is the handle's own).
macro_rules! credential_vault_by_inherent_methods {
    ($handle:ty) => {
        impl CredentialVault for $handle {
            async fn store(
                &self,
                integration_id: IntegrationId,
                credentials: &CredentialMap,
            ) -> Result<CredentialReference, VaultError> {
                Self::store(self, integration_id, credentials).await
            }

            async fn store_expiring(
                &self,
                integration_id: IntegrationId,
                credentials: &CredentialMap,
                expires_at: DateTime<Utc>,
            ) -> Result<CredentialReference, VaultError> {
                Self::store_expiring(self, integration_id, credentials, expires_at).await
            }

            async fn rotate(
                &self,
                vault_secret_id: VaultSecretId,
                credentials: &CredentialMap,
            ) -> Result<CredentialReference, VaultError> {
                Self::rotate(self, vault_secret_id, credentials).await
            }

            async fn rotate_expiring(
                &self,
                vault_secret_id: VaultSecretId,
                credentials: &CredentialMap,
                expires_at: DateTime<Utc>,
            ) -> Result<CredentialReference, VaultError> {
                Self::rotate_expiring(self, vault_secret_id, credentials, expires_at).await
            }

            async fn delete(&self, vault_secret_id: VaultSecretId) -> Result<(), VaultError> {
                Self::delete(self, vault_secret_id).await
            }

            async fn list(
                &self,
                integration_id: IntegrationId,
            ) -> Result<Vec<CredentialReference>, VaultError> {
                Self::list(self, integration_id).await
            }

            async fn versions(
                &self,
                integration_id: IntegrationId,
            ) -> Result<Vec<CredentialVersion>, VaultError> {
                Self::versions(self, integration_id).await
            }

            async fn restore(
                &self,
                vault_secret_id: VaultSecretId,
            ) -> Result<CredentialReference, VaultError> {
                Self::restore(self, vault_secret_id).await
            }
        }
    };
}

credential_vault_by_inherent_methods!(UserVault);
credential_vault_by_inherent_methods!(ServiceVault);

impl ServiceCredentialVault for ServiceVault {
    async fn retrieve(&self, vault_secret_id: VaultSecretId) -> Result<CredentialMap, VaultError> {
        Self::retrieve(self, vault_secret_id).await
    }

    async fn destroy(&self, vault_secret_id: VaultSecretId) -> Result<(), VaultError> {
        Self::destroy(self, vault_secret_id).await
    }
}
