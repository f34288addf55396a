//! The client against a real server: the throwaway Supabase-like cluster of
//! `tests/harness/with-cluster`, with the extension and the migrations.
//!
//! Run with `tests/harness/with-cluster -- cargo test -p credential-vault-client --test integration`,
//! and a second time through PgBouncer in transaction mode (as Supabase's transaction pooler):
//! `tests/harness/with-cluster -- tests/harness/with-pgbouncer -- cargo test ... --test integration`.
//! The TLS tests are `#[ignore]`d and run inside `tests/harness/with-tls` with `-- --ignored`.
//!
//! Each test creates its own database and its own login roles (password logins over TCP, members
//! of `service_role` or `authenticated` that the handles switch to inside each call's
//! transaction, never through a startup option), and records every error and every `Debug`
//! output it produces. Every test ends with the canary
//! sweep, which searches everything recorded so far by the whole suite for every secret used so
//! far (credential values and passwords), so the last test to finish checks all of it.

use std::fmt::Debug;
use std::io::Write;
use std::process::Stdio;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use credential_vault_client::{
    CONNECT_TIMEOUT, CredentialMap, CredentialReference, Deadlines, IntegrationId, ServiceVault,
    TlsFailure, UserClaims, UserVault, VaultError, VaultSecretId, contract, lazy_pool,
    supabase_options,
};
use credential_vault_tests::{
    Caller, Tenants, TestDatabase, audit_actions, canary, database_error_text, integration_state,
    read_audit_roles, report_figure, server_log, tcp_options, through_the_pooler,
};
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// The canary sweep
// ---------------------------------------------------------------------------------------------

/// A secret used by the suite, and whether the client sent it to the server as a credential
/// value (those must not reach the server log either).
struct Secret {
    text: String,
    sent_by_the_client: bool,
}

/// One error or `Debug` text the suite produced, and where.
struct Output {
    what: String,
    text: String,
}

static SECRETS: Mutex<Vec<Secret>> = Mutex::new(Vec::new());
static OUTPUTS: Mutex<Vec<Output>> = Mutex::new(Vec::new());

fn register(text: String, sent_by_the_client: bool) -> String {
    SECRETS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Secret {
            text: text.clone(),
            sent_by_the_client,
        });
    text
}

/// A fresh credential value, to be sent through the client.
fn secret(label: &str) -> String {
    register(canary(label), true)
}

/// A fresh secret that is not a credential value sent through the client: a password, or a
/// value planted with raw SQL (which the server may log, by design of the test).
fn other_secret(label: &str) -> String {
    register(canary(label), false)
}

fn record(what: &str, text: String) {
    OUTPUTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Output {
            what: what.to_owned(),
            text,
        });
}

fn record_debug(what: &str, value: &impl Debug) {
    record(what, format!("{value:?}"));
    record(what, format!("{value:#?}"));
}

/// Records the result of a client call (its `Debug`, and the error's `Display`) and returns it.
fn shown<T: Debug>(what: &str, result: Result<T, VaultError>) -> Result<T, VaultError> {
    record_debug(what, &result);
    if let Err(error) = &result {
        record(what, error.to_string());
    }
    result
}

/// The outputs that contain one of the secrets, by name only (never the secret itself).
fn leaks(outputs: &[Output], secrets: &[Secret]) -> Vec<String> {
    outputs
        .iter()
        .filter(|output| secrets.iter().any(|s| output.text.contains(&s.text)))
        .map(|output| output.what.clone())
        .collect()
}

/// Searches every output recorded so far for every secret used so far, and the server log for
/// every credential value the client sent.
fn sweep() {
    let secrets = SECRETS.lock().unwrap_or_else(PoisonError::into_inner);
    let outputs = OUTPUTS.lock().unwrap_or_else(PoisonError::into_inner);
    assert!(
        !secrets.is_empty() && !outputs.is_empty(),
        "nothing to sweep"
    );
    let leaked = leaks(&outputs, &secrets);
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

// ---------------------------------------------------------------------------------------------
// Tenants, logins and handles
// ---------------------------------------------------------------------------------------------

/// The tenants' integration, as the client's id type.
fn integration_id(tenants: &Tenants) -> IntegrationId {
    tenants.integration.into()
}

/// `create role` statements, filled in by `format('%I', '%L')` on the server: names and
/// passwords are never spliced into SQL by the test.
const SERVICE_LOGIN: &str = "create role %I login password %L in role service_role";
const USER_LOGIN: &str = "create role %I login password %L in role authenticated";
const EXPIRED_SERVICE_LOGIN: &str =
    "create role %I login password %L in role service_role valid until '2000-01-01'";
const PLAIN_LOGIN: &str = "create role %I login password %L";

/// A password login role of its own for one test.
struct Login {
    name: String,
    password: String,
    /// The test's own database, which is how PgBouncer's log tells its logins apart.
    database: String,
}

impl Login {
    async fn create(db: &TestDatabase, statement: &'static str) -> Login {
        // Lower-case hex after a fixed prefix: a name from a fixed alphabet.
        let name = format!("cv_client_{}", Uuid::new_v4().simple());
        let password = other_secret("password");
        let create: String = sqlx::query_scalar("select format($1::text, $2::text, $3::text)")
            .bind(statement)
            .bind(&name)
            .bind(&password)
            .fetch_one(&db.pool)
            .await
            .expect("quote the role name and password");
        sqlx::raw_sql(&create)
            .execute(&db.pool)
            .await
            .expect("create the login role");
        Login {
            name,
            password,
            database: db.name.clone(),
        }
    }

    /// As a background sync service or an app server connects: a password login, nothing else
    /// (the handles switch roles inside each call's transaction).
    fn service_options(&self, db: &TestDatabase) -> PgConnectOptions {
        self.plain_options(db)
    }

    fn plain_options(&self, db: &TestDatabase) -> PgConnectOptions {
        tcp_options(&db.name, &self.name, &self.password)
    }

    /// The same login with a wrong password.
    fn wrong_password_options(&self, db: &TestDatabase) -> PgConnectOptions {
        tcp_options(&db.name, &self.name, &other_secret("wrong-password"))
    }

    /// The service login as a `DATABASE_URL` for the CLI (the names and passwords used here are
    /// letters, digits, `-` and `_`, which need no escaping).
    fn service_url(&self, db: &TestDatabase, password: &str) -> String {
        let options = self.plain_options(db);
        format!(
            "postgres://{}:{}@{}:{}/{}",
            self.name,
            password,
            options.get_host(),
            options.get_port(),
            db.name
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

/// A service-role handle logged in as a fresh login role of its own.
async fn service_vault(db: &TestDatabase) -> (ServiceVault, Login) {
    let login = Login::create(db, SERVICE_LOGIN).await;
    let vault = ServiceVault::connect_lazy(login.service_options(db));
    record_debug("a service-role handle", &vault);
    (vault, login)
}

fn credentials(secret: &str) -> CredentialMap {
    CredentialMap::new([("api_key", secret), ("client_id", "client-1")]).expect("valid credentials")
}

/// Asserts the variant and its exact, fixed message.
fn expect_error<T: Debug>(
    what: &str,
    result: Result<T, VaultError>,
    expected: VaultError,
    message: &str,
) {
    let error = shown(what, result).expect_err(what);
    assert_eq!(error, expected, "{what}");
    assert_eq!(error.to_string(), message, "{what}");
}

const NOT_FOUND: &str = "credentials not found or not accessible";
const CONFLICT: &str = "conflict: changed concurrently; re-read the reference and retry";
const PERMISSION_DENIED: &str = "permission denied";
const AUTHENTICATION: &str = "authentication failed or session expired";
const UNAVAILABLE: &str = "the credential vault is unavailable";
const MISCONFIGURED: &str = "the credential vault is not configured for this call";
const UNIQUE_VIOLATION: &str = "unexpected database error (SQLSTATE 23505)";

/// Counts of what the vault and the application hold, and the integration's link.
async fn state(db: &TestDatabase, integration: IntegrationId) -> (i64, i64, i64, Option<Uuid>) {
    integration_state(&db.pool, integration.as_uuid()).await
}

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

// ---------------------------------------------------------------------------------------------
// Store, retrieve, rotate, delete
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn store_calls_the_store_function_and_returns_its_reference() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let (vault, _login) = service_vault(&db).await;
    let value = secret("store");
    let before = chrono::Utc::now();

    let reference = shown(
        "store",
        vault.store(integration_id(&t), &credentials(&value)).await,
    )
    .expect("store");

    // The extension's store ran: its row, its ciphertext, its audit entry, and the link kept by
    // the application's trigger, all for the returned id and timestamp.
    let (id, created_at): (Uuid, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
        "select vault_secret_id, created_at from credential_vault.credentials where integration_id = $1",
    )
    .bind(t.integration)
    .fetch_one(&db.pool)
    .await
    .expect("one credentials row");
    assert_eq!(reference.vault_secret_id(), VaultSecretId::from(id));
    assert_eq!(reference.created_at(), created_at);
    assert!(created_at >= before - chrono::Duration::seconds(5));
    let stored: String = sqlx::query_scalar("select secret from vault.secrets where id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("the Vault secret");
    assert!(!stored.contains(&value), "only ciphertext is stored");
    assert_eq!(state(&db, integration_id(&t)).await, (1, 1, 1, Some(id)));
    assert_eq!(audit_actions(&db.pool).await, ["store:service_role"]);

    let listed = shown("list", vault.list(integration_id(&t)).await).expect("list");
    assert_eq!(listed, [reference]);
    sweep();
}

#[tokio::test]
async fn an_empty_map_is_refused_before_any_round_trip() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    // Every login attempt of this handle fails and is logged by the server, so the log shows
    // whether anything reached it.
    let login = Login::create(&db, SERVICE_LOGIN).await;
    let vault = ServiceVault::connect_lazy(login.wrong_password_options(&db));

    let empty: [(&str, &str); 0] = [];
    let no_entries = contract::Error::NoEntries;
    let refused = format!("invalid input: {no_entries}");
    expect_error(
        "an empty map",
        CredentialMap::new(empty),
        VaultError::Validation(no_entries),
        &refused,
    );
    let result = async {
        let credentials = CredentialMap::from_json("{}")?;
        vault.store(integration_id(&t), &credentials).await
    }
    .await;
    expect_error(
        "store of {}",
        result,
        VaultError::Validation(no_entries),
        &refused,
    );

    let url = login.service_url(&db, &other_secret("cli-wrong-password"));
    let run = cli(&url, &["store", &t.integration.to_string()], Some("{}")).await;
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (Some(3), "", &*format!("credential-vault: {refused}\n"))
    );
    assert_eq!(login.refused_logins(), 0, "nothing reached the server");

    // Control: a valid map does reach the server, and the log shows it.
    expect_error(
        "store with a wrong password",
        vault
            .store(integration_id(&t), &credentials(&secret("empty-control")))
            .await,
        VaultError::Authentication,
        AUTHENTICATION,
    );
    assert_eq!(login.refused_logins(), 1);
    assert_eq!(state(&db, integration_id(&t)).await, (0, 0, 0, None));
    sweep();
}

#[tokio::test]
async fn retrieve_returns_the_stored_credentials_to_the_service_role() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let (vault, _login) = service_vault(&db).await;
    let (value, quoted) = (secret("retrieve"), secret("retrieve-quoted"));
    let awkward = format!("\"{quoted}\" é\n\\ ✓");
    let stored = CredentialMap::new([
        ("api_key", value.as_str()),
        ("client_secret", awkward.as_str()),
        ("account", "acme"),
    ])
    .unwrap();
    let reference = shown("store", vault.store(integration_id(&t), &stored).await).unwrap();

    let retrieved = shown(
        "retrieve",
        vault.retrieve(reference.vault_secret_id()).await,
    )
    .expect("retrieve");
    assert_eq!(
        retrieved.names().collect::<Vec<_>>(),
        ["account", "api_key", "client_secret"]
    );
    let values: Vec<(&str, &str)> = retrieved
        .iter()
        .map(|(name, value)| (name, value.expose_secret()))
        .collect();
    assert_eq!(
        values,
        [
            ("account", "acme"),
            ("api_key", value.as_str()),
            ("client_secret", awkward.as_str())
        ]
    );
    assert_eq!(*retrieved.expose_json(), *stored.expose_json());
    assert_eq!(audit_actions(&db.pool).await, ["store:service_role"]);
    assert_eq!(
        read_audit_roles(reference.vault_secret_id().as_uuid()),
        ["service_role"],
        "the read is audited in the server log"
    );

    expect_error(
        "retrieve of an unknown id",
        vault.retrieve(VaultSecretId::from(Uuid::new_v4())).await,
        VaultError::NotFound,
        NOT_FOUND,
    );
    sweep();
}

#[tokio::test]
async fn rotate_returns_the_new_reference_and_retires_the_old_one() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let (vault, _login) = service_vault(&db).await;
    let old = shown(
        "store",
        vault
            .store(integration_id(&t), &credentials(&secret("rotate-old")))
            .await,
    )
    .unwrap();
    let new_value = secret("rotate-new");

    let new = shown(
        "rotate",
        vault
            .rotate(old.vault_secret_id(), &credentials(&new_value))
            .await,
    )
    .expect("rotate");

    assert_ne!(new.vault_secret_id(), old.vault_secret_id());
    assert!(new.created_at() >= old.created_at());
    assert_eq!(
        shown("list", vault.list(integration_id(&t)).await).unwrap(),
        [new]
    );
    let retrieved = shown("retrieve", vault.retrieve(new.vault_secret_id()).await).unwrap();
    assert_eq!(
        retrieved.get("api_key").map(|v| v.expose_secret()),
        Some(new_value.as_str())
    );
    assert_eq!(
        state(&db, integration_id(&t)).await,
        (1, 1, 2, Some(new.vault_secret_id().as_uuid()))
    );
    for (what, result) in [
        (
            "retrieve of the old reference",
            vault.retrieve(old.vault_secret_id()).await.map(|_| ()),
        ),
        (
            "rotate of the old reference",
            vault
                .rotate(old.vault_secret_id(), &credentials(&secret("rotate-again")))
                .await
                .map(|_| ()),
        ),
        (
            "delete of the old reference",
            vault.delete(old.vault_secret_id()).await,
        ),
    ] {
        expect_error(what, result, VaultError::NotFound, NOT_FOUND);
    }
    sweep();
}

#[tokio::test]
async fn delete_removes_the_credentials_and_frees_the_integration() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let (vault, _login) = service_vault(&db).await;
    let reference = shown(
        "store",
        vault
            .store(integration_id(&t), &credentials(&secret("delete")))
            .await,
    )
    .unwrap();

    shown("delete", vault.delete(reference.vault_secret_id()).await).expect("delete");

    assert_eq!(state(&db, integration_id(&t)).await, (0, 0, 2, None));
    assert_eq!(
        shown("list", vault.list(integration_id(&t)).await).unwrap(),
        []
    );
    expect_error(
        "retrieve after delete",
        vault.retrieve(reference.vault_secret_id()).await,
        VaultError::NotFound,
        NOT_FOUND,
    );
    expect_error(
        "delete again",
        vault.delete(reference.vault_secret_id()).await,
        VaultError::NotFound,
        NOT_FOUND,
    );
    // The integration's slot is free again.
    let again = shown(
        "store after delete",
        vault
            .store(integration_id(&t), &credentials(&secret("delete-again")))
            .await,
    )
    .expect("store after delete");
    assert_ne!(again.vault_secret_id(), reference.vault_secret_id());
    sweep();
}

#[tokio::test]
async fn references_and_maps_never_print_a_value() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let (vault, _login) = service_vault(&db).await;
    let value = secret("printing");
    let stored = credentials(&value);
    let reference = shown("store", vault.store(integration_id(&t), &stored).await).unwrap();
    let retrieved = shown(
        "retrieve",
        vault.retrieve(reference.vault_secret_id()).await,
    )
    .unwrap();
    let listed = shown("list", vault.list(integration_id(&t)).await).unwrap();

    let id = reference.vault_secret_id().to_string();
    assert_eq!(reference.to_string(), id);
    let json: serde_json::Value = serde_json::to_value(reference).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"vault_secret_id": id, "created_at": reference.created_at()})
    );
    assert_eq!(
        serde_json::from_value::<CredentialReference>(json.clone()).unwrap(),
        reference
    );
    for map in [&stored, &retrieved] {
        assert_eq!(format!("{map}"), "[REDACTED]");
        assert_eq!(format!("{map:?}"), "[REDACTED]");
        assert_eq!(format!("{map:#?}"), "[REDACTED]");
    }
    let printed = [
        format!("{reference}"),
        format!("{reference:?}"),
        format!("{reference:#?}"),
        json.to_string(),
        format!("{listed:?}"),
        serde_json::to_string(&listed).unwrap(),
        format!("{retrieved}"),
        format!("{retrieved:?}"),
        format!("{:?}", retrieved.get("api_key").unwrap()),
        format!("{:?}", retrieved.names().collect::<Vec<_>>()),
    ];
    for text in printed {
        assert!(!text.contains(&value), "a value was printed");
        record("reference or map output", text);
    }
    // The value is there, behind expose_secret only.
    assert_eq!(
        retrieved.get("api_key").unwrap().expose_secret(),
        value.as_str()
    );
    sweep();
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn server_refusals_become_their_variants_with_safe_messages() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let (vault, _login) = service_vault(&db).await;
    let reference = shown(
        "store",
        vault
            .store(integration_id(&t), &credentials(&secret("errors")))
            .await,
    )
    .unwrap();
    let unknown_secret = VaultSecretId::from(Uuid::new_v4());

    // PT404, for a missing integration and a missing reference.
    expect_error(
        "store for an unknown integration",
        vault
            .store(
                IntegrationId::from(Uuid::new_v4()),
                &credentials(&secret("unknown-integration")),
            )
            .await,
        VaultError::NotFound,
        NOT_FOUND,
    );
    expect_error(
        "rotate of an unknown reference",
        vault
            .rotate(unknown_secret, &credentials(&secret("unknown-reference")))
            .await,
        VaultError::NotFound,
        NOT_FOUND,
    );
    expect_error(
        "delete of an unknown reference",
        vault.delete(unknown_secret).await,
        VaultError::NotFound,
        NOT_FOUND,
    );

    // 23505: the application's one reference per integration refuses a second; the client
    // has no rule of the application's, so it is a database error with only its SQLSTATE.
    expect_error(
        "a second store",
        vault
            .store(integration_id(&t), &credentials(&secret("second-store")))
            .await,
        VaultError::Database {
            sqlstate: Some("23505".into()),
        },
        UNIQUE_VIOLATION,
    );

    // PT409: someone else holds the reference while we rotate or delete it.
    let mut holder = db.pool.begin().await.unwrap();
    sqlx::query("select 1 from credential_vault.credentials where vault_secret_id = $1 for update")
        .bind(reference.vault_secret_id().as_uuid())
        .execute(&mut *holder)
        .await
        .unwrap();
    expect_error(
        "rotate of a reference being changed",
        vault
            .rotate(
                reference.vault_secret_id(),
                &credentials(&secret("concurrent")),
            )
            .await,
        VaultError::Conflict,
        CONFLICT,
    );
    expect_error(
        "delete of a reference being changed",
        vault.delete(reference.vault_secret_id()).await,
        VaultError::Conflict,
        CONFLICT,
    );
    holder.rollback().await.unwrap();

    // 42501: a login that is not the service role.
    let plain = Login::create(&db, PLAIN_LOGIN).await;
    let outsider = ServiceVault::connect_lazy(plain.plain_options(&db));
    expect_error(
        "retrieve by a login outside the service role",
        outsider.retrieve(reference.vault_secret_id()).await,
        VaultError::PermissionDenied,
        PERMISSION_DENIED,
    );
    expect_error(
        "store by a login outside the service role",
        outsider
            .store(integration_id(&t), &credentials(&secret("outsider")))
            .await,
        VaultError::PermissionDenied,
        PERMISSION_DENIED,
    );

    // XX001: a secret changed around the extension is refused without echoing it.
    let garbage = other_secret("garbage");
    sqlx::query("select vault.update_secret($1, $2)")
        .bind(reference.vault_secret_id().as_uuid())
        .bind(format!("not json {garbage}"))
        .execute(&db.pool)
        .await
        .unwrap();
    expect_error(
        "retrieve of a corrupted secret",
        vault.retrieve(reference.vault_secret_id()).await,
        VaultError::Database {
            sqlstate: Some("XX001".into()),
        },
        "unexpected database error (SQLSTATE XX001)",
    );

    // None of the refusals changed anything.
    assert_eq!(
        state(&db, integration_id(&t)).await,
        (1, 1, 1, Some(reference.vault_secret_id().as_uuid()))
    );
    sweep();
}

#[tokio::test]
async fn the_real_servers_errors_keep_only_their_sqlstate() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let integration = t.integration.to_string();
    let c = other_secret("raw-input");
    const STORE: &str = "select * from public.vault_store_integration_credentials($1, $2)";
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
            VaultError::NotFound,
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
        let mut tx = db.begin_as(&Caller::ServiceRole).await;
        let mut query = sqlx::query(sql);
        for bind in &binds {
            query = query.bind(bind);
        }
        let error = query.execute(&mut *tx).await.expect_err(what);
        if database_error_text(&error).contains(&c) {
            quoted.push(what);
        }
        let error = VaultError::from(error);
        record_debug(what, &error);
        record(what, error.to_string());
        assert_eq!(error, expected, "{what}");
    }
    // The controls: these driver errors did carry the secret, and the mapping dropped it.
    assert!(quoted.contains(&"22P02 cast"), "{quoted:?}");
    assert!(quoted.contains(&"23502"), "{quoted:?}");

    // 42501 for a role without EXECUTE, through the caller's own statement.
    let mut tx = db.begin_as(&Caller::Anon).await;
    let error = sqlx::query(STORE)
        .bind(&integration)
        .bind(json(&c))
        .execute(&mut *tx)
        .await
        .expect_err("anon may not store");
    let error = VaultError::from(error);
    record_debug("anon store", &error);
    assert_eq!(error, VaultError::PermissionDenied);
    assert_eq!(state(&db, integration_id(&t)).await, (0, 0, 0, None));
    sweep();
}

#[tokio::test]
async fn a_store_blocked_by_a_lock_times_out_at_its_deadline() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let (vault, login) = service_vault(&db).await;
    let deadline = Duration::from_millis(300);
    let vault = vault.with_deadlines(Deadlines {
        store: deadline,
        ..Deadlines::default()
    });
    // Connected beforehand, so that the deadline is spent waiting for the lock only.
    assert_eq!(
        shown("list", vault.list(integration_id(&t)).await).unwrap(),
        []
    );

    let mut locker = db.pool.begin().await.unwrap();
    sqlx::query("lock table credential_vault.credentials in access exclusive mode")
        .execute(&mut *locker)
        .await
        .unwrap();
    let started = Instant::now();
    // Bounded here too, so that a client ignoring its deadline fails the test instead of hanging.
    let result = tokio::time::timeout(
        deadline + Duration::from_secs(5),
        vault.store(integration_id(&t), &credentials(&secret("deadline"))),
    )
    .await
    .expect("the store gave up by itself");
    let elapsed = started.elapsed();
    expect_error(
        "store behind a lock",
        result,
        VaultError::Timeout { after: deadline },
        "no answer within 300ms",
    );
    assert!(
        elapsed >= deadline && elapsed < deadline + Duration::from_secs(2),
        "{elapsed:?}"
    );
    // The server was indeed blocked: the store still waits for the lock.
    backend_waiting_for_a_lock(&db, &login.name).await;
    locker.rollback().await.unwrap();

    // The handle is still usable; the abandoned store may or may not have gone through.
    let listed = shown(
        "list after the timeout",
        vault.list(integration_id(&t)).await,
    )
    .expect("the handle still works after a timeout");
    assert!(listed.len() <= 1, "{listed:?}");
    sweep();
}

#[tokio::test]
async fn an_expired_login_is_an_authentication_error_after_one_attempt() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let login = Login::create(&db, EXPIRED_SERVICE_LOGIN).await;
    let vault = ServiceVault::connect_lazy(login.service_options(&db));
    assert_eq!(login.refused_logins(), 0);

    let started = Instant::now();
    let result = vault
        .store(integration_id(&t), &credentials(&secret("expired")))
        .await;
    let elapsed = started.elapsed();

    expect_error(
        "store with an expired login",
        result,
        VaultError::Authentication,
        AUTHENTICATION,
    );
    assert_eq!(login.refused_logins(), 1, "exactly one login attempt");
    assert!(elapsed < CONNECT_TIMEOUT, "returned at once: {elapsed:?}");
    assert_eq!(state(&db, integration_id(&t)).await, (0, 0, 0, None));
    sweep();
}

#[tokio::test]
async fn a_revoked_login_is_an_authentication_error_after_one_attempt() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let (vault, login) = service_vault(&db).await;
    let reference = shown(
        "store before the revocation",
        vault
            .store(integration_id(&t), &credentials(&secret("revoked")))
            .await,
    )
    .expect("the login works at first");

    // Revoke the login and end its sessions, as an operator would.
    let revoke: String = sqlx::query_scalar("select format('alter role %I nologin', $1::text)")
        .bind(&login.name)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    sqlx::raw_sql(&revoke).execute(&db.pool).await.unwrap();
    let terminated: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid, 5000) from pg_stat_activity where usename = $1",
    )
    .bind(&login.name)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(terminated, [true], "the handle held one session");
    assert_eq!(login.refused_logins(), 0);

    let started = Instant::now();
    let result = vault.retrieve(reference.vault_secret_id()).await;
    let elapsed = started.elapsed();
    let refused_so_far = if through_the_pooler() {
        // The handle's connection to PgBouncer outlives the terminated server session: PgBouncer
        // keeps the call waiting while it retries the server login that now fails, so the
        // client learns nothing about the revocation on that connection, only that the vault
        // does not answer (unavailable, or its deadline).
        let error = shown("retrieve after the revocation", result).expect_err("refused");
        assert!(
            matches!(error, VaultError::Unavailable | VaultError::Timeout { .. }),
            "{error:?}"
        );
        0
    } else {
        expect_error(
            "retrieve after the revocation",
            result,
            VaultError::Authentication,
            AUTHENTICATION,
        );
        assert_eq!(login.refused_logins(), 1, "exactly one login attempt");
        assert!(elapsed < CONNECT_TIMEOUT, "returned at once: {elapsed:?}");
        1
    };

    // A new handle with the same login is refused at once, once (by PgBouncer itself when it
    // runs: it cannot look the role up any more).
    let fresh = ServiceVault::connect_lazy(login.service_options(&db));
    let started = Instant::now();
    expect_error(
        "list with a revoked login",
        fresh.list(integration_id(&t)).await,
        VaultError::Authentication,
        AUTHENTICATION,
    );
    assert!(started.elapsed() < CONNECT_TIMEOUT);
    assert_eq!(login.refused_logins(), refused_so_far + 1);
    sweep();
}

#[tokio::test]
async fn an_unreachable_or_failing_server_is_unavailable() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;

    // Nothing listens on the port: the pool gives up after CONNECT_TIMEOUT, before the default
    // deadline, so the caller learns "unavailable", not "timeout".
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let login = Login::create(&db, SERVICE_LOGIN).await;
    let nowhere = ServiceVault::connect_lazy(login.service_options(&db).port(port));
    let started = Instant::now();
    let result = nowhere.list(integration_id(&t)).await;
    let elapsed = started.elapsed();
    expect_error(
        "list on a closed port",
        result,
        VaultError::Unavailable,
        UNAVAILABLE,
    );
    assert!(
        elapsed >= CONNECT_TIMEOUT && elapsed < Deadlines::default().list,
        "{elapsed:?}"
    );

    // 57P01: the session is terminated while the call waits.
    let (vault, login) = service_vault(&db).await;
    assert_eq!(
        shown("list", vault.list(integration_id(&t)).await).unwrap(),
        []
    );
    let mut locker = db.pool.begin().await.unwrap();
    sqlx::query("lock table credential_vault.credentials in access exclusive mode")
        .execute(&mut *locker)
        .await
        .unwrap();
    let blocked = {
        let (vault, integration, value) = (vault.clone(), integration_id(&t), secret("terminated"));
        tokio::spawn(async move { vault.store(integration, &credentials(&value)).await })
    };
    let pid = backend_waiting_for_a_lock(&db, &login.name).await;
    let started = Instant::now();
    let terminated: bool = sqlx::query_scalar("select pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(terminated);
    let result = blocked.await.unwrap();
    assert!(started.elapsed() < Deadlines::default().store);
    expect_error(
        "store in a terminated session",
        result,
        VaultError::Unavailable,
        UNAVAILABLE,
    );
    locker.rollback().await.unwrap();
    assert_eq!(state(&db, integration_id(&t)).await, (0, 0, 0, None));

    // 55000: the server is missing a prerequisite (here, the authorizer); not worth a retry.
    sqlx::query("delete from credential_vault.authorizer")
        .execute(&db.pool)
        .await
        .unwrap();
    let user_vault = UserVault::new(db.pool.clone(), user(&t.admin));
    let mut tx = db.begin_as(&t.admin).await;
    expect_error(
        "store without an authorizer",
        user_vault
            .store_with(
                &mut *tx,
                integration_id(&t),
                &credentials(&secret("no-authorizer")),
            )
            .await,
        VaultError::Misconfigured,
        MISCONFIGURED,
    );
    tx.rollback().await.unwrap();
    sweep();
}

// ---------------------------------------------------------------------------------------------
// The caller's own transaction
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_with_forms_run_inside_the_callers_transaction() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    // The `*_with` forms switch nothing: the caller's transaction says who calls.
    let vault = UserVault::new(db.pool.clone(), user(&t.member));
    record_debug("a handle", &vault);

    // Store and rotate as the organization's admin, then roll back: nothing is left.
    let mut tx = db.begin_as(&t.admin).await;
    let stored = shown(
        "store_with",
        vault
            .store_with(&mut *tx, integration_id(&t), &credentials(&secret("with")))
            .await,
    )
    .expect("an admin may store");
    assert_eq!(
        shown(
            "list_with",
            vault.list_with(&mut *tx, integration_id(&t)).await
        )
        .unwrap(),
        [stored]
    );
    let rotated = shown(
        "rotate_with",
        vault
            .rotate_with(
                &mut *tx,
                stored.vault_secret_id(),
                &credentials(&secret("with-rotated")),
            )
            .await,
    )
    .expect("an admin may rotate");
    assert_eq!(
        shown(
            "list_with",
            vault.list_with(&mut *tx, integration_id(&t)).await
        )
        .unwrap(),
        [rotated]
    );
    // Retrieving is for the service role only, whatever the handle.
    expect_error(
        "retrieve_with as an admin",
        ServiceVault::new(db.pool.clone())
            .retrieve_with(&mut *tx, rotated.vault_secret_id())
            .await,
        VaultError::PermissionDenied,
        PERMISSION_DENIED,
    );
    tx.rollback().await.unwrap();
    assert_eq!(state(&db, integration_id(&t)).await, (0, 0, 0, None));
    assert_eq!(
        shown("list", vault.list_with(&db.pool, integration_id(&t)).await).unwrap(),
        []
    );

    // Committed, it stays.
    let value = secret("with-committed");
    let mut tx = db.begin_as(&t.admin).await;
    let committed = shown(
        "store_with",
        vault
            .store_with(&mut *tx, integration_id(&t), &credentials(&value))
            .await,
    )
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        state(&db, integration_id(&t)).await,
        (1, 1, 1, Some(committed.vault_secret_id().as_uuid()))
    );

    // Other callers, each in a transaction of its own.
    for (what, caller, expected, message) in [
        ("a plain member", &t.member, VaultError::NotFound, NOT_FOUND),
        (
            "another organization's admin",
            &t.other_admin,
            VaultError::NotFound,
            NOT_FOUND,
        ),
        (
            "anon",
            &Caller::Anon,
            VaultError::PermissionDenied,
            PERMISSION_DENIED,
        ),
    ] {
        let mut tx = db.begin_as(caller).await;
        expect_error(
            what,
            vault
                .delete_with(&mut *tx, committed.vault_secret_id())
                .await,
            expected,
            message,
        );
        tx.rollback().await.unwrap();
    }

    // The service role reads it back inside its own transaction.
    let service = ServiceVault::new(db.pool.clone());
    let mut tx = db.begin_as(&Caller::ServiceRole).await;
    let retrieved = shown(
        "retrieve_with",
        service
            .retrieve_with(&mut *tx, committed.vault_secret_id())
            .await,
    )
    .expect("the service role may retrieve");
    assert_eq!(
        retrieved.get("api_key").unwrap().expose_secret(),
        value.as_str()
    );
    tx.commit().await.unwrap();

    // And the admin deletes it.
    let mut tx = db.begin_as(&t.admin).await;
    shown(
        "delete_with",
        vault
            .delete_with(&mut *tx, committed.vault_secret_id())
            .await,
    )
    .expect("an admin may delete");
    tx.commit().await.unwrap();
    assert_eq!(state(&db, integration_id(&t)).await, (0, 0, 2, None));
    assert_eq!(
        read_audit_roles(committed.vault_secret_id().as_uuid()),
        ["service_role"]
    );
    assert_eq!(
        audit_actions(&db.pool).await,
        ["store:authenticated", "delete:authenticated"]
    );
    sweep();
}

// ---------------------------------------------------------------------------------------------
// The command-line tool
// ---------------------------------------------------------------------------------------------

struct CliRun {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `credential-vault` with `DATABASE_URL` set and `stdin` (if any) on its standard input.
async fn cli(database_url: &str, args: &[&str], stdin: Option<&str>) -> CliRun {
    let database_url = database_url.to_owned();
    let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
    let stdin = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_credential-vault"))
            .args(&args)
            .env("DATABASE_URL", database_url)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the CLI");
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(text.as_bytes()).unwrap();
        }
        let output = child.wait_with_output().expect("run the CLI");
        CliRun {
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_cli_round_trips_on_stdin_and_reports_a_conflict_safely() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let login = Login::create(&db, SERVICE_LOGIN).await;
    let url = login.service_url(&db, &login.password);
    let integration = t.integration.to_string();
    let value = secret("cli");
    let input = serde_json::json!({"api_key": value, "client_id": "client-1"}).to_string();

    let stored = cli(&url, &["store", &integration], Some(&input)).await;
    record("cli store stdout", stored.stdout.clone());
    record("cli store stderr", stored.stderr.clone());
    assert_eq!((stored.code, stored.stderr.as_str()), (Some(0), ""));
    let reference: CredentialReference =
        serde_json::from_str(&stored.stdout).expect("a reference as JSON");
    let linked = state(&db, integration_id(&t)).await.3;
    assert_eq!(linked, Some(reference.vault_secret_id().as_uuid()));

    let id = reference.vault_secret_id().to_string();
    let names = cli(&url, &["retrieve", &id], None).await;
    record("cli retrieve stdout", names.stdout.clone());
    assert_eq!((names.code, names.stderr.as_str()), (Some(0), ""));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&names.stdout).unwrap(),
        serde_json::json!({"vault_secret_id": id, "names": ["api_key", "client_id"]})
    );
    // Asked for explicitly, the values come back as they went in (not recorded: it is the
    // one output meant to show them).
    let shown_secrets = cli(&url, &["retrieve", &id, "--show-secrets"], None).await;
    assert_eq!(shown_secrets.code, Some(0));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&shown_secrets.stdout).unwrap(),
        serde_json::from_str::<serde_json::Value>(&input).unwrap()
    );

    // The error: the application refuses a second store (23505), reported as one safe line and
    // exit code 10, an unexpected database error.
    let other_value = secret("cli-second");
    let second_input = serde_json::json!({"api_key": other_value}).to_string();
    let second = cli(&url, &["store", &integration], Some(&second_input)).await;
    record("cli second store stdout", second.stdout.clone());
    record("cli second store stderr", second.stderr.clone());
    assert_eq!(
        (second.code, second.stdout.as_str(), second.stderr.as_str()),
        (
            Some(10),
            "",
            &*format!("credential-vault: {UNIQUE_VIOLATION}\n")
        )
    );
    assert_eq!(
        state(&db, integration_id(&t)).await.0,
        1,
        "still one secret"
    );
    assert!(!second.stderr.contains(&login.password));
    sweep();
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

/// The audit log as `(action, actor_role, actor_uid)`, oldest first.
async fn audit_rows(db: &TestDatabase) -> Vec<(String, String, Option<Uuid>)> {
    sqlx::query_as(
        "select action, actor_role::text, actor_uid from credential_vault.audit_log order by id",
    )
    .fetch_all(&db.pool)
    .await
    .expect("read the audit log")
}

#[tokio::test]
async fn a_user_handle_acts_for_the_signed_in_user_only() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    // A login that is a member of authenticated only, as an app server's would be.
    let login = Login::create(&db, USER_LOGIN).await;
    let pool = lazy_pool(login.plain_options(&db));
    let admin = UserVault::new(pool.clone(), user(&t.admin));
    record_debug("a user handle", &admin);

    let stored = shown(
        "store as the admin",
        admin
            .store(integration_id(&t), &credentials(&secret("user-store")))
            .await,
    )
    .expect("the admin may store");
    assert_eq!(
        shown("list as the admin", admin.list(integration_id(&t)).await).unwrap(),
        [stored]
    );
    let rotated = shown(
        "rotate as the admin",
        admin
            .rotate(
                stored.vault_secret_id(),
                &credentials(&secret("user-rotate")),
            )
            .await,
    )
    .expect("the admin may rotate");

    for (what, caller) in [
        ("a plain member", &t.member),
        ("another organization's admin", &t.other_admin),
    ] {
        let other = UserVault::new(pool.clone(), user(caller));
        expect_error(
            what,
            other.list(integration_id(&t)).await,
            VaultError::NotFound,
            NOT_FOUND,
        );
        expect_error(
            what,
            other.delete(rotated.vault_secret_id()).await,
            VaultError::NotFound,
            NOT_FOUND,
        );
    }
    // The same login cannot make itself the service role: it is not a member.
    expect_error(
        "retrieve by a login outside service_role",
        ServiceVault::new(pool.clone())
            .retrieve(rotated.vault_secret_id())
            .await,
        VaultError::PermissionDenied,
        PERMISSION_DENIED,
    );
    shown(
        "delete as the admin",
        admin.delete(rotated.vault_secret_id()).await,
    )
    .expect("the admin may delete");

    let admin_id = admin_uid(&t);
    assert_eq!(
        audit_rows(&db).await,
        ["store", "rotate", "delete"].map(|action| (
            action.to_owned(),
            "authenticated".to_owned(),
            Some(admin_id)
        ))
    );
    assert_eq!(state(&db, integration_id(&t)).await, (0, 0, 3, None));
    // Nothing of the switch outlives a call's transaction on the pooled connections.
    let mut tx = pool.begin().await.unwrap();
    let after: (String, Option<String>) = sqlx::query_as(
        "select current_user::text, nullif(current_setting('request.jwt.claims', true), '')",
    )
    .persistent(false)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(after, (login.name.clone(), None));
    sweep();
}

fn admin_uid(t: &Tenants) -> Uuid {
    match t.admin {
        Caller::Authenticated(sub) => sub,
        _ => unreachable!("the tenants' admin is a signed-in user"),
    }
}

#[tokio::test]
async fn no_named_statement_role_or_claim_outlives_a_call() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let login = Login::create(&db, SERVICE_LOGIN).await;
    // One client connection, so that the check below runs where the calls ran (behind the
    // pooler, on one of the server connections the calls used).
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(supabase_options(login.service_options(&db)));
    let vault = ServiceVault::new(pool.clone());
    for _ in 0..3 {
        let stored = shown(
            "store",
            vault
                .store(integration_id(&t), &credentials(&secret("unnamed")))
                .await,
        )
        .expect("store");
        shown("list", vault.list(integration_id(&t)).await).expect("list");
        shown("retrieve", vault.retrieve(stored.vault_secret_id()).await).expect("retrieve");
        shown("delete", vault.delete(stored.vault_secret_id()).await).expect("delete");
    }
    let mut tx = pool.begin().await.unwrap();
    let after: (String, Option<String>, i64) = sqlx::query_as(
        "select current_user::text, nullif(current_setting('request.jwt.claims', true), ''),
                (select count(*) from pg_prepared_statements)",
    )
    .persistent(false)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(after, (login.name.clone(), None, 0));
    sweep();
}

/// Whether a call succeeded, for the tally.
fn outcome<T>(result: &Result<T, VaultError>) -> Result<(), VaultError> {
    result.as_ref().map(|_| ()).map_err(Clone::clone)
}

#[tokio::test]
async fn concurrent_calls_in_both_contexts_all_succeed_as_the_role_asked_for() {
    const SERVICE_WORKERS: usize = 12;
    const USER_ROUNDS: usize = 4;
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let mut integrations = Vec::new();
    for _ in 0..SERVICE_WORKERS {
        integrations.push(IntegrationId::from(
            credential_vault_tests::create_integration(&db.pool).await,
        ));
    }
    let service_login = Login::create(&db, SERVICE_LOGIN).await;
    let user_login = Login::create(&db, USER_LOGIN).await;
    // Fewer client connections than workers, and behind PgBouncer fewer server connections
    // still (4 per database and user): calls queue and share connections.
    let service = ServiceVault::connect_lazy(service_login.service_options(&db));
    let admin = UserVault::new(lazy_pool(user_login.plain_options(&db)), user(&t.admin));

    let mut workers = tokio::task::JoinSet::new();
    for integration in integrations {
        let (vault, first, second) = (service.clone(), secret("conc-1"), secret("conc-2"));
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
        let (vault, integration) = (admin.clone(), integration_id(&t));
        let values: Vec<String> = (0..2 * USER_ROUNDS).map(|_| secret("conc-user")).collect();
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
            if let Err(error) = shown(what, result) {
                errors.push(format!("{what}: {error}"));
            }
        }
    }
    let roles: Vec<(String, i64)> = sqlx::query_as(
        "select actor_role::text, count(*) from credential_vault.audit_log group by 1 order by 1",
    )
    .fetch_all(&db.pool)
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
    let left = credential_vault_tests::RowCounts::of(&db.pool).await;
    assert_eq!((left.vault_secrets, left.credentials), (0, 0));
    sweep();
}

#[tokio::test]
async fn requiring_tls_of_a_server_without_it_is_a_tls_error() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let login = Login::create(&db, SERVICE_LOGIN).await;
    for mode in [PgSslMode::Require, PgSslMode::VerifyFull] {
        let vault = ServiceVault::connect_lazy(login.service_options(&db).ssl_mode(mode));
        expect_error(
            "sslmode=require to a server without TLS",
            vault.list(integration_id(&t)).await,
            VaultError::Tls(TlsFailure::NotOffered),
            "no secure connection: the server does not offer TLS",
        );
    }
    let url = format!(
        "{}?sslmode=require",
        login.service_url(&db, &login.password)
    );
    let run = cli(&url, &["list", &t.integration.to_string()], None).await;
    record("cli without TLS stderr", run.stderr.clone());
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (
            Some(11),
            "",
            "credential-vault: no secure connection: the server does not offer TLS\n"
        )
    );
    sweep();
}

// ---------------------------------------------------------------------------------------------
// TLS, inside tests/harness/with-tls (run with -- --ignored)
// ---------------------------------------------------------------------------------------------

fn tls_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run inside with-tls"))
}

/// The login over TCP to `host`, with `sslmode` and `sslrootcert`.
fn tls_options(
    login: &Login,
    db: &TestDatabase,
    host: &str,
    mode: PgSslMode,
    ca: &str,
) -> PgConnectOptions {
    login
        .plain_options(db)
        .host(host)
        .ssl_mode(mode)
        .ssl_root_cert(ca)
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
#[ignore = "needs tests/harness/with-tls"]
async fn tls_verify_full_succeeds_with_the_right_ca_and_host_only() {
    let (ca, wrong_ca) = (tls_env("CV_TLS_CA"), tls_env("CV_TLS_WRONG_CA"));
    let (host, other_host) = (tls_env("CV_TLS_HOST"), tls_env("CV_TLS_OTHER_HOST"));
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let login = Login::create(&db, SERVICE_LOGIN).await;

    let verified =
        ServiceVault::connect_lazy(tls_options(&login, &db, &host, PgSslMode::VerifyFull, &ca));
    let stored = shown(
        "store over verify-full",
        verified
            .store(integration_id(&t), &credentials(&secret("tls")))
            .await,
    )
    .expect("verify-full with the right CA and host name");
    shown(
        "retrieve over verify-full",
        verified.retrieve(stored.vault_secret_id()).await,
    )
    .expect("retrieve over verify-full");
    assert_encrypted(&db, &login.name, "verify-full").await;
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
        // Stricter than libpq's verify-ca: sqlx 0.8.6 skips the name check only for rustls's
        // older `NotValidForName`, and rustls 0.23 now reports `NotValidForNameContext`, so
        // verify-ca checks the host name too. Fails closed; this test notices if it changes.
        (
            "verify-ca, right CA, another name",
            &other_host,
            PgSslMode::VerifyCa,
            &ca,
            TlsFailure::WrongHost,
            "no secure connection: the server's certificate is not for this host name",
        ),
    ];
    // A login of its own, so that no session of the one above can linger in the count.
    let refused_login = Login::create(&db, SERVICE_LOGIN).await;
    for (what, host, mode, ca, failure, message) in refused {
        let vault = ServiceVault::connect_lazy(tls_options(&refused_login, &db, host, mode, ca));
        expect_error(
            what,
            vault.list(integration_id(&t)).await,
            VaultError::Tls(failure),
            message,
        );
    }
    assert_eq!(
        encrypted_sessions(&db, &refused_login.name).await,
        (None, 0),
        "no session was made"
    );

    // verify-ca with the right CA and name; require encrypts and checks nothing (unlike libpq,
    // not even when sslrootcert is given).
    for (what, host, mode, ca) in [
        ("verify-ca", &host, PgSslMode::VerifyCa, &ca),
        (
            "require, an unrelated CA, another name",
            &other_host,
            PgSslMode::Require,
            &wrong_ca,
        ),
    ] {
        let login = Login::create(&db, SERVICE_LOGIN).await;
        let vault = ServiceVault::connect_lazy(tls_options(&login, &db, host, mode, ca));
        shown(what, vault.list(integration_id(&t)).await).expect(what);
        assert_encrypted(&db, &login.name, what).await;
    }
    sweep();
}

#[tokio::test]
#[ignore = "needs tests/harness/with-tls"]
async fn tls_the_cli_verifies_the_server_and_takes_the_url_from_a_file() {
    let (ca, wrong_ca, host) = (
        tls_env("CV_TLS_CA"),
        tls_env("CV_TLS_WRONG_CA"),
        tls_env("CV_TLS_HOST"),
    );
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let login = Login::create(&db, SERVICE_LOGIN).await;
    let integration = t.integration.to_string();
    let url = |root: &str| {
        format!(
            "postgres://{}:{}@{host}:{}/{}?sslmode=verify-full&sslrootcert={root}",
            login.name,
            login.password,
            login.plain_options(&db).get_port(),
            db.name
        )
    };
    // The URL on standard input, read as the URL file: it is on no command line and no disk.
    let file_args = [
        "--database-url-file",
        "/dev/stdin",
        "list",
        integration.as_str(),
    ];
    let listed = cli("", &file_args, Some(&url(&ca))).await;
    record("cli verify-full stderr", listed.stderr.clone());
    assert_eq!(
        (listed.code, listed.stdout.as_str(), listed.stderr.as_str()),
        (Some(0), "[]\n", "")
    );

    let refused = cli(&url(&wrong_ca), &["list", &integration], None).await;
    record("cli wrong CA stderr", refused.stderr.clone());
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
    assert!(!refused.stderr.contains(&login.password));
    sweep();
}

// ---------------------------------------------------------------------------------------------
// The sweep itself
// ---------------------------------------------------------------------------------------------

#[test]
fn the_sweep_finds_a_planted_secret() {
    let planted = canary("planted");
    let secrets = [Secret {
        text: planted.clone(),
        sent_by_the_client: true,
    }];
    let outputs = [
        Output {
            what: "clean".into(),
            text: "credentials not found or not accessible".into(),
        },
        Output {
            what: "leaky".into(),
            text: format!("Database {{ message: \"bad value {planted}\" }}"),
        },
    ];
    assert_eq!(leaks(&outputs, &secrets), ["leaky"]);
    assert!(leaks(&outputs[..1], &secrets).is_empty());
}
