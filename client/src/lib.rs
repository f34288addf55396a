//! A thin client over the `credential_vault` extension's SQL functions
//! (`public.vault_*_integration_credentials`), for the background sync services and the app's
//! back end, on real Supabase connections (TLS, the transaction pooler).
//!
//! - Two handles, one per context the design names, each with its calls and their `*_with`
//!   forms: [`UserVault`] for an app server acting for a signed-in user ([`UserClaims`], role
//!   `authenticated`: store, rotate, delete, list, versions, restore), and [`ServiceVault`] for
//!   background sync services (the service role: the same, plus [`ServiceVault::retrieve`], the
//!   only way to read plaintext, never for user-facing code, and [`ServiceVault::destroy`]).
//!   Rotate, restore and delete keep the replaced version for the database's recovery window
//!   (listed by `versions` as a [`CredentialVersion`], made current again by `restore`);
//!   `store_expiring` and `rotate_expiring` give credentials a rotation due date.
//! - The same calls as traits, [`CredentialVault`] (both contexts) and
//!   [`ServiceCredentialVault`] (the service role's), so that application code is written once
//!   and runs on the handles in production and, with the cargo feature `fake`, on the in-memory
//!   `fake::FakeVault` in the application's own unit tests; the client's behavioural suite runs
//!   against both. Each call is one transaction on one pooled
//!   connection, switched inside it to the handle's role and claims as Supabase's API gateway
//!   does (`SET LOCAL`), so the login role only needs to be a member of that role and the
//!   transaction pooler works. The `*_with` forms run on any connection, transaction or pool of
//!   the caller's instead, and switch nothing.
//! - [`lazy_pool`] / [`supabase_options`]: no plaintext to a remote host unless
//!   `sslmode=disable` is asked for, no statement cache, nothing a pooler refuses.
//! - [`CredentialMap`] holds the credentials: checked on construction, printed as `[REDACTED]`,
//!   wiped from memory when dropped. [`CredentialReference`] is what the vault hands back: an id
//!   and a timestamp, never a secret.
//! - [`VaultError`] is the one error type, mapped from the server's SQLSTATE and error code
//!   through the [`contract`]'s catalogue (and TLS failures to [`VaultError::Tls`]) and safe to
//!   show: no error ever carries a credential value or a driver message. The input rules are the
//!   contract's too, so the client refuses a bad input with the very variant the server would.
//!
//! Ids are [`IntegrationId`] and [`VaultSecretId`], UUIDs by type; every argument travels as a
//! bind parameter. Each call has a deadline ([`Deadlines`], 5 seconds by default) that covers
//! getting a connection too. Nothing is retried: [`VaultError`] says which variants a caller may
//! retry, and authentication errors are returned at once.
//!
//! Wiping is best effort: the client keeps the JSON text it sends or receives in buffers that are
//! wiped after the call, but the driver's own network buffers are outside its reach.
//!
//! **Depending on it**: this crate is all an application needs. It re-exports what its API
//! takes and returns: [`sqlx`] (the pools and [`PgConnectOptions`](sqlx::postgres::PgConnectOptions)),
//! [`secrecy`] ([`ExposeSecret`](secrecy::ExposeSecret) for retrieved values), [`chrono`] (expiry
//! times), [`uuid`] and [`serde_json`] (a user's JWT claims); use them through this crate so that
//! the versions always match. The cargo feature `fake` adds the in-memory vault (`fake` module)
//! for the application's own tests: enable it in `[dev-dependencies]`.
//!
//! **sqlx prints passwords**: `{:?}` of sqlx's `PgConnectOptions` shows the password in clear
//! text. The examples here build exactly that value: never log it, nor anything of yours that
//! holds it. A pool's `{:?}` and the handles' ([`ServiceVault`], [`UserVault`]) show no
//! password.
//!
//! ```no_run
//! use credential_vault_client::sqlx::postgres::PgConnectOptions;
//! use credential_vault_client::{CredentialMap, Deadlines, IntegrationId, ServiceVault, VaultError};
//! use std::str::FromStr;
//! use std::time::Duration;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! // For example the transaction pooler, verified against Supabase's CA:
//! // postgres://postgres.<ref>:<password>@aws-0-<region>.pooler.supabase.com:6543/postgres
//! //   ?sslmode=verify-full&sslrootcert=/etc/ssl/supabase/prod-ca-2021.crt
//! // Holds the password, which its `Debug` prints: never log `options`.
//! let options = PgConnectOptions::from_str(&std::env::var("DATABASE_URL")?)?;
//! let vault = ServiceVault::connect_lazy(options)
//!     .with_deadlines(Deadlines { store: Duration::from_secs(2), ..Deadlines::default() });
//!
//! let integration = IntegrationId::from_str("3f1c2a9e-5b7d-4e21-9a0c-1d2e3f4a5b6c")?;
//! let credentials = CredentialMap::new([("client_id", "abc"), ("client_secret", "s3cr3t")])?;
//! match vault.store(integration, &credentials).await {
//!     Ok(reference) => println!("stored {reference}"), // the id only
//!     Err(VaultError::Unavailable) => { /* retry later */ }
//!     Err(error) => eprintln!("could not store: {error}"), // safe to log
//! }
//! # Ok(())
//! # }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod api;
mod connect;
mod context;
mod credentials;
mod error;
#[cfg(feature = "fake")]
#[cfg_attr(docsrs, doc(cfg(feature = "fake")))]
pub mod fake;
mod reference;
mod traits;
mod vault;

#[cfg(test)]
mod tests;

pub use connect::{CONNECT_TIMEOUT, lazy_pool, supabase_options};
pub use context::UserClaims;
/// The API contract shared with the extension: its limits, its input rules and the error
/// catalogue that [`VaultError::Validation`] carries.
pub use credential_vault_contract as contract;
pub use credential_vault_contract::{MAX_CREDENTIALS_BYTES, MAX_ENTRIES};
pub use credentials::CredentialMap;
pub use error::{TlsFailure, VaultError};
pub use reference::{
    CredentialReference, CredentialVersion, IntegrationId, VaultSecretId, VersionState,
};
pub use traits::{CredentialVault, ServiceCredentialVault, VaultFuture};

// What the API takes and returns, so that an application needs no other version of these.
pub use chrono;
pub use secrecy;
pub use serde_json;
pub use sqlx;
pub use uuid;
pub use vault::{Deadlines, ServiceVault, UserVault};
