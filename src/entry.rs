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
use crate::operations::{self, Stored, Version};

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
    pg_finfo_vault_list_integration_credentials,
    pg_finfo_vault_list_integration_credential_versions,
    pg_finfo_vault_restore_integration_credentials,
    pg_finfo_vault_destroy_integration_credentials
);

/// # Safety
/// Called by PostgreSQL's function manager with the declared (text, text) or
/// (text, text, text) arguments.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn vault_store_integration_credentials(
    fcinfo: FunctionCallInfo,
) -> Datum {
    // SAFETY: the guard returns only plain values; PostgreSQL passes two text arguments.
    let outcome = unsafe {
        pgrx_extern_c_guard(|| {
            operations::store(
                text_arg(fcinfo, 0),
                text_arg(fcinfo, 1),
                expires_at_arg(fcinfo),
            )
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
/// Called by PostgreSQL's function manager with the declared (text, text) or
/// (text, text, text) arguments.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn vault_rotate_integration_credentials(
    fcinfo: FunctionCallInfo,
) -> Datum {
    // SAFETY: as above.
    let outcome = unsafe {
        pgrx_extern_c_guard(|| {
            operations::rotate(
                text_arg(fcinfo, 0),
                text_arg(fcinfo, 1),
                expires_at_arg(fcinfo),
            )
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
            let rows = operations::list(text_arg(fcinfo, 0))
                .and_then(|rows| rows.into_iter().map(reference_values).collect());
            materialize(fcinfo, rows).map_err(Error::prepare)
        })
    };
    // SAFETY: nothing here needs dropping.
    unsafe { finish(outcome) }
}

/// # Safety
/// Called by PostgreSQL's function manager with the declared (text) argument, as a set-returning
/// function in materialize mode.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn vault_list_integration_credential_versions(
    fcinfo: FunctionCallInfo,
) -> Datum {
    // SAFETY: as above.
    let outcome = unsafe {
        pgrx_extern_c_guard(|| {
            let rows = operations::versions(text_arg(fcinfo, 0)).and_then(|versions| {
                versions
                    .into_iter()
                    .map(version_values)
                    .collect::<Result<Vec<_>>>()
            });
            materialize(fcinfo, rows).map_err(Error::prepare)
        })
    };
    // SAFETY: nothing here needs dropping.
    unsafe { finish(outcome) }
}

/// # Safety
/// Called by PostgreSQL's function manager with the declared (text) argument.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn vault_restore_integration_credentials(
    fcinfo: FunctionCallInfo,
) -> Datum {
    // SAFETY: as above.
    let outcome = unsafe {
        pgrx_extern_c_guard(|| {
            operations::restore(text_arg(fcinfo, 0))
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
pub unsafe extern "C-unwind" fn vault_destroy_integration_credentials(
    fcinfo: FunctionCallInfo,
) -> Datum {
    // SAFETY: as above.
    let outcome = unsafe {
        pgrx_extern_c_guard(|| {
            operations::destroy(text_arg(fcinfo, 0))
                .map(|()| Datum::from(0))
                .map_err(Error::prepare)
        })
    };
    // SAFETY: nothing here needs dropping.
    unsafe { finish(outcome) }
}

/// Puts `rows` into the SETOF result in materialize mode, each row one of the result type's.
///
/// # Safety
/// `fcinfo` is a set-returning call that accepts materialize mode, whose rows have N columns.
unsafe fn materialize<const N: usize>(
    fcinfo: FunctionCallInfo,
    rows: Result<Vec<([Datum; N], [bool; N])>>,
) -> Result<Datum> {
    let rows = rows?;
    // SAFETY: as the caller promises.
    unsafe {
        pg_sys::InitMaterializedSRF(fcinfo, 0);
        let result = (*fcinfo).resultinfo.cast::<pg_sys::ReturnSetInfo>();
        for (mut values, mut nulls) in rows {
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

/// The optional third argument, `expires_at`, of the three-argument store and rotate.
fn expires_at_arg<'a>(fcinfo: FunctionCallInfo) -> Option<&'a str> {
    // SAFETY: PostgreSQL sets nargs for every call.
    let given = unsafe { (*fcinfo).nargs } > 2;
    given.then(|| text_arg(fcinfo, 2)).flatten()
}

/// A `public.vault_credential_version` row: three columns always set, two that may be null.
fn version_values(version: Version) -> Result<([Datum; 5], [bool; 5])> {
    let id = to_pg(version.id)
        .into_datum()
        .ok_or(Error::StatementFailed)?;
    let created_at = version
        .created_at
        .into_datum()
        .ok_or(Error::StatementFailed)?;
    let state = version.state.into_datum().ok_or(Error::StatementFailed)?;
    let optional = |at: Option<TimestampWithTimeZone>| {
        at.and_then(IntoDatum::into_datum)
            .map_or((Datum::from(0), true), |datum| (datum, false))
    };
    let (replaced_at, replaced_null) = optional(version.replaced_at);
    let (destroy_after, destroy_null) = optional(version.destroy_after);
    Ok((
        [id, created_at, state, replaced_at, destroy_after],
        [false, false, false, replaced_null, destroy_null],
    ))
}

fn reference_values((id, created_at): Stored) -> Result<([Datum; 2], [bool; 2])> {
    let id = to_pg(id).into_datum().ok_or(Error::StatementFailed)?;
    let created_at = created_at.into_datum().ok_or(Error::StatementFailed)?;
    Ok(([id, created_at], [false, false]))
}

/// A `public.vault_credential_reference` value, the declared result type.
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
