//! The extension's one error type. Every variant carries a fixed message (never any part of the
//! input) and a deliberately chosen SQLSTATE; README.md lists them.

use std::ffi::c_int;

use pgrx::PgSqlErrorCode;
use pgrx::pg_sys::{self, AsPgCStr, panic::ErrorReport};

use crate::elog::{errcode, errfinish, errhint, errmsg_internal, errstart};

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
    /// The SQLSTATE each error is raised with: chosen on purpose, so that the API gateway turns
    /// it into the right HTTP status (PTxyz becomes HTTP xyz).
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
            NoEntries | EmptyName | NonStringValue | EmptyValue | InvalidLinkHook => "22023",
            NulCharacter => "22P05",
            RoleNotAllowed(_) => "42501",
            IntegrationNotFound | CredentialsNotFound => "PT404",
            ConcurrentChange => "PT409",
            VaultMissing | VaultRoundTripFailed | NoAuthorizer | LinkHookUnusable => "55000",
            StoredCredentialsCorrupt => "XX001",
            ReadOnly => "25006",
            NoStrongRandom => "58000",
            StatementFailed => "XX000",
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

    /// Raises this error through pgrx, from inside a `#[pg_extern]`; does not return. pgrx can
    /// only carry the SQLSTATEs PostgreSQL defines, so PT404 and PT409 go out as P0002 and 40001,
    /// which 0.1.0's SQL wrappers (still served by this library until the update) turn back.
    pub fn raise(self) -> ! {
        let code = match self.sqlstate() {
            "PT404" => "P0002",
            "PT409" => "40001",
            code => code,
        };
        let code = PgSqlErrorCode::from(sqlstate_code(code));
        let mut report = ErrorReport::new(code, self.to_string(), "credential_vault");
        if let Some(hint) = self.hint() {
            report = report.set_hint(hint);
        }
        report.report(pgrx::PgLogLevel::ERROR);
        unreachable!("an ERROR report does not return")
    }

    /// Raises this error with its own SQLSTATE through PostgreSQL's ereport; does not return.
    ///
    /// # Safety
    /// The longjmp this ends in skips every Rust frame up to PostgreSQL's: only the raw entry
    /// points call it, outside pgrx's guard and holding nothing that needs dropping.
    pub unsafe fn raise_from_entry(self) -> ! {
        // Copied into PostgreSQL's memory first: no Rust value may be alive at the longjmp.
        let message = self.to_string().as_pg_cstr();
        let hint = self.hint().map(|hint| hint.as_pg_cstr());
        let code = sqlstate_code(self.sqlstate());
        // SAFETY: an ERROR report never returns from errfinish; the strings live in the
        // current memory context, which the error's cleanup frees.
        unsafe {
            if errstart(pg_sys::PGERROR as c_int, std::ptr::null()) {
                errcode(code);
                errmsg_internal(c"%s".as_ptr(), message);
                if let Some(hint) = hint {
                    errhint(c"%s".as_ptr(), hint);
                }
                errfinish(
                    c"error.rs".as_ptr(),
                    line!() as c_int,
                    c"credential_vault".as_ptr(),
                );
            }
            std::hint::unreachable_unchecked()
        }
    }
}

/// PostgreSQL's MAKE_SQLSTATE: five characters packed six bits each.
fn sqlstate_code(sqlstate: &str) -> c_int {
    sqlstate
        .bytes()
        .enumerate()
        .map(|(i, ch)| (((ch - b'0') & 0x3F) as c_int) << (6 * i))
        .sum()
}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_pack_as_postgresql_packs_them() {
        assert_eq!(
            sqlstate_code("42501"),
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE as c_int
        );
        assert_eq!(
            sqlstate_code("P0002"),
            PgSqlErrorCode::ERRCODE_NO_DATA_FOUND as c_int
        );
        assert_eq!(
            sqlstate_code("XX000"),
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR as c_int
        );
    }
}
