//! A `jsonb` return value built from the entries of checked credentials, so that retrieved
//! plaintext is parsed once (by the contract's check) and held only in buffers this code wipes
//! (pgrx's `JsonB` would copy it into a `serde_json::Value`).

use std::ffi::{c_char, c_int};
use std::ptr;

use credential_vault_contract::Credentials;
use pgrx::callconv::{BoxRet, FcInfo};
use pgrx::datum::Datum;
use pgrx::pg_sys::JsonbIteratorToken::{WJB_BEGIN_OBJECT, WJB_END_OBJECT, WJB_KEY, WJB_VALUE};
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use pgrx::prelude::*;

pub struct Jsonb(pg_sys::Datum);

impl Jsonb {
    /// The object of `credentials`, built as `jsonb_in` builds one from its own parse of the text
    /// (`pushJsonbValue`, which orders the keys, then `JsonbValueToJsonb`): the same value, bit
    /// for bit, without a second parse, and without the parser's unwiped copies of each string.
    pub fn from_checked(credentials: &Credentials) -> Jsonb {
        // Names and values are at most MAX_CREDENTIALS_BYTES long, and never hold a NUL.
        let string = |text: &str| pg_sys::JsonbValue {
            type_: pg_sys::jbvType::jbvString,
            val: pg_sys::JsonbValue__bindgen_ty_1 {
                string: pg_sys::JsonbValue__bindgen_ty_1__bindgen_ty_1 {
                    len: text.len() as c_int,
                    val: text.as_ptr() as *mut c_char,
                },
            },
        };
        // SAFETY: pushJsonbValue copies each JsonbValue, whose string it only points to, and
        // JsonbValueToJsonb copies every string into the palloc'd result while `credentials`,
        // which they point into, is still borrowed here.
        let jsonb = unsafe {
            let mut state = ptr::null_mut();
            pg_sys::pushJsonbValue(&mut state, WJB_BEGIN_OBJECT, ptr::null_mut());
            for (name, value) in credentials.entries() {
                pg_sys::pushJsonbValue(&mut state, WJB_KEY, &mut string(name));
                pg_sys::pushJsonbValue(&mut state, WJB_VALUE, &mut string(value));
            }
            let object = pg_sys::pushJsonbValue(&mut state, WJB_END_OBJECT, ptr::null_mut());
            pg_sys::JsonbValueToJsonb(object)
        };
        Jsonb(pg_sys::Datum::from(jsonb))
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
