//! The API contract of the `credential_vault` extension, in one place for the extension and its
//! client: the limits, the input rules ([`check_credentials`], [`parse_id`]) and the error
//! catalogue ([`Error`]: message, SQLSTATE, HTTP status, hint and code of every error).
//! README.md's SQLSTATE table is checked against the catalogue.

mod error;
mod validate;

pub use error::{Error, Result, VaultVersion};
pub use validate::{check_credentials, parse_expires_at, parse_id};

/// The most bytes the credentials JSON text may take, as sent to the server.
pub const MAX_CREDENTIALS_BYTES: usize = 65_536;

/// The most entries one set of credentials may have.
pub const MAX_ENTRIES: usize = 64;

/// The oldest Supabase Vault the extension works with: 0.3.0 brought Vault's own
/// `vault._crypto_aead_det_encrypt`, which the extension encrypts with; 0.2.x was built on pgsodium.
pub const MIN_VAULT_VERSION: &str = "0.3.0";
