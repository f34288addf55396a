//! Test support for the integration tests: connections to the throwaway cluster that
//! `tests/harness/with-cluster` started (it exports the PG* and CV_* variables read here), one
//! fresh database per test cloned from the prepared template, and callers impersonated the way
//! the Supabase API gateway does it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection, Postgres, Transaction};
use uuid::Uuid;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the integration tests through tests/harness/with-cluster")
    })
}

/// Superuser options over the cluster's Unix socket, for database `database`.
pub fn superuser_options(database: &str) -> PgConnectOptions {
    PgConnectOptions::new()
        .socket(env("PGHOST"))
        .port(env("PGPORT").parse().expect("PGPORT is a port number"))
        .username("postgres")
        .database(database)
}

/// Options for a password login over TCP on 127.0.0.1, as an application would connect.
pub fn tcp_options(database: &str, user: &str, password: &str) -> PgConnectOptions {
    PgConnectOptions::new()
        .host("127.0.0.1")
        .port(env("PGPORT").parse().expect("PGPORT is a port number"))
        .username(user)
        .password(password)
        .database(database)
}

/// The password of the `authenticator` login role (the API gateway's connection role).
pub fn authenticator_password() -> String {
    env("CV_AUTHENTICATOR_PASSWORD")
}

/// Everything the server has logged so far.
pub fn server_log() -> String {
    std::fs::read_to_string(env("CV_SERVER_LOG")).expect("the server log is readable")
}

/// `real` when the cluster runs Supabase's own Vault, `standin` for the test stand-in.
pub fn vault_kind() -> String {
    env("CV_VAULT_KIND")
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
        let create: String = sqlx::query_scalar(
            "select format('create database %I template %I', $1::text, $2::text)",
        )
        .bind(&name)
        .bind(env("CV_TEMPLATE_DB"))
        .fetch_one(&mut admin)
        .await
        .expect("quote the database names");
        admin
            .execute(create.as_str())
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

    pub fn options(&self) -> PgConnectOptions {
        superuser_options(&self.name)
    }

    /// Opens a transaction that runs as `caller`, exactly as the API gateway does it.
    pub async fn begin_as(&self, caller: &Caller) -> Transaction<'static, Postgres> {
        let mut tx = self.pool.begin().await.expect("begin");
        impersonate(&mut tx, caller).await;
        tx
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

/// `set local role` plus `request.jwt.claims`, inside the caller's transaction.
pub async fn impersonate(connection: &mut PgConnection, caller: &Caller) {
    // set_config('role', ..., true) is SET LOCAL ROLE with the role as a bind parameter.
    sqlx::query("select set_config('role', $1, true)")
        .bind(caller.role())
        .execute(&mut *connection)
        .await
        .expect("set local role");
    sqlx::query("select set_config('request.jwt.claims', $1, true)")
        .bind(caller.claims().to_string())
        .execute(connection)
        .await
        .expect("set the JWT claims");
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
