//! One behavioural suite for every implementation of the client's traits: each test below runs
//! against the in-memory `FakeVault` (module `fake`, no server needed) and against the real
//! handles on the harness cluster (module `real`), so that the fake is proven faithful by the
//! same assertions that prove the server's contract.
//!
//! The fake run is part of `cargo test -p credential-vault-client --test behaviour`. The real
//! run needs extension 0.4.0 and is `#[ignore]`d elsewhere:
//! `scripts/harness/with-cluster -- cargo test -p credential-vault-client --test behaviour -- --include-ignored`.
//!
//! The application's rules are the shipped migrations' (the server runs them; the fake models
//! them): one current reference per integration, and a store only for an integration that
//! exists.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use credential_vault_client::fake::{FakeServiceVault, FakeUserVault, FakeVault};
use credential_vault_client::{
    CredentialMap, CredentialReference, CredentialVault, CredentialVersion, IntegrationId,
    ServiceCredentialVault, ServiceVault, UserClaims, UserVault, VaultError, VaultSecretId,
    VersionState, contract,
};
use credential_vault_tests::{Caller, Tenants, TestDatabase, canary};
use secrecy::ExposeSecret;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// The worlds: what the suite needs of a vault beyond the client's calls
// ---------------------------------------------------------------------------------------------

/// A vault with two signed-in users, its settings and its clock. The admin may manage every
/// integration [`World::integration`] makes; the outsider none of them.
trait World: Sized {
    type User: CredentialVault;
    type Service: ServiceCredentialVault;

    async fn new() -> Self;
    /// A new integration, which the admin may manage.
    async fn integration(&self) -> IntegrationId;
    fn admin(&self) -> Self::User;
    fn outsider(&self) -> Self::User;
    fn service(&self) -> Self::Service;
    /// `retrieve`, and `destroy`, by a service handle on the admin's transaction: how a user
    /// could reach the service role's calls at all.
    async fn retrieve_as_admin(&self, id: VaultSecretId) -> Result<CredentialMap, VaultError>;
    async fn destroy_as_admin(&self, id: VaultSecretId) -> Result<(), VaultError>;
    async fn set_recovery_window(&self, window: Duration);
    async fn let_time_pass(&self, by: Duration);
    /// What the database's scheduled `credential_vault.purge_expired()` does.
    async fn purge_expired(&self) -> usize;
    /// The expiry the version holds (what `rotation_report()` reads).
    async fn expires_at(&self, id: VaultSecretId) -> Option<DateTime<Utc>>;
}

/// The in-memory vault.
struct Fake {
    vault: FakeVault,
    admin: UserClaims,
    outsider: UserClaims,
}

impl World for Fake {
    type User = FakeUserVault;
    type Service = FakeServiceVault;

    async fn new() -> Self {
        Fake {
            vault: FakeVault::new(),
            admin: UserClaims::authenticated(Uuid::new_v4()),
            outsider: UserClaims::authenticated(Uuid::new_v4()),
        }
    }

    async fn integration(&self) -> IntegrationId {
        let integration = IntegrationId::from(Uuid::new_v4());
        self.vault.allow(self.admin.user_id(), integration);
        integration
    }

    fn admin(&self) -> FakeUserVault {
        self.vault.user(&self.admin)
    }

    fn outsider(&self) -> FakeUserVault {
        self.vault.user(&self.outsider)
    }

    fn service(&self) -> FakeServiceVault {
        self.vault.service()
    }

    async fn retrieve_as_admin(&self, id: VaultSecretId) -> Result<CredentialMap, VaultError> {
        let handle = self.vault.service_in_transaction_of(&self.admin);
        handle.retrieve(id).await
    }

    async fn destroy_as_admin(&self, id: VaultSecretId) -> Result<(), VaultError> {
        let handle = self.vault.service_in_transaction_of(&self.admin);
        handle.destroy(id).await
    }

    async fn set_recovery_window(&self, window: Duration) {
        self.vault.set_recovery_window(window);
    }

    async fn let_time_pass(&self, by: Duration) {
        self.vault.advance(by);
    }

    async fn purge_expired(&self) -> usize {
        self.vault.purge_expired()
    }

    async fn expires_at(&self, id: VaultSecretId) -> Option<DateTime<Utc>> {
        self.vault.expires_at(id).expect("the version is held")
    }
}

/// The harness cluster: a database of its own with the tenants, the handles on its superuser
/// pool (each call switches to its handle's role inside its transaction).
struct Real {
    db: TestDatabase,
    tenants: Tenants,
}

fn claims(caller: &Caller) -> UserClaims {
    match caller {
        Caller::Authenticated(sub) => UserClaims::authenticated(*sub),
        other => panic!("{other:?} is not a signed-in user"),
    }
}

impl World for Real {
    type User = UserVault;
    type Service = ServiceVault;

    async fn new() -> Self {
        let db = TestDatabase::new().await;
        let tenants = Tenants::create(&db.pool).await;
        Real { db, tenants }
    }

    async fn integration(&self) -> IntegrationId {
        let mut added = self.tenants.add_integrations(&self.db.pool, 1).await;
        added.remove(0).into()
    }

    fn admin(&self) -> UserVault {
        UserVault::new(self.db.pool.clone(), claims(&self.tenants.admin))
    }

    /// The admin of another organization: the authorizer says no to our integrations.
    fn outsider(&self) -> UserVault {
        UserVault::new(self.db.pool.clone(), claims(&self.tenants.other_admin))
    }

    fn service(&self) -> ServiceVault {
        ServiceVault::new(self.db.pool.clone())
    }

    async fn retrieve_as_admin(&self, id: VaultSecretId) -> Result<CredentialMap, VaultError> {
        let mut transaction = self.db.begin_as(&self.tenants.admin).await;
        let result = self.service().retrieve_with(&mut *transaction, id).await;
        transaction.rollback().await.expect("roll back");
        result
    }

    async fn destroy_as_admin(&self, id: VaultSecretId) -> Result<(), VaultError> {
        let mut transaction = self.db.begin_as(&self.tenants.admin).await;
        let result = self.service().destroy_with(&mut *transaction, id).await;
        transaction.rollback().await.expect("roll back");
        result
    }

    async fn set_recovery_window(&self, window: Duration) {
        sqlx::query("select credential_vault.set_recovery_window($1)")
            .bind(window)
            .execute(&self.db.pool)
            .await
            .expect("set the recovery window as the superuser");
    }

    async fn let_time_pass(&self, by: Duration) {
        tokio::time::sleep(by).await;
    }

    async fn purge_expired(&self) -> usize {
        let purged: i32 = sqlx::query_scalar("select credential_vault.purge_expired()")
            .fetch_one(&self.db.pool)
            .await
            .expect("purge as the superuser");
        purged.try_into().expect("a count")
    }

    async fn expires_at(&self, id: VaultSecretId) -> Option<DateTime<Utc>> {
        sqlx::query_scalar(
            "select expires_at from credential_vault.credentials where vault_secret_id = $1",
        )
        .bind(id.as_uuid())
        .fetch_one(&self.db.pool)
        .await
        .expect("the version's row")
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const WEEK: TimeDelta = TimeDelta::days(7);

/// Credentials whose `api_key` is `value`.
fn credentials(value: &str) -> CredentialMap {
    CredentialMap::new([("api_key", value), ("client_id", "client-1")]).expect("valid")
}

/// The `api_key` of retrieved credentials is `value` (compared, never printed).
fn holds(credentials: &CredentialMap, value: &str) -> bool {
    credentials.get("api_key").map(|v| v.expose_secret()) == Some(value)
}

/// Stores `first` for `integration`, then rotates it to `second`: both references.
async fn store_then_rotate(
    vault: &impl CredentialVault,
    integration: IntegrationId,
    first: &str,
    second: &str,
) -> (CredentialReference, CredentialReference) {
    let stored = vault
        .store(integration, &credentials(first))
        .await
        .expect("store");
    let rotated = vault
        .rotate(stored.vault_secret_id(), &credentials(second))
        .await
        .expect("rotate");
    (stored, rotated)
}

fn current(reference: CredentialReference) -> CredentialVersion {
    CredentialVersion::new(reference, VersionState::Current, None, None)
}

/// Asserts `version` is `reference` kept in `state`, replaced at `replaced_at` (when given)
/// and to be destroyed `window` later.
fn assert_kept(
    version: &CredentialVersion,
    reference: CredentialReference,
    state: VersionState,
    window: TimeDelta,
) {
    assert_eq!(
        (version.reference(), version.state()),
        (reference, state),
        "{version}"
    );
    let replaced_at = version.replaced_at().expect("a kept version was replaced");
    assert!(replaced_at >= reference.created_at(), "{version}");
    assert_eq!(
        version.destroy_after(),
        Some(replaced_at + window),
        "{version}: destroy_after = replaced_at + the window"
    );
}

fn ids(versions: &[CredentialVersion]) -> Vec<(VaultSecretId, VersionState)> {
    versions
        .iter()
        .map(|v| (v.vault_secret_id(), v.state()))
        .collect()
}

fn a_random_id() -> VaultSecretId {
    Uuid::new_v4().into()
}

// ---------------------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------------------

/// Store, list, retrieve, rotate, versions and delete on one integration, as the service role.
async fn one_integration_from_store_to_delete<W: World>() {
    let w = W::new().await;
    let (service, integration) = (w.service(), w.integration().await);
    let (first_value, second_value) = (canary("first"), canary("second"));

    let first = service.store(integration, &credentials(&first_value)).await;
    let first = first.expect("store");
    assert_eq!(service.list(integration).await, Ok(vec![first]));
    assert_eq!(
        service.versions(integration).await,
        Ok(vec![current(first)])
    );
    let retrieved = service.retrieve(first.vault_secret_id()).await.unwrap();
    assert!(
        holds(&retrieved, &first_value),
        "the stored value came back"
    );

    let second = service
        .rotate(first.vault_secret_id(), &credentials(&second_value))
        .await
        .expect("rotate");
    assert_ne!(second.vault_secret_id(), first.vault_secret_id());
    assert!(second.created_at() > first.created_at());
    assert_eq!(service.list(integration).await, Ok(vec![second]));
    let versions = service.versions(integration).await.unwrap();
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!(versions[0], current(second), "newest first");
    assert_kept(&versions[1], first, VersionState::Previous, WEEK);
    assert_eq!(
        versions[1].replaced_at(),
        Some(second.created_at()),
        "replaced when the new one was stored, in one transaction"
    );
    let retrieved = service.retrieve(second.vault_secret_id()).await.unwrap();
    assert!(holds(&retrieved, &second_value), "the new value came back");

    // A kept version is no reference any more: only restore and destroy take it.
    let old = first.vault_secret_id();
    let again = credentials(&canary("again"));
    assert_eq!(
        service.retrieve(old).await.err(),
        Some(VaultError::CredentialsNotFound)
    );
    assert_eq!(
        service.rotate(old, &again).await,
        Err(VaultError::CredentialsNotFound)
    );
    assert_eq!(
        service.delete(old).await,
        Err(VaultError::CredentialsNotFound)
    );

    service
        .delete(second.vault_secret_id())
        .await
        .expect("delete");
    assert_eq!(service.list(integration).await, Ok(vec![]));
    let versions = service.versions(integration).await.unwrap();
    assert_eq!(
        ids(&versions),
        [
            (second.vault_secret_id(), VersionState::Deleted),
            (old, VersionState::Previous)
        ]
    );
    assert_kept(&versions[0], second, VersionState::Deleted, WEEK);
    let deleted = second.vault_secret_id();
    assert_eq!(
        service.retrieve(deleted).await.err(),
        Some(VaultError::CredentialsNotFound)
    );
    assert_eq!(
        service.delete(deleted).await,
        Err(VaultError::CredentialsNotFound)
    );

    // Nothing shown holds a value.
    let shown = format!("{versions:?} {}", serde_json::to_string(&versions).unwrap());
    assert!(!shown.contains(&first_value) && !shown.contains(&second_value));
}

/// Restore makes a kept version current again, with its own id and time, and retires the
/// current one; it refuses what is not a kept version.
async fn restore_brings_back_a_kept_version<W: World>() {
    let w = W::new().await;
    let (service, integration) = (w.service(), w.integration().await);
    let first_value = canary("restore-first");
    let (first, second) = store_then_rotate(
        &service,
        integration,
        &first_value,
        &canary("restore-second"),
    )
    .await;

    let restored = service.restore(first.vault_secret_id()).await;
    assert_eq!(restored, Ok(first), "the same id and created_at");
    assert_eq!(service.list(integration).await, Ok(vec![first]));
    let versions = service.versions(integration).await.unwrap();
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_kept(&versions[0], second, VersionState::Previous, WEEK);
    assert_eq!(versions[1], current(first));
    let retrieved = service.retrieve(first.vault_secret_id()).await.unwrap();
    assert!(
        holds(&retrieved, &first_value),
        "the restored value came back"
    );

    // Not a kept version: the current one, or one that never was.
    assert_eq!(
        service.restore(first.vault_secret_id()).await,
        Err(VaultError::CredentialsNotFound)
    );
    assert_eq!(
        service.restore(a_random_id()).await,
        Err(VaultError::CredentialsNotFound)
    );

    // A deleted version comes back too.
    service.delete(first.vault_secret_id()).await.unwrap();
    assert_eq!(service.list(integration).await, Ok(vec![]));
    assert_eq!(service.restore(first.vault_secret_id()).await, Ok(first));
    assert_eq!(service.list(integration).await, Ok(vec![first]));

    // And the other way round.
    assert_eq!(service.restore(second.vault_secret_id()).await, Ok(second));
    let versions = service.versions(integration).await.unwrap();
    assert_eq!(
        ids(&versions),
        [
            (second.vault_secret_id(), VersionState::Current),
            (first.vault_secret_id(), VersionState::Previous)
        ]
    );
}

/// With a zero window nothing is kept: rotate and delete destroy at once, as before 0.4.0.
async fn a_zero_recovery_window_destroys_at_once<W: World>() {
    let w = W::new().await;
    w.set_recovery_window(Duration::ZERO).await;
    let (service, integration) = (w.service(), w.integration().await);
    let (first, second) = store_then_rotate(
        &service,
        integration,
        &canary("zero-first"),
        &canary("zero-second"),
    )
    .await;
    assert_eq!(
        service.versions(integration).await,
        Ok(vec![current(second)])
    );
    assert_eq!(
        service.restore(first.vault_secret_id()).await,
        Err(VaultError::CredentialsNotFound)
    );
    assert_eq!(
        service.destroy(first.vault_secret_id()).await,
        Err(VaultError::CredentialsNotFound),
        "nothing left to destroy"
    );

    service.delete(second.vault_secret_id()).await.unwrap();
    assert_eq!(service.versions(integration).await, Ok(vec![]));
    assert_eq!(
        service.restore(second.vault_secret_id()).await,
        Err(VaultError::CredentialsNotFound)
    );
}

/// A kept version is restorable until its `destroy_after`, listed until it is purged.
async fn a_kept_version_expires_at_the_end_of_its_window<W: World>() {
    let w = W::new().await;
    let window = Duration::from_secs(1);
    w.set_recovery_window(window).await;
    let (service, integration) = (w.service(), w.integration().await);
    let (first, second) = store_then_rotate(
        &service,
        integration,
        &canary("window-first"),
        &canary("window-second"),
    )
    .await;
    let versions = service.versions(integration).await.unwrap();
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_kept(
        &versions[1],
        first,
        VersionState::Previous,
        TimeDelta::from_std(window).unwrap(),
    );

    w.let_time_pass(window + Duration::from_millis(200)).await;
    assert_eq!(
        service.restore(first.vault_secret_id()).await,
        Err(VaultError::CredentialsNotFound),
        "past its window"
    );
    assert_eq!(
        ids(&service.versions(integration).await.unwrap()),
        [
            (second.vault_secret_id(), VersionState::Current),
            (first.vault_secret_id(), VersionState::Previous)
        ],
        "listed until purged"
    );
    assert_eq!(w.purge_expired().await, 1);
    assert_eq!(
        service.versions(integration).await,
        Ok(vec![current(second)])
    );
    assert_eq!(w.purge_expired().await, 0, "the current one stays");
}

/// Destroy takes any version, current or kept, for good; only the service role may destroy or
/// retrieve.
async fn destroy_is_final_and_the_service_roles_alone<W: World>() {
    let w = W::new().await;
    let (service, integration) = (w.service(), w.integration().await);
    let (first, second) = store_then_rotate(
        &service,
        integration,
        &canary("destroy-first"),
        &canary("destroy-second"),
    )
    .await;

    // Not even the integration's admin, on a transaction of their own.
    for id in [first.vault_secret_id(), second.vault_secret_id()] {
        assert_eq!(
            w.destroy_as_admin(id).await,
            Err(VaultError::PermissionDenied)
        );
        assert_eq!(
            w.retrieve_as_admin(id).await.err(),
            Some(VaultError::PermissionDenied)
        );
    }
    assert_eq!(service.versions(integration).await.unwrap().len(), 2);

    service
        .destroy(first.vault_secret_id())
        .await
        .expect("destroy a kept version");
    assert_eq!(
        service.versions(integration).await,
        Ok(vec![current(second)])
    );
    assert_eq!(
        service.restore(first.vault_secret_id()).await,
        Err(VaultError::CredentialsNotFound)
    );

    service
        .destroy(second.vault_secret_id())
        .await
        .expect("destroy the current one");
    assert_eq!(service.list(integration).await, Ok(vec![]));
    assert_eq!(service.versions(integration).await, Ok(vec![]));
    assert_eq!(
        service.retrieve(second.vault_secret_id()).await.err(),
        Some(VaultError::CredentialsNotFound)
    );
    assert_eq!(
        service.destroy(second.vault_secret_id()).await,
        Err(VaultError::CredentialsNotFound)
    );
    assert_eq!(
        service.destroy(a_random_id()).await,
        Err(VaultError::CredentialsNotFound)
    );
}

/// A user manages the integrations the authorizer allows them, and nothing else exists for
/// them; the service role manages all.
async fn a_user_manages_only_what_the_authorizer_allows<W: World>() {
    let w = W::new().await;
    let (admin, outsider, integration) = (w.admin(), w.outsider(), w.integration().await);
    let first = admin
        .store(integration, &credentials(&canary("user-first")))
        .await
        .expect("the admin may store");
    assert_eq!(admin.list(integration).await, Ok(vec![first]));
    assert_eq!(admin.versions(integration).await, Ok(vec![current(first)]));

    let fresh = credentials(&canary("outsider"));
    let old = first.vault_secret_id();
    assert_eq!(
        outsider.store(integration, &fresh).await,
        Err(VaultError::IntegrationNotFound)
    );
    assert_eq!(
        outsider.list(integration).await,
        Err(VaultError::IntegrationNotFound)
    );
    assert_eq!(
        outsider.versions(integration).await,
        Err(VaultError::IntegrationNotFound)
    );
    assert_eq!(
        outsider.rotate(old, &fresh).await,
        Err(VaultError::CredentialsNotFound)
    );
    assert_eq!(
        outsider.delete(old).await,
        Err(VaultError::CredentialsNotFound)
    );

    let second = admin
        .rotate(old, &credentials(&canary("user-second")))
        .await
        .expect("the admin may rotate");
    assert_eq!(
        outsider.restore(old).await,
        Err(VaultError::CredentialsNotFound)
    );
    assert_eq!(admin.restore(old).await, Ok(first), "the admin may restore");
    admin.delete(old).await.expect("the admin may delete");
    assert_eq!(
        ids(&admin.versions(integration).await.unwrap()),
        [
            (second.vault_secret_id(), VersionState::Previous),
            (old, VersionState::Deleted)
        ]
    );

    // The service role sees and manages everything.
    assert_eq!(w.service().restore(old).await, Ok(first));
    assert_eq!(w.service().list(integration).await, Ok(vec![first]));
}

/// Store and rotate keep the expiry they are given, to the microsecond; a time the server
/// cannot take is refused by the contract's rule, as the server refuses it.
async fn an_expiry_is_kept_with_its_version<W: World>() {
    let w = W::new().await;
    let (service, admin, integration) = (w.service(), w.admin(), w.integration().await);
    let at = Utc.with_ymd_and_hms(2027, 1, 31, 0, 0, 0).unwrap();
    let later = at + TimeDelta::microseconds(123_456);

    let first = service
        .store_expiring(integration, &credentials(&canary("expiring")), at)
        .await
        .expect("store with an expiry");
    assert_eq!(w.expires_at(first.vault_secret_id()).await, Some(at));
    let second = admin
        .rotate_expiring(
            first.vault_secret_id(),
            &credentials(&canary("expiring-rotated")),
            later,
        )
        .await
        .expect("rotate with an expiry");
    assert_eq!(w.expires_at(second.vault_secret_id()).await, Some(later));
    let third = service
        .rotate(second.vault_secret_id(), &credentials(&canary("no-expiry")))
        .await
        .unwrap();
    assert_eq!(w.expires_at(third.vault_secret_id()).await, None);

    let refused = VaultError::Validation(contract::Error::InvalidExpiresAt);
    let too_late = Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap();
    let fresh = credentials(&canary("too-late"));
    assert_eq!(
        service
            .rotate_expiring(third.vault_secret_id(), &fresh, too_late)
            .await,
        Err(refused.clone())
    );
    let other = w.integration().await;
    assert_eq!(
        admin.store_expiring(other, &fresh, too_late).await,
        Err(refused.clone())
    );
    // A leap second, which PostgreSQL would read as the next minute.
    let leap = NaiveDate::from_ymd_opt(2027, 1, 31)
        .and_then(|day| day.and_hms_nano_opt(12, 30, 59, 1_000_000_000))
        .expect("a leap second")
        .and_utc();
    assert_eq!(
        service
            .rotate_expiring(third.vault_secret_id(), &fresh, leap)
            .await,
        Err(refused)
    );
    assert_eq!(service.list(integration).await, Ok(vec![third]));
    assert_eq!(service.versions(other).await, Ok(vec![]));
}

/// One reference per integration: a second store is refused, as long as the first is current
/// (rotated or restored too), and changes nothing; after a delete, a store is welcome again.
async fn a_second_store_is_refused_until_the_first_is_deleted<W: World>() {
    let w = W::new().await;
    let (service, admin, integration) = (w.service(), w.admin(), w.integration().await);
    let first = admin
        .store(integration, &credentials(&canary("second-store-first")))
        .await
        .expect("the first store");
    let again = credentials(&canary("second-store-again"));
    let refused = Err(VaultError::AlreadyHasCredentials);
    assert_eq!(admin.store(integration, &again).await, refused);
    assert_eq!(service.store(integration, &again).await, refused);
    let second = service
        .rotate(first.vault_secret_id(), &again)
        .await
        .expect("rotate");
    assert_eq!(admin.store(integration, &again).await, refused);
    assert_eq!(service.list(integration).await, Ok(vec![second]));

    service.delete(second.vault_secret_id()).await.unwrap();
    let third = admin.store(integration, &again).await;
    let third = third.expect("a store after the delete");
    assert_eq!(service.list(integration).await, Ok(vec![third]));
    let versions = service.versions(integration).await.unwrap();
    assert_eq!(versions.len(), 3, "{versions:?}");
}

/// A store for an integration that does not exist is "integration not found", for the service
/// role too, and leaves nothing behind.
async fn a_store_for_an_unknown_integration_is_refused<W: World>() {
    let w = W::new().await;
    let unknown = IntegrationId::from(Uuid::new_v4());
    let value = credentials(&canary("unknown-integration"));
    let refused = Err(VaultError::IntegrationNotFound);
    assert_eq!(w.service().store(unknown, &value).await, refused);
    assert_eq!(w.admin().store(unknown, &value).await, refused);
    assert_eq!(
        w.admin().list(unknown).await,
        Err(VaultError::IntegrationNotFound)
    );
    assert_eq!(w.service().versions(unknown).await, Ok(vec![]));
}

/// Each test of the suite, once per world.
macro_rules! suite {
    ($($test:ident),* $(,)?) => {
        mod fake {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test::<super::Fake>().await;
                }
            )*
        }

        mod real {
            $(
                #[tokio::test]
                #[ignore = "needs scripts/harness/with-cluster and extension 0.4.0"]
                async fn $test() {
                    super::$test::<super::Real>().await;
                }
            )*
        }
    };
}

suite!(
    one_integration_from_store_to_delete,
    restore_brings_back_a_kept_version,
    a_zero_recovery_window_destroys_at_once,
    a_kept_version_expires_at_the_end_of_its_window,
    destroy_is_final_and_the_service_roles_alone,
    a_user_manages_only_what_the_authorizer_allows,
    an_expiry_is_kept_with_its_version,
    a_second_store_is_refused_until_the_first_is_deleted,
    a_store_for_an_unknown_integration_is_refused,
);
