//! The API contract of the `credential_vault` extension, in one place for the extension and its
//! client: the limits, the input rules ([`check_credentials`], [`parse_id`]) and the error
//! catalogue ([`Error`]: message, SQLSTATE, HTTP status, hint and code of every error).
//! README.md's SQLSTATE table is checked against the catalogue.

mod error;
mod validate;

pub use error::{Error, Result, VaultVersion};
pub use validate::{
    Credentials, Interval, check_credentials, check_max_kept_versions, check_recovery_window,
    check_report_interval, checked_credentials, parse_expires_at, parse_id,
};

/// The most bytes the credentials JSON text may take, as sent to the server.
pub const MAX_CREDENTIALS_BYTES: usize = 65_536;

/// The most entries one set of credentials may have.
pub const MAX_ENTRIES: usize = 64;

/// The oldest Supabase Vault the extension works with: 0.3.0 brought Vault's own
/// `vault._crypto_aead_det_encrypt`, which the extension encrypts with; 0.2.x was built on pgsodium.
pub const MIN_VAULT_VERSION: &str = "0.3.0";

/// The longest recovery window (`credential_vault.set_recovery_window`): a kept version is
/// destroyed within a year of its replacement.
pub const MAX_RECOVERY_WINDOW_DAYS: i64 = 365;

/// The most kept versions `credential_vault.set_max_kept_versions` allows per integration (the
/// default, when never set, is the settings table's: 100).
pub const MAX_KEPT_VERSIONS: i32 = 1000;

/// The longest `older_than` or `expiring_within` of a rotation report: ten years.
pub const MAX_REPORT_INTERVAL_DAYS: i64 = 3650;
