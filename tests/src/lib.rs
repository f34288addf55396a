//! Test support for the integration tests: connections to the throwaway cluster that
//! `scripts/harness/with-cluster` started (it exports the PG* and CV_* variables read here), one
//! fresh database per test cloned from the prepared template, and callers impersonated the way
//! the Supabase API gateway does it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection, Postgres, Transaction};
use uuid::Uuid;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the integration tests through scripts/harness/with-cluster")
    })
}

/// The cluster's superuser (`supabase_admin`, as on every Supabase stack; `postgres` is not one).
pub fn superuser() -> String {
    env("CV_SUPERUSER")
}

/// Superuser options over the cluster's Unix socket, for database `database`.
fn superuser_options(database: &str) -> PgConnectOptions {
    PgConnectOptions::new()
        .socket(env("PGHOST"))
        .port(env("PGPORT").parse().expect("PGPORT is a port number"))
        .username(&superuser())
        .database(database)
}

/// Superuser options for database `database` on the hot standby that
/// `scripts/harness/with-cluster --standby` started beside the primary.
pub fn standby_options(database: &str) -> PgConnectOptions {
    superuser_options(database).port(
        env("CV_STANDBY_PORT")
            .parse()
            .expect("CV_STANDBY_PORT is a port number"),
    )
}

/// Everything the hot standby has logged so far.
pub fn standby_log() -> String {
    std::fs::read_to_string(env("CV_STANDBY_LOG")).expect("the standby's log is readable")
}

/// Options for a password login over TCP on 127.0.0.1, as an application would connect: through
/// the transaction pooler when `scripts/harness/with-pgbouncer` runs one, else to the server.
pub fn tcp_options(database: &str, user: &str, password: &str) -> PgConnectOptions {
    PgConnectOptions::new()
        .host("127.0.0.1")
        .port(client_port())
        .username(user)
        .password(password)
        .database(database)
}

/// Where applications connect: PgBouncer's port under `scripts/harness/with-pgbouncer`, else the
/// server's.
fn client_port() -> u16 {
    std::env::var("CV_PGBOUNCER_PORT")
        .unwrap_or_else(|_| env("PGPORT"))
        .parse()
        .expect("the port is a number")
}

/// Whether application logins go through the transaction pooler.
pub fn through_the_pooler() -> bool {
    std::env::var_os("CV_PGBOUNCER_PORT").is_some()
}

/// The workspace's root, as `cargo test` tells the running test (`CARGO_MANIFEST_DIR` at run
/// time): the compile-time value is the path of whichever checkout last built the shared target
/// directory, which cargo does not rebuild for a checkout at another path.
pub fn workspace_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env("CARGO_MANIFEST_DIR")).join("..")
}

/// Everything the server has logged so far.
pub fn server_log() -> String {
    std::fs::read_to_string(env("CV_SERVER_LOG")).expect("the server log is readable")
}

/// One plaintext read as the server log records it (the extension audits reads there, not in
/// `credential_vault.audit_log`), in the fixed format README.md documents.
struct ReadRecord {
    role: String,
    integration: String,
    reference: String,
}

/// Every read record in the text of a server log (the primary's or a standby's), oldest first.
fn read_records(log: &str) -> Vec<ReadRecord> {
    log.lines()
        .filter_map(|line| {
            let fields = line
                .split_once("credential_vault audit: action=retrieve ")?
                .1;
            let field = |key: &str| {
                fields
                    .split(' ')
                    .find_map(|field| field.strip_prefix(key))
                    .map(str::to_owned)
            };
            Some(ReadRecord {
                role: field("role=")?,
                integration: field("integration_id=")?,
                reference: field("vault_secret_id=")?,
            })
        })
        .collect()
}

/// The roles of the plaintext reads of `reference` that the server log records, oldest first.
pub fn read_audit_roles(reference: Uuid) -> Vec<String> {
    read_audit_roles_in(&server_log(), reference)
}

/// [`read_audit_roles`] in the text of any server log (a standby's, say).
pub fn read_audit_roles_in(log: &str, reference: Uuid) -> Vec<String> {
    read_records(log)
        .into_iter()
        .filter(|record| record.reference == reference.to_string())
        .map(|record| record.role)
        .collect()
}

/// How many plaintext reads of `integration`'s credentials the server log records.
pub fn reads_audited(integration: Uuid) -> usize {
    read_records(&server_log())
        .iter()
        .filter(|record| record.integration == integration.to_string())
        .count()
}

/// A unique string to use as a secret and then search for in every output.
pub fn canary(label: &str) -> String {
    format!("canary-{label}-{}", Uuid::new_v4().simple())
}

/// A database of its own for one test, cloned from the harness's prepared template (Supabase
/// roles, Vault, the extension and the migrations). Left behind for the cluster's teardown.
pub struct TestDatabase {
    pub name: String,
    /// Superuser connections to this database.
    pub pool: PgPool,
}

impl TestDatabase {
    pub async fn new() -> TestDatabase {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::connect_with(&superuser_options("postgres"))
            .await
            .expect("connect to the harness cluster");
        // CREATE DATABASE takes no bind parameters: quote the identifiers with format('%I').
        // Owned by postgres, as a Supabase project's database is.
        let create: String = sqlx::query_scalar(
            "select format('create database %I owner postgres template %I', $1::text, $2::text)",
        )
        .bind(&name)
        .bind(env("CV_TEMPLATE_DB"))
        .fetch_one(&mut admin)
        .await
        .expect("quote the database names");
        // Safe to run as SQL: the server quoted both names with format('%I') above.
        admin
            .execute(sqlx::raw_sql(sqlx::AssertSqlSafe(create)))
            .await
            .expect("clone the template database");
        let pool = PgPoolOptions::new()
            .max_connections(24)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(superuser_options(&name))
            .await
            .expect("connect to the test database");
        TestDatabase { name, pool }
    }

    /// The harness cluster's existing database `name` (a restored one, say), not a clone.
    pub async fn existing(name: &str) -> TestDatabase {
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(superuser_options(name))
            .await
            .expect("connect to the existing database");
        TestDatabase {
            name: name.to_owned(),
            pool,
        }
    }

    pub fn options(&self) -> PgConnectOptions {
        superuser_options(&self.name)
    }

    /// Options for the non-superuser `postgres`, the role the Supabase CLI applies migrations as.
    pub fn postgres_options(&self) -> PgConnectOptions {
        self.options().username("postgres")
    }

    /// Opens a transaction that runs as `caller`, exactly as the API gateway does it.
    pub async fn begin_as(&self, caller: &Caller) -> Transaction<'static, Postgres> {
        let mut tx = self.pool.begin().await.expect("begin");
        impersonate(&mut tx, caller)
            .await
            .expect("switch to the caller");
        tx
    }

    /// [`call_as`] on a connection of the pool.
    pub async fn call(
        &self,
        caller: &Caller,
        sql: impl sqlx::SqlSafeStr,
        args: &[&str],
    ) -> Result<Vec<String>, sqlx::Error> {
        let mut connection = self.pool.acquire().await.expect("acquire a connection");
        call_as(&mut connection, caller, sql, args).await
    }

    /// Stores `credentials_json` for `integration` as `service_role`, for a test's fixture;
    /// returns the reference.
    pub async fn store(&self, integration: Uuid, credentials_json: &str) -> String {
        self.call(
            &Caller::ServiceRole,
            api::STORE,
            &[&integration.to_string(), credentials_json],
        )
        .await
        .expect("store the fixture's credentials")
        .remove(0)
    }
}

/// Who is calling, as the API gateway would present it.
#[derive(Debug, Clone)]
pub enum Caller {
    Anon,
    /// A signed-in user, by `auth.uid()`.
    Authenticated(Uuid),
    ServiceRole,
}

impl Caller {
    pub fn role(&self) -> &'static str {
        match self {
            Caller::Anon => "anon",
            Caller::Authenticated(_) => "authenticated",
            Caller::ServiceRole => "service_role",
        }
    }

    pub fn claims(&self) -> serde_json::Value {
        match self {
            Caller::Authenticated(sub) => serde_json::json!({"role": self.role(), "sub": sub}),
            _ => serde_json::json!({"role": self.role()}),
        }
    }
}

/// Makes the open transaction run as `caller`, the one way the tests impersonate: `set local
/// role` plus `request.jwt.claims`, as the API gateway does per request. One statement, role and
/// claims as bind parameters (`set_config(..., true)` is SET LOCAL); its failure is returned, so
/// that the fault tests can use it on a connection whose server goes away.
pub async fn impersonate(
    transaction: &mut PgConnection,
    caller: &Caller,
) -> Result<(), sqlx::Error> {
    sqlx::query("select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)")
        .bind(caller.role())
        .bind(caller.claims().to_string())
        .execute(transaction)
        .await
        .map(drop)
}

/// The SQLSTATE of a failed call, or "ok" when it succeeded.
pub fn sqlstate<T>(result: &Result<T, sqlx::Error>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(sqlx::Error::Database(error)) => {
            error.code().map(|c| c.into_owned()).unwrap_or_default()
        }
        Err(other) => panic!("expected a database error, got {other:?}"),
    }
}

/// The tenant fixture every test builds on: an organization with an admin, a plain member and
/// one integration, plus a second organization with its own admin, created as the superuser.
pub struct Tenants {
    pub integration: Uuid,
    pub admin: Caller,
    pub member: Caller,
    pub other_admin: Caller,
    pub organization: Uuid,
}

impl Tenants {
    pub async fn create(pool: &PgPool) -> Tenants {
        let (admin, member, other_admin) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let (integration, organization): (Uuid, Uuid) = sqlx::query_as(
            "with org as (insert into public.organizations (name) values ('Acme') returning id),
                  other as (insert into public.organizations (name) values ('Globex') returning id),
                  members as (
                    insert into public.organization_members (organization_id, user_id, role)
                    select org.id, $1, 'admin' from org
                    union all select org.id, $2, 'member' from org
                    union all select other.id, $3, 'admin' from other)
             insert into public.organization_integrations (organization_id, provider, display_name)
             select id, 'crm', 'Acme CRM' from org returning id, organization_id",
        )
        .bind(admin)
        .bind(member)
        .bind(other_admin)
        .fetch_one(pool)
        .await
        .expect("create the tenants");
        Tenants {
            integration,
            admin: Caller::Authenticated(admin),
            member: Caller::Authenticated(member),
            other_admin: Caller::Authenticated(other_admin),
            organization,
        }
    }

    /// `count` more integrations of the admin's organization, for tests that store more than
    /// once (an integration holds one reference at a time).
    pub async fn add_integrations(&self, pool: &PgPool, count: i64) -> Vec<Uuid> {
        sqlx::query_scalar(
            "insert into public.organization_integrations (organization_id, provider, display_name)
             select $1, 'crm', 'Acme CRM ' || n from generate_series(1, $2) n returning id",
        )
        .bind(self.organization)
        .bind(count)
        .fetch_all(pool)
        .await
        .expect("add integrations")
    }
}

/// The SQL API's calls as an application makes them, every argument a bind parameter; each
/// returns text (a reference, or the credentials as JSON text). The casts name pg_catalog's
/// text: the hijack test's sessions hold a temporary type named text.
pub mod api {
    pub const STORE: &str = "select vault_secret_id::pg_catalog.text \
         from public.vault_store_integration_credentials($1, $2)";
    pub const RETRIEVE: &str =
        "select public.vault_retrieve_integration_credentials($1)::pg_catalog.text";
    pub const ROTATE: &str = "select vault_secret_id::pg_catalog.text \
         from public.vault_rotate_integration_credentials($1, $2)";
    pub const DELETE: &str =
        "select public.vault_delete_integration_credentials($1)::pg_catalog.text";
    pub const LIST: &str = "select vault_secret_id::pg_catalog.text \
         from public.vault_list_integration_credentials($1)";
    pub const VERSIONS: &str = "select vault_secret_id::pg_catalog.text || ' ' || state \
         from public.vault_list_integration_credential_versions($1)";
    pub const RESTORE: &str = "select vault_secret_id::pg_catalog.text \
         from public.vault_restore_integration_credentials($1)";
    pub const DESTROY: &str =
        "select public.vault_destroy_integration_credentials($1)::pg_catalog.text";
    pub const STORE_EXPIRING: &str = "select vault_secret_id::pg_catalog.text \
         from public.vault_store_integration_credentials($1, $2, $3)";
}

/// Credentials holding `secret`, as the JSON text the API takes.
pub fn credentials_json(secret: &str) -> String {
    serde_json::json!({"api_key": secret, "client_id": "client-1"}).to_string()
}

/// A new organization with one integration and no members, created as the superuser; returns
/// the integration. For the client's suite; the tests here build on [`Tenants`].
pub async fn create_integration<'c>(executor: impl sqlx::PgExecutor<'c>) -> Uuid {
    sqlx::query_scalar(
        "with org as (insert into public.organizations (name) values ('Test org') returning id)
         insert into public.organization_integrations (organization_id, provider, display_name)
         select id, 'crm', 'Test CRM' from org returning id",
    )
    .fetch_one(executor)
    .await
    .expect("create an integration")
}

/// Runs `query` as `caller` in a transaction of its own, as the API gateway does, and commits
/// it only when the call succeeded. Every failure is returned, none panics, so that the fault
/// tests can use it on a connection whose server goes away.
pub async fn run_as(
    connection: &mut PgConnection,
    caller: &Caller,
    query: sqlx::query::Query<'_, Postgres, sqlx::postgres::PgArguments>,
) -> Result<Vec<sqlx::postgres::PgRow>, sqlx::Error> {
    let mut tx = connection.begin().await?;
    impersonate(&mut tx, caller).await?;
    let result = query.fetch_all(&mut *tx).await;
    if result.is_ok() {
        tx.commit().await?;
    }
    result
}

/// [`run_as`] with text arguments; returns the first column of every row.
pub async fn call_as(
    connection: &mut PgConnection,
    caller: &Caller,
    sql: impl sqlx::SqlSafeStr,
    args: &[&str],
) -> Result<Vec<String>, sqlx::Error> {
    use sqlx::Row;
    let query = args
        .iter()
        .fold(sqlx::query(sql), |query, arg| query.bind(*arg));
    let rows = run_as(connection, caller, query).await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Everything of a failed call that reaches the client: message, detail, hint and context
/// (`where`); "" on success.
pub fn error_text<T>(result: &Result<T, sqlx::Error>) -> String {
    result
        .as_ref()
        .err()
        .map(database_error_text)
        .unwrap_or_default()
}

/// The text a driver error carries to the client: message, detail, hint and context (`where`).
pub fn database_error_text(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(e) => {
            let pg = e.downcast_ref::<sqlx::postgres::PgDatabaseError>();
            format!(
                "{} {:?} {:?} {:?}",
                pg.message(),
                pg.detail(),
                pg.hint(),
                pg.r#where()
            )
        }
        other => format!("{other:?}"),
    }
}

/// What Vault, the extension and the application hold: Vault secrets, credentials rows, audit
/// rows, and `integration`'s link to its credentials.
pub async fn integration_state(pool: &PgPool, integration: Uuid) -> (i64, i64, i64, Option<Uuid>) {
    sqlx::query_as(
        "select (select count(*) from vault.secrets), (select count(*) from credential_vault.credentials),
                (select count(*) from credential_vault.audit_log),
                (select credential_vault_id from public.organization_integrations where id = $1)",
    )
    .bind(integration)
    .fetch_one(pool)
    .await
    .expect("read the state")
}

/// The reference `integration` links to (`credential_vault_id`), as the superuser sees it.
pub async fn credential_link<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    integration: Uuid,
) -> Option<Uuid> {
    sqlx::query_scalar(
        "select credential_vault_id from public.organization_integrations where id = $1",
    )
    .bind(integration)
    .fetch_one(executor)
    .await
    .expect("read the integration's link")
}

/// The audit log as `action:actor_role`, oldest first.
pub async fn audit_actions(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "select action || ':' || actor_role from credential_vault.audit_log order by id",
    )
    .fetch_all(pool)
    .await
    .expect("read the audit log")
}

/// Row counts of every table the extension and Vault own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct RowCounts {
    pub vault_secrets: i64,
    pub credentials: i64,
    pub audit_log: i64,
    pub authorizer: i64,
}

impl RowCounts {
    pub async fn of<'c>(executor: impl sqlx::PgExecutor<'c>) -> RowCounts {
        sqlx::query_as(
            "select (select count(*) from vault.secrets) as vault_secrets,
                    (select count(*) from credential_vault.credentials) as credentials,
                    (select count(*) from credential_vault.audit_log) as audit_log,
                    (select count(*) from credential_vault.authorizer) as authorizer",
        )
        .fetch_one(executor)
        .await
        .expect("count the extension's and Vault's rows")
    }
}

/// Vault secrets without a `credential_vault.credentials` row, plus rows without a secret.
pub async fn orphans<'c>(executor: impl sqlx::PgExecutor<'c>) -> i64 {
    sqlx::query_scalar(
        "select count(*) from vault.secrets s
         full join credential_vault.credentials c on c.vault_secret_id = s.id
         where s.id is null or c.vault_secret_id is null",
    )
    .fetch_one(executor)
    .await
    .expect("count orphans")
}

/// Polls `condition`, a boolean query of the backend pids `pids` (bound as `$1`, `$2`, ...), until
/// it holds; panics with `what` after 10 seconds. For waiting on another session's state (a lock
/// wait, say) without sleeping for a guessed time.
pub async fn wait_until(pool: &PgPool, condition: &'static str, pids: &[i32], what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let holds: bool = pids
            .iter()
            .fold(sqlx::query_scalar(condition), |query, pid| query.bind(*pid))
            .fetch_one(pool)
            .await
            .expect("poll the condition");
        if holds {
            return;
        }
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Reports one figure of the run, such as `concurrency: 1008 attempts, ...`: written straight
/// to stderr, so it shows without `--nocapture`, and appended to the file named by `CV_FIGURES`
/// when that is set, for a summary table at the end of the run.
pub fn report_figure(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "figure: {line}");
    if let Ok(path) = std::env::var("CV_FIGURES") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open $CV_FIGURES");
        writeln!(file, "{line}").expect("append to $CV_FIGURES");
    }
}

/// The CLI binary the client's build put in the workspace's target directory (build it first:
/// `cargo build -p credential-vault-client --features cli`).
pub fn cli_binary() -> std::path::PathBuf {
    let workspace = workspace_dir();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| workspace.join(dir))
        .unwrap_or_else(|| workspace.join("target"));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let binary = target.join(profile).join("credential-vault");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build -p credential-vault-client --features cli` first",
        binary.display()
    );
    binary
}

/// A superuser URL for `database` over the cluster's socket (superusers may retrieve), for the
/// CLI's `DATABASE_URL`.
pub fn database_url(database: &str) -> String {
    format!(
        "postgres://{}@localhost/{database}?host={}&port={}",
        superuser(),
        env("PGHOST"),
        env("PGPORT")
    )
}

/// What one run of the `credential-vault` CLI did. No `Debug`: its output can hold credentials.
pub struct CliRun {
    /// The exit code; `None` when a signal ended the process.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the CLI at `binary` (a client test's `env!("CARGO_BIN_EXE_credential-vault")`) with
/// `args`, `DATABASE_URL` set to `database_url` or unset, and `stdin` on its standard input.
pub fn run_cli<A: AsRef<std::ffi::OsStr>>(
    binary: impl AsRef<std::ffi::OsStr>,
    args: &[A],
    database_url: Option<&str>,
    stdin: impl AsRef<[u8]>,
) -> CliRun {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut command = Command::new(binary);
    command
        .args(args)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    let mut child = command.spawn().expect("start the CLI");
    // The CLI may exit before reading its input (on a usage error), so a failed write is fine.
    let _ = child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_ref());
    let output = child.wait_with_output().expect("run the CLI");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("the CLI prints UTF-8");
    CliRun {
        code: output.status.code(),
        stdout: text(output.stdout),
        stderr: text(output.stderr),
    }
}
