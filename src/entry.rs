//! The public RPC functions (declared in `sql/api.sql`): one C entry point per operation, with
//! no SQL wrapper, no exception block and one `SET search_path`. They are plain V1 functions
//! rather than `#[pg_extern]`s because the API gateway needs PT404 and PT409, which pgrx's error
//! type cannot carry: the operation runs inside pgrx's guard (which turns a panic or a
//! PostgreSQL error inside it into an ERROR as usual), its error's texts are copied into
//! PostgreSQL's memory there too, and only once the guard has returned, with every Rust value
//! gone, is the error raised with PostgreSQL's own ereport.

use pgrx::pg_sys::panic::pgrx_extern_c_guard;
use pgrx::pg_sys::{self, Datum, FunctionCallInfo};
use pgrx::prelude::*;

use crate::caller::to_pg;
use crate::error::{Error, Prepared, Raise, Result};
use crate::operations::{self, Stored};

macro_rules! v1 {
    ($($info:ident),*) => {$(
        #[unsafe(no_mangle)]
        pub extern "C" fn $info() -> &'static pg_sys::Pg_finfo_record {
            const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
            &V1
        }
    )*};
}
v1!(
    pg_finfo_vault_store_integration_credentials,
    pg_finfo_vault_retrieve_integration_credentials,
    pg_finfo_vault_rotate_integration_credentials,
    pg_finfo_vault_delete_integration_credentials,
    pg_finfo_vault_list_integration_credentials
);

/// # Safety
/// Called by PostgreSQL's function manager with the declared (text, text) arguments.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn vault_store_integration_credentials(
    fcinfo: FunctionCallInfo,
) -> Datum {
    // SAFETY: the guard returns only plain values; PostgreSQL passes two text arguments.
    let outcome = unsafe {
        pgrx_extern_c_guard(|| {
            operations::store(text_arg(fcinfo, 0), text_arg(fcinfo, 1))
                .and_then(|stored| reference_datum(fcinfo, stored))
                .map_err(Error::prepare)
        })
    };
    // SAFETY: nothing here needs dropping.
    unsafe { finish(outcome) }
}

/// # Safety
/// Called by PostgreSQL's function manager with the declared (text) argument.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn vault_retrieve_integration_credentials(
    fcinfo: FunctionCallInfo,
) -> Datum {
    // SAFETY: as above.
    let outcome = unsafe {
        pgrx_extern_c_guard(|| {
            operations::retrieve(text_arg(fcinfo, 0))
                .map(|jsonb| jsonb.datum())
                .map_err(Error::prepare)
        })
    };
    // SAFETY: nothing here needs dropping.
    unsafe { finish(outcome) }
}

/// # Safety
/// Called by PostgreSQL's function manager with the declared (text, text) arguments.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn vault_rotate_integration_credentials(
    fcinfo: FunctionCallInfo,
) -> Datum {
    // SAFETY: as above.
    let outcome = unsafe {
        pgrx_extern_c_guard(|| {
            operations::rotate(text_arg(fcinfo, 0), text_arg(fcinfo, 1))
                .and_then(|stored| reference_datum(fcinfo, stored))
                .map_err(Error::prepare)
        })
    };
    // SAFETY: nothing here needs dropping.
    unsafe { finish(outcome) }
}

/// # Safety
/// Called by PostgreSQL's function manager with the declared (text) argument.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn vault_delete_integration_credentials(
    fcinfo: FunctionCallInfo,
) -> Datum {
    // SAFETY: as above.
    let outcome = unsafe {
        pgrx_extern_c_guard(|| {
            operations::delete(text_arg(fcinfo, 0))
                .map(|()| Datum::from(0))
                .map_err(Error::prepare)
        })
    };
    // SAFETY: nothing here needs dropping.
    unsafe { finish(outcome) }
}

/// # Safety
/// Called by PostgreSQL's function manager with the declared (text) argument, as a set-returning
/// function in materialize mode.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn vault_list_integration_credentials(
    fcinfo: FunctionCallInfo,
) -> Datum {
    // SAFETY: as above; materialize mode is what the declared SETOF result takes.
    let outcome = unsafe {
        pgrx_extern_c_guard(|| {
            materialize(fcinfo, operations::list(text_arg(fcinfo, 0))).map_err(Error::prepare)
        })
    };
    // SAFETY: nothing here needs dropping.
    unsafe { finish(outcome) }
}

/// Puts `rows` into the SETOF result in materialize mode, each row the result type's two
/// columns.
///
/// # Safety
/// `fcinfo` is a set-returning call that accepts materialize mode.
unsafe fn materialize(fcinfo: FunctionCallInfo, rows: Result<Vec<Stored>>) -> Result<Datum> {
    let rows = rows?;
    // SAFETY: as the caller promises.
    unsafe {
        pg_sys::InitMaterializedSRF(fcinfo, 0);
        let result = (*fcinfo).resultinfo.cast::<pg_sys::ReturnSetInfo>();
        for stored in rows {
            let (mut values, mut nulls) = reference_values(stored)?;
            pg_sys::tuplestore_putvalues(
                (*result).setResult,
                (*result).setDesc,
                values.as_mut_ptr(),
                nulls.as_mut_ptr(),
            );
        }
    }
    Ok(Datum::from(0))
}

/// Returns the result, or raises the error with its own SQLSTATE.
///
/// # Safety
/// Only from an entry point's own frame, after the guard has returned.
unsafe fn finish(outcome: std::result::Result<Datum, Prepared>) -> Datum {
    match outcome {
        Ok(datum) => datum,
        // SAFETY: the caller's frame and this one hold nothing that needs dropping.
        Err(error) => unsafe { error.raise() },
    }
}

/// Argument `n` as text, `None` for SQL NULL.
fn text_arg<'a>(fcinfo: FunctionCallInfo, n: usize) -> Option<&'a str> {
    // SAFETY: every entry point's arguments are text, and the detoasted text lives in the
    // function call's memory context, which outlives the call.
    unsafe { pgrx::fcinfo::pg_getarg::<&str>(fcinfo, n) }
}

fn reference_values((id, created_at): Stored) -> Result<([Datum; 2], [bool; 2])> {
    let id = to_pg(id).into_datum().ok_or(Error::StatementFailed)?;
    let created_at = created_at.into_datum().ok_or(Error::StatementFailed)?;
    Ok(([id, created_at], [false, false]))
}

/// A `credential_vault.credential_reference` value, the declared result type.
fn reference_datum(fcinfo: FunctionCallInfo, stored: Stored) -> Result<Datum> {
    let (mut values, mut nulls) = reference_values(stored)?;
    // SAFETY: the declared result type is a composite of (uuid, timestamptz).
    unsafe {
        let mut descriptor: pg_sys::TupleDesc = std::ptr::null_mut();
        let class = pg_sys::get_call_result_type(fcinfo, std::ptr::null_mut(), &mut descriptor);
        if class != pg_sys::TypeFuncClass::TYPEFUNC_COMPOSITE || descriptor.is_null() {
            return Err(Error::StatementFailed);
        }
        let descriptor = pg_sys::BlessTupleDesc(descriptor);
        let tuple = pg_sys::heap_form_tuple(descriptor, values.as_mut_ptr(), nulls.as_mut_ptr());
        Ok(pg_sys::HeapTupleHeaderGetDatum((*tuple).t_data))
    }
}
