//! The abstract interface and its implementation over sqlx for PostgreSQL / Supabase.

use std::future::Future;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Executor, Postgres};

use crate::backend::SqlxBackend;
use crate::credentials::CredentialMap;
use crate::error::VaultError;
use crate::operations;
use crate::reference::{CredentialReference, IntegrationId, VaultSecretId};

/// Store, rotate, delete and list integration credentials. Nothing here returns a secret.
///
/// Implemented by [`PgCredentialVault`] and [`ServiceRolePgCredentialVault`]; code that only
/// needs these calls can take any `V: CredentialVault` and be tested with a fake.
///
/// No call is retried. On [`VaultError::Conflict`], re-read the reference (with
/// [`CredentialVault::list`]) and try again.
pub trait CredentialVault {
    /// Stores `credentials` for `integration_id` and returns the new reference.
    ///
    /// Fails with [`VaultError::Conflict`] if the integration already has credentials (rotate
    /// them instead) and [`VaultError::NotFound`] if the integration does not exist or is not the
    /// caller's.
    fn store(
        &self,
        integration_id: IntegrationId,
        credentials: &CredentialMap,
    ) -> impl Future<Output = Result<CredentialReference, VaultError>> + Send;

    /// Replaces the credentials behind `vault_secret_id` and returns the new reference; the old
    /// one is deleted in the same transaction.
    fn rotate(
        &self,
        vault_secret_id: VaultSecretId,
        credentials: &CredentialMap,
    ) -> impl Future<Output = Result<CredentialReference, VaultError>> + Send;

    /// Deletes the credentials behind `vault_secret_id`.
    fn delete(
        &self,
        vault_secret_id: VaultSecretId,
    ) -> impl Future<Output = Result<(), VaultError>> + Send;

    /// The references stored for `integration_id`, newest first. Never any value.
    fn list(
        &self,
        integration_id: IntegrationId,
    ) -> impl Future<Output = Result<Vec<CredentialReference>, VaultError>> + Send;
}

/// A [`CredentialVault`] that can also read credentials back in plaintext.
///
/// **Warning:** only for background sync services running as the service role; never for
/// user-facing code. See [`ServiceRoleCredentialVault::retrieve`].
pub trait ServiceRoleCredentialVault: CredentialVault {
    /// Returns the credentials behind `vault_secret_id` **in plaintext**.
    ///
    /// **Warning:** call this only from background sync services, never from user-facing code
    /// (request handlers, anything whose output reaches a user). Keep the returned map no longer
    /// than needed; its values are wiped when it is dropped.
    fn retrieve(
        &self,
        vault_secret_id: VaultSecretId,
    ) -> impl Future<Output = Result<CredentialMap, VaultError>> + Send;
}

/// How long each call may take, including getting a connection, before it fails with
/// [`VaultError::Timeout`]. Every deadline is 5 seconds by default.
///
/// ```
/// use std::time::Duration;
/// use credential_vault_client::Deadlines;
///
/// let deadlines = Deadlines { store: Duration::from_secs(2), ..Deadlines::default() };
/// assert_eq!(deadlines.list, Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// For `store`.
    pub store: Duration,
    /// For `rotate`.
    pub rotate: Duration,
    /// For `delete`.
    pub delete: Duration,
    /// For `list`.
    pub list: Duration,
    /// For `retrieve`.
    pub retrieve: Duration,
}

impl Deadlines {
    /// The same deadline for every call.
    pub const fn all(deadline: Duration) -> Self {
        Self {
            store: deadline,
            rotate: deadline,
            delete: deadline,
            list: deadline,
            retrieve: deadline,
        }
    }
}

impl Default for Deadlines {
    fn default() -> Self {
        Self::all(Duration::from_secs(5))
    }
}

/// How long [`PgCredentialVault::connect_lazy`]'s pool keeps trying to connect, shorter than the
/// default deadlines so that an unreachable server is reported as
/// [`VaultError::Unavailable`] rather than as a timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The ordinary handle over sqlx: store, rotate, delete and list, with no way to read a secret
/// back. Cheap to clone (the pool is shared).
///
/// Each call has two forms: the [`CredentialVault`] method runs on the handle's pool, and the
/// `*_with` method runs on any executor of the caller's, such as a transaction that has set the
/// caller's role and JWT claims first. Neither retries.
///
/// ```no_run
/// use credential_vault_client::{CredentialMap, CredentialVault, IntegrationId, PgCredentialVault};
/// use sqlx::postgres::PgPool;
///
/// # async fn example(pool: PgPool) -> Result<(), Box<dyn std::error::Error>> {
/// let vault = PgCredentialVault::new(pool.clone());
/// let integration: IntegrationId = "3f1c2a9e-5b7d-4e21-9a0c-1d2e3f4a5b6c".parse()?;
/// let credentials = CredentialMap::new([("api_key", "sk-live-123")])?;
///
/// // On the handle's pool:
/// let reference = vault.store(integration, &credentials).await?;
/// println!("stored {reference}"); // prints the id only
///
/// // On the caller's own transaction:
/// let mut transaction = pool.begin().await?;
/// let references = vault.list_with(&mut *transaction, integration).await?;
/// transaction.commit().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PgCredentialVault {
    pool: PgPool,
    deadlines: Deadlines,
}

impl PgCredentialVault {
    /// A handle over the caller's pool, with the default [`Deadlines`].
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            deadlines: Deadlines::default(),
        }
    }

    /// A handle over a new pool that connects on first use, giving up on connecting after
    /// [`CONNECT_TIMEOUT`]. Must be called within a Tokio runtime.
    pub fn connect_lazy(options: PgConnectOptions) -> Self {
        Self::new(
            PgPoolOptions::new()
                .acquire_timeout(CONNECT_TIMEOUT)
                .connect_lazy_with(options),
        )
    }

    /// The same handle with other deadlines.
    pub fn with_deadlines(self, deadlines: Deadlines) -> Self {
        Self { deadlines, ..self }
    }

    /// The pool calls run on, for example to close it at shutdown.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// [`CredentialVault::store`] on the caller's executor.
    pub async fn store_with<'c, E>(
        &self,
        executor: E,
        integration_id: IntegrationId,
        credentials: &CredentialMap,
    ) -> Result<CredentialReference, VaultError>
    where
        E: Executor<'c, Database = Postgres>,
    {
        let deadline = self.deadlines.store;
        operations::store(
            SqlxBackend::new(executor),
            deadline,
            integration_id,
            credentials,
        )
        .await
    }

    /// [`CredentialVault::rotate`] on the caller's executor.
    pub async fn rotate_with<'c, E>(
        &self,
        executor: E,
        vault_secret_id: VaultSecretId,
        credentials: &CredentialMap,
    ) -> Result<CredentialReference, VaultError>
    where
        E: Executor<'c, Database = Postgres>,
    {
        let deadline = self.deadlines.rotate;
        operations::rotate(
            SqlxBackend::new(executor),
            deadline,
            vault_secret_id,
            credentials,
        )
        .await
    }

    /// [`CredentialVault::delete`] on the caller's executor.
    pub async fn delete_with<'c, E>(
        &self,
        executor: E,
        vault_secret_id: VaultSecretId,
    ) -> Result<(), VaultError>
    where
        E: Executor<'c, Database = Postgres>,
    {
        operations::delete(
            SqlxBackend::new(executor),
            self.deadlines.delete,
            vault_secret_id,
        )
        .await
    }

    /// [`CredentialVault::list`] on the caller's executor.
    pub async fn list_with<'c, E>(
        &self,
        executor: E,
        integration_id: IntegrationId,
    ) -> Result<Vec<CredentialReference>, VaultError>
    where
        E: Executor<'c, Database = Postgres>,
    {
        operations::list(
            SqlxBackend::new(executor),
            self.deadlines.list,
            integration_id,
        )
        .await
    }
}

impl CredentialVault for PgCredentialVault {
    async fn store(
        &self,
        integration_id: IntegrationId,
        credentials: &CredentialMap,
    ) -> Result<CredentialReference, VaultError> {
        self.store_with(&self.pool, integration_id, credentials)
            .await
    }

    async fn rotate(
        &self,
        vault_secret_id: VaultSecretId,
        credentials: &CredentialMap,
    ) -> Result<CredentialReference, VaultError> {
        self.rotate_with(&self.pool, vault_secret_id, credentials)
            .await
    }

    async fn delete(&self, vault_secret_id: VaultSecretId) -> Result<(), VaultError> {
        self.delete_with(&self.pool, vault_secret_id).await
    }

    async fn list(
        &self,
        integration_id: IntegrationId,
    ) -> Result<Vec<CredentialReference>, VaultError> {
        self.list_with(&self.pool, integration_id).await
    }
}

/// The handle for background sync services running as the service role: everything
/// [`PgCredentialVault`] does, plus [`ServiceRoleCredentialVault::retrieve`].
///
/// **Warning:** [`retrieve`](ServiceRoleCredentialVault::retrieve) and
/// [`retrieve_with`](Self::retrieve_with) return credentials **in plaintext**. Build this handle
/// only in background sync services, never in user-facing code; give user-facing code a
/// [`PgCredentialVault`], which cannot retrieve.
///
/// ```no_run
/// use credential_vault_client::{ServiceRoleCredentialVault, ServiceRolePgCredentialVault, VaultSecretId};
/// use secrecy::ExposeSecret;
/// use sqlx::postgres::PgConnectOptions;
///
/// # async fn example(options: PgConnectOptions, id: VaultSecretId) -> Result<(), Box<dyn std::error::Error>> {
/// let vault = ServiceRolePgCredentialVault::connect_lazy(options);
/// let credentials = vault.retrieve(id).await?;
/// if let Some(api_key) = credentials.get("api_key") {
///     // Hand the value to the sync job; never log it.
///     let _header = format!("Bearer {}", api_key.expose_secret());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ServiceRolePgCredentialVault {
    vault: PgCredentialVault,
}

impl ServiceRolePgCredentialVault {
    /// A service-role handle over the caller's pool, with the default [`Deadlines`]. The pool
    /// should log in as a role the server lets retrieve (the service role).
    pub fn new(pool: PgPool) -> Self {
        Self {
            vault: PgCredentialVault::new(pool),
        }
    }

    /// Like [`PgCredentialVault::connect_lazy`]. Must be called within a Tokio runtime.
    pub fn connect_lazy(options: PgConnectOptions) -> Self {
        Self {
            vault: PgCredentialVault::connect_lazy(options),
        }
    }

    /// The same handle with other deadlines.
    pub fn with_deadlines(self, deadlines: Deadlines) -> Self {
        Self {
            vault: self.vault.with_deadlines(deadlines),
        }
    }

    /// The ordinary operations, including their `*_with` forms on the caller's executor.
    pub fn vault(&self) -> &PgCredentialVault {
        &self.vault
    }

    /// [`ServiceRoleCredentialVault::retrieve`] on the caller's executor.
    ///
    /// **Warning:** returns credentials **in plaintext**: only for background sync services,
    /// never for user-facing code.
    pub async fn retrieve_with<'c, E>(
        &self,
        executor: E,
        vault_secret_id: VaultSecretId,
    ) -> Result<CredentialMap, VaultError>
    where
        E: Executor<'c, Database = Postgres>,
    {
        let deadline = self.vault.deadlines.retrieve;
        operations::retrieve(SqlxBackend::new(executor), deadline, vault_secret_id).await
    }
}

impl CredentialVault for ServiceRolePgCredentialVault {
    async fn store(
        &self,
        integration_id: IntegrationId,
        credentials: &CredentialMap,
    ) -> Result<CredentialReference, VaultError> {
        self.vault.store(integration_id, credentials).await
    }

    async fn rotate(
        &self,
        vault_secret_id: VaultSecretId,
        credentials: &CredentialMap,
    ) -> Result<CredentialReference, VaultError> {
        self.vault.rotate(vault_secret_id, credentials).await
    }

    async fn delete(&self, vault_secret_id: VaultSecretId) -> Result<(), VaultError> {
        self.vault.delete(vault_secret_id).await
    }

    async fn list(
        &self,
        integration_id: IntegrationId,
    ) -> Result<Vec<CredentialReference>, VaultError> {
        self.vault.list(integration_id).await
    }
}

impl ServiceRoleCredentialVault for ServiceRolePgCredentialVault {
    async fn retrieve(&self, vault_secret_id: VaultSecretId) -> Result<CredentialMap, VaultError> {
        self.retrieve_with(self.vault.pool(), vault_secret_id).await
    }
}
