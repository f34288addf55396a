//! The extension's statements, run through SPI with bind parameters only. Each is prepared once
//! per backend and kept (PostgreSQL's plan cache re-plans a kept plan when an object it uses
//! changes). A statement that PostgreSQL itself fails (a constraint, a read-only transaction, an
//! application hook) raises that error unchanged; a failure inside pgrx becomes a fixed error.
//!
//! Reads and writes are apart on purpose: pgrx gives every statement it runs as a possible write
//! a transaction id, which a hot standby cannot assign and a read must not cost.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CStr;
use std::rc::Rc;

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::PgOid;
use pgrx::prelude::*;
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiHeapTupleData, SpiTupleTable};
use uuid::Uuid;

use crate::caller::to_pg;
use crate::error::{Error, Result};

/// The search_path every statement of the extension runs under. The RPC functions but retrieve
/// set it themselves; retrieve runs no SQL on its fast path (`src/read.rs`), so it sets this
/// only around the statements it does run.
const PINNED_SEARCH_PATH: &CStr = c"pg_catalog, pg_temp";

/// Runs `f` under [`PINNED_SEARCH_PATH`], as a function's `SET search_path` would, unless it is
/// already in force: a caller's search_path must never resolve a name inside the extension.
pub fn with_pinned_search_path<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(i32);
    impl Drop for Restore {
        fn drop(&mut self) {
            // After a PostgreSQL error the transaction's abort restores it.
            if !std::thread::panicking() {
                // SAFETY: pops the nest level opened below.
                unsafe { pg_sys::AtEOXact_GUC(true, self.0) }
            }
        }
    }
    // SAFETY: reads the current search_path setting, a NUL-terminated string or NULL.
    let pinned = unsafe {
        let current = pg_sys::namespace_search_path;
        !current.is_null() && CStr::from_ptr(current) == PINNED_SEARCH_PATH
    };
    if pinned {
        return f();
    }
    // SAFETY: what fmgr_security_definer does for a function's SET clause.
    let _restore = unsafe {
        let level = pg_sys::NewGUCNestLevel();
        pg_sys::set_config_option(
            c"search_path".as_ptr(),
            PINNED_SEARCH_PATH.as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
        Restore(level)
    };
    f()
}

pub fn uuid_arg(id: Uuid) -> DatumWithOid<'static> {
    to_pg(id).into()
}

thread_local! {
    /// This backend's kept plans, by statement text (every statement here is a literal).
    static PLANS: RefCell<HashMap<&'static str, Rc<OwnedPreparedStatement>>> = RefCell::new(HashMap::new());
}

/// Runs `sql` through its kept plan, preparing and keeping it on first use.
fn execute<'conn>(
    client: &SpiClient<'conn>,
    sql: &'static str,
    args: &[DatumWithOid],
    limit: Option<i64>,
    write: bool,
) -> pgrx::spi::Result<SpiTupleTable<'conn>> {
    // Out of the map before it runs: a statement may fire code that runs statements of its own.
    let kept = PLANS.with(|plans| plans.borrow().get(sql).cloned());
    let plan = match kept {
        Some(plan) => plan,
        None => {
            let types: Vec<PgOid> = args.iter().map(|arg| PgOid::from(arg.oid())).collect();
            let prepared = if write {
                client.prepare_mut(sql, &types)?
            } else {
                client.prepare(sql, &types)?
            };
            let plan = Rc::new(prepared.keep());
            PLANS.with(|plans| plans.borrow_mut().insert(sql, Rc::clone(&plan)));
            plan
        }
    };
    // A plan prepared as a write runs as one; a read runs read-only until the transaction writes.
    client.select(&*plan, limit, args)
}

/// Runs a read and maps its first row, or returns `None` when it returned no rows.
pub fn read_row<T>(
    sql: &'static str,
    args: &[DatumWithOid],
    map: impl FnOnce(SpiHeapTupleData) -> pgrx::spi::Result<T>,
) -> Result<Option<T>> {
    first_row(sql, args, map, false)
}

/// Runs a write (or a locking read) and maps its first row, or returns `None` for no rows.
pub fn write_row<T>(
    sql: &'static str,
    args: &[DatumWithOid],
    map: impl FnOnce(SpiHeapTupleData) -> pgrx::spi::Result<T>,
) -> Result<Option<T>> {
    first_row(sql, args, map, true)
}

fn first_row<T>(
    sql: &'static str,
    args: &[DatumWithOid],
    map: impl FnOnce(SpiHeapTupleData) -> pgrx::spi::Result<T>,
    write: bool,
) -> Result<Option<T>> {
    with_pinned_search_path(|| {
        Spi::connect(|client| {
            execute(client, sql, args, Some(1), write)?
                .next()
                .map(map)
                .transpose()
        })
    })
    .map_err(|_| Error::StatementFailed)
}

/// Runs a read and maps every row.
pub fn read_rows<T>(
    sql: &'static str,
    args: &[DatumWithOid],
    map: impl FnMut(SpiHeapTupleData) -> pgrx::spi::Result<T>,
) -> Result<Vec<T>> {
    rows(sql, args, map, false)
}

/// Runs a write (or a locking read) and maps every row it returns.
pub fn write_rows<T>(
    sql: &'static str,
    args: &[DatumWithOid],
    map: impl FnMut(SpiHeapTupleData) -> pgrx::spi::Result<T>,
) -> Result<Vec<T>> {
    rows(sql, args, map, true)
}

fn rows<T>(
    sql: &'static str,
    args: &[DatumWithOid],
    map: impl FnMut(SpiHeapTupleData) -> pgrx::spi::Result<T>,
    write: bool,
) -> Result<Vec<T>> {
    with_pinned_search_path(|| {
        Spi::connect(|client| {
            execute(client, sql, args, None, write)?
                .map(map)
                .collect::<pgrx::spi::Result<Vec<T>>>()
        })
    })
    .map_err(|_| Error::StatementFailed)
}

/// Runs a write for its effect.
pub fn run(sql: &'static str, args: &[DatumWithOid]) -> Result<()> {
    with_pinned_search_path(|| {
        Spi::connect(|client| execute(client, sql, args, None, true).map(|_| ()))
    })
    .map_err(|_| Error::StatementFailed)
}
