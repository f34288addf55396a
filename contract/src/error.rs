//! The error catalogue: every error the extension raises on purpose, each with its fixed message
//! (never any part of the input), SQLSTATE, HTTP status through the API gateway, hint and code.
//! README.md's SQLSTATE table shows the same catalogue; a test below holds the two together.

use std::fmt;

use crate::{
    MAX_CREDENTIALS_BYTES, MAX_ENTRIES, MAX_KEPT_VERSIONS, MAX_RECOVERY_WINDOW_DAYS,
    MAX_REPORT_INTERVAL_DAYS, MIN_VAULT_VERSION,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Error {
    /// The parameter names the SQL argument.
    #[error("{0} must not be null")]
    NullArgument(&'static str),
    /// The parameter names the SQL argument.
    #[error("{0} must be a UUID")]
    NotAUuid(&'static str),
    #[error("credentials_json is larger than {MAX_CREDENTIALS_BYTES} bytes")]
    CredentialsTooLarge,
    #[error("credentials_json is not valid JSON")]
    InvalidJson,
    #[error("credentials_json must be a JSON object")]
    NotAnObject,
    #[error("credentials_json must contain at least one entry")]
    NoEntries,
    #[error("credentials_json must not contain more than {MAX_ENTRIES} entries")]
    TooManyEntries,
    #[error("credentials_json contains a duplicate name")]
    DuplicateName,
    #[error("credential names must not be empty")]
    EmptyName,
    #[error("credential values must be JSON strings")]
    NonStringValue,
    #[error("credential values must not be empty")]
    EmptyValue,
    #[error("expires_at must be an RFC 3339 timestamp with a time zone")]
    InvalidExpiresAt,
    #[error("the recovery window must not be negative")]
    InvalidRecoveryWindow,
    #[error("the recovery window must not be longer than {MAX_RECOVERY_WINDOW_DAYS} days")]
    RecoveryWindowTooLong,
    /// A month is 28 to 31 days on the calendar and 30 in PostgreSQL's comparisons: a window
    /// is a duration, given in days or smaller units.
    #[error(
        "the recovery window must be given in days, hours, minutes or seconds, not months or years"
    )]
    RecoveryWindowInMonths,
    #[error("max_kept_versions must be between 1 and {MAX_KEPT_VERSIONS}")]
    InvalidMaxKeptVersions,
    /// `older_than` and `expiring_within` of the rotation reports.
    #[error("a report interval must be between 0 and {MAX_REPORT_INTERVAL_DAYS} days")]
    InvalidReportInterval,
    #[error("credential names and values must not contain NUL characters")]
    NulCharacter,
    /// The parameter is the action refused (`store`, `retrieve`, ...).
    #[error("permission denied: this role may not {0} integration credentials")]
    RoleNotAllowed(&'static str),
    /// Also raised when the caller may not manage the integration, so existence does not leak.
    #[error("integration not found")]
    IntegrationNotFound,
    /// Also raised when the caller may not touch the reference, so existence does not leak.
    #[error("integration credentials not found")]
    CredentialsNotFound,
    #[error("integration credentials are being changed concurrently; retry")]
    ConcurrentChange,
    #[error("Supabase Vault is not installed in this database")]
    VaultMissing,
    /// Vault is installed, but older than the extension needs.
    #[error("Supabase Vault {0} is installed; credential_vault needs {MIN_VAULT_VERSION} or later")]
    VaultUnsupported(VaultVersion),
    /// A new library was installed and the extension not updated yet.
    #[error("the credential_vault extension in this database is older than its library")]
    SchemaOutdated,
    #[error("Vault could not read back the encrypted credentials; nothing was stored")]
    VaultRoundTripFailed,
    #[error("no integration authorizer is registered")]
    NoAuthorizer,
    #[error("stored integration credentials are not a valid credentials object")]
    StoredCredentialsCorrupt,
    /// On a hot standby every transaction is read-only.
    #[error("integration credentials cannot be changed in a read-only transaction")]
    ReadOnly,
    #[error(
        "a link hook must take (integration_id uuid, vault_secret_id uuid, linked boolean) and return void"
    )]
    InvalidLinkHook,
    #[error("the registered link hook cannot be called")]
    LinkHookUnusable,
    /// The calling role lacks EXECUTE on the registered authorizer: the extension calls it only
    /// with the caller's own rights.
    #[error("permission denied for the registered integration authorizer")]
    AuthorizerNotPermitted,
    /// The role that registered the link hook lost EXECUTE on it since.
    #[error("the role that registered the link hook may not execute it")]
    LinkHookNotPermitted,
    #[error("an authorizer must take one uuid argument and return boolean")]
    InvalidAuthorizer,
    /// Without its own setting, a registered function would run under the calling function's
    /// search_path; an application's helper must not depend on that.
    #[error("a registered function must set its own search_path")]
    CallbackWithoutSearchPath,
    #[error("no strong random source is available")]
    NoStrongRandom,
    #[error("credential_vault could not complete an internal statement")]
    StatementFailed,
    /// The server would drop the read audit's LOG line (`log_min_messages` is `fatal` or
    /// `panic`): a plaintext read is refused rather than left unrecorded.
    #[error(
        "log_min_messages is above log, so this plaintext read would not be audited; nothing was read"
    )]
    ReadNotAudited,
    /// Only under READ COMMITTED does a revoke's statement take its snapshot after the fence's
    /// lock: under REPEATABLE READ or SERIALIZABLE a write committed while it waited would survive.
    #[error(
        "a revoke must run in a read committed transaction, where it sees every write it waited for; nothing was revoked"
    )]
    RevokeNeedsReadCommitted,
}

impl Error {
    /// Every variant once, parameters shown as README's table shows them. A client's
    /// [`Error::from_server`] gives these values back.
    pub const CATALOGUE: [Error; 39] = {
        use Error::*;
        [
            NullArgument("<argument>"),
            NotAUuid("<argument>"),
            CredentialsTooLarge,
            InvalidJson,
            NotAnObject,
            NoEntries,
            TooManyEntries,
            DuplicateName,
            EmptyName,
            NonStringValue,
            EmptyValue,
            InvalidExpiresAt,
            InvalidRecoveryWindow,
            RecoveryWindowTooLong,
            RecoveryWindowInMonths,
            InvalidMaxKeptVersions,
            InvalidReportInterval,
            NulCharacter,
            RoleNotAllowed("<action>"),
            IntegrationNotFound,
            CredentialsNotFound,
            ConcurrentChange,
            VaultMissing,
            VaultUnsupported(VaultVersion::Placeholder),
            SchemaOutdated,
            VaultRoundTripFailed,
            NoAuthorizer,
            StoredCredentialsCorrupt,
            ReadOnly,
            InvalidLinkHook,
            LinkHookUnusable,
            AuthorizerNotPermitted,
            LinkHookNotPermitted,
            InvalidAuthorizer,
            CallbackWithoutSearchPath,
            NoStrongRandom,
            StatementFailed,
            ReadNotAudited,
            RevokeNeedsReadCommitted,
        ]
    };

    /// The stable machine-readable name of the error, sent as the error's DETAIL (PostgREST
    /// passes it on as `details`), so that callers can tell apart errors that share a SQLSTATE.
    /// Never changed once released; it carries no part of the input.
    pub fn code(self) -> &'static str {
        use Error::*;
        match self {
            NullArgument(_) => "null_argument",
            NotAUuid(_) => "not_a_uuid",
            CredentialsTooLarge => "credentials_too_large",
            InvalidJson => "invalid_json",
            NotAnObject => "not_an_object",
            NoEntries => "no_entries",
            TooManyEntries => "too_many_entries",
            DuplicateName => "duplicate_name",
            EmptyName => "empty_name",
            NonStringValue => "non_string_value",
            EmptyValue => "empty_value",
            InvalidExpiresAt => "invalid_expires_at",
            InvalidRecoveryWindow => "invalid_recovery_window",
            RecoveryWindowTooLong => "recovery_window_too_long",
            RecoveryWindowInMonths => "recovery_window_in_months",
            InvalidMaxKeptVersions => "invalid_max_kept_versions",
            InvalidReportInterval => "invalid_report_interval",
            NulCharacter => "nul_character",
            RoleNotAllowed(_) => "role_not_allowed",
            IntegrationNotFound => "integration_not_found",
            CredentialsNotFound => "credentials_not_found",
            ConcurrentChange => "concurrent_change",
            VaultMissing => "vault_missing",
            VaultUnsupported(_) => "vault_unsupported",
            SchemaOutdated => "schema_outdated",
            VaultRoundTripFailed => "vault_round_trip_failed",
            NoAuthorizer => "no_authorizer",
            StoredCredentialsCorrupt => "stored_credentials_corrupt",
            ReadOnly => "read_only",
            InvalidLinkHook => "invalid_link_hook",
            LinkHookUnusable => "link_hook_unusable",
            AuthorizerNotPermitted => "authorizer_not_permitted",
            LinkHookNotPermitted => "link_hook_not_permitted",
            InvalidAuthorizer => "invalid_authorizer",
            CallbackWithoutSearchPath => "callback_without_search_path",
            NoStrongRandom => "no_strong_random",
            StatementFailed => "statement_failed",
            ReadNotAudited => "read_not_audited",
            RevokeNeedsReadCommitted => "revoke_needs_read_committed",
        }
    }

    /// The SQLSTATE each error is raised with: chosen on purpose, so that the API gateway turns
    /// it into the right HTTP status (see [`Error::http_status`]).
    pub fn sqlstate(self) -> &'static str {
        use Error::*;
        match self {
            NullArgument(_) => "22004",
            NotAUuid(_) => "22P02",
            CredentialsTooLarge => "22001",
            InvalidJson => "22032",
            NotAnObject => "2203C",
            TooManyEntries => "2203E",
            DuplicateName => "22030",
            NoEntries
            | EmptyName
            | NonStringValue
            | EmptyValue
            | InvalidLinkHook
            | InvalidAuthorizer
            | CallbackWithoutSearchPath
            | InvalidRecoveryWindow
            | RecoveryWindowTooLong
            | RecoveryWindowInMonths
            | InvalidMaxKeptVersions
            | InvalidReportInterval => "22023",
            InvalidExpiresAt => "22007",
            NulCharacter => "22P05",
            RoleNotAllowed(_) | AuthorizerNotPermitted => "42501",
            IntegrationNotFound | CredentialsNotFound => "PT404",
            ConcurrentChange => "PT409",
            VaultMissing | VaultUnsupported(_) | SchemaOutdated | VaultRoundTripFailed
            | NoAuthorizer | LinkHookUnusable | LinkHookNotPermitted | ReadNotAudited => "55000",
            StoredCredentialsCorrupt => "XX001",
            ReadOnly => "25006",
            RevokeNeedsReadCommitted => "25000",
            NoStrongRandom => "58000",
            StatementFailed => "XX000",
        }
    }

    /// The HTTP status Supabase's API gateway (PostgREST) answers this error with: PTxyz is
    /// xyz, 42501 is 401 for the anonymous role and 403 for a signed-in one, class 22 is 400,
    /// 25006 (a write on a read replica) is 405, and everything this catalogue uses besides is
    /// 500.
    pub fn http_status(self, anonymous: bool) -> u16 {
        let sqlstate = self.sqlstate();
        if let Some(status) = sqlstate.strip_prefix("PT") {
            return status.parse().expect("PTxyz carries a three-digit status");
        }
        match sqlstate {
            "42501" if anonymous => 401,
            "42501" => 403,
            "25006" => 405,
            _ if sqlstate.starts_with("22") => 400,
            _ => 500,
        }
    }

    /// What to do about it, for the errors where the message alone does not say.
    pub fn hint(self) -> Option<&'static str> {
        use Error::*;
        match self {
            ConcurrentChange => {
                Some("list the integration's credentials and retry with the current reference")
            }
            VaultMissing => Some("create extension supabase_vault, then retry"),
            VaultUnsupported(_) => Some(
                "alter extension supabase_vault update (after installing a newer Vault), then retry",
            ),
            NoAuthorizer => Some("register one with credential_vault.set_authorizer(regprocedure)"),
            ReadOnly => Some(
                "store, rotate and delete on the primary; a read replica serves retrieve and list",
            ),
            LinkHookUnusable => Some(
                "register an existing function with credential_vault.set_link_hook(regprocedure)",
            ),
            AuthorizerNotPermitted => {
                Some("grant EXECUTE on the registered authorizer to the calling role")
            }
            LinkHookNotPermitted => Some(
                "grant that role EXECUTE on the hook, or register it again as a role that holds it",
            ),
            ReadNotAudited => Some(
                "start the server with log_min_messages = warning: Supabase's docker-compose.yml sets -c log_min_messages=fatal on the db service's command: line, so remove that option there (ALTER SYSTEM cannot override it) and restart; or have a superuser set credential_vault.allow_unaudited_reads = on to read without the audit",
            ),
            CallbackWithoutSearchPath => {
                Some("alter function ... set search_path = pg_catalog, pg_temp; then register it")
            }
            RevokeNeedsReadCommitted => Some(
                "run the revoke in a transaction begun with isolation level read committed (PostgreSQL's default; check default_transaction_isolation)",
            ),
            _ => None,
        }
    }

    /// The catalogue entry a server error stands for, when its SQLSTATE and DETAIL are one
    /// entry's SQLSTATE and code; `None` for anything else, such as PostgreSQL's own errors with
    /// the same SQLSTATE. The detail is only compared, never kept: PostgreSQL's own details can
    /// echo arguments, and arguments are credentials. The server does not send a parameterised
    /// error's parameter, so it comes back as the catalogue's placeholder (`<argument>`).
    pub fn from_server(sqlstate: &str, detail: Option<&str>) -> Option<Error> {
        let detail = detail?;
        Error::CATALOGUE
            .into_iter()
            .find(|error| error.code() == detail && error.sqlstate() == sqlstate)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The version of an installed Vault, as [`Error::VaultUnsupported`] reports it: a version
/// number needs no allocation, so the error stays a plain value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VaultVersion {
    /// `<version>`: the catalogue's and the client's stand-in for the number, which the server
    /// sends in the message only.
    Placeholder,
    /// A version that is not three numbers.
    Unknown,
    Found(u16, u16, u16),
}

impl VaultVersion {
    /// `extversion` as `pg_extension` holds it.
    pub fn parse(text: &str) -> VaultVersion {
        let numbers: Vec<Option<u16>> = text.split('.').map(|n| n.parse().ok()).collect();
        match numbers[..] {
            [Some(major), Some(minor), Some(patch)] => VaultVersion::Found(major, minor, patch),
            _ => VaultVersion::Unknown,
        }
    }
}

impl fmt::Display for VaultVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VaultVersion::Placeholder => f.write_str("<version>"),
            VaultVersion::Unknown => f.write_str("of an unknown version"),
            VaultVersion::Found(major, minor, patch) => write!(f, "{major}.{minor}.{patch}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn the_catalogue_lists_every_variant_once_with_its_own_code() {
        let codes: HashSet<&str> = Error::CATALOGUE.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), Error::CATALOGUE.len(), "codes are unique");
        for error in Error::CATALOGUE {
            let code = error.code();
            assert!(
                !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code} is snake_case"
            );
            assert_eq!(
                Error::from_server(error.sqlstate(), Some(code)),
                Some(error)
            );
        }
    }

    #[test]
    fn a_server_error_is_ours_only_with_our_sqlstate_and_code() {
        assert_eq!(
            Error::from_server("22023", Some("empty_name")),
            Some(Error::EmptyName)
        );
        assert_eq!(Error::from_server("22023", None), None);
        assert_eq!(Error::from_server("22P02", Some("empty_name")), None);
        assert_eq!(
            Error::from_server("22P02", Some("invalid input syntax for type uuid")),
            None
        );
    }

    #[test]
    fn gateway_statuses_follow_postgrest() {
        assert_eq!(Error::CredentialsNotFound.http_status(false), 404);
        assert_eq!(Error::ConcurrentChange.http_status(true), 409);
        assert_eq!(Error::RoleNotAllowed("store").http_status(true), 401);
        assert_eq!(Error::RoleNotAllowed("store").http_status(false), 403);
        assert_eq!(Error::EmptyValue.http_status(false), 400);
        assert_eq!(Error::VaultMissing.http_status(false), 500);
        assert_eq!(Error::ReadOnly.http_status(false), 405);
    }

    #[test]
    fn an_unsupported_vault_is_reported_with_the_version_found_and_needed() {
        assert_eq!(
            Error::VaultUnsupported(VaultVersion::parse("0.2.8")).to_string(),
            format!(
                "Supabase Vault 0.2.8 is installed; credential_vault needs {MIN_VAULT_VERSION} or later"
            )
        );
        assert_eq!(VaultVersion::parse("0.2.8-custom"), VaultVersion::Unknown);
    }

    #[test]
    fn messages_take_their_numbers_from_the_limits() {
        assert_eq!(
            Error::CredentialsTooLarge.to_string(),
            format!("credentials_json is larger than {MAX_CREDENTIALS_BYTES} bytes")
        );
        assert!(
            Error::TooManyEntries
                .to_string()
                .ends_with(&format!("more than {MAX_ENTRIES} entries"))
        );
    }

    /// README's SQLSTATE table, one row per catalogue entry: `| SQLSTATE | HTTP | code |
    /// message |`, the message the first back-quoted text of its cell.
    struct Row {
        sqlstate: String,
        http: String,
        code: String,
        message: String,
    }

    /// The row PostgreSQL raises itself, before any of the extension's code runs.
    const RAISED_BY_POSTGRESQL: &str = "22021";

    fn readme_rows() -> Vec<Row> {
        let readme = include_str!("../../README.md");
        let (_, table) = readme
            .split_once("### Errors (SQLSTATE table)")
            .expect("README has the SQLSTATE table");
        let back_quoted = |cell: &str| cell.split('`').nth(1).unwrap_or_default().to_owned();
        table
            .lines()
            .skip_while(|line| !line.starts_with('|'))
            .take_while(|line| line.starts_with('|'))
            .skip(2)
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                assert!(cells.len() >= 6, "a row of four cells: {line}");
                Row {
                    sqlstate: cells[1].to_owned(),
                    http: cells[2].to_owned(),
                    code: back_quoted(cells[3]),
                    message: back_quoted(cells[4]),
                }
            })
            .collect()
    }

    fn documented_status(error: Error) -> String {
        match (error.http_status(true), error.http_status(false)) {
            (anonymous, signed_in) if anonymous == signed_in => anonymous.to_string(),
            (anonymous, signed_in) => format!("{anonymous} (anon) / {signed_in}"),
        }
    }

    #[test]
    fn readme_documents_the_catalogue_and_nothing_else() {
        let rows = readme_rows();
        for error in Error::CATALOGUE {
            let row = rows.iter().find(|row| row.code == error.code());
            let row = row.unwrap_or_else(|| panic!("README has no row for {}", error.code()));
            assert_eq!(
                (&*row.sqlstate, &*row.http, &*row.message),
                (
                    error.sqlstate(),
                    &*documented_status(error),
                    &*error.to_string()
                ),
                "README's row for {}",
                error.code()
            );
        }
        for row in &rows {
            assert!(
                row.sqlstate == RAISED_BY_POSTGRESQL
                    || Error::CATALOGUE.iter().any(|e| e.code() == row.code),
                "README's row {} {:?} is not in the catalogue",
                row.sqlstate,
                row.message
            );
        }
        assert_eq!(rows.len(), Error::CATALOGUE.len() + 1, "one row per entry");
    }
}
