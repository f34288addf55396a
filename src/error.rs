//! Raising the contract's errors (`credential_vault_contract::Error`, the extension's one error
//! type) as PostgreSQL ERRORs: each with its fixed message, its SQLSTATE, its hint, and its code
//! as the DETAIL, which the API gateway passes on as `details`.

use std::ffi::{c_char, c_int};

use pgrx::PgSqlErrorCode;
use pgrx::pg_sys::{self, AsPgCStr, panic::ErrorReport};

use crate::elog::{errcode, errdetail, errfinish, errhint, errmsg_internal, errstart};

pub use credential_vault_contract::{Error, Result};

/// How the extension raises an [`Error`].
pub trait Raise {
    /// Raises this error through pgrx, from inside a `#[pg_extern]`; does not return.
    fn raise(self) -> !;

    /// Copies this error's texts into PostgreSQL's memory, for [`Prepared::raise`] once the
    /// guard has returned. Call it inside the guard: the copies allocate, and an allocation
    /// can fail with an ERROR.
    fn prepare(self) -> Prepared;
}

impl Raise for Error {
    /// pgrx can only carry the SQLSTATEs PostgreSQL defines, so PT404 and PT409 go out as P0002
    /// and 40001 from the `#[pg_extern]` functions (0.1.0's SQL wrappers turned them back).
    fn raise(self) -> ! {
        let code = match self.sqlstate() {
            "PT404" => "P0002",
            "PT409" => "40001",
            code => code,
        };
        let code = PgSqlErrorCode::from(sqlstate_code(code));
        let mut report =
            ErrorReport::new(code, self.to_string(), "credential_vault").set_detail(self.code());
        if let Some(hint) = self.hint() {
            report = report.set_hint(hint);
        }
        report.report(pgrx::PgLogLevel::ERROR);
        unreachable!("an ERROR report does not return")
    }

    fn prepare(self) -> Prepared {
        Prepared {
            code: sqlstate_code(self.sqlstate()),
            message: self.to_string().as_pg_cstr(),
            detail: self.code().as_pg_cstr(),
            hint: self
                .hint()
                .map_or(std::ptr::null_mut(), |hint| hint.as_pg_cstr()),
        }
    }
}

/// An error whose texts are already in PostgreSQL's memory (the function call's context, which
/// the error's cleanup frees): raising it allocates nothing in Rust.
#[derive(Clone, Copy)]
pub struct Prepared {
    code: c_int,
    message: *mut c_char,
    detail: *mut c_char,
    /// Null when the error has no hint.
    hint: *mut c_char,
}

impl Prepared {
    /// Raises the error with its own SQLSTATE through PostgreSQL's ereport; does not return.
    ///
    /// # Safety
    /// The longjmp this ends in skips every Rust frame up to PostgreSQL's: only the raw entry
    /// points call it, outside pgrx's guard and holding nothing that needs dropping.
    pub unsafe fn raise(self) -> ! {
        // SAFETY: an ERROR report never returns from errfinish; the strings are NUL-terminated
        // copies made by `prepare`.
        unsafe {
            if errstart(pg_sys::PGERROR as c_int, std::ptr::null()) {
                errcode(self.code);
                errmsg_internal(c"%s".as_ptr(), self.message);
                errdetail(c"%s".as_ptr(), self.detail);
                if !self.hint.is_null() {
                    errhint(c"%s".as_ptr(), self.hint);
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
