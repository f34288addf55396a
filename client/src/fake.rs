//! An in-memory vault for applications' own unit tests (the `fake` feature): the extension's
//! contract without a database, proven faithful by running the client's behavioural suite
//! (`client/tests/behaviour.rs`) against it and against the real server alike.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use credential_vault_contract::Error as ContractError;
use uuid::Uuid;

use crate::context::UserClaims;
use crate::credentials::CredentialMap;
use crate::error::VaultError;
use crate::reference::{
    CredentialReference, CredentialVersion, IntegrationId, VaultSecretId, VersionState, expiry_text,
};
use crate::traits::{CredentialVault, ServiceCredentialVault, VaultFuture};

/// The recovery window of a database that never set one.
const DEFAULT_RECOVERY_WINDOW: TimeDelta = TimeDelta::days(7);

/// An in-memory credential vault with the extension's contract, for an application's unit tests
/// (cargo feature `fake`): hand its [`user`](Self::user) handle to code written against
/// [`CredentialVault`] and its [`service`](Self::service) handle to code written against
/// [`ServiceCredentialVault`], as [`UserVault`](crate::UserVault) and
/// [`ServiceVault`](crate::ServiceVault) are handed to it in production.
///
/// It answers as the server does, with the same [`VaultError`] variants:
///
/// - **Who may call what**: the service role everything, for any integration; a user store,
///   rotate, delete, list, versions and restore for the integrations the test
///   [`allow`](Self::allow)s them (what the database's authorizer decides), and for any other
///   [`VaultError::IntegrationNotFound`] (store, list, versions) or
///   [`VaultError::CredentialsNotFound`] (the calls that take a reference), never saying
///   whether it exists. A user cannot retrieve or destroy: the user handle has no such calls,
///   and a service handle used in a user's transaction
///   ([`service_in_transaction_of`](Self::service_in_transaction_of)) gets
///   [`VaultError::PermissionDenied`].
/// - **The application's rules, as the shipped migrations have them**: a store is for an
///   integration that exists ([`add_integration`](Self::add_integration), or
///   [`allow`](Self::allow), which adds it), else [`VaultError::IntegrationNotFound`], even for
///   the service role; and an integration has one current reference, so a second store is
///   [`VaultError::AlreadyHasCredentials`] until the first is deleted.
/// - **Failures on demand**, for an application's retry paths:
///   [`fail_next`](Self::fail_next) (the next calls, whatever they are) and
///   [`fail_next_call`](Self::fail_next_call) (the next calls of one kind) answer with the
///   error given, such as [`VaultError::Unavailable`], [`VaultError::Timeout`] or
///   [`VaultError::Conflict`], and change nothing, as the server's rolled-back calls do.
/// - **Versions and the recovery window**: rotate, restore and delete keep the replaced
///   version for the window ([`set_recovery_window`](Self::set_recovery_window); 7 days
///   unless set, zero destroys at once), restorable until its `destroy_after`, listed by
///   `versions` until [`purge_expired`](Self::purge_expired) destroys it.
/// - **Time** is the wall clock plus however far the test [`advance`](Self::advance)d it, so a
///   test need not sleep through a recovery window. Times are whole microseconds, as the
///   server's.
/// - **Input**: the typed arguments carry the contract's verdict ([`CredentialMap`] and the ids
///   are checked on construction by the contract crate's rules); an expiry is checked by the
///   contract's `parse_expires_at`, as the server checks it.
///
/// It keeps no credential but the stored ones, each in a [`CredentialMap`] whose values are
/// wiped from memory when the version is destroyed (by `destroy`, a zero window,
/// [`purge_expired`](Self::purge_expired)) or the last handle is dropped. `retrieve` returns a
/// copy that is the caller's, wiped when dropped. Its `Debug` shows counts only. Cheap to clone:
/// clones and handles share one vault.
///
/// ```
/// use credential_vault_client::fake::FakeVault;
/// use credential_vault_client::{
///     CredentialMap, CredentialVault, IntegrationId, ServiceCredentialVault, UserClaims,
///     VaultError, VersionState,
/// };
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), VaultError> {
/// let vault = FakeVault::new();
/// let integration = IntegrationId::from(uuid::Uuid::new_v4());
/// let admin = UserClaims::authenticated(uuid::Uuid::new_v4());
/// vault.allow(admin.user_id(), integration);
///
/// // The code under test, as the admin:
/// let user = vault.user(&admin);
/// let first = user.store(integration, &CredentialMap::new([("api_key", "k-1")])?).await?;
/// let second = user.rotate(first.vault_secret_id(), &CredentialMap::new([("api_key", "k-2")])?).await?;
///
/// let versions = user.versions(integration).await?;
/// assert_eq!(versions[1].state(), VersionState::Previous);
///
/// // Eight days later the old version is past its window and cannot be restored.
/// vault.advance(Duration::from_secs(8 * 24 * 3600));
/// assert_eq!(user.restore(first.vault_secret_id()).await, Err(VaultError::CredentialsNotFound));
/// assert_eq!(vault.purge_expired(), 1);
///
/// // Someone else's integration does not exist, as far as this user can tell.
/// let stranger = vault.user(&UserClaims::authenticated(uuid::Uuid::new_v4()));
/// assert_eq!(stranger.list(integration).await, Err(VaultError::IntegrationNotFound));
///
/// // The sync service reads the current credentials back.
/// let credentials = vault.service().retrieve(second.vault_secret_id()).await?;
/// assert_eq!(credentials.names().collect::<Vec<_>>(), ["api_key"]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct FakeVault {
    shared: Arc<Mutex<State>>,
}

/// A kind of call, to aim a failure at ([`FakeVault::fail_next_call`]). `store_expiring` is a
/// [`Call::Store`] and `rotate_expiring` a [`Call::Rotate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    Store,
    Rotate,
    Delete,
    List,
    Versions,
    Restore,
    Retrieve,
    Destroy,
}

/// A failure injected by a test: `error`, for the next `times` calls of kind `call` (of any kind
/// when `None`).
struct Injected {
    call: Option<Call>,
    times: usize,
    error: VaultError,
}

/// Who a handle's calls run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Service,
    User(Uuid),
}

struct State {
    /// Every version held, current and kept, in no particular order.
    versions: Vec<Version>,
    /// (user, integration): what the authorizer allows.
    managed: HashSet<(Uuid, IntegrationId)>,
    /// The integrations that exist (the application's table).
    integrations: HashSet<IntegrationId>,
    /// Failures still to answer with, first injected first.
    injected: Vec<Injected>,
    recovery_window: TimeDelta,
    /// How far tests moved the clock ahead of the wall clock.
    advanced: TimeDelta,
    /// The time of the latest call, so that each call is later than the one before.
    last: DateTime<Utc>,
}

impl Default for State {
    fn default() -> Self {
        State {
            versions: Vec::new(),
            managed: HashSet::new(),
            integrations: HashSet::new(),
            injected: Vec::new(),
            recovery_window: DEFAULT_RECOVERY_WINDOW,
            advanced: TimeDelta::zero(),
            last: DateTime::<Utc>::MIN_UTC,
        }
    }
}

/// One stored secret: a row of `credential_vault.credentials` and its Vault secret.
struct Version {
    integration: IntegrationId,
    reference: CredentialReference,
    state: VersionState,
    replaced_at: Option<DateTime<Utc>>,
    destroy_after: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    credentials: CredentialMap,
}

impl Version {
    fn id(&self) -> VaultSecretId {
        self.reference.vault_secret_id()
    }

    fn is_current(&self) -> bool {
        self.state == VersionState::Current
    }

    fn listed(&self) -> CredentialVersion {
        CredentialVersion::new(
            self.reference,
            self.state,
            self.replaced_at,
            self.destroy_after,
        )
    }
}

fn not_found(error: ContractError) -> VaultError {
    error.into()
}

impl State {
    /// The failure the next call of kind `call` answers with, if one was injected for it.
    fn injected_failure(&mut self, call: Call) -> Option<VaultError> {
        let index = self
            .injected
            .iter()
            .position(|injected| injected.call.is_none_or(|c| c == call))?;
        let injected = &mut self.injected[index];
        injected.times -= 1;
        let error = injected.error.clone();
        if injected.times == 0 {
            self.injected.remove(index);
        }
        Some(error)
    }

    /// The time of a call, fixed for the whole call as `now()` is for a transaction: the wall
    /// clock plus the tests' advances, to the microsecond, and at least a microsecond after the
    /// call before, so that "newest first" never depends on two calls sharing a microsecond.
    fn tick(&mut self) -> DateTime<Utc> {
        let wall = (Utc::now() + self.advanced).trunc_subsecs(6);
        self.last = wall.max(self.last + TimeDelta::microseconds(1));
        self.last
    }

    /// The authorizer's decision: the service role may manage any integration, a user those
    /// the test allowed; `refusal` otherwise (the server's PT404, which hides existence).
    fn require_manage(
        &self,
        caller: Caller,
        integration: IntegrationId,
        refusal: ContractError,
    ) -> Result<(), VaultError> {
        match caller {
            Caller::Service => Ok(()),
            Caller::User(user) if self.managed.contains(&(user, integration)) => Ok(()),
            Caller::User(_) => Err(not_found(refusal)),
        }
    }

    /// Retrieve and destroy are the service role's alone; the role is checked before anything
    /// else, as the server does.
    fn require_service(caller: Caller, action: &'static str) -> Result<(), VaultError> {
        match caller {
            Caller::Service => Ok(()),
            Caller::User(_) => Err(ContractError::RoleNotAllowed(action).into()),
        }
    }

    fn find(&self, id: VaultSecretId) -> Option<&Version> {
        self.versions.iter().find(|version| version.id() == id)
    }

    /// The integration of `id` while it is current.
    fn current_integration(&self, id: VaultSecretId) -> Result<IntegrationId, VaultError> {
        self.find(id)
            .filter(|version| version.is_current())
            .map(|version| version.integration)
            .ok_or(not_found(ContractError::CredentialsNotFound))
    }

    fn insert(
        &mut self,
        now: DateTime<Utc>,
        integration: IntegrationId,
        credentials: &CredentialMap,
        expires_at: Option<DateTime<Utc>>,
    ) -> CredentialReference {
        let reference = CredentialReference::new(Uuid::new_v4().into(), now);
        self.versions.push(Version {
            integration,
            reference,
            state: VersionState::Current,
            replaced_at: None,
            destroy_after: None,
            expires_at,
            credentials: credentials.duplicate(),
        });
        reference
    }

    /// `id` stops being current: kept in `state` for the recovery window, or destroyed (its
    /// values wiped) when the window is zero.
    fn retire(&mut self, now: DateTime<Utc>, id: VaultSecretId, state: VersionState) {
        let window = self.recovery_window;
        if window.is_zero() {
            self.versions.retain(|version| version.id() != id);
            return;
        }
        if let Some(version) = self.versions.iter_mut().find(|v| v.id() == id) {
            version.state = state;
            version.replaced_at = Some(now);
            version.destroy_after = Some(
                now.checked_add_signed(window)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
            );
        }
    }

    /// `integration`'s versions, newest first (ties by id, as the server orders them).
    fn versions_of(
        &self,
        integration: IntegrationId,
        current_only: bool,
    ) -> Vec<CredentialVersion> {
        let mut versions: Vec<CredentialVersion> = self
            .versions
            .iter()
            .filter(|v| v.integration == integration && (v.is_current() || !current_only))
            .map(Version::listed)
            .collect();
        versions.sort_by_key(|v| (std::cmp::Reverse(v.created_at()), v.vault_secret_id()));
        versions
    }

    fn store(
        &mut self,
        caller: Caller,
        integration: IntegrationId,
        credentials: &CredentialMap,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<CredentialReference, VaultError> {
        let expires_at = checked_expiry(expires_at)?;
        self.require_manage(caller, integration, ContractError::IntegrationNotFound)?;
        // The application's link hook: the integration exists, with no current reference.
        if !self.integrations.contains(&integration) {
            return Err(not_found(ContractError::IntegrationNotFound));
        }
        if !self.versions_of(integration, true).is_empty() {
            return Err(VaultError::AlreadyHasCredentials);
        }
        let now = self.tick();
        Ok(self.insert(now, integration, credentials, expires_at))
    }

    fn rotate(
        &mut self,
        caller: Caller,
        old: VaultSecretId,
        credentials: &CredentialMap,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<CredentialReference, VaultError> {
        let expires_at = checked_expiry(expires_at)?;
        let integration = self.current_integration(old)?;
        self.require_manage(caller, integration, ContractError::CredentialsNotFound)?;
        let now = self.tick();
        self.retire(now, old, VersionState::Previous);
        Ok(self.insert(now, integration, credentials, expires_at))
    }

    fn delete(&mut self, caller: Caller, id: VaultSecretId) -> Result<(), VaultError> {
        let integration = self.current_integration(id)?;
        self.require_manage(caller, integration, ContractError::CredentialsNotFound)?;
        let now = self.tick();
        self.retire(now, id, VersionState::Deleted);
        Ok(())
    }

    fn list(
        &self,
        caller: Caller,
        integration: IntegrationId,
        current_only: bool,
    ) -> Result<Vec<CredentialVersion>, VaultError> {
        self.require_manage(caller, integration, ContractError::IntegrationNotFound)?;
        Ok(self.versions_of(integration, current_only))
    }

    fn restore(
        &mut self,
        caller: Caller,
        id: VaultSecretId,
    ) -> Result<CredentialReference, VaultError> {
        let now = self.tick();
        let kept = self
            .find(id)
            .filter(|v| !v.is_current() && v.destroy_after.is_some_and(|after| after > now))
            .map(|v| v.integration)
            .ok_or(not_found(ContractError::CredentialsNotFound))?;
        self.require_manage(caller, kept, ContractError::CredentialsNotFound)?;
        let replaced: Vec<VaultSecretId> = self
            .versions
            .iter()
            .filter(|v| v.integration == kept && v.is_current())
            .map(Version::id)
            .collect();
        for current in replaced {
            self.retire(now, current, VersionState::Previous);
        }
        let restored = self.versions.iter_mut().find(|v| v.id() == id);
        let restored = restored.ok_or(VaultError::UNEXPECTED_RESPONSE)?;
        restored.state = VersionState::Current;
        restored.replaced_at = None;
        restored.destroy_after = None;
        Ok(restored.reference)
    }

    fn retrieve(&self, caller: Caller, id: VaultSecretId) -> Result<CredentialMap, VaultError> {
        Self::require_service(caller, "retrieve")?;
        self.find(id)
            .filter(|version| version.is_current())
            .map(|version| version.credentials.duplicate())
            .ok_or(not_found(ContractError::CredentialsNotFound))
    }

    fn destroy(&mut self, caller: Caller, id: VaultSecretId) -> Result<(), VaultError> {
        Self::require_service(caller, "destroy")?;
        self.find(id)
            .ok_or(not_found(ContractError::CredentialsNotFound))?;
        self.versions.retain(|version| version.id() != id);
        Ok(())
    }
}

/// The expiry as the server keeps it: refused by the contract's rule as the server refuses it,
/// else to the microsecond.
fn checked_expiry(expires_at: Option<DateTime<Utc>>) -> Result<Option<DateTime<Utc>>, VaultError> {
    expires_at
        .map(|at| expiry_text(at).map(|_| at.round_subsecs(6)))
        .transpose()
}

impl FakeVault {
    /// An empty vault: no credentials, no user allowed anything, a recovery window of 7 days.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // No call panics while holding the lock; a test's panic elsewhere must not hide the vault.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A handle that acts for `user`, as [`UserVault`](crate::UserVault) does: what the user may
    /// do is what [`allow`](Self::allow) says, at the time of each call.
    pub fn user(&self, user: &UserClaims) -> FakeUserVault {
        FakeUserVault {
            vault: self.clone(),
            user: user.user_id(),
        }
    }

    /// A service-role handle, as [`ServiceVault`](crate::ServiceVault) is.
    pub fn service(&self) -> FakeServiceVault {
        FakeServiceVault {
            vault: self.clone(),
            caller: Caller::Service,
        }
    }

    /// A service handle whose calls run as `user`, as [`ServiceVault`](crate::ServiceVault)'s
    /// `*_with` forms run as whoever the caller's transaction is: for testing that code which
    /// is handed the wrong transaction fails closed. `retrieve` and `destroy` get
    /// [`VaultError::PermissionDenied`]; the other calls answer as [`user`](Self::user)'s.
    pub fn service_in_transaction_of(&self, user: &UserClaims) -> FakeServiceVault {
        FakeServiceVault {
            vault: self.clone(),
            caller: Caller::User(user.user_id()),
        }
    }

    /// Adds `integration` to the application's integrations, so that credentials can be stored
    /// for it (by the service role; by a user once [`allow`](Self::allow)ed).
    pub fn add_integration(&self, integration: IntegrationId) {
        self.state().integrations.insert(integration);
    }

    /// Lets the user `user_id` manage `integration` (the database's authorizer says yes), and
    /// adds the integration if it was not there.
    pub fn allow(&self, user_id: Uuid, integration: IntegrationId) {
        let mut state = self.state();
        state.integrations.insert(integration);
        state.managed.insert((user_id, integration));
    }

    /// The next `times` calls, of any kind and by any handle, fail with `error` and change
    /// nothing. Injected failures answer in the order they were injected, before anything
    /// else is checked.
    ///
    /// ```
    /// use credential_vault_client::fake::FakeVault;
    /// use credential_vault_client::{CredentialVault, IntegrationId, VaultError};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let vault = FakeVault::new();
    /// let integration = IntegrationId::from(uuid::Uuid::new_v4());
    /// vault.fail_next(2, VaultError::Unavailable);
    /// let service = vault.service();
    /// assert_eq!(service.list(integration).await, Err(VaultError::Unavailable));
    /// assert_eq!(service.list(integration).await, Err(VaultError::Unavailable));
    /// assert_eq!(service.list(integration).await, Ok(vec![]));
    /// # }
    /// ```
    pub fn fail_next(&self, times: usize, error: VaultError) {
        self.inject(None, times, error);
    }

    /// The next `times` calls of kind `call` fail with `error` and change nothing; other calls
    /// answer as usual.
    pub fn fail_next_call(&self, call: Call, times: usize, error: VaultError) {
        self.inject(Some(call), times, error);
    }

    fn inject(&self, call: Option<Call>, times: usize, error: VaultError) {
        if times > 0 {
            let injected = Injected { call, times, error };
            self.state().injected.push(injected);
        }
    }

    /// Stops the user `user_id` managing `integration` (the authorizer says no from now on).
    pub fn disallow(&self, user_id: Uuid, integration: IntegrationId) {
        self.state().managed.remove(&(user_id, integration));
    }

    /// How long a replaced or deleted version is kept from now on, as
    /// `credential_vault.set_recovery_window` sets it; zero destroys at once. Versions already
    /// kept keep their `destroy_after`.
    pub fn set_recovery_window(&self, window: Duration) {
        self.state().recovery_window = TimeDelta::from_std(window).unwrap_or(TimeDelta::MAX);
    }

    /// Moves the vault's clock `by` ahead, instead of sleeping.
    pub fn advance(&self, by: Duration) {
        let mut state = self.state();
        let by = TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
        state.advanced = state.advanced.checked_add(&by).unwrap_or(TimeDelta::MAX);
    }

    /// The vault's clock: the wall clock plus every [`advance`](Self::advance), to the
    /// microsecond, each reading (and each call) at least a microsecond after the one before.
    pub fn now(&self) -> DateTime<Utc> {
        self.state().tick()
    }

    /// Destroys every kept version whose `destroy_after` has come, as the database's scheduled
    /// `credential_vault.purge_expired()` does, and returns how many.
    pub fn purge_expired(&self) -> usize {
        let mut state = self.state();
        let now = state.tick();
        let before = state.versions.len();
        state
            .versions
            .retain(|v| v.is_current() || v.destroy_after.is_none_or(|after| after > now));
        before - state.versions.len()
    }

    /// The expiry a store or rotate gave the version `vault_secret_id` (what the database's
    /// `rotation_report()` reads), `None` if it was given none.
    ///
    /// # Errors
    ///
    /// [`VaultError::CredentialsNotFound`] if no such version is held.
    pub fn expires_at(
        &self,
        vault_secret_id: VaultSecretId,
    ) -> Result<Option<DateTime<Utc>>, VaultError> {
        let state = self.state();
        let version = state.find(vault_secret_id);
        let version = version.ok_or(not_found(ContractError::CredentialsNotFound))?;
        Ok(version.expires_at)
    }
}

/// Counts only: never a value, nor even a name.
impl fmt::Debug for FakeVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        let current = state.versions.iter().filter(|v| v.is_current()).count();
        f.debug_struct("FakeVault")
            .field("current", &current)
            .field("kept", &(state.versions.len() - current))
            .field("recovery_window", &state.recovery_window)
            .finish_non_exhaustive()
    }
}

/// [`FakeVault`]'s handle for a signed-in user: the calls of [`CredentialVault`], as the user.
#[derive(Debug, Clone)]
pub struct FakeUserVault {
    vault: FakeVault,
    user: Uuid,
}

/// [`FakeVault`]'s service handle: the calls of [`ServiceCredentialVault`], as the service role
/// (or, from [`FakeVault::service_in_transaction_of`], as a user).
#[derive(Debug, Clone)]
pub struct FakeServiceVault {
    vault: FakeVault,
    caller: Caller,
}

/// [`CredentialVault`] for a fake handle whose calls run as `self.caller()`: each answers at
/// once, from the shared state, after any failure injected for it.
macro_rules! credential_vault_in_memory {
    ($handle:ty) => {
        impl CredentialVault for $handle {
            fn store<'a>(
                &'a self,
                integration_id: IntegrationId,
                credentials: &'a CredentialMap,
            ) -> VaultFuture<'a, CredentialReference> {
                self.answer(Call::Store, |state, caller| {
                    state.store(caller, integration_id, credentials, None)
                })
            }

            fn store_expiring<'a>(
                &'a self,
                integration_id: IntegrationId,
                credentials: &'a CredentialMap,
                expires_at: DateTime<Utc>,
            ) -> VaultFuture<'a, CredentialReference> {
                self.answer(Call::Store, |state, caller| {
                    state.store(caller, integration_id, credentials, Some(expires_at))
                })
            }

            fn rotate<'a>(
                &'a self,
                vault_secret_id: VaultSecretId,
                credentials: &'a CredentialMap,
            ) -> VaultFuture<'a, CredentialReference> {
                self.answer(Call::Rotate, |state, caller| {
                    state.rotate(caller, vault_secret_id, credentials, None)
                })
            }

            fn rotate_expiring<'a>(
                &'a self,
                vault_secret_id: VaultSecretId,
                credentials: &'a CredentialMap,
                expires_at: DateTime<Utc>,
            ) -> VaultFuture<'a, CredentialReference> {
                self.answer(Call::Rotate, |state, caller| {
                    state.rotate(caller, vault_secret_id, credentials, Some(expires_at))
                })
            }

            fn delete<'a>(&'a self, vault_secret_id: VaultSecretId) -> VaultFuture<'a, ()> {
                self.answer(Call::Delete, |state, caller| {
                    state.delete(caller, vault_secret_id)
                })
            }

            fn list<'a>(
                &'a self,
                integration_id: IntegrationId,
            ) -> VaultFuture<'a, Vec<CredentialReference>> {
                self.answer(Call::List, |state, caller| {
                    let current = state.list(caller, integration_id, true)?;
                    Ok(current.iter().map(CredentialVersion::reference).collect())
                })
            }

            fn versions<'a>(
                &'a self,
                integration_id: IntegrationId,
            ) -> VaultFuture<'a, Vec<CredentialVersion>> {
                self.answer(Call::Versions, |state, caller| {
                    state.list(caller, integration_id, false)
                })
            }

            fn restore<'a>(
                &'a self,
                vault_secret_id: VaultSecretId,
            ) -> VaultFuture<'a, CredentialReference> {
                self.answer(Call::Restore, |state, caller| {
                    state.restore(caller, vault_secret_id)
                })
            }
        }

        impl $handle {
            /// The answer to a call of kind `call`: the next failure injected for it, or else
            /// `operation` on the shared state, as a future that is ready at once.
            fn answer<'a, T: Send + 'a>(
                &self,
                call: Call,
                operation: impl FnOnce(&mut State, Caller) -> Result<T, VaultError>,
            ) -> VaultFuture<'a, T> {
                let caller = self.caller();
                let mut state = self.vault.state();
                let answer = match state.injected_failure(call) {
                    Some(failure) => Err(failure),
                    None => operation(&mut state, caller),
                };
                Box::pin(std::future::ready(answer))
            }
        }
    };
}

impl FakeUserVault {
    fn caller(&self) -> Caller {
        Caller::User(self.user)
    }
}

impl FakeServiceVault {
    fn caller(&self) -> Caller {
        self.caller
    }
}

credential_vault_in_memory!(FakeUserVault);
credential_vault_in_memory!(FakeServiceVault);

impl ServiceCredentialVault for FakeServiceVault {
    fn retrieve<'a>(&'a self, vault_secret_id: VaultSecretId) -> VaultFuture<'a, CredentialMap> {
        self.answer(Call::Retrieve, |state, caller| {
            state.retrieve(caller, vault_secret_id)
        })
    }

    fn destroy<'a>(&'a self, vault_secret_id: VaultSecretId) -> VaultFuture<'a, ()> {
        self.answer(Call::Destroy, |state, caller| {
            state.destroy(caller, vault_secret_id)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the vault holds, by its `Debug`: counts only.
    fn held(vault: &FakeVault) -> String {
        let shown = format!("{vault:?}");
        shown[..shown.find(", recovery_window").expect("counts first")].to_owned()
    }

    #[tokio::test]
    async fn a_destroyed_version_is_dropped_and_nothing_shown_names_a_value() {
        let vault = FakeVault::new();
        let service = vault.service();
        let integration = IntegrationId::from(Uuid::new_v4());
        vault.add_integration(integration);
        let credentials = CredentialMap::new([("api_key", "canary-fake-1")]).unwrap();
        let first = service.store(integration, &credentials).await.unwrap();
        let second = service.rotate(first.vault_secret_id(), &credentials).await;
        let second = second.unwrap();
        assert_eq!(held(&vault), "FakeVault { current: 1, kept: 1");
        let shown = format!(
            "{vault:?} {service:?} {:?}",
            vault.user(&UserClaims::authenticated(Uuid::nil()))
        );
        assert!(
            !shown.contains("canary") && !shown.contains("api_key"),
            "{shown}"
        );

        // Destroyed, purged or rotated away with a zero window: the version, and with it its
        // CredentialMap (which wipes its values when dropped), is gone.
        service.destroy(first.vault_secret_id()).await.unwrap();
        assert_eq!(held(&vault), "FakeVault { current: 1, kept: 0");
        vault.set_recovery_window(Duration::ZERO);
        let third = service.rotate(second.vault_secret_id(), &credentials).await;
        assert_eq!(held(&vault), "FakeVault { current: 1, kept: 0");
        service
            .destroy(third.unwrap().vault_secret_id())
            .await
            .unwrap();
        assert_eq!(held(&vault), "FakeVault { current: 0, kept: 0");
    }

    #[tokio::test]
    async fn injected_failures_answer_in_order_per_kind_and_change_nothing() {
        let vault = FakeVault::new();
        let service = vault.service();
        let integration = IntegrationId::from(Uuid::new_v4());
        vault.add_integration(integration);
        let credentials = CredentialMap::new([("api_key", "canary-fake-2")]).unwrap();
        let timeout = VaultError::Timeout {
            after: Duration::from_secs(1),
        };
        vault.fail_next_call(Call::Store, 2, timeout.clone());
        vault.fail_next(1, VaultError::Unavailable);

        // A list is no store: only the failure for any call answers it.
        assert_eq!(
            service.list(integration).await,
            Err(VaultError::Unavailable)
        );
        assert_eq!(service.list(integration).await, Ok(vec![]));
        for _ in 0..2 {
            let stored = service.store(integration, &credentials).await;
            assert_eq!(stored, Err(timeout.clone()));
        }
        assert_eq!(
            service.list(integration).await,
            Ok(vec![]),
            "nothing stored"
        );
        let stored = service.store(integration, &credentials).await.unwrap();

        // By any handle: a user's call meets it too.
        vault.fail_next(1, VaultError::Conflict);
        let admin = UserClaims::authenticated(Uuid::new_v4());
        vault.allow(admin.user_id(), integration);
        let user = vault.user(&admin);
        let rotated = user.rotate(stored.vault_secret_id(), &credentials).await;
        assert_eq!(rotated, Err(VaultError::Conflict));
        assert_eq!(user.list(integration).await, Ok(vec![stored]));
        vault.fail_next(0, VaultError::Conflict);
        assert!(
            user.rotate(stored.vault_secret_id(), &credentials)
                .await
                .is_ok()
        );
    }

    #[test]
    fn the_clock_moves_forward_only_and_by_the_advances() {
        let vault = FakeVault::new();
        let before = vault.now();
        assert!(
            vault.now() > before,
            "each reading later than the one before"
        );
        vault.advance(Duration::from_secs(3600));
        assert!(vault.now() - before >= TimeDelta::hours(1));
    }
}
