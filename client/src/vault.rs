//! The abstract interface and its implementation over sqlx for PostgreSQL / Supabase.

use std::future::Future;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{Executor, Postgres};

use crate::backend::{InContext, SqlxBackend};
use crate::connect::lazy_pool;
use crate::context::{Context, UserClaims};
use crate::credentials::CredentialMap;
use crate::error::VaultError;
use crate::operations;
use crate::reference::{CredentialReference, IntegrationId, VaultSecretId};

/// Store, rotate, delete and list integration credentials. Nothing here returns a secret.
///
/// Implemented by [`PgCredentialVault`] (a signed-in user) and [`ServiceRolePgCredentialVault`]; code that only
/// needs these calls can take any `V: CredentialVault` and be tested with a fake.
///
/// No call is retried. On [`VaultError::Conflict`], re-read the reference (with
/// [`CredentialVault::list`]) and try again.
pub trait CredentialVault {
    /// Stores `credentials` for `integration_id` and returns the new reference.
    ///
    /// Fails with [`VaultError::NotFound`] if the integration does not exist or is not the
    /// caller's. A rule of the application's own (such as one reference per integration,
    /// enforced by a unique index) comes back as the [`VaultError::Database`] it raises.
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

/// The handle for an app server acting for a signed-in user (an organization's admin): store,
/// rotate, delete and list, with no way to read a secret back. Cheap to clone (the pool is
/// shared): build one per request from the user's verified claims.
///
/// Each [`CredentialVault`] call runs in a transaction of its own on one pooled connection,
/// switched inside it to the role `authenticated` with the user's JWT claims, exactly as the
/// Supabase API gateway does per request, so it works through the transaction pooler. The
/// login role only needs to be a member of `authenticated` (as `postgres` is on Supabase).
///
/// The `*_with` forms run on the caller's own executor instead, such as a transaction in which
/// the caller has already set the role and claims; they switch nothing. Nothing is retried.
///
/// ```no_run
/// use credential_vault_client::{
///     CredentialMap, CredentialVault, IntegrationId, PgCredentialVault, UserClaims, lazy_pool,
/// };
/// use sqlx::postgres::PgConnectOptions;
///
/// # async fn example(options: PgConnectOptions, verified_claims: serde_json::Value) -> Result<(), Box<dyn std::error::Error>> {
/// let pool = lazy_pool(options); // once, at start-up
///
/// // Per request, for the signed-in user:
/// let vault = PgCredentialVault::for_user(pool.clone(), UserClaims::from_claims(&verified_claims)?);
/// let integration: IntegrationId = "3f1c2a9e-5b7d-4e21-9a0c-1d2e3f4a5b6c".parse()?;
/// let credentials = CredentialMap::new([("api_key", "sk-live-123")])?;
/// let reference = vault.store(integration, &credentials).await?;
/// println!("stored {reference}"); // prints the id only
///
/// // On the caller's own transaction, whose role and claims the caller has set:
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
    context: Context,
}

impl PgCredentialVault {
    /// A handle that acts for `user` on the caller's pool, with the default [`Deadlines`]. Give
    /// it a pool from [`lazy_pool`] (or with the same settings) for Supabase.
    pub fn for_user(pool: PgPool, user: UserClaims) -> Self {
        Self::in_context(pool, Context::User(user))
    }

    fn in_context(pool: PgPool, context: Context) -> Self {
        Self {
            pool,
            deadlines: Deadlines::default(),
            context,
        }
    }

    /// The same handle with other deadlines.
    pub fn with_deadlines(self, deadlines: Deadlines) -> Self {
        Self { deadlines, ..self }
    }

    /// The pool calls run on, for example to close it at shutdown.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Each call's own transaction, in this handle's context.
    fn in_its_context(&self) -> InContext<'_> {
        InContext {
            pool: &self.pool,
            context: &self.context,
        }
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
        let (backend, deadline) = (self.in_its_context(), self.deadlines.store);
        operations::store(backend, deadline, integration_id, credentials).await
    }

    async fn rotate(
        &self,
        vault_secret_id: VaultSecretId,
        credentials: &CredentialMap,
    ) -> Result<CredentialReference, VaultError> {
        let (backend, deadline) = (self.in_its_context(), self.deadlines.rotate);
        operations::rotate(backend, deadline, vault_secret_id, credentials).await
    }

    async fn delete(&self, vault_secret_id: VaultSecretId) -> Result<(), VaultError> {
        let (backend, deadline) = (self.in_its_context(), self.deadlines.delete);
        operations::delete(backend, deadline, vault_secret_id).await
    }

    async fn list(
        &self,
        integration_id: IntegrationId,
    ) -> Result<Vec<CredentialReference>, VaultError> {
        let (backend, deadline) = (self.in_its_context(), self.deadlines.list);
        operations::list(backend, deadline, integration_id).await
    }
}

/// The handle for background sync services: everything [`PgCredentialVault`] does, as the
/// service role, plus [`ServiceRoleCredentialVault::retrieve`].
///
/// Each call runs in a transaction of its own, switched inside it to `service_role`
/// (`SET LOCAL ROLE`, never a startup option), so it works through the transaction pooler; the
/// login role only needs to be a member of `service_role`.
///
/// **Warning:** [`retrieve`](ServiceRoleCredentialVault::retrieve) and
/// [`retrieve_with`](Self::retrieve_with) return credentials **in plaintext**. Build this handle
/// only in background sync services, never in user-facing code; give user-facing code a
/// [`PgCredentialVault::for_user`], which cannot retrieve.
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
    /// A service-role handle over the caller's pool, with the default [`Deadlines`]. The pool's
    /// login role must be a member of `service_role`. Give it a pool from [`lazy_pool`] (or with
    /// [`supabase_options`](crate::supabase_options)) for Supabase: a pool of the caller's own
    /// keeps whatever `sslmode` and startup parameters it was built with.
    pub fn new(pool: PgPool) -> Self {
        Self {
            vault: PgCredentialVault::in_context(pool, Context::ServiceRole),
        }
    }

    /// A service-role handle over [`lazy_pool`]`(options)`. Must be called within a Tokio
    /// runtime.
    pub fn connect_lazy(options: PgConnectOptions) -> Self {
        Self::new(lazy_pool(options))
    }

    /// The same handle with other deadlines.
    pub fn with_deadlines(self, deadlines: Deadlines) -> Self {
        Self {
            vault: self.vault.with_deadlines(deadlines),
        }
    }

    /// The ordinary operations as the service role, including their `*_with` forms on the
    /// caller's executor.
    pub fn vault(&self) -> &PgCredentialVault {
        &self.vault
    }

    /// [`ServiceRoleCredentialVault::retrieve`] on the caller's executor, whose transaction must
    /// already run as the service role.
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
        let (backend, deadline) = (self.vault.in_its_context(), self.vault.deadlines.retrieve);
        operations::retrieve(backend, deadline, vault_secret_id).await
    }
}
