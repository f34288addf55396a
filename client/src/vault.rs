//! The two handles, one per context the design names: [`UserVault`] for an app server acting for
//! a signed-in user, [`ServiceVault`] for background sync services. Each call runs its statement
//! of the SQL API (`api.rs`) in a transaction of its own switched to the handle's role and
//! claims, or on the caller's executor (the `*_with` forms), within the call's deadline.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{Executor, PgConnection, Postgres};

use crate::api;
use crate::connect::lazy_pool;
use crate::context::{SERVICE_ROLE, SERVICE_ROLE_CLAIMS, UserClaims, in_transaction_as};
use crate::credentials::CredentialMap;
use crate::error::VaultError;
use crate::reference::{CredentialReference, CredentialVersion, IntegrationId, VaultSecretId};
#[cfg(doc)]
use crate::{CredentialVault, ServiceCredentialVault};

/// How long each call may take, including getting a connection, before it fails with
/// [`VaultError::Timeout`]. Every deadline is 5 seconds by default.
///
/// In a handle's own transaction the deadline bounds the server's work too: the call's
/// statement runs with a `statement_timeout` of what is left of it, so at the deadline the
/// server stops it and rolls the transaction back, and a `Timeout` never takes effect. The
/// `*_with` forms cannot set it on the caller's transaction: they stop waiting at the deadline,
/// and the caller rolls its transaction back.
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
    /// For `store` and `store_expiring`.
    pub store: Duration,
    /// For `rotate` and `rotate_expiring`.
    pub rotate: Duration,
    /// For `delete`.
    pub delete: Duration,
    /// For `list`.
    pub list: Duration,
    /// For `versions`.
    pub versions: Duration,
    /// For `restore`.
    pub restore: Duration,
    /// For `retrieve`.
    pub retrieve: Duration,
    /// For `destroy`.
    pub destroy: Duration,
}

impl Deadlines {
    /// The same deadline for every call.
    pub const fn all(deadline: Duration) -> Self {
        Self {
            store: deadline,
            rotate: deadline,
            delete: deadline,
            list: deadline,
            versions: deadline,
            restore: deadline,
            retrieve: deadline,
            destroy: deadline,
        }
    }
}

impl Default for Deadlines {
    fn default() -> Self {
        Self::all(Duration::from_secs(5))
    }
}

/// Runs `call` on the caller's executor to completion within `deadline`, or gives it up
/// (dropping, so wiping, whatever secret it held) and reports a timeout. The server is not
/// told: the caller's transaction must be rolled back.
pub(crate) async fn within<T>(
    deadline: Duration,
    call: impl Future<Output = Result<T, VaultError>>,
) -> Result<T, VaultError> {
    tokio::time::timeout(deadline, call)
        .await
        .unwrap_or(Err(VaultError::Timeout { after: deadline }))
}

/// Store, rotate, delete, list, versions and restore, and their `*_with` forms: the calls both
/// handles have, written once. Each handle's own `in_own_transaction` says whom its calls run as.
macro_rules! the_calls_of_both_contexts {
    () => {
        /// Stores `credentials` for `integration_id` and returns the new reference.
        ///
        /// Fails with [`VaultError::IntegrationNotFound`] if the integration does not exist or
        /// the caller may not manage it, and with [`VaultError::AlreadyHasCredentials`] if it
        /// has current credentials (the application's one reference per integration, as the
        /// shipped migrations have it): rotate or delete those instead.
        pub async fn store(
            &self,
            integration_id: IntegrationId,
            credentials: &CredentialMap,
        ) -> Result<CredentialReference, VaultError> {
            self.store_maybe_expiring(integration_id, credentials, None)
                .await
        }

        /// [`store`](Self::store) on the caller's executor.
        pub async fn store_with<'c>(
            &self,
            executor: impl Executor<'c, Database = Postgres>,
            integration_id: IntegrationId,
            credentials: &CredentialMap,
        ) -> Result<CredentialReference, VaultError> {
            let call = api::store(executor, integration_id, credentials, None);
            within(self.deadlines.store, call).await
        }

        /// [`store`](Self::store) with a rotation due date: the database's
        /// `credential_vault.rotation_report()` lists the credentials once `expires_at` is
        /// near or past. They stay usable after it. Needs extension 0.4.0.
        ///
        /// # Errors
        ///
        /// Those of [`store`](Self::store), and
        /// [`VaultError::Validation`]`(`[`contract::Error::InvalidExpiresAt`](crate::contract::Error::InvalidExpiresAt)`)`
        /// before any round trip for a time the server cannot take (a year past 9999).
        pub async fn store_expiring(
            &self,
            integration_id: IntegrationId,
            credentials: &CredentialMap,
            expires_at: DateTime<Utc>,
        ) -> Result<CredentialReference, VaultError> {
            self.store_maybe_expiring(integration_id, credentials, Some(expires_at))
                .await
        }

        /// [`store_expiring`](Self::store_expiring) on the caller's executor.
        pub async fn store_expiring_with<'c>(
            &self,
            executor: impl Executor<'c, Database = Postgres>,
            integration_id: IntegrationId,
            credentials: &CredentialMap,
            expires_at: DateTime<Utc>,
        ) -> Result<CredentialReference, VaultError> {
            let call = api::store(executor, integration_id, credentials, Some(expires_at));
            within(self.deadlines.store, call).await
        }

        async fn store_maybe_expiring(
            &self,
            integration_id: IntegrationId,
            credentials: &CredentialMap,
            expires_at: Option<DateTime<Utc>>,
        ) -> Result<CredentialReference, VaultError> {
            let deadline = self.deadlines.store;
            self.in_own_transaction(deadline, async |connection| {
                api::store(connection, integration_id, credentials, expires_at).await
            })
            .await
        }

        /// Replaces the credentials behind `vault_secret_id`, which must be current, and
        /// returns the new reference. The old version is kept as
        /// [`VersionState::Previous`](crate::VersionState::Previous) for the database's
        /// recovery window (see [`restore`](Self::restore)), or destroyed at once when the
        /// window is zero (as before 0.4.0). On [`VaultError::Conflict`], re-read the reference
        /// with [`list`](Self::list) and try again.
        pub async fn rotate(
            &self,
            vault_secret_id: VaultSecretId,
            credentials: &CredentialMap,
        ) -> Result<CredentialReference, VaultError> {
            self.rotate_maybe_expiring(vault_secret_id, credentials, None)
                .await
        }

        /// [`rotate`](Self::rotate) on the caller's executor.
        pub async fn rotate_with<'c>(
            &self,
            executor: impl Executor<'c, Database = Postgres>,
            vault_secret_id: VaultSecretId,
            credentials: &CredentialMap,
        ) -> Result<CredentialReference, VaultError> {
            let call = api::rotate(executor, vault_secret_id, credentials, None);
            within(self.deadlines.rotate, call).await
        }

        /// [`rotate`](Self::rotate) with a rotation due date for the new credentials, as
        /// [`store_expiring`](Self::store_expiring) takes it. Needs extension 0.4.0.
        pub async fn rotate_expiring(
            &self,
            vault_secret_id: VaultSecretId,
            credentials: &CredentialMap,
            expires_at: DateTime<Utc>,
        ) -> Result<CredentialReference, VaultError> {
            self.rotate_maybe_expiring(vault_secret_id, credentials, Some(expires_at))
                .await
        }

        /// [`rotate_expiring`](Self::rotate_expiring) on the caller's executor.
        pub async fn rotate_expiring_with<'c>(
            &self,
            executor: impl Executor<'c, Database = Postgres>,
            vault_secret_id: VaultSecretId,
            credentials: &CredentialMap,
            expires_at: DateTime<Utc>,
        ) -> Result<CredentialReference, VaultError> {
            let call = api::rotate(executor, vault_secret_id, credentials, Some(expires_at));
            within(self.deadlines.rotate, call).await
        }

        async fn rotate_maybe_expiring(
            &self,
            vault_secret_id: VaultSecretId,
            credentials: &CredentialMap,
            expires_at: Option<DateTime<Utc>>,
        ) -> Result<CredentialReference, VaultError> {
            let deadline = self.deadlines.rotate;
            self.in_own_transaction(deadline, async |connection| {
                api::rotate(connection, vault_secret_id, credentials, expires_at).await
            })
            .await
        }

        /// Deletes the credentials behind `vault_secret_id`, which must be current. They are
        /// kept as [`VersionState::Deleted`](crate::VersionState::Deleted) for the database's
        /// recovery window (see [`restore`](Self::restore)), or destroyed at once when the
        /// window is zero (as before 0.4.0).
        pub async fn delete(&self, vault_secret_id: VaultSecretId) -> Result<(), VaultError> {
            let deadline = self.deadlines.delete;
            self.in_own_transaction(deadline, async |connection| {
                api::delete(connection, vault_secret_id).await
            })
            .await
        }

        /// [`delete`](Self::delete) on the caller's executor.
        pub async fn delete_with<'c>(
            &self,
            executor: impl Executor<'c, Database = Postgres>,
            vault_secret_id: VaultSecretId,
        ) -> Result<(), VaultError> {
            within(
                self.deadlines.delete,
                api::delete(executor, vault_secret_id),
            )
            .await
        }

        /// The references stored for `integration_id`, newest first. Never any value.
        pub async fn list(
            &self,
            integration_id: IntegrationId,
        ) -> Result<Vec<CredentialReference>, VaultError> {
            let deadline = self.deadlines.list;
            self.in_own_transaction(deadline, async |connection| {
                api::list(connection, integration_id).await
            })
            .await
        }

        /// [`list`](Self::list) on the caller's executor.
        pub async fn list_with<'c>(
            &self,
            executor: impl Executor<'c, Database = Postgres>,
            integration_id: IntegrationId,
        ) -> Result<Vec<CredentialReference>, VaultError> {
            within(self.deadlines.list, api::list(executor, integration_id)).await
        }

        /// Every version of `integration_id`'s credentials still held, newest first: the
        /// current ones and those kept after a rotate, a restore or a delete (past their
        /// `destroy_after` too, until the database purges them). Never any value. Needs
        /// extension 0.4.0.
        ///
        /// Fails with [`VaultError::IntegrationNotFound`] if the caller may not manage the
        /// integration.
        pub async fn versions(
            &self,
            integration_id: IntegrationId,
        ) -> Result<Vec<CredentialVersion>, VaultError> {
            let deadline = self.deadlines.versions;
            self.in_own_transaction(deadline, async |connection| {
                api::versions(connection, integration_id).await
            })
            .await
        }

        /// [`versions`](Self::versions) on the caller's executor.
        pub async fn versions_with<'c>(
            &self,
            executor: impl Executor<'c, Database = Postgres>,
            integration_id: IntegrationId,
        ) -> Result<Vec<CredentialVersion>, VaultError> {
            let call = api::versions(executor, integration_id);
            within(self.deadlines.versions, call).await
        }

        /// Makes the kept version `vault_secret_id` current again and returns its reference
        /// (its id and original `created_at`); every current version of its integration becomes
        /// [`VersionState::Previous`](crate::VersionState::Previous) in the same transaction.
        /// Needs extension 0.4.0.
        ///
        /// Fails with [`VaultError::CredentialsNotFound`] if the version is unknown, current, past its
        /// `destroy_after`, or not the caller's to manage.
        pub async fn restore(
            &self,
            vault_secret_id: VaultSecretId,
        ) -> Result<CredentialReference, VaultError> {
            let deadline = self.deadlines.restore;
            self.in_own_transaction(deadline, async |connection| {
                api::restore(connection, vault_secret_id).await
            })
            .await
        }

        /// [`restore`](Self::restore) on the caller's executor.
        pub async fn restore_with<'c>(
            &self,
            executor: impl Executor<'c, Database = Postgres>,
            vault_secret_id: VaultSecretId,
        ) -> Result<CredentialReference, VaultError> {
            let call = api::restore(executor, vault_secret_id);
            within(self.deadlines.restore, call).await
        }
    };
}

/// The handle for an app server acting for a signed-in user (an organization's admin): store,
/// rotate, delete, list, versions and restore (the calls of [`CredentialVault`]), with no way
/// to read a secret back or to destroy one. Cheap to clone (the pool is
/// shared): build one per request from the user's verified claims.
///
/// Each call runs in a transaction of its own on one pooled connection, switched inside it to the
/// role `authenticated` with the user's JWT claims, exactly as the Supabase API gateway does per
/// request, so the extension's tenant check applies and the transaction pooler works. The login
/// role only needs to be a member of `authenticated` (as `postgres` is on Supabase).
///
/// The `*_with` forms run on the caller's own executor instead (a connection, a transaction or a
/// pool), within the same deadline; they switch nothing, so the caller's transaction must already
/// run as the role and with the claims it means (behind a transaction pooler, it must be an
/// explicit transaction). No call is retried: [`VaultError`] says which failures a caller may
/// retry.
///
/// ```no_run
/// use credential_vault_client::{CredentialMap, IntegrationId, UserClaims, UserVault, lazy_pool};
/// use sqlx::postgres::PgConnectOptions;
///
/// # async fn example(options: PgConnectOptions, verified_claims: serde_json::Value) -> Result<(), Box<dyn std::error::Error>> {
/// let pool = lazy_pool(options); // once, at start-up
///
/// // Per request, for the signed-in user:
/// let vault = UserVault::new(pool.clone(), UserClaims::from_claims(&verified_claims)?);
/// let integration: IntegrationId = "3f1c2a9e-5b7d-4e21-9a0c-1d2e3f4a5b6c".parse()?;
/// let credentials = CredentialMap::new([("api_key", "sk-live-123")])?;
/// let reference = vault.store(integration, &credentials).await?;
/// println!("stored {reference}"); // prints the id only
///
/// // Undo a rotation: the replaced version is kept for the recovery window.
/// let new_credentials = CredentialMap::new([("api_key", "sk-live-456")])?;
/// let rotated = vault.rotate(reference.vault_secret_id(), &new_credentials).await?;
/// let versions = vault.versions(integration).await?; // [rotated (current), reference (previous)]
/// let restored = vault.restore(versions[1].vault_secret_id()).await?;
/// assert_eq!(restored, reference);
///
/// // On the caller's own transaction, whose role and claims the caller has set:
/// let mut transaction = pool.begin().await?;
/// let references = vault.list_with(&mut *transaction, integration).await?;
/// transaction.commit().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct UserVault {
    pool: PgPool,
    user: UserClaims,
    deadlines: Deadlines,
}

impl UserVault {
    /// A handle that acts for `user` on the caller's pool, with the default [`Deadlines`]. Give it
    /// a pool from [`lazy_pool`] (or with [`supabase_options`](crate::supabase_options)) for
    /// Supabase.
    pub fn new(pool: PgPool, user: UserClaims) -> Self {
        Self {
            pool,
            user,
            deadlines: Deadlines::default(),
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

    /// Runs `call` as the user, in a transaction of its own, within `deadline`.
    async fn in_own_transaction<T>(
        &self,
        deadline: Duration,
        call: impl AsyncFnOnce(&mut PgConnection) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let (role, claims) = (UserClaims::ROLE, self.user.json());
        in_transaction_as(&self.pool, role, claims, deadline, call).await
    }

    the_calls_of_both_contexts!();
}

/// The handle for background sync services, as the service role: store, rotate, delete, list,
/// versions and restore for any integration, [`retrieve`](Self::retrieve), the only way to read
/// credentials back, and [`destroy`](Self::destroy) (the calls of [`ServiceCredentialVault`]).
///
/// Each call runs in a transaction of its own on one pooled connection, switched inside it to
/// `service_role` (`SET LOCAL ROLE`, never a startup option), so it works through the
/// transaction pooler; the login role only needs to be a member of `service_role`. The `*_with`
/// forms run on the caller's own executor instead, which must already run as the service role;
/// they switch nothing. No call is retried: [`VaultError`] says which failures a caller may
/// retry.
///
/// **Warning:** [`retrieve`](Self::retrieve) and [`retrieve_with`](Self::retrieve_with) return
/// credentials **in plaintext**. Build this handle only in background sync services, never in
/// user-facing code; give user-facing code a [`UserVault`], which cannot retrieve.
///
/// ```no_run
/// use credential_vault_client::{ServiceVault, VaultSecretId};
/// use secrecy::ExposeSecret;
/// use sqlx::postgres::PgConnectOptions;
///
/// # async fn example(options: PgConnectOptions, id: VaultSecretId) -> Result<(), Box<dyn std::error::Error>> {
/// let vault = ServiceVault::connect_lazy(options);
/// let credentials = vault.retrieve(id).await?;
/// if let Some(api_key) = credentials.get("api_key") {
///     // Hand the value to the sync job; never log it.
///     let _header = format!("Bearer {}", api_key.expose_secret());
/// }
///
/// // A leaked key: rotate, then destroy the old version at once rather than keep it.
/// let fresh = credential_vault_client::CredentialMap::new([("api_key", "sk-live-new")])?;
/// let expires_at = chrono::Utc::now() + chrono::TimeDelta::days(90);
/// vault.rotate_expiring(id, &fresh, expires_at).await?;
/// vault.destroy(id).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ServiceVault {
    pool: PgPool,
    deadlines: Deadlines,
}

impl ServiceVault {
    /// A service-role handle over the caller's pool, with the default [`Deadlines`]. The pool's
    /// login role must be a member of `service_role`. Give it a pool from [`lazy_pool`] (or with
    /// [`supabase_options`](crate::supabase_options)) for Supabase: a pool of the caller's own
    /// keeps whatever `sslmode` and startup parameters it was built with.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            deadlines: Deadlines::default(),
        }
    }

    /// A service-role handle over [`lazy_pool`]`(options)`. Must be called within a Tokio
    /// runtime.
    pub fn connect_lazy(options: PgConnectOptions) -> Self {
        Self::new(lazy_pool(options))
    }

    /// The same handle with other deadlines.
    pub fn with_deadlines(self, deadlines: Deadlines) -> Self {
        Self { deadlines, ..self }
    }

    /// The pool calls run on, for example to close it at shutdown.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `call` as the service role, in a transaction of its own, within `deadline`.
    async fn in_own_transaction<T>(
        &self,
        deadline: Duration,
        call: impl AsyncFnOnce(&mut PgConnection) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let (role, claims) = (SERVICE_ROLE, SERVICE_ROLE_CLAIMS);
        in_transaction_as(&self.pool, role, claims, deadline, call).await
    }

    the_calls_of_both_contexts!();

    /// Returns the credentials behind `vault_secret_id` **in plaintext**.
    ///
    /// **Warning:** call this only from background sync services, never from user-facing code
    /// (request handlers, anything whose output reaches a user). Keep the returned map no longer
    /// than needed; its values are wiped when it is dropped.
    pub async fn retrieve(
        &self,
        vault_secret_id: VaultSecretId,
    ) -> Result<CredentialMap, VaultError> {
        let deadline = self.deadlines.retrieve;
        self.in_own_transaction(deadline, async |connection| {
            api::retrieve(connection, vault_secret_id).await
        })
        .await
    }

    /// [`retrieve`](Self::retrieve) on the caller's executor, whose transaction must already run
    /// as the service role.
    ///
    /// **Warning:** returns credentials **in plaintext**: only for background sync services,
    /// never for user-facing code.
    pub async fn retrieve_with<'c>(
        &self,
        executor: impl Executor<'c, Database = Postgres>,
        vault_secret_id: VaultSecretId,
    ) -> Result<CredentialMap, VaultError> {
        within(
            self.deadlines.retrieve,
            api::retrieve(executor, vault_secret_id),
        )
        .await
    }

    /// Destroys the version `vault_secret_id` now, current or kept: its Vault secret is
    /// deleted and cannot be restored. For incident response and for honouring a deletion
    /// request before the recovery window ends; day-to-day, [`delete`](Self::delete) keeps a
    /// way back. Only the service role may destroy (a user's transaction gets
    /// [`VaultError::PermissionDenied`]). Needs extension 0.4.0.
    ///
    /// Fails with [`VaultError::CredentialsNotFound`] if there is no such version.
    pub async fn destroy(&self, vault_secret_id: VaultSecretId) -> Result<(), VaultError> {
        let deadline = self.deadlines.destroy;
        self.in_own_transaction(deadline, async |connection| {
            api::destroy(connection, vault_secret_id).await
        })
        .await
    }

    /// [`destroy`](Self::destroy) on the caller's executor, whose transaction must already run
    /// as the service role.
    pub async fn destroy_with<'c>(
        &self,
        executor: impl Executor<'c, Database = Postgres>,
        vault_secret_id: VaultSecretId,
    ) -> Result<(), VaultError> {
        within(
            self.deadlines.destroy,
            api::destroy(executor, vault_secret_id),
        )
        .await
    }
}
