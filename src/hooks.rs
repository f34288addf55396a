//! The meeting point with the application's schema, configured from the application's own
//! migrations (as the non-superuser `postgres` on Supabase) and kept in the extension's
//! configuration tables, which pg_dump carries: the authorizer (`credential_vault.set_authorizer`)
//! and the link hook registered here. The extension calls the link hook itself, in the same
//! transaction, whenever a secret starts or stops belonging to an integration, so nothing depends
//! on triggers on the extension's tables (which a non-superuser cannot create and pg_dump drops).
//!
//! Each backend keeps what it read of the registrations until a relation cache invalidation,
//! which the extension's own triggers on the two tables send to every backend when a change
//! commits.

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::thread::LocalKey;

use pgrx::PgSqlErrorCode;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use uuid::Uuid;

use crate::caller::{as_owner, as_role, require_service, to_pg};
use crate::error::{Error, Result};
use crate::spi::{read_row, run};

#[pg_extern(sql = r#"
CREATE FUNCTION credential_vault.set_authorizer(authorizer regprocedure) RETURNS void
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c AS 'MODULE_PATHNAME', 'set_authorizer_wrapper';
COMMENT ON FUNCTION credential_vault.set_authorizer(regprocedure) IS
    'Registers the function (integration_id uuid) -> boolean, with its own search_path, that decides whether the calling authenticated user may store, rotate, delete and list an integration''s credentials. It is called with the caller''s identity, and only if the caller holds EXECUTE on it.';
REVOKE ALL ON FUNCTION credential_vault.set_authorizer(regprocedure) FROM PUBLIC;
"#)]
fn set_authorizer(authorizer: Option<pg_sys::Oid>) {
    crate::raise_on_error(|| {
        require_service("register the authorizer of")?;
        let authorizer = authorizer.ok_or(Error::NullArgument("authorizer"))?;
        as_owner(|| {
            check_callback(authorizer, "16", "2950", Error::InvalidAuthorizer)?;
            run(
                "insert into credential_vault.authorizer (authorizer) \
                 values ($1::pg_catalog.oid::pg_catalog.regprocedure::pg_catalog.text) \
                 on conflict (singleton) do update set authorizer = excluded.authorizer",
                &[authorizer.into()],
            )
        })
    })
}

#[pg_extern(sql = r#"
CREATE FUNCTION credential_vault.set_link_hook(hook regprocedure) RETURNS void
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c AS 'MODULE_PATHNAME', 'set_link_hook_wrapper';
COMMENT ON FUNCTION credential_vault.set_link_hook(regprocedure) IS
    'Registers the function (integration_id uuid, vault_secret_id uuid, linked boolean) -> void, with its own search_path, that the extension calls, in the same transaction and with the rights of the role registering it (while that role holds EXECUTE on it), whenever a secret starts (linked) or stops belonging to an integration. Its errors abort the operation; no_data_found means the integration does not exist.';
REVOKE ALL ON FUNCTION credential_vault.set_link_hook(regprocedure) FROM PUBLIC;
"#)]
fn set_link_hook(hook: Option<pg_sys::Oid>) {
    crate::raise_on_error(|| {
        require_service("register the link hook of")?;
        let hook = hook.ok_or(Error::NullArgument("hook"))?;
        // SAFETY: the current user id of this backend.
        let registrant = unsafe { pg_sys::GetUserId() };
        as_owner(|| {
            check_callback(hook, "2278", "2950 2950 16", Error::InvalidLinkHook)?;
            run(
                "insert into credential_vault.link_hook (hook, registered_by) \
                 values ($1::pg_catalog.oid::pg_catalog.regprocedure::pg_catalog.text, \
                         $2::pg_catalog.oid::pg_catalog.regrole) \
                 on conflict (singleton) do update \
                   set hook = excluded.hook, registered_by = excluded.registered_by",
                &[hook.into(), registrant.into()],
            )
        })
    })
}

/// Refuses a function to register unless it is a plain function returning `returns` (a type
/// oid) from exactly `arguments` (an oidvector's text) and sets its own search_path: without
/// one it would run under the calling function's path.
fn check_callback(
    function: pg_sys::Oid,
    returns: &str,
    arguments: &str,
    invalid: Error,
) -> Result<()> {
    let verdict = read_row(
        "select p.prokind = 'f' and not p.proretset \
                and p.prorettype = $2::pg_catalog.oid and p.proargtypes = $3::pg_catalog.oidvector, \
                exists (select from pg_catalog.unnest(p.proconfig) setting \
                        where setting like 'search\\_path=%') \
         from pg_catalog.pg_proc p where p.oid = $1",
        &[function.into(), returns.into(), arguments.into()],
        |row| Ok((row.get::<bool>(1)?, row.get::<bool>(2)?)),
    )?;
    match verdict {
        Some((Some(true), Some(true))) => Ok(()),
        Some((Some(true), _)) => Err(Error::CallbackWithoutSearchPath),
        _ => Err(invalid),
    }
}

/// Fails unless `function` exists (`missing` otherwise) and `role` holds EXECUTE on it, as a
/// call from SQL would require (`denied` otherwise): fmgr, which calls the registered
/// functions, checks no privilege, and a registration does not keep its function from being
/// dropped.
pub fn require_callable(
    function: pg_sys::Oid,
    role: pg_sys::Oid,
    missing: Error,
    denied: Error,
) -> Result<()> {
    // SAFETY: a syscache probe by oid, then a privilege check of a function that exists.
    unsafe {
        let exists = pg_sys::SearchSysCacheExists(
            pg_sys::SysCacheIdentifier::PROCOID as i32,
            function.into(),
            0.into(),
            0.into(),
            0.into(),
        );
        if !exists {
            return Err(missing);
        }
        let execute = pg_sys::ACL_EXECUTE as pg_sys::AclMode;
        // PostgreSQL 16 replaced pg_proc_aclcheck by the catalog-generic object_aclcheck.
        #[cfg(feature = "pg15")]
        let granted = pg_sys::pg_proc_aclcheck(function, role, execute);
        #[cfg(not(feature = "pg15"))]
        let granted = pg_sys::object_aclcheck(pg_sys::ProcedureRelationId, function, role, execute);
        if granted != pg_sys::AclResult::ACLCHECK_OK {
            return Err(denied);
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
struct LinkHook {
    function: pg_sys::Oid,
    registrant: pg_sys::Oid,
}

thread_local! {
    static AUTHORIZER: Cell<Option<Option<pg_sys::Oid>>> = const { Cell::new(None) };
    static LINK_HOOK: Cell<Option<Option<LinkHook>>> = const { Cell::new(None) };
}

/// Called on every relation cache invalidation: a change of the registrations, and also
/// creating, updating or dropping the extension.
pub fn forget_registrations() {
    AUTHORIZER.set(None);
    LINK_HOOK.set(None);
}

/// Apart from this file's `Result`, which pgrx's trigger wrapper would take for its own.
mod announce {
    use pgrx::prelude::*;

    #[pg_trigger(sql = r#"
    CREATE FUNCTION credential_vault.forget_cached_registrations() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'forget_cached_registrations_wrapper';
    COMMENT ON FUNCTION credential_vault.forget_cached_registrations() IS
        'Tells every backend, when the change commits, to read the registered authorizer and link hook again.';
    REVOKE ALL ON FUNCTION credential_vault.forget_cached_registrations() FROM PUBLIC;
    CREATE TRIGGER forget_cached_authorizer
        AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON credential_vault.authorizer
        FOR EACH STATEMENT EXECUTE FUNCTION credential_vault.forget_cached_registrations();
    CREATE TRIGGER forget_cached_link_hook
        AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON credential_vault.link_hook
        FOR EACH STATEMENT EXECUTE FUNCTION credential_vault.forget_cached_registrations();
    "#)]
    fn forget_cached_registrations<'a>(
        trigger: &'a PgTrigger<'a>,
    ) -> std::result::Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgTriggerError> {
        // SAFETY: queues an invalidation of the trigger's own table, sent to every backend on commit.
        unsafe { pg_sys::CacheInvalidateRelcacheByRelid(trigger.relation()?.oid()) };
        Ok(None)
    }
}

/// `cache`'s value, read with `read` unless this backend holds it.
fn cached<T: Copy + 'static>(
    cache: &'static LocalKey<Cell<Option<T>>>,
    read: impl FnOnce() -> Result<T>,
) -> Result<T> {
    if let Some(value) = cache.get() {
        return Ok(value);
    }
    let value = read()?;
    cache.set(Some(value));
    Ok(value)
}

/// The registered authorizer, if any (see `credential_vault.set_authorizer`).
pub fn authorizer() -> Result<Option<pg_sys::Oid>> {
    cached(&AUTHORIZER, || {
        as_owner(|| {
            read_row(
                "select pg_catalog.to_regprocedure(authorizer)::pg_catalog.oid \
                 from credential_vault.authorizer",
                &[],
                |row| row.get::<pg_sys::Oid>(1),
            )
        })
        .map(Option::flatten)
    })
}

fn link_hook() -> Result<Option<LinkHook>> {
    cached(&LINK_HOOK, || {
        let registered = as_owner(|| {
            read_row(
                "select pg_catalog.to_regprocedure(hook)::pg_catalog.oid, registered_by::pg_catalog.oid \
                 from credential_vault.link_hook",
                &[],
                |row| Ok((row.get::<pg_sys::Oid>(1)?, row.get::<pg_sys::Oid>(2)?)),
            )
        })?;
        Ok(match registered {
            // A registered name that no longer resolves stays a registration: calling it fails.
            Some((function, Some(registrant))) => Some(LinkHook {
                function: function.unwrap_or(pg_sys::InvalidOid),
                registrant,
            }),
            _ => None,
        })
    })
}

/// Tells the application that secret `id` now belongs to `integration` (`linked`) or no longer
/// does. The hook runs with the rights of the role that registered it, never the extension
/// owner's, and only while that role holds EXECUTE on it; its errors (an integration that already has credentials, say) abort the operation,
/// and its no_data_found (P0002) means the integration does not exist (PT404 for the caller).
pub fn notify_link(integration: Uuid, id: Uuid, linked: bool) -> Result<()> {
    let Some(hook) = link_hook()? else {
        return Ok(());
    };
    require_callable(
        hook.function,
        hook.registrant,
        Error::LinkHookUnusable,
        Error::LinkHookNotPermitted,
    )?;
    as_role(hook.registrant, || {
        let call = || {
            // SAFETY: the hook's signature (uuid, uuid, boolean) -> void was checked when it was
            // registered, and it still exists (checked above).
            unsafe {
                call_void(
                    hook.function,
                    [
                        to_pg(integration).into_datum(),
                        to_pg(id).into_datum(),
                        linked.into_datum(),
                    ],
                )
            }
        };
        match std::panic::catch_unwind(AssertUnwindSafe(call)) {
            Ok(()) => Ok(()),
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

/// Calls a function returning void by its oid, with non-null arguments. PostgreSQL's
/// OidFunctionCall would refuse the NULL result an SQL-language void function gives.
///
/// # Safety
/// `function` must take exactly these arguments' types.
unsafe fn call_void<const N: usize>(function: pg_sys::Oid, args: [Option<pg_sys::Datum>; N]) {
    // SAFETY: the layout fmgr.h's LOCAL_FCINFO gives: the base struct followed by N arguments,
    // zeroed; every PostgreSQL call below is guarded, so its errors unwind as Rust panics.
    unsafe {
        let mut flinfo = pg_sys::FmgrInfo::default();
        pg_sys::fmgr_info(function, &mut flinfo);
        let fcinfo = pg_sys::palloc0(
            size_of::<pg_sys::FunctionCallInfoBaseData>() + size_of::<pg_sys::NullableDatum>() * N,
        )
        .cast::<pg_sys::FunctionCallInfoBaseData>();
        (*fcinfo).flinfo = &mut flinfo;
        (*fcinfo).fncollation = pg_sys::InvalidOid;
        (*fcinfo).nargs = N as i16;
        for (slot, value) in (*fcinfo).args.as_mut_slice(N).iter_mut().zip(args) {
            slot.value = value.expect("uuid and boolean arguments are never null");
            slot.isnull = false;
        }
        let entry = flinfo.fn_addr.expect("fmgr_info sets the entry point");
        pg_sys::ffi::pg_guard_ffi_boundary(|| entry(fcinfo));
        pg_sys::pfree(fcinfo.cast());
    }
}
