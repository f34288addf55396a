//! The extension's one error type. Every variant carries a fixed message (never any part of the
//! input) and a deliberately chosen SQLSTATE; README.md lists them.

use pgrx::PgSqlErrorCode::{self, *};
use pgrx::pg_sys::panic::ErrorReport;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{0} must not be null")]
    NullArgument(&'static str),
    #[error("{0} must be a UUID")]
    NotAUuid(&'static str),
    #[error("credentials_json is larger than 65536 bytes")]
    CredentialsTooLarge,
    #[error("credentials_json is not valid JSON")]
    InvalidJson,
    #[error("credentials_json must be a JSON object")]
    NotAnObject,
    #[error("credentials_json must contain at least one entry")]
    NoEntries,
    #[error("credentials_json must not contain more than 64 entries")]
    TooManyEntries,
    #[error("credentials_json contains a duplicate name")]
    DuplicateName,
    #[error("credential names must not be empty")]
    EmptyName,
    #[error("credential values must be JSON strings")]
    NonStringValue,
    #[error("credential values must not be empty")]
    EmptyValue,
    #[error("credential names and values must not contain NUL characters")]
    NulCharacter,
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
    #[error("no strong random source is available")]
    NoStrongRandom,
    #[error("credential_vault could not complete an internal statement")]
    StatementFailed,
}

impl Error {
    /// P0002 and 40001 are translated to PT404 and PT409 by the SQL wrappers in `sql/api.sql`:
    /// pgrx can only raise the SQLSTATEs PostgreSQL itself defines.
    pub fn sqlstate(self) -> PgSqlErrorCode {
        use Error::*;
        match self {
            NullArgument(_) => ERRCODE_NULL_VALUE_NOT_ALLOWED,
            NotAUuid(_) => ERRCODE_INVALID_TEXT_REPRESENTATION,
            CredentialsTooLarge => ERRCODE_STRING_DATA_RIGHT_TRUNCATION,
            InvalidJson => ERRCODE_INVALID_JSON_TEXT,
            NotAnObject => ERRCODE_SQL_JSON_OBJECT_NOT_FOUND,
            TooManyEntries => ERRCODE_TOO_MANY_JSON_OBJECT_MEMBERS,
            DuplicateName => ERRCODE_DUPLICATE_JSON_OBJECT_KEY_VALUE,
            NoEntries | EmptyName | NonStringValue | EmptyValue => ERRCODE_INVALID_PARAMETER_VALUE,
            NulCharacter => ERRCODE_UNTRANSLATABLE_CHARACTER,
            RoleNotAllowed(_) => ERRCODE_INSUFFICIENT_PRIVILEGE,
            IntegrationNotFound | CredentialsNotFound => ERRCODE_NO_DATA_FOUND,
            ConcurrentChange => ERRCODE_T_R_SERIALIZATION_FAILURE,
            VaultMissing | VaultRoundTripFailed | NoAuthorizer => {
                ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE
            }
            StoredCredentialsCorrupt => ERRCODE_DATA_CORRUPTED,
            ReadOnly => ERRCODE_READ_ONLY_SQL_TRANSACTION,
            InvalidLinkHook => ERRCODE_INVALID_PARAMETER_VALUE,
            LinkHookUnusable => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            NoStrongRandom => ERRCODE_SYSTEM_ERROR,
            StatementFailed => ERRCODE_INTERNAL_ERROR,
        }
    }

    fn hint(self) -> Option<&'static str> {
        use Error::*;
        match self {
            ConcurrentChange => {
                Some("list the integration's credentials and retry with the current reference")
            }
            VaultMissing => Some("create extension supabase_vault, then retry"),
            NoAuthorizer => Some("register one with credential_vault.set_authorizer(regprocedure)"),
            ReadOnly => Some(
                "store, rotate and delete on the primary; a read replica serves retrieve and list",
            ),
            LinkHookUnusable => Some(
                "register an existing function with credential_vault.set_link_hook(regprocedure)",
            ),
            _ => None,
        }
    }

    /// Raises this error as a PostgreSQL ERROR; does not return.
    pub fn raise(self) -> ! {
        let mut report = ErrorReport::new(self.sqlstate(), self.to_string(), "credential_vault");
        if let Some(hint) = self.hint() {
            report = report.set_hint(hint);
        }
        report.report(pgrx::PgLogLevel::ERROR);
        unreachable!("an ERROR report does not return")
    }
}

pub type Result<T> = std::result::Result<T, Error>;
