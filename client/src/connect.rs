//! Connections as Supabase needs them: TLS to every remote host, and nothing that a transaction
//! pooler (Supavisor or PgBouncer on port 6543) cannot carry from one transaction to the next.

use std::net::IpAddr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};

/// How long [`lazy_pool`]'s pool keeps trying to connect, shorter than the default deadlines so
/// that an unreachable server is reported as [`VaultError::Unavailable`](crate::VaultError)
/// rather than as a timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// `options` made safe for Supabase, as [`lazy_pool`] uses them:
///
/// - **No plaintext to a remote host by accident.** sqlx's default `sslmode=prefer` (and
///   `allow`) fall back to plaintext when the server declines TLS; for any host other than a
///   Unix socket, `localhost` or a loopback address they become `require`. An explicit
///   `sslmode=disable` is kept. `verify-full` with `sslrootcert` (Supabase publishes its CA) is
///   what production should use: `require` encrypts but checks no certificate.
/// - **Transaction-pooler safe.** No statement cache (a named prepared statement does not survive
///   from one transaction to the next on a pooled server connection), and no `extra_float_digits`
///   startup parameter, which PgBouncer refuses unless told to ignore it.
///
/// ```
/// use credential_vault_client::supabase_options;
/// use sqlx::postgres::{PgConnectOptions, PgSslMode};
///
/// let remote: PgConnectOptions =
///     "postgres://postgres.ref:pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres".parse()?;
/// assert!(matches!(supabase_options(remote).get_ssl_mode(), PgSslMode::Require));
///
/// let local: PgConnectOptions = "postgres://app:pw@127.0.0.1:5432/app".parse()?;
/// assert!(matches!(supabase_options(local).get_ssl_mode(), PgSslMode::Prefer));
/// # Ok::<(), sqlx::Error>(())
/// ```
pub fn supabase_options(options: PgConnectOptions) -> PgConnectOptions {
    let options = options.statement_cache_capacity(0).extra_float_digits(None);
    match options.get_ssl_mode() {
        PgSslMode::Prefer | PgSslMode::Allow if !is_local(&options) => {
            options.ssl_mode(PgSslMode::Require)
        }
        _ => options,
    }
}

/// A Unix socket, `localhost` or a loopback address: the only places plaintext may go unasked.
fn is_local(options: &PgConnectOptions) -> bool {
    let host = options.get_host();
    options.get_socket().is_some()
        || host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// A pool over [`supabase_options`]`(options)` that connects on first use and gives up on
/// connecting after [`CONNECT_TIMEOUT`]. Must be called within a Tokio runtime.
pub fn lazy_pool(options: PgConnectOptions) -> PgPool {
    PgPoolOptions::new()
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_lazy_with(supabase_options(options))
}
