//! A `jsonb` return value built straight from text, so that retrieved plaintext is held only in
//! buffers this code wipes (pgrx's `JsonB` would copy it into a `serde_json::Value`).

use std::ffi::CStr;

use pgrx::callconv::{BoxRet, FcInfo};
use pgrx::datum::Datum;
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use pgrx::prelude::*;
use zeroize::Zeroizing;

pub struct Jsonb(pg_sys::Datum);

impl Jsonb {
    /// `text` must already have passed `credential_vault_contract::check_credentials`: the jsonb
    /// parser's own error messages quote their input.
    pub fn parse_checked(text: &str) -> Jsonb {
        let mut c_text = Zeroizing::new(Vec::with_capacity(text.len() + 1));
        c_text.extend_from_slice(text.as_bytes());
        c_text.push(0);
        let c_text = CStr::from_bytes_with_nul(&c_text).expect("validated text has no NUL");
        // SAFETY: jsonb_in takes one NUL-terminated C string and returns a palloc'd jsonb.
        let datum = unsafe {
            pgrx::fcinfo::direct_function_call_as_datum(pg_sys::jsonb_in, &[c_text.into_datum()])
        };
        Jsonb(datum.expect("jsonb_in never returns NULL"))
    }

    pub fn datum(self) -> pg_sys::Datum {
        self.0
    }
}

// SAFETY: returns the jsonb datum as the function's result.
unsafe impl BoxRet for Jsonb {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        unsafe { fcinfo.return_raw_datum(self.0) }
    }
}

// SAFETY: the datum is always a jsonb.
unsafe impl SqlTranslatable for Jsonb {
    const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!(Jsonb);
    const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> = Ok(SqlMappingRef::literal("jsonb"));
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> =
        Ok(ReturnsRef::One(SqlMappingRef::literal("jsonb")));
}
