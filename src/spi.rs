//! The extension's statements, run through SPI with bind parameters only. A statement that
//! PostgreSQL itself fails (a constraint, a read-only transaction, an application hook) raises
//! that error unchanged; a failure inside pgrx becomes a fixed error.
//!
//! Reads and writes are apart on purpose: pgrx gives every statement it runs as a possible write
//! a transaction id, which a hot standby cannot assign and a read must not cost.

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::spi::SpiHeapTupleData;
use uuid::Uuid;

use crate::caller::to_pg;
use crate::error::{Error, Result};

pub fn uuid_arg(id: Uuid) -> DatumWithOid<'static> {
    to_pg(id).into()
}

/// Runs a read and maps its first row, or returns `None` when it returned no rows.
pub fn read_row<T>(
    sql: &str,
    args: &[DatumWithOid],
    map: impl FnOnce(SpiHeapTupleData) -> pgrx::spi::Result<T>,
) -> Result<Option<T>> {
    Spi::connect(|client| {
        client
            .select(sql, Some(1), args)?
            .next()
            .map(map)
            .transpose()
    })
    .map_err(|_| Error::StatementFailed)
}

/// Runs a read and maps every row.
pub fn read_rows<T>(
    sql: &str,
    args: &[DatumWithOid],
    map: impl FnMut(SpiHeapTupleData) -> pgrx::spi::Result<T>,
) -> Result<Vec<T>> {
    Spi::connect(|client| {
        client
            .select(sql, None, args)?
            .map(map)
            .collect::<pgrx::spi::Result<Vec<T>>>()
    })
    .map_err(|_| Error::StatementFailed)
}

/// Runs a write (or a locking read) and maps its first row, or returns `None` for no rows.
pub fn write_row<T>(
    sql: &str,
    args: &[DatumWithOid],
    map: impl FnOnce(SpiHeapTupleData) -> pgrx::spi::Result<T>,
) -> Result<Option<T>> {
    Spi::connect_mut(|client| {
        client
            .update(sql, Some(1), args)?
            .next()
            .map(map)
            .transpose()
    })
    .map_err(|_| Error::StatementFailed)
}

/// Runs a write for its effect.
pub fn run(sql: &str, args: &[DatumWithOid]) -> Result<()> {
    Spi::run_with_args(sql, args).map_err(|_| Error::StatementFailed)
}
