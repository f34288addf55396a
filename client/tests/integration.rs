//! The client against a real server: the throwaway Supabase-like cluster of
//! `scripts/harness/with-cluster`, with the extension and the migrations.
//!
//! Run with `scripts/harness/with-cluster -- cargo test -p credential-vault-client -p credential-vault-tests --test integration`,
//! and a second time through PgBouncer in transaction mode (as Supabase's transaction pooler):
//! `scripts/harness/with-cluster -- scripts/harness/with-pgbouncer -- cargo test ... --test integration`.
//! The TLS tests are `#[ignore]`d and run inside `scripts/harness/with-tls` with `-- --ignored`.
//!
//! Each test builds a [`Fixture`]: a database of its own with the tenants, login roles of its
//! own (password logins over TCP, members of `service_role` or `authenticated`, which the handles
//! switch to inside each call's transaction, never through a startup option), and a
//! [`LeakRecorder`] of every secret the test used and every error, `Debug` and CLI output it
//! produced. Each test ends with [`Fixture::finish`], which fails that test if one of its outputs
//! shows one of its secrets or one of its credential values reached the server log.
//!
//! Who may call what is the SQL layer's (`supabase/tests/03_credential_functions_test.sql`);
//! here each handle is only shown to reach the server as its role.

use std::cell::RefCell;
use std::fmt::Debug;
use std::time::{Duration, Instant};

use credential_vault_client::{
    CONNECT_TIMEOUT, CredentialMap, CredentialReference, CredentialVersion, Deadlines,
    IntegrationId, ServiceVault, TlsFailure, UserClaims, UserVault, VaultError, VaultSecretId,
    VersionState, contract, supabase_options,
};
use credential_vault_tests::{
    Caller, CliRun, Tenants, TestDatabase, audit_actions, canary, database_error_text,
    integration_state, read_audit_roles, report_figure, run_cli, server_log, tcp_options,
    through_the_pooler,
};
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use uuid::Uuid;

const CLI: &str = env!("CARGO_BIN_EXE_credential-vault");

// ---------------------------------------------------------------------------------------------
// The leak recorder
// ---------------------------------------------------------------------------------------------

/// A secret a test used, and whether the client sent it to the server as a credential value
/// (those must not reach the server log either).
struct Secret {
    text: String,
    sent_by_the_client: bool,
}

/// One error, `Debug` or CLI text a test produced, and where.
struct Output {
    what: String,
    text: String,
}

/// One test's secrets and outputs. [`LeakRecorder::finish`] checks them against each other at
/// the test's end; a recorder dropped unfinished fails its test, so no test skips the check.
#[derive(Default)]
struct LeakRecorder {
    secrets: RefCell<Vec<Secret>>,
    outputs: RefCell<Vec<Output>>,
    finished: bool,
}

impl LeakRecorder {
    fn register(&self, text: String, sent_by_the_client: bool) -> String {
        self.secrets.borrow_mut().push(Secret {
            text: text.clone(),
            sent_by_the_client,
        });
        text
    }

    /// A fresh credential value, to be sent through the client.
    fn secret(&self, label: &str) -> String {
        self.register(canary(label), true)
    }

    /// A fresh secret that is no credential value sent through the client: a password, or a
    /// value planted with raw SQL (which the server may log, by design of the test).
    fn other_secret(&self, label: &str) -> String {
        self.register(canary(label), false)
    }

    fn record(&self, what: &str, text: String) {
        self.outputs.borrow_mut().push(Output {
            what: what.to_owned(),
            text,
        });
    }

    fn record_debug(&self, what: &str, value: &impl Debug) {
        self.record(what, format!("{value:?}"));
        self.record(what, format!("{value:#?}"));
    }

    /// Records the result of a client call (its `Debug`, and the error's `Display`) and returns
    /// it.
    fn shown<T: Debug>(&self, what: &str, result: Result<T, VaultError>) -> Result<T, VaultError> {
        self.record_debug(what, &result);
        if let Err(error) = &result {
            self.record(what, error.to_string());
        }
        result
    }

    /// Asserts the variant and its exact, fixed message.
    fn expect_error<T: Debug>(
        &self,
        what: &str,
        result: Result<T, VaultError>,
        expected: VaultError,
        message: &str,
    ) {
        let error = self.shown(what, result).expect_err(what);
        assert_eq!(error, expected, "{what}");
        assert_eq!(error.to_string(), message, "{what}");
    }

    /// Fails unless the test recorded something, none of its outputs shows one of its secrets
    /// (named by where it was shown, never quoted), and none of the credential values it sent
    /// is in the server log.
    fn finish(mut self) {
        self.finished = true;
        let (secrets, outputs) = (self.secrets.borrow(), self.outputs.borrow());
        assert!(
            !secrets.is_empty() && !outputs.is_empty(),
            "the test recorded nothing to check"
        );
        let leaked: Vec<&str> = outputs
            .iter()
            .filter(|output| secrets.iter().any(|s| output.text.contains(&s.text)))
            .map(|output| output.what.as_str())
            .collect();
        assert!(leaked.is_empty(), "a secret was shown in: {leaked:?}");
        let log = server_log();
        let logged = secrets
            .iter()
            .filter(|s| s.sent_by_the_client && log.contains(&s.text))
            .count();
        assert_eq!(
            logged, 0,
            "credential values sent by the client reached the server log"
        );
    }
}

impl Drop for LeakRecorder {
    fn drop(&mut self) {
        if !self.finished && !std::thread::panicking() {
            panic!("the test ended without Fixture::finish: its outputs were never checked");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The fixture: a database, the tenants, logins and handles
// ---------------------------------------------------------------------------------------------

/// `create role` statements, filled in by `format('%I', '%L')` on the server: names and
/// passwords are never spliced into SQL by the test.
const SERVICE_LOGIN: &str = "create role %I login password %L in role service_role";
const USER_LOGIN: &str = "create role %I login password %L in role authenticated";
const EXPIRED_SERVICE_LOGIN: &str =
    "create role %I login password %L in role service_role valid until '2000-01-01'";
const PLAIN_LOGIN: &str = "create role %I login password %L";

/// One test's world: its own database, the tenants, and the recorder its outputs go to.
struct Fixture {
    db: TestDatabase,
    tenants: Tenants,
    leaks: LeakRecorder,
}

impl Fixture {
    async fn new() -> Fixture {
        let db = TestDatabase::new().await;
        let tenants = Tenants::create(&db.pool).await;
        Fixture {
            db,
            tenants,
            leaks: LeakRecorder::default(),
        }
    }

    /// The tenants' integration, as the client's id type.
    fn integration(&self) -> IntegrationId {
        self.tenants.integration.into()
    }

    /// A password login role of its own, made by `statement`.
    async fn login(&self, statement: &'static str) -> Login {
        // Lower-case hex after a fixed prefix: a name from a fixed alphabet.
        let name = format!("cv_client_{}", Uuid::new_v4().simple());
        let password = self.leaks.other_secret("password");
        let create: String = sqlx::query_scalar("select format($1::text, $2::text, $3::text)")
            .bind(statement)
            .bind(&name)
            .bind(&password)
            .fetch_one(&self.db.pool)
            .await
            .expect("quote the role name and password");
        // Safe as SQL: the server quoted the name and the password with format('%I', '%L').
        sqlx::raw_sql(sqlx::AssertSqlSafe(create))
            .execute(&self.db.pool)
            .await
            .expect("create the login role");
        Login {
            options: tcp_options(&self.db.name, &name, &password),
            name,
            password,
            database: self.db.name.clone(),
        }
    }

    /// A service-role handle over a lazy pool for `options`, its `Debug` recorded.
    fn service_vault(&self, options: PgConnectOptions) -> ServiceVault {
        let vault = ServiceVault::connect_lazy(options);
        self.leaks.record_debug("a service-role handle", &vault);
        vault
    }

    /// A service login of its own and a handle logged in as it, as a background sync service.
    async fn service_login(&self) -> (ServiceVault, Login) {
        let login = self.login(SERVICE_LOGIN).await;
        (self.service_vault(login.options()), login)
    }

    /// Stores fresh credentials for the tenants' integration and returns their reference.
    async fn store(&self, vault: &ServiceVault, label: &str) -> CredentialReference {
        let credentials = credentials(&self.leaks.secret(label));
        let stored = vault.store(self.integration(), &credentials).await;
        self.leaks.shown(label, stored).expect("store")
    }

    /// Counts of Vault secrets, credentials rows and audit rows, and the integration's link.
    async fn state(&self) -> (i64, i64, i64, Option<Uuid>) {
        integration_state(&self.db.pool, self.tenants.integration).await
    }

    /// Runs the CLI and records what it printed, except the one output meant to show values
    /// (`retrieve --show-secrets`).
    fn cli(&self, args: &[&str], database_url: Option<&str>, stdin: &str) -> CliRun {
        let run = run_cli(CLI, args, database_url, stdin);
        let what = format!("credential-vault {}", args.join(" "));
        if !args.contains(&"--show-secrets") {
            self.leaks.record(&what, run.stdout.clone());
        }
        self.leaks.record(&what, run.stderr.clone());
        run
    }

    /// Ends the test: see [`LeakRecorder::finish`].
    fn finish(self) {
        self.leaks.finish();
    }
}

/// A password login role of one test.
struct Login {
    name: String,
    password: String,
    /// A password login over TCP, nothing else (the handles switch roles inside each call's
    /// transaction), as a background sync service or an app server connects.
    options: PgConnectOptions,
    /// The test's own database, which is how PgBouncer's log tells its logins apart.
    database: String,
}

impl Login {
    fn options(&self) -> PgConnectOptions {
        self.options.clone()
    }

    /// The login as a `DATABASE_URL` for the CLI, with `password` (the names and passwords used
    /// here are letters, digits, `-` and `_`, which need no escaping).
    fn url(&self, password: &str) -> String {
        format!(
            "postgres://{}:{password}@{}:{}/{}",
            self.name,
            self.options.get_host(),
            self.options.get_port(),
            self.database
        )
    }

    /// How many logins of this role the server has refused so far: the server logs one line
    /// per refused attempt, before it answers. Through the pooler, PgBouncer refuses most of
    /// them itself (or passes the server's refusal on), and logs one `pooler error` line per
    /// refused client login, named by database only when it cannot name the role.
    fn refused_logins(&self) -> usize {
        if let Ok(path) = std::env::var("CV_PGBOUNCER_LOG") {
            let log = std::fs::read_to_string(path).expect("PgBouncer's log is readable");
            let client = format!(": {}/", self.database);
            return log
                .lines()
                .filter(|line| line.contains(&client) && line.contains(" pooler error: "))
                .count();
        }
        let failed = format!("password authentication failed for user \"{}\"", self.name);
        let revoked = format!("role \"{}\" is not permitted to log in", self.name);
        server_log()
            .lines()
            .filter(|line| line.contains(&failed) || line.contains(&revoked))
            .count()
    }
}

/// The claims of a signed-in test user.
fn user(caller: &Caller) -> UserClaims {
    match caller {
        Caller::Authenticated(sub) => UserClaims::authenticated(*sub),
        other => panic!("{other:?} is not a signed-in user"),
    }
}

fn credentials(secret: &str) -> CredentialMap {
    CredentialMap::new([("api_key", secret), ("client_id", "client-1")]).expect("valid credentials")
}

const NOT_FOUND: &str = "credentials not found or not accessible";
const INTEGRATION_NOT_FOUND: &str = "integration not found or not accessible";
const CONFLICT: &str = "conflict: changed concurrently; re-read the reference and retry";
const PERMISSION_DENIED: &str = "permission denied";
const AUTHENTICATION: &str = "authentication failed or session expired";
const UNAVAILABLE: &str = "the credential vault is unavailable";
const MISCONFIGURED: &str = "the credential vault is not configured for this call";
const ALREADY_HAS_CREDENTIALS: &str =
    "the integration already has credentials; rotate or delete them";

/// The pid of the backend of `user` that is waiting for a lock, once there is one.
async fn backend_waiting_for_a_lock(db: &TestDatabase, user: &str) -> i32 {
    let started = Instant::now();
    loop {
        let pid: Option<i32> = sqlx::query_scalar(
            "select pid from pg_stat_activity where usename = $1 and wait_event_type = 'Lock'",
        )
        .bind(user)
        .fetch_optional(&db.pool)
        .await
        .expect("read pg_stat_activity");
        if let Some(pid) = pid {
            return pid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no backend of {user} waits for a lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Takes an exclusive lock on the credentials table until the returned transaction ends.
async fn lock_the_credentials(db: &TestDatabase) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut locker = db.pool.begin().await.unwrap();
    sqlx::query("lock table credential_vault.credentials in access exclusive mode")
        .execute(&mut *locker)
        .await
        .unwrap();
    locker
}

// ---------------------------------------------------------------------------------------------
// Store, retrieve, rotate, delete
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn store_calls_the_store_function_and_returns_its_reference() {
    let f = Fixture::new().await;
    let (vault, _login) = f.service_login().await;
    let value = f.leaks.secret("store");
    let before = chrono::Utc::now();

    let stored = vault.store(f.integration(), &credentials(&value)).await;
    let reference = f.leaks.shown("store", stored).expect("store");

    // The extension's store ran: its row, its ciphertext, its audit entry, and the link kept by
    // the application's trigger, all for the returned id and timestamp.
    let (id, created_at): (Uuid, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
        "select vault_secret_id, created_at from credential_vault.credentials where integration_id = $1",
    )
    .bind(f.tenants.integration)
    .fetch_one(&f.db.pool)
    .await
    .expect("one credentials row");
    assert_eq!(reference.vault_secret_id(), VaultSecretId::from(id));
    assert_eq!(reference.created_at(), created_at);
    assert!(created_at >= before - chrono::Duration::seconds(5));
    let ciphertext: String = sqlx::query_scalar("select secret from vault.secrets where id = $1")
        .bind(id)
        .fetch_one(&f.db.pool)
        .await
        .expect("the Vault secret");
    assert!(!ciphertext.contains(&value), "only ciphertext is stored");
    assert_eq!(f.state().await, (1, 1, 1, Some(id)));

    let listed = f.leaks.shown("list", vault.list(f.integration()).await);
    assert_eq!(listed.expect("list"), [reference]);
    f.finish();
}

#[tokio::test]
async fn an_empty_map_is_refused_before_any_round_trip() {
    let f = Fixture::new().await;
    // Every login attempt of this handle fails and is logged by the server, so the log shows
    // whether anything reached it.
    let login = f.login(SERVICE_LOGIN).await;
    let wrong_password = f.leaks.other_secret("wrong-password");
    let vault = f.service_vault(login.options().password(&wrong_password));

    let empty: [(&str, &str); 0] = [];
    let no_entries = contract::Error::NoEntries;
    let refused = format!("invalid input: {no_entries}");
    f.leaks.expect_error(
        "an empty map",
        CredentialMap::new(empty),
        VaultError::Validation(no_entries),
        &refused,
    );
    let result = async {
        let credentials = CredentialMap::from_json("{}")?;
        vault.store(f.integration(), &credentials).await
    }
    .await;
    f.leaks.expect_error(
        "store of {}",
        result,
        VaultError::Validation(no_entries),
        &refused,
    );

    let url = login.url(&wrong_password);
    let integration = f.tenants.integration.to_string();
    let run = f.cli(&["store", &integration], Some(&url), "{}");
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (Some(3), "", &*format!("credential-vault: {refused}\n"))
    );
    assert_eq!(login.refused_logins(), 0, "nothing reached the server");

    // Control: a valid map does reach the server, and the log shows it.
    let control = credentials(&f.leaks.secret("empty-control"));
    f.leaks.expect_error(
        "store with a wrong password",
        vault.store(f.integration(), &control).await,
        VaultError::Authentication,
        AUTHENTICATION,
    );
    assert_eq!(login.refused_logins(), 1);
    assert_eq!(f.state().await, (0, 0, 0, None));
    f.finish();
}

#[tokio::test]
async fn retrieve_returns_the_stored_credentials_to_the_service_role() {
    let f = Fixture::new().await;
    let (vault, _login) = f.service_login().await;
    let (value, quoted) = (
        f.leaks.secret("retrieve"),
        f.leaks.secret("retrieve-quoted"),
    );
    let awkward = format!("\"{quoted}\" é\n\\ ✓");
    let stored = CredentialMap::new([
        ("api_key", value.as_str()),
        ("client_secret", awkward.as_str()),
        ("account", "acme"),
    ])
    .unwrap();
    let reference = f
        .leaks
        .shown("store", vault.store(f.integration(), &stored).await);
    let reference = reference.unwrap();

    let retrieved = f
        .leaks
        .shown(
            "retrieve",
            vault.retrieve(reference.vault_secret_id()).await,
        )
        .expect("retrieve");
    assert_eq!(
        retrieved.names().collect::<Vec<_>>(),
        ["account", "api_key", "client_secret"]
    );
    // Compared, never printed: a failed assertion must not show the values.
    let values: Vec<(&str, &str)> = retrieved
        .iter()
        .map(|(name, value)| (name, value.expose_secret()))
        .collect();
    assert!(
        values
            == [
                ("account", "acme"),
                ("api_key", value.as_str()),
                ("client_secret", awkward.as_str())
            ],
        "the stored values came back"
    );
    assert!(*retrieved.expose_json() == *stored.expose_json());
    assert_eq!(
        read_audit_roles(reference.vault_secret_id().as_uuid()),
        ["service_role"],
        "the read is audited in the server log"
    );

    f.leaks.expect_error(
        "retrieve of an unknown id",
        vault.retrieve(VaultSecretId::from(Uuid::new_v4())).await,
        VaultError::CredentialsNotFound,
        NOT_FOUND,
    );
    f.finish();
}

#[tokio::test]
async fn rotate_returns_the_new_reference_and_retires_the_old_one() {
    let f = Fixture::new().await;
    let (vault, _login) = f.service_login().await;
    let old = f.store(&vault, "rotate-old").await;
    let new_value = f.leaks.secret("rotate-new");

    let rotated = vault
        .rotate(old.vault_secret_id(), &credentials(&new_value))
        .await;
    let new = f.leaks.shown("rotate", rotated).expect("rotate");

    assert_ne!(new.vault_secret_id(), old.vault_secret_id());
    assert!(new.created_at() >= old.created_at());
    let listed = f.leaks.shown("list", vault.list(f.integration()).await);
    assert_eq!(listed.unwrap(), [new]);
    let retrieved = f
        .leaks
        .shown("retrieve", vault.retrieve(new.vault_secret_id()).await)
        .unwrap();
    assert!(
        retrieved.get("api_key").map(|v| v.expose_secret()) == Some(new_value.as_str()),
        "the new value came back"
    );
    // The old secret is kept, restorable, for the recovery window.
    assert_eq!(
        f.state().await,
        (2, 2, 2, Some(new.vault_secret_id().as_uuid()))
    );
    let again = credentials(&f.leaks.secret("rotate-again"));
    for (what, result) in [
        (
            "retrieve of the old reference",
            vault.retrieve(old.vault_secret_id()).await.map(|_| ()),
        ),
        (
            "rotate of the old reference",
            vault
                .rotate(old.vault_secret_id(), &again)
                .await
                .map(|_| ()),
        ),
        (
            "delete of the old reference",
            vault.delete(old.vault_secret_id()).await,
        ),
    ] {
        f.leaks
            .expect_error(what, result, VaultError::CredentialsNotFound, NOT_FOUND);
    }
    f.finish();
}

#[tokio::test]
async fn delete_removes_the_credentials_and_frees_the_integration() {
    let f = Fixture::new().await;
    let (vault, _login) = f.service_login().await;
    let reference = f.store(&vault, "delete").await;

    let deleted = vault.delete(reference.vault_secret_id()).await;
    f.leaks.shown("delete", deleted).expect("delete");

    // Kept, restorable, for the recovery window; no longer linked nor listed.
    assert_eq!(f.state().await, (1, 1, 2, None));
    let listed = f.leaks.shown("list", vault.list(f.integration()).await);
    assert_eq!(listed.unwrap(), []);
    f.leaks.expect_error(
        "retrieve after delete",
        vault.retrieve(reference.vault_secret_id()).await,
        VaultError::CredentialsNotFound,
        NOT_FOUND,
    );
    f.leaks.expect_error(
        "delete again",
        vault.delete(reference.vault_secret_id()).await,
        VaultError::CredentialsNotFound,
        NOT_FOUND,
    );
    // The integration's slot is free again.
    let again = f.store(&vault, "delete-again").await;
    assert_ne!(again.vault_secret_id(), reference.vault_secret_id());
    f.finish();
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn server_refusals_become_their_variants_with_safe_messages() {
    let f = Fixture::new().await;
    let (vault, _login) = f.service_login().await;
    let reference = f.store(&vault, "errors").await;
    let unknown_secret = VaultSecretId::from(Uuid::new_v4());
    let fresh = |label: &str| credentials(&f.leaks.secret(label));

    // PT404, for a missing integration and a missing reference.
    f.leaks.expect_error(
        "store for an unknown integration",
        vault
            .store(Uuid::new_v4().into(), &fresh("unknown-integration"))
            .await,
        VaultError::IntegrationNotFound,
        INTEGRATION_NOT_FOUND,
    );
    f.leaks.expect_error(
        "rotate of an unknown reference",
        vault
            .rotate(unknown_secret, &fresh("unknown-reference"))
            .await,
        VaultError::CredentialsNotFound,
        NOT_FOUND,
    );
    f.leaks.expect_error(
        "delete of an unknown reference",
        vault.delete(unknown_secret).await,
        VaultError::CredentialsNotFound,
        NOT_FOUND,
    );

    // 23505: the application's one reference per integration refuses a second store.
    f.leaks.expect_error(
        "a second store",
        vault.store(f.integration(), &fresh("second-store")).await,
        VaultError::AlreadyHasCredentials,
        ALREADY_HAS_CREDENTIALS,
    );

    // PT409: someone else holds the reference while we rotate or delete it.
    let mut holder = f.db.pool.begin().await.unwrap();
    sqlx::query("select 1 from credential_vault.credentials where vault_secret_id = $1 for update")
        .bind(reference.vault_secret_id().as_uuid())
        .execute(&mut *holder)
        .await
        .unwrap();
    f.leaks.expect_error(
        "rotate of a reference being changed",
        vault
            .rotate(reference.vault_secret_id(), &fresh("concurrent"))
            .await,
        VaultError::Conflict,
        CONFLICT,
    );
    f.leaks.expect_error(
        "delete of a reference being changed",
        vault.delete(reference.vault_secret_id()).await,
        VaultError::Conflict,
        CONFLICT,
    );
    holder.rollback().await.unwrap();

    // 42501: a login that is not a member of the service role.
    let plain = f.login(PLAIN_LOGIN).await;
    let outsider = f.service_vault(plain.options());
    f.leaks.expect_error(
        "store by a login outside the service role",
        outsider.store(f.integration(), &fresh("outsider")).await,
        VaultError::PermissionDenied,
        PERMISSION_DENIED,
    );

    // XX001: a secret changed around the extension is refused without echoing it.
    let garbage = f.leaks.other_secret("garbage");
    sqlx::query("select vault.update_secret($1, $2)")
        .bind(reference.vault_secret_id().as_uuid())
        .bind(format!("not json {garbage}"))
        .execute(&f.db.pool)
        .await
        .unwrap();
    f.leaks.expect_error(
        "retrieve of a corrupted secret",
        vault.retrieve(reference.vault_secret_id()).await,
        VaultError::Database {
            sqlstate: Some("XX001".into()),
        },
        "unexpected database error (SQLSTATE XX001)",
    );

    // None of the refusals changed anything.
    assert_eq!(
        f.state().await,
        (1, 1, 1, Some(reference.vault_secret_id().as_uuid()))
    );
    f.finish();
}

#[tokio::test]
async fn the_real_servers_errors_keep_only_their_sqlstate() {
    let f = Fixture::new().await;
    let integration = f.tenants.integration.to_string();
    let c = f.leaks.other_secret("raw-input");
    use credential_vault_tests::api::STORE;
    let json = |value: &str| serde_json::json!({ "k": value }).to_string();
    // The server does not send a parameterised rule's parameter: the placeholder comes back.
    let invalid = VaultError::Validation;
    let (argument, database) = ("<argument>", |sqlstate: &str| VaultError::Database {
        sqlstate: Some(sqlstate.into()),
    });
    use contract::Error::*;
    let cases: Vec<(&str, &str, Vec<String>, VaultError)> = vec![
        (
            "22P02 id",
            STORE,
            vec![c.clone(), json(&c)],
            invalid(NotAUuid(argument)),
        ),
        (
            "22032",
            STORE,
            vec![integration.clone(), format!("{{\"k\": {c}")],
            invalid(InvalidJson),
        ),
        (
            "2203C",
            STORE,
            vec![integration.clone(), format!("[\"{c}\"]")],
            invalid(NotAnObject),
        ),
        (
            "22023",
            STORE,
            vec![integration.clone(), format!("{{\"k\": 1, \"s\": \"{c}\"}}")],
            invalid(NonStringValue),
        ),
        (
            "22023 empty name",
            STORE,
            vec![integration.clone(), format!("{{\"\": \"{c}\"}}")],
            invalid(EmptyName),
        ),
        (
            "22030",
            STORE,
            vec![
                integration.clone(),
                format!("{{\"k\": \"{c}\", \"k\": \"{c}\"}}"),
            ],
            invalid(DuplicateName),
        ),
        (
            "22P05",
            STORE,
            vec![integration.clone(), format!("{{\"k\": \"{c}\\u0000\"}}")],
            invalid(NulCharacter),
        ),
        (
            "22001",
            STORE,
            vec![
                integration.clone(),
                json(&format!("{c}{}", "x".repeat(70_000))),
            ],
            invalid(CredentialsTooLarge),
        ),
        (
            "2203E",
            STORE,
            vec![
                integration.clone(),
                serde_json::to_string(
                    &(0..65)
                        .map(|i| (format!("k{i}"), serde_json::Value::from(c.clone())))
                        .collect::<serde_json::Map<_, _>>(),
                )
                .unwrap(),
            ],
            invalid(TooManyEntries),
        ),
        (
            "22004",
            "select * from public.vault_store_integration_credentials($1, null)",
            vec![integration.clone()],
            invalid(NullArgument(argument)),
        ),
        (
            "PT404",
            STORE,
            vec![Uuid::new_v4().to_string(), json(&c)],
            VaultError::IntegrationNotFound,
        ),
        // Driver messages that do quote the input: the cast's message, and Vault's
        // create_secret with a NULL description (hazard 2), whose detail holds the secret.
        // Neither is the extension's, whatever its SQLSTATE.
        (
            "22P02 cast",
            "select $1::uuid",
            vec![c.clone()],
            database("22P02"),
        ),
        (
            "23502",
            "select vault.create_secret($1, null, null)",
            vec![c.clone()],
            database("23502"),
        ),
    ];
    let mut quoted = Vec::new();
    for (what, sql, binds, expected) in cases {
        let mut tx = f.db.begin_as(&Caller::ServiceRole).await;
        let mut query = sqlx::query(sql);
        for bind in &binds {
            query = query.bind(bind);
        }
        let error = query.execute(&mut *tx).await.expect_err(what);
        if database_error_text(&error).contains(&c) {
            quoted.push(what);
        }
        let error = VaultError::from(error);
        f.leaks.record_debug(what, &error);
        f.leaks.record(what, error.to_string());
        assert_eq!(error, expected, "{what}");
    }
    // The controls: these driver errors did carry the secret, and the mapping dropped it.
    assert!(quoted.contains(&"22P02 cast"), "{quoted:?}");
    assert!(quoted.contains(&"23502"), "{quoted:?}");
    assert_eq!(f.state().await, (0, 0, 0, None));
    f.finish();
}

#[tokio::test]
async fn a_store_blocked_by_a_lock_is_stopped_by_the_server_at_its_deadline() {
    let f = Fixture::new().await;
    let (vault, login) = f.service_login().await;
    let deadline = Duration::from_secs(1);
    let vault = vault.with_deadlines(Deadlines {
        store: deadline,
        ..Deadlines::default()
    });
    // Connected beforehand, so that the deadline is spent waiting for the lock only.
    let listed = f.leaks.shown("list", vault.list(f.integration()).await);
    assert_eq!(listed.unwrap(), []);

    let locker = lock_the_credentials(&f.db).await;
    let started = Instant::now();
    // Bounded here too, so that a client ignoring its deadline fails the test instead of hanging.
    let value = credentials(&f.leaks.secret("deadline"));
    let result = tokio::time::timeout(
        deadline + Duration::from_secs(5),
        vault.store(f.integration(), &value),
    )
    .await
    .expect("the store gave up by itself");
    let elapsed = started.elapsed();
    f.leaks.expect_error(
        "store behind a lock",
        result,
        VaultError::Timeout { after: deadline },
        "no answer within 1s",
    );
    assert!(
        elapsed >= deadline && elapsed < deadline + Duration::from_secs(1),
        "{elapsed:?}"
    );
    // The server stopped the statement at the deadline: no session of the login still waits
    // for the lock or holds a transaction open (a rollback may take a moment to arrive).
    let busy = "select count(*) from pg_stat_activity where usename = $1 and state <> 'idle'";
    let settled = Instant::now();
    loop {
        let sessions: i64 = sqlx::query_scalar(busy)
            .bind(&login.name)
            .fetch_one(&f.db.pool)
            .await
            .unwrap();
        if sessions == 0 {
            break;
        }
        assert!(
            settled.elapsed() < Duration::from_secs(2),
            "the store still runs on the server {:?} after the call began",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Released, the lock lets nothing through: no secret, no credentials row, no audit, no link.
    locker.rollback().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(f.state().await, (0, 0, 0, None));

    // The handle is still usable, and the store, retried, goes through once.
    let stored = vault.store(f.integration(), &value).await;
    let stored = f.leaks.shown("store again", stored).expect("store again");
    let listed = f.leaks.shown("list", vault.list(f.integration()).await);
    assert_eq!(listed.unwrap(), [stored]);
    f.finish();
}

#[tokio::test]
async fn an_expired_login_is_an_authentication_error_after_one_attempt() {
    let f = Fixture::new().await;
    let login = f.login(EXPIRED_SERVICE_LOGIN).await;
    let vault = f.service_vault(login.options());
    assert_eq!(login.refused_logins(), 0);

    let value = credentials(&f.leaks.secret("expired"));
    let started = Instant::now();
    let result = vault.store(f.integration(), &value).await;
    let elapsed = started.elapsed();

    f.leaks.expect_error(
        "store with an expired login",
        result,
        VaultError::Authentication,
        AUTHENTICATION,
    );
    assert_eq!(login.refused_logins(), 1, "exactly one login attempt");
    assert!(elapsed < CONNECT_TIMEOUT, "returned at once: {elapsed:?}");
    assert_eq!(f.state().await, (0, 0, 0, None));
    f.finish();
}

#[tokio::test]
async fn a_revoked_login_is_an_authentication_error_after_one_attempt() {
    let f = Fixture::new().await;
    let (vault, login) = f.service_login().await;
    let reference = f.store(&vault, "revoked").await;

    // Revoke the login and end its sessions, as an operator would.
    let revoke: String = sqlx::query_scalar("select format('alter role %I nologin', $1::text)")
        .bind(&login.name)
        .fetch_one(&f.db.pool)
        .await
        .unwrap();
    let revoke = sqlx::AssertSqlSafe(revoke); // quoted by format('%I') on the server
    sqlx::raw_sql(revoke).execute(&f.db.pool).await.unwrap();
    let terminated: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid, 5000) from pg_stat_activity where usename = $1",
    )
    .bind(&login.name)
    .fetch_all(&f.db.pool)
    .await
    .unwrap();
    assert_eq!(terminated, [true], "the handle held one session");
    assert_eq!(login.refused_logins(), 0);

    let started = Instant::now();
    let result = vault.retrieve(reference.vault_secret_id()).await;
    let elapsed = started.elapsed();
    let what = "retrieve after the revocation";
    let refused_so_far = if through_the_pooler() {
        // On the handle's old connection to PgBouncer, which outlives the terminated server
        // session, PgBouncer keeps the call waiting while it retries the server login that now
        // fails: the client only learns that the vault does not answer (unavailable, or its
        // deadline). If the pool opened a new connection instead, that login is refused.
        let error = f.leaks.shown(what, result).expect_err("refused");
        assert!(
            matches!(
                error,
                VaultError::Unavailable | VaultError::Timeout { .. } | VaultError::Authentication
            ),
            "{error:?}"
        );
        login.refused_logins()
    } else {
        let (expected, message) = (VaultError::Authentication, AUTHENTICATION);
        f.leaks.expect_error(what, result, expected, message);
        assert_eq!(login.refused_logins(), 1, "exactly one login attempt");
        assert!(elapsed < CONNECT_TIMEOUT, "returned at once: {elapsed:?}");
        1
    };

    // A new handle with the same login is refused at once, once (by PgBouncer itself when it
    // runs: it cannot look the role up any more).
    let fresh = f.service_vault(login.options());
    let started = Instant::now();
    f.leaks.expect_error(
        "list with a revoked login",
        fresh.list(f.integration()).await,
        VaultError::Authentication,
        AUTHENTICATION,
    );
    assert!(started.elapsed() < CONNECT_TIMEOUT);
    assert_eq!(login.refused_logins(), refused_so_far + 1);
    f.finish();
}

#[tokio::test]
async fn an_unreachable_or_failing_server_is_unavailable() {
    let f = Fixture::new().await;

    // Nothing listens on the port: the pool gives up after CONNECT_TIMEOUT, before the default
    // deadline, so the caller learns "unavailable", not "timeout".
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let login = f.login(SERVICE_LOGIN).await;
    let nowhere = f.service_vault(login.options().port(port));
    let started = Instant::now();
    let result = nowhere.list(f.integration()).await;
    let elapsed = started.elapsed();
    f.leaks.expect_error(
        "list on a closed port",
        result,
        VaultError::Unavailable,
        UNAVAILABLE,
    );
    assert!(
        elapsed >= CONNECT_TIMEOUT && elapsed < Deadlines::default().list,
        "{elapsed:?}"
    );
    // The deadline covers getting a connection: shorter than CONNECT_TIMEOUT, it ends the call.
    let deadline = Duration::from_millis(300);
    let hurried = nowhere.with_deadlines(Deadlines::all(deadline));
    let started = Instant::now();
    f.leaks.expect_error(
        "list on a closed port within 300ms",
        hurried.list(f.integration()).await,
        VaultError::Timeout { after: deadline },
        "no answer within 300ms",
    );
    assert!(
        started.elapsed() < CONNECT_TIMEOUT,
        "{:?}",
        started.elapsed()
    );

    // 57P01: the session is terminated while the call waits.
    let (vault, login) = f.service_login().await;
    let listed = f.leaks.shown("list", vault.list(f.integration()).await);
    assert_eq!(listed.unwrap(), []);
    let locker = lock_the_credentials(&f.db).await;
    let blocked = {
        let (vault, integration) = (vault.clone(), f.integration());
        let value = credentials(&f.leaks.secret("terminated"));
        tokio::spawn(async move { vault.store(integration, &value).await })
    };
    let pid = backend_waiting_for_a_lock(&f.db, &login.name).await;
    let started = Instant::now();
    let terminated: bool = sqlx::query_scalar("select pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&f.db.pool)
        .await
        .unwrap();
    assert!(terminated);
    let result = blocked.await.unwrap();
    assert!(started.elapsed() < Deadlines::default().store);
    f.leaks.expect_error(
        "store in a terminated session",
        result,
        VaultError::Unavailable,
        UNAVAILABLE,
    );
    locker.rollback().await.unwrap();
    assert_eq!(f.state().await, (0, 0, 0, None));

    // 55000: the server is missing a prerequisite (here, the authorizer); not worth a retry.
    sqlx::query("delete from credential_vault.authorizer")
        .execute(&f.db.pool)
        .await
        .unwrap();
    let admin = UserVault::new(f.db.pool.clone(), user(&f.tenants.admin));
    let value = credentials(&f.leaks.secret("no-authorizer"));
    let mut tx = f.db.begin_as(&f.tenants.admin).await;
    f.leaks.expect_error(
        "store without an authorizer",
        admin.store_with(&mut *tx, f.integration(), &value).await,
        VaultError::Misconfigured,
        MISCONFIGURED,
    );
    tx.rollback().await.unwrap();
    f.finish();
}

// ---------------------------------------------------------------------------------------------
// The caller's own transaction
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_with_forms_run_inside_the_callers_transaction() {
    let f = Fixture::new().await;
    let t = &f.tenants;
    // The `*_with` forms switch nothing: the caller's transaction says who calls (here the
    // organization's admin), not the handle's user (a plain member, who may not store).
    let vault = UserVault::new(f.db.pool.clone(), user(&t.member));
    f.leaks.record_debug("a user handle", &vault);
    let fresh = |label: &str| credentials(&f.leaks.secret(label));

    // Store and rotate, then roll back: nothing is left.
    let mut tx = f.db.begin_as(&t.admin).await;
    let stored = vault
        .store_with(&mut *tx, f.integration(), &fresh("with"))
        .await;
    let stored = f
        .leaks
        .shown("store_with", stored)
        .expect("an admin may store");
    let listed = vault.list_with(&mut *tx, f.integration()).await;
    assert_eq!(f.leaks.shown("list_with", listed).unwrap(), [stored]);
    let rotated = vault
        .rotate_with(&mut *tx, stored.vault_secret_id(), &fresh("with-rotated"))
        .await;
    let rotated = f
        .leaks
        .shown("rotate_with", rotated)
        .expect("an admin may rotate");
    let listed = vault.list_with(&mut *tx, f.integration()).await;
    assert_eq!(f.leaks.shown("list_with", listed).unwrap(), [rotated]);
    tx.rollback().await.unwrap();
    assert_eq!(f.state().await, (0, 0, 0, None));
    // Any executor will do, a pool too (here the superuser's).
    let listed = vault.list_with(&f.db.pool, f.integration()).await;
    assert_eq!(f.leaks.shown("list_with on a pool", listed).unwrap(), []);

    // Committed, it stays.
    let value = f.leaks.secret("with-committed");
    let mut tx = f.db.begin_as(&t.admin).await;
    let committed = vault
        .store_with(&mut *tx, f.integration(), &credentials(&value))
        .await;
    let committed = f.leaks.shown("store_with", committed).unwrap();
    tx.commit().await.unwrap();
    let id = committed.vault_secret_id();
    assert_eq!(f.state().await, (1, 1, 1, Some(id.as_uuid())));

    // The service role reads it back inside its own transaction.
    let service = ServiceVault::new(f.db.pool.clone());
    let mut tx = f.db.begin_as(&Caller::ServiceRole).await;
    let retrieved = service.retrieve_with(&mut *tx, id).await;
    let retrieved = f
        .leaks
        .shown("retrieve_with", retrieved)
        .expect("the service role may retrieve");
    assert!(
        retrieved.get("api_key").map(|v| v.expose_secret()) == Some(value.as_str()),
        "the committed value came back"
    );
    tx.commit().await.unwrap();

    // And the admin deletes it.
    let mut tx = f.db.begin_as(&t.admin).await;
    let deleted = vault.delete_with(&mut *tx, id).await;
    f.leaks
        .shown("delete_with", deleted)
        .expect("an admin may delete");
    tx.commit().await.unwrap();
    assert_eq!(
        f.state().await,
        (1, 1, 2, None),
        "kept for the recovery window"
    );
    assert_eq!(
        audit_actions(&f.db.pool).await,
        ["store:authenticated", "delete:authenticated"]
    );
    f.finish();
}

// ---------------------------------------------------------------------------------------------
// The command-line tool
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_cli_round_trips_on_stdin_and_reports_a_conflict_safely() {
    let f = Fixture::new().await;
    let login = f.login(SERVICE_LOGIN).await;
    let url = login.url(&login.password);
    let integration = f.tenants.integration.to_string();
    let value = f.leaks.secret("cli");
    let input = serde_json::json!({"api_key": value, "client_id": "client-1"}).to_string();

    let stored = f.cli(&["store", &integration], Some(&url), &input);
    assert_eq!((stored.code, stored.stderr.as_str()), (Some(0), ""));
    let reference: CredentialReference =
        serde_json::from_str(&stored.stdout).expect("a reference as JSON");
    assert_eq!(
        f.state().await.3,
        Some(reference.vault_secret_id().as_uuid())
    );

    let id = reference.vault_secret_id().to_string();
    let names = f.cli(&["retrieve", &id], Some(&url), "");
    assert_eq!((names.code, names.stderr.as_str()), (Some(0), ""));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&names.stdout).unwrap(),
        serde_json::json!({"vault_secret_id": id, "names": ["api_key", "client_id"]})
    );
    // Asked for explicitly, the values come back as they went in (compared, never printed).
    let shown_secrets = f.cli(&["retrieve", &id, "--show-secrets"], Some(&url), "");
    assert_eq!(shown_secrets.code, Some(0));
    let as_json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
    assert!(
        as_json(&shown_secrets.stdout) == as_json(&input),
        "--show-secrets printed the credentials that were stored"
    );

    // The error: the application refuses a second store (23505), reported as one safe line and
    // exit code 14, already has credentials.
    let second_input = serde_json::json!({"api_key": f.leaks.secret("cli-second")}).to_string();
    let second = f.cli(&["store", &integration], Some(&url), &second_input);
    assert_eq!(
        (second.code, second.stdout.as_str(), second.stderr.as_str()),
        (
            Some(14),
            "",
            &*format!("credential-vault: {ALREADY_HAS_CREDENTIALS}\n")
        )
    );
    assert_eq!(f.state().await.0, 1, "still one secret");
    f.finish();
}

#[tokio::test]
async fn the_cli_lists_versions_restores_and_destroys() {
    let f = Fixture::new().await;
    let login = f.login(SERVICE_LOGIN).await;
    let url = login.url(&login.password);
    let integration = f.tenants.integration.to_string();
    let input = |label: &str| serde_json::json!({"api_key": f.leaks.secret(label)}).to_string();
    let succeeded = |run: &CliRun| {
        assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""));
        serde_json::from_str::<serde_json::Value>(&run.stdout).expect("JSON")
    };

    let expiry = "2027-01-31T00:00:00Z";
    let stored = f.cli(
        &["store", &integration, "--expires-at", expiry],
        Some(&url),
        &input("cli-versions-first"),
    );
    let first: CredentialReference = serde_json::from_value(succeeded(&stored)).unwrap();
    let first_id = first.vault_secret_id().to_string();
    let expires_at: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
        "select expires_at from credential_vault.credentials where vault_secret_id = $1",
    )
    .bind(first.vault_secret_id().as_uuid())
    .fetch_one(&f.db.pool)
    .await
    .unwrap();
    assert_eq!(expires_at, Some(expiry.parse().unwrap()));
    let rotated = f.cli(
        &["rotate", &first_id],
        Some(&url),
        &input("cli-versions-second"),
    );
    let second: CredentialReference = serde_json::from_value(succeeded(&rotated)).unwrap();

    let versions = f.cli(&["versions", &integration], Some(&url), "");
    let versions: Vec<CredentialVersion> = serde_json::from_value(succeeded(&versions)).unwrap();
    let states: Vec<_> = versions
        .iter()
        .map(|v| (v.reference(), v.state()))
        .collect();
    assert_eq!(
        states,
        [
            (second, VersionState::Current),
            (first, VersionState::Previous)
        ]
    );

    let restored = f.cli(&["restore", &first_id], Some(&url), "");
    assert_eq!(
        serde_json::from_value::<CredentialReference>(succeeded(&restored)).unwrap(),
        first
    );
    let second_id = second.vault_secret_id().to_string();
    let destroyed = f.cli(&["destroy", &second_id], Some(&url), "");
    assert_eq!(
        succeeded(&destroyed),
        serde_json::json!({"vault_secret_id": second_id, "destroyed": true})
    );
    let versions = f.cli(&["versions", &integration], Some(&url), "");
    assert_eq!(
        succeeded(&versions),
        serde_json::json!([{
            "vault_secret_id": first_id, "created_at": first.created_at(), "state": "current",
            "replaced_at": null, "destroy_after": null,
        }])
    );

    // A version that is not kept any more is not found, exit code 4.
    let again = f.cli(&["restore", &second_id], Some(&url), "");
    assert_eq!(
        (again.code, again.stdout.as_str(), again.stderr.as_str()),
        (Some(4), "", &*format!("credential-vault: {NOT_FOUND}\n"))
    );
    f.finish();
}

// ---------------------------------------------------------------------------------------------
// Contexts and the transaction pooler
// ---------------------------------------------------------------------------------------------

/// Where this run's application connections go, for the figures.
fn route() -> &'static str {
    if through_the_pooler() {
        "through PgBouncer, pool_mode = transaction"
    } else {
        "direct to the server"
    }
}

#[tokio::test]
async fn each_handle_reaches_the_server_as_its_role_and_leaves_nothing_behind() {
    let f = Fixture::new().await;
    let admin_id = match f.tenants.admin {
        Caller::Authenticated(sub) => sub,
        _ => unreachable!("the tenants' admin is a signed-in user"),
    };
    // Logins that are members of their handle's role only, as a sync service's and an app
    // server's would be, each on one client connection, so that the check below runs where the
    // calls ran (behind the pooler, on one of the server connections the calls used).
    let (service_login, user_login) = (f.login(SERVICE_LOGIN).await, f.login(USER_LOGIN).await);
    let one_connection = |login: &Login| {
        PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(supabase_options(login.options()))
    };
    let service = ServiceVault::new(one_connection(&service_login));
    let admin = UserVault::new(one_connection(&user_login), user(&f.tenants.admin));
    f.leaks.record_debug("a user handle", &admin);

    for round in ["first", "second"] {
        let stored = admin
            .store(f.integration(), &credentials(&f.leaks.secret(round)))
            .await;
        let stored = f.leaks.shown("store as the admin", stored).unwrap();
        let listed = f
            .leaks
            .shown("list as the admin", admin.list(f.integration()).await);
        assert_eq!(listed.unwrap(), [stored]);
        let rotated = service
            .rotate(
                stored.vault_secret_id(),
                &credentials(&f.leaks.secret(round)),
            )
            .await;
        let rotated = f
            .leaks
            .shown("rotate as the service role", rotated)
            .unwrap();
        let retrieved = service.retrieve(rotated.vault_secret_id()).await;
        f.leaks
            .shown("retrieve as the service role", retrieved)
            .unwrap();
        let deleted = admin.delete(rotated.vault_secret_id()).await;
        f.leaks.shown("delete as the admin", deleted).unwrap();
    }

    // Each write is audited under the role (and user) its handle asked for, none as a login.
    let audited: Vec<(String, String, Option<Uuid>)> = sqlx::query_as(
        "select action, actor_role::text, actor_uid from credential_vault.audit_log order by id",
    )
    .fetch_all(&f.db.pool)
    .await
    .unwrap();
    let row = |action: &str, role: &str, uid| (action.to_owned(), role.to_owned(), uid);
    let round = [
        row("store", "authenticated", Some(admin_id)),
        row("rotate", "service_role", None),
        row("delete", "authenticated", Some(admin_id)),
    ];
    assert_eq!(audited, [round.clone(), round].concat());

    // No role, claim or named statement outlives a call on the pooled connections.
    for (vault_pool, login) in [
        (service.pool(), &service_login),
        (admin.pool(), &user_login),
    ] {
        let mut tx = vault_pool.begin().await.unwrap();
        let after: (String, Option<String>, i64) = sqlx::query_as(
            "select current_user::text, nullif(current_setting('request.jwt.claims', true), ''),
                    (select count(*) from pg_prepared_statements)",
        )
        .persistent(false)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(after, (login.name.clone(), None, 0), "{}", route());
    }
    f.finish();
}

/// Whether a call succeeded, for the tally.
fn outcome<T>(result: &Result<T, VaultError>) -> Result<(), VaultError> {
    result.as_ref().map(|_| ()).map_err(Clone::clone)
}

#[tokio::test]
async fn concurrent_calls_in_both_contexts_all_succeed_as_the_role_asked_for() {
    const SERVICE_WORKERS: usize = 12;
    const USER_ROUNDS: usize = 4;
    let f = Fixture::new().await;
    let mut integrations = Vec::new();
    for _ in 0..SERVICE_WORKERS {
        integrations.push(IntegrationId::from(
            credential_vault_tests::create_integration(&f.db.pool).await,
        ));
    }
    let (service, _service_login) = f.service_login().await;
    let user_login = f.login(USER_LOGIN).await;
    // Fewer client connections than workers, and behind PgBouncer fewer server connections
    // still (4 per database and user): calls queue and share connections.
    let admin = UserVault::new(
        credential_vault_client::lazy_pool(user_login.options()),
        user(&f.tenants.admin),
    );

    let mut workers = tokio::task::JoinSet::new();
    for integration in integrations {
        let (vault, first) = (service.clone(), f.leaks.secret("conc-1"));
        let second = f.leaks.secret("conc-2");
        workers.spawn(async move {
            let mut results: Vec<(&str, Result<(), VaultError>)> = Vec::new();
            let stored = vault.store(integration, &credentials(&first)).await;
            results.push(("store", outcome(&stored)));
            let Ok(stored) = stored else { return results };
            for _ in 0..2 {
                let retrieved = vault.retrieve(stored.vault_secret_id()).await;
                let right = retrieved.as_ref().map(|map| {
                    map.get("api_key").map(|v| v.expose_secret()) == Some(first.as_str())
                });
                let right = right.map(|ok| assert!(ok, "the stored value came back"));
                results.push(("retrieve", right.map_err(Clone::clone)));
            }
            let listed = vault
                .list(integration)
                .await
                .map(|l| assert_eq!(l, [stored]));
            results.push(("list", listed));
            let rotated = vault
                .rotate(stored.vault_secret_id(), &credentials(&second))
                .await;
            results.push(("rotate", outcome(&rotated)));
            let Ok(rotated) = rotated else { return results };
            // Compared, never printed: a failed assertion must not show the value.
            let retrieved = vault.retrieve(rotated.vault_secret_id()).await.map(|map| {
                let value = map.get("api_key").map(|v| v.expose_secret());
                assert!(
                    value == Some(second.as_str()),
                    "the rotated value came back"
                );
            });
            results.push(("retrieve", retrieved));
            let listed = vault
                .list(integration)
                .await
                .map(|l| assert_eq!(l, [rotated]));
            results.push(("list", listed));
            results.push(("delete", vault.delete(rotated.vault_secret_id()).await));
            results
        });
    }
    {
        let (vault, integration) = (admin.clone(), f.integration());
        let values: Vec<String> = (0..2 * USER_ROUNDS)
            .map(|_| f.leaks.secret("conc-user"))
            .collect();
        workers.spawn(async move {
            let mut results: Vec<(&str, Result<(), VaultError>)> = Vec::new();
            for pair in values.chunks(2) {
                let stored = vault.store(integration, &credentials(&pair[0])).await;
                results.push(("user store", outcome(&stored)));
                let Ok(stored) = stored else { break };
                let listed = vault
                    .list(integration)
                    .await
                    .map(|l| assert_eq!(l, [stored]));
                results.push(("user list", listed));
                let rotated = vault
                    .rotate(stored.vault_secret_id(), &credentials(&pair[1]))
                    .await;
                results.push(("user rotate", outcome(&rotated)));
                let Ok(rotated) = rotated else { break };
                results.push(("user delete", vault.delete(rotated.vault_secret_id()).await));
            }
            results
        });
    }
    let mut calls = 0;
    let mut errors = Vec::new();
    while let Some(results) = workers.join_next().await {
        for (what, result) in results.expect("a worker panicked") {
            calls += 1;
            if let Err(error) = f.leaks.shown(what, result) {
                errors.push(format!("{what}: {error}"));
            }
        }
    }
    let roles: Vec<(String, i64)> = sqlx::query_as(
        "select actor_role::text, count(*) from credential_vault.audit_log group by 1 order by 1",
    )
    .fetch_all(&f.db.pool)
    .await
    .unwrap();
    report_figure(&format!(
        "client concurrency: {calls} concurrent calls {}, {} errors, audit roles {roles:?}",
        route(),
        errors.len()
    ));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(calls, SERVICE_WORKERS * 8 + USER_ROUNDS * 4);
    // Audited (the writes): store, rotate, delete per service worker and per user round.
    // Nothing as the login roles themselves.
    assert_eq!(
        roles,
        [
            ("authenticated".to_owned(), (USER_ROUNDS * 3) as i64),
            ("service_role".to_owned(), (SERVICE_WORKERS * 3) as i64)
        ]
    );
    // Each store was rotated and then deleted: two kept versions each, for the recovery window.
    let kept = ((SERVICE_WORKERS + USER_ROUNDS) * 2) as i64;
    let left = credential_vault_tests::RowCounts::of(&f.db.pool).await;
    assert_eq!((left.vault_secrets, left.credentials), (kept, kept));
    f.finish();
}

#[tokio::test]
async fn requiring_tls_of_a_server_without_it_is_a_tls_error() {
    let f = Fixture::new().await;
    let login = f.login(SERVICE_LOGIN).await;
    for mode in [PgSslMode::Require, PgSslMode::VerifyFull] {
        let vault = f.service_vault(login.options().ssl_mode(mode));
        f.leaks.expect_error(
            "sslmode=require to a server without TLS",
            vault.list(f.integration()).await,
            VaultError::Tls(TlsFailure::NotOffered),
            "no secure connection: the server does not offer TLS",
        );
    }
    let url = format!("{}?sslmode=require", login.url(&login.password));
    let integration = f.tenants.integration.to_string();
    let run = f.cli(&["list", &integration], Some(&url), "");
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (
            Some(11),
            "",
            "credential-vault: no secure connection: the server does not offer TLS\n"
        )
    );
    f.finish();
}

// ---------------------------------------------------------------------------------------------
// TLS, inside scripts/harness/with-tls (run with -- --ignored)
// ---------------------------------------------------------------------------------------------

fn tls_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run inside with-tls"))
}

/// The login over TCP to `host`, with `sslmode` and `sslrootcert`.
fn tls_options(login: &Login, host: &str, mode: PgSslMode, ca: &str) -> PgConnectOptions {
    login.options().host(host).ssl_mode(mode).ssl_root_cert(ca)
}

/// Whether every session of `user` is encrypted, and how many there are.
async fn encrypted_sessions(db: &TestDatabase, user: &str) -> (Option<bool>, i64) {
    sqlx::query_as(
        "select bool_and(s.ssl), count(*) from pg_stat_activity a join pg_stat_ssl s using (pid)
         where a.usename = $1",
    )
    .bind(user)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

/// Asserts that `user` has a session and that every one is encrypted.
async fn assert_encrypted(db: &TestDatabase, user: &str, what: &str) {
    let (encrypted, sessions) = encrypted_sessions(db, user).await;
    assert!(
        encrypted == Some(true) && sessions >= 1,
        "{what}: {sessions} sessions, {encrypted:?}"
    );
}

#[tokio::test]
#[ignore = "needs scripts/harness/with-tls"]
async fn tls_verify_full_succeeds_with_the_right_ca_and_host_only() {
    let (ca, wrong_ca) = (tls_env("CV_TLS_CA"), tls_env("CV_TLS_WRONG_CA"));
    let (host, other_host) = (tls_env("CV_TLS_HOST"), tls_env("CV_TLS_OTHER_HOST"));
    let f = Fixture::new().await;
    let login = f.login(SERVICE_LOGIN).await;

    let verified = f.service_vault(tls_options(&login, &host, PgSslMode::VerifyFull, &ca));
    let stored = f.store(&verified, "tls").await;
    let retrieved = verified.retrieve(stored.vault_secret_id()).await;
    f.leaks
        .shown("retrieve over verify-full", retrieved)
        .expect("retrieve over verify-full");
    assert_encrypted(&f.db, &login.name, "verify-full").await;
    verified.pool().close().await;

    let refused = [
        (
            "verify-full, wrong CA",
            &host,
            PgSslMode::VerifyFull,
            &wrong_ca,
            TlsFailure::UntrustedCertificate,
            "no secure connection: the server's certificate is not signed by a trusted CA",
        ),
        (
            "verify-ca, wrong CA",
            &other_host,
            PgSslMode::VerifyCa,
            &wrong_ca,
            TlsFailure::UntrustedCertificate,
            "no secure connection: the server's certificate is not signed by a trusted CA",
        ),
        (
            "verify-full, wrong host",
            &other_host,
            PgSslMode::VerifyFull,
            &ca,
            TlsFailure::WrongHost,
            "no secure connection: the server's certificate is not for this host name",
        ),
    ];
    // A login of its own, so that no session of the one above can linger in the count.
    let refused_login = f.login(SERVICE_LOGIN).await;
    let refusals = refused.len();
    for (what, host, mode, ca, failure, message) in refused {
        let vault = f.service_vault(tls_options(&refused_login, host, mode, ca));
        f.leaks.expect_error(
            what,
            vault.list(f.integration()).await,
            VaultError::Tls(failure),
            message,
        );
    }
    assert_eq!(
        encrypted_sessions(&f.db, &refused_login.name).await,
        (None, 0),
        "no session was made"
    );

    // verify-ca with the right CA, under either name: as libpq's, it checks no host name (sqlx
    // 0.8.6 with rustls 0.23 did, by accident; sqlx 0.9 does not). require encrypts and checks
    // nothing (unlike libpq, not even when sslrootcert is given).
    for (what, host, mode, ca) in [
        ("verify-ca", &host, PgSslMode::VerifyCa, &ca),
        (
            "verify-ca, another name",
            &other_host,
            PgSslMode::VerifyCa,
            &ca,
        ),
        (
            "require, an unrelated CA, another name",
            &other_host,
            PgSslMode::Require,
            &wrong_ca,
        ),
    ] {
        let login = f.login(SERVICE_LOGIN).await;
        let vault = f.service_vault(tls_options(&login, host, mode, ca));
        f.leaks
            .shown(what, vault.list(f.integration()).await)
            .expect(what);
        assert_encrypted(&f.db, &login.name, what).await;
    }
    f.finish();
    // scripts/test requires this figure: its step runs only ignored tests, and "0 passed" passes.
    report_figure(&format!(
        "tls: verify-full, verify-ca and require connected encrypted; {refusals} wrong CA or host \
         refused with VaultError::Tls, no session made"
    ));
}

#[tokio::test]
#[ignore = "needs scripts/harness/with-tls"]
async fn tls_the_cli_verifies_the_server_and_takes_the_url_from_a_file() {
    let (ca, wrong_ca, host) = (
        tls_env("CV_TLS_CA"),
        tls_env("CV_TLS_WRONG_CA"),
        tls_env("CV_TLS_HOST"),
    );
    let f = Fixture::new().await;
    let login = f.login(SERVICE_LOGIN).await;
    let integration = f.tenants.integration.to_string();
    let url = |root: &str| {
        format!(
            "postgres://{}:{}@{host}:{}/{}?sslmode=verify-full&sslrootcert={root}",
            login.name,
            login.password,
            login.options.get_port(),
            f.db.name
        )
    };
    // The URL on standard input, read as the URL file: it is on no command line and no disk.
    let file_args = [
        "--database-url-file",
        "/dev/stdin",
        "list",
        integration.as_str(),
    ];
    let listed = f.cli(&file_args, None, &url(&ca));
    assert_eq!(
        (listed.code, listed.stdout.as_str(), listed.stderr.as_str()),
        (Some(0), "[]\n", "")
    );

    let refused = f.cli(&["list", &integration], Some(&url(&wrong_ca)), "");
    assert_eq!(
        (
            refused.code,
            refused.stdout.as_str(),
            refused.stderr.as_str()
        ),
        (
            Some(11),
            "",
            "credential-vault: no secure connection: the server's certificate is not signed by a trusted CA\n"
        )
    );
    f.finish();
    report_figure("tls cli: verify-full with the URL from a file listed; a wrong CA exited 11");
}

// ---------------------------------------------------------------------------------------------
// The recorder itself
// ---------------------------------------------------------------------------------------------

#[test]
fn the_recorder_fails_a_test_that_leaks_or_skips_the_check() {
    let recorder = LeakRecorder::default();
    let planted = recorder.secret("planted");
    recorder.record("clean", NOT_FOUND.into());
    recorder.record(
        "leaky",
        format!("Database {{ message: \"bad value {planted}\" }}"),
    );
    let failure = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| recorder.finish()))
        .expect_err("the leak fails the test");
    let message = failure
        .downcast_ref::<String>()
        .expect("a formatted message");
    assert!(
        message.contains(r#"a secret was shown in: ["leaky"]"#),
        "{message}"
    );
    assert!(
        !message.contains(&planted),
        "the message names the output only"
    );

    let unfinished = std::panic::catch_unwind(|| drop(LeakRecorder::default()));
    assert!(
        unfinished.is_err(),
        "a recorder dropped unfinished fails its test"
    );
}
