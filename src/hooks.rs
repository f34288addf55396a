//! The meeting point with the application's schema, configured from the application's own
//! migrations (as the non-superuser `postgres` on Supabase) and kept in the extension's
//! configuration tables, which pg_dump carries: the authorizer (`credential_vault.set_authorizer`)
//! and the link hook registered here. The extension calls the link hook itself, in the same
//! transaction, whenever a secret starts or stops belonging to an integration, so nothing depends
//! on triggers on the extension's tables (which a non-superuser cannot create and pg_dump drops).

use std::sync::atomic::{AtomicBool, Ordering};

use std::panic::AssertUnwindSafe;

use pgrx::PgSqlErrorCode;
use pgrx::fn_call::{Arg, fn_call};
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use uuid::Uuid;

use crate::caller::{as_owner, as_role, to_pg};
use crate::error::{Error, Result};
use crate::spi::{read_row, run};

#[pg_extern(sql = r#"
CREATE FUNCTION credential_vault.set_link_hook(hook regprocedure) RETURNS void
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c AS 'MODULE_PATHNAME', 'set_link_hook_wrapper';
COMMENT ON FUNCTION credential_vault.set_link_hook(regprocedure) IS
    'Registers the function (integration_id uuid, vault_secret_id uuid, linked boolean) -> void that the extension calls, in the same transaction and with the rights of the role registering it, whenever a secret starts (linked) or stops belonging to an integration. Its errors abort the operation; no_data_found means the integration does not exist.';
REVOKE ALL ON FUNCTION credential_vault.set_link_hook(regprocedure) FROM PUBLIC;
"#)]
fn set_link_hook(hook: pg_sys::Oid) {
    crate::raise_on_error(|| {
        // SAFETY: the current user id of this backend.
        let registrant = unsafe { pg_sys::GetUserId() };
        as_owner(|| {
            let valid = read_row(
                "select exists (select from pg_catalog.pg_proc p \
                   where p.oid = $1 and p.prokind = 'f' and not p.proretset \
                     and p.prorettype = 'pg_catalog.void'::pg_catalog.regtype \
                     and p.proargtypes = '2950 2950 16'::pg_catalog.oidvector)",
                &[hook.into()],
                |row| row.get::<bool>(1),
            )?
            .flatten();
            if valid != Some(true) {
                return Err(Error::InvalidLinkHook);
            }
            run(
                "insert into credential_vault.link_hook (hook, registered_by) \
                 values ($1::pg_catalog.oid::pg_catalog.regprocedure, $2::pg_catalog.oid::pg_catalog.regrole) \
                 on conflict (singleton) do update \
                   set hook = excluded.hook, registered_by = excluded.registered_by",
                &[hook.into(), registrant.into()],
            )
        })
    })
}

/// Tells the application that secret `id` now belongs to `integration` (`linked`) or no longer
/// does. The hook runs with the rights of the role that registered it, never the extension
/// owner's; its errors (an integration that already has credentials, say) abort the operation,
/// and its no_data_found (P0002) means the integration does not exist (PT404 for the caller).
pub fn notify_link(integration: Uuid, id: Uuid, linked: bool) -> Result<()> {
    if !link_hook_table_exists()? {
        return Ok(());
    }
    let registered = as_owner(|| {
        read_row(
            "select hook::pg_catalog.regproc::pg_catalog.text, registered_by::pg_catalog.oid \
             from credential_vault.link_hook",
            &[],
            |row| Ok((row.get::<String>(1)?, row.get::<pg_sys::Oid>(2)?)),
        )
    })?;
    let Some((Some(hook), Some(registrant))) = registered else {
        return Ok(());
    };
    as_role(registrant, || {
        let call = || {
            fn_call::<()>(
                &hook,
                &[
                    &Arg::Value(to_pg(integration)),
                    &Arg::Value(to_pg(id)),
                    &Arg::Value(linked),
                ],
            )
        };
        match std::panic::catch_unwind(AssertUnwindSafe(call)) {
            Ok(called) => called.map(|_| ()).map_err(|_| Error::LinkHookUnusable),
            // The hook's "no such integration" is the caller's PT404; the transaction is
            // aborted by that error at once. Any other error of the hook goes on unchanged.
            Err(caught) => match caught.downcast_ref::<CaughtError>() {
                Some(CaughtError::PostgresError(report))
                    if report.sql_error_code() == PgSqlErrorCode::ERRCODE_NO_DATA_FOUND =>
                {
                    Err(Error::IntegrationNotFound)
                }
                _ => std::panic::resume_unwind(caught),
            },
        }
    })
}

static LINK_HOOK_TABLE_SEEN: AtomicBool = AtomicBool::new(false);

/// An update that creates the table, or a drop, invalidates relation cache entries.
pub fn forget_link_hook_table() {
    LINK_HOOK_TABLE_SEEN.store(false, Ordering::Relaxed);
}

/// Whether the schema has the link hook's table: this library also serves a database whose
/// extension is still at 0.1.0 (its files updated, `ALTER EXTENSION ... UPDATE` not yet run),
/// where the application's triggers did the linking.
fn link_hook_table_exists() -> Result<bool> {
    if LINK_HOOK_TABLE_SEEN.load(Ordering::Relaxed) {
        return Ok(true);
    }
    let exists = read_row(
        "select pg_catalog.to_regclass('credential_vault.link_hook') is not null",
        &[],
        |row| row.get::<bool>(1),
    )?
    .flatten()
        == Some(true);
    LINK_HOOK_TABLE_SEEN.store(exists, Ordering::Relaxed);
    Ok(exists)
}
