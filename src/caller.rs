//! Who called, and running SQL with the extension owner's rights.
//!
//! The role checks must see the role that called the function, so the functions are not
//! SECURITY DEFINER; they switch to the extension owner only around their own statements, the
//! way PostgreSQL's SECURITY DEFINER does (and restore on every exit, including errors).

use std::cell::Cell;
use std::ffi::CStr;

use pgrx::prelude::*;
use uuid::Uuid;

use crate::elog::log_server_only;
use crate::error::{Error, Result};
use crate::hooks::require_callable;
use crate::spi::read_row;

/// What the calling role may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Superusers and `service_role`: every operation, on every integration.
    Service,
    /// `authenticated`: store, rotate, delete and list on integrations the authorizer allows.
    User,
    /// Everyone else, `anon` included.
    Denied,
}

pub struct Caller {
    pub role: String,
    pub access: Access,
}

impl Caller {
    pub fn current() -> Caller {
        // SAFETY: plain catalog lookups on the current backend's user id.
        let (role, superuser) = unsafe {
            let id = pg_sys::GetUserId();
            let name = CStr::from_ptr(pg_sys::GetUserNameFromId(id, false));
            (
                name.to_string_lossy().into_owned(),
                pg_sys::superuser_arg(id),
            )
        };
        let access = match role.as_str() {
            _ if superuser => Access::Service,
            "service_role" => Access::Service,
            "authenticated" => Access::User,
            _ => Access::Denied,
        };
        Caller { role, access }
    }

    /// Fails unless the caller may perform `action` at all; `authenticated` may never retrieve.
    pub fn require(&self, action: &'static str, users_allowed: bool) -> Result<()> {
        match self.access {
            Access::Service => Ok(()),
            Access::User if users_allowed => Ok(()),
            _ => Err(self.refuse(action)),
        }
    }

    /// Logs the denial on the server only and returns the error the caller gets.
    fn refuse(&self, action: &'static str) -> Error {
        log_server_only(&format!(
            "credential_vault: denied {action} to role {}",
            self.role
        ));
        Error::RoleNotAllowed(action)
    }

    /// Asks the registered authorizer whether an `authenticated` caller may manage the
    /// integration; `not_found` is the error for "no", the same as for a missing object.
    pub fn require_manage(
        &self,
        action: &'static str,
        integration_id: Uuid,
        not_found: Error,
    ) -> Result<()> {
        if self.access == Access::Service {
            return Ok(());
        }
        let authorizer = crate::hooks::authorizer()?.ok_or(Error::NoAuthorizer)?;
        // Called with the caller's identity, so it sees who asks, and only if the caller could
        // call it from SQL: fmgr checks no EXECUTE privilege.
        // SAFETY: the current user id of this backend.
        let caller = unsafe { pg_sys::GetUserId() };
        require_callable(
            authorizer,
            caller,
            Error::NoAuthorizer,
            Error::AuthorizerNotPermitted,
        )?;
        let id = to_pg(integration_id)
            .into_datum()
            .expect("a uuid is never null");
        // SAFETY: the authorizer's signature (uuid) -> boolean is checked when it is registered.
        let allowed = unsafe {
            bool::from_datum(
                pg_sys::OidFunctionCall1Coll(authorizer, pg_sys::InvalidOid, id),
                false,
            )
        };
        if allowed == Some(true) {
            Ok(())
        } else {
            log_server_only(&format!(
                "credential_vault: denied {action} to role {} on integration {integration_id}",
                self.role
            ));
            Err(not_found)
        }
    }
}

/// Fails unless the calling role is a superuser or has `service_role`'s privileges (service_role
/// itself, or a role that inherits it: Supabase's `postgres`, which applies the migrations and
/// owns the app's functions), whatever EXECUTE grants exist: for what destroys, purges, changes
/// the window or the registrations, or reports across tenants. Inside a SECURITY DEFINER
/// function (the app's "integration deleted" trigger) the calling role is that function's owner.
pub fn require_service(action: &'static str) -> Result<()> {
    // SAFETY: catalog lookups on the current user id; missing_ok for plain PostgreSQL.
    let allowed = unsafe {
        let user = pg_sys::GetUserId();
        let service_role = pg_sys::get_role_oid(c"service_role".as_ptr(), true);
        pg_sys::superuser_arg(user)
            || (service_role != pg_sys::InvalidOid && pg_sys::has_privs_of_role(user, service_role))
    };
    if allowed {
        Ok(())
    } else {
        Err(Caller::current().refuse(action))
    }
}

/// The uuid crate's type (validation, generation) and pgrx's (SQL values) hold the same bytes.
pub fn to_pg(id: Uuid) -> pgrx::Uuid {
    pgrx::Uuid::from_bytes(*id.as_bytes())
}

pub fn from_pg(id: pgrx::Uuid) -> Uuid {
    Uuid::from_bytes(*id.as_bytes())
}

/// A server setting's current value; `None` for an unknown one.
fn setting(name: &CStr) -> Option<String> {
    // SAFETY: missing_ok = true returns NULL for an unknown setting.
    let value = unsafe { pg_sys::GetConfigOption(name.as_ptr(), true, false) };
    // SAFETY: a non-NULL result is a NUL-terminated string owned by the GUC machinery.
    (!value.is_null()).then(|| {
        unsafe { CStr::from_ptr(value) }
            .to_string_lossy()
            .into_owned()
    })
}

/// The `sub` claim of the request's JWT, as Supabase's `auth.uid()` reads it; `None` when
/// absent or not a UUID (an audit row must not fail on a malformed claim).
pub fn jwt_subject() -> Option<Uuid> {
    let sub = setting(c"request.jwt.claim.sub")
        .filter(|s| !s.is_empty())
        .or_else(|| {
            let claims: serde_json::Value =
                serde_json::from_str(&setting(c"request.jwt.claims")?).ok()?;
            claims.get("sub")?.as_str().map(str::to_owned)
        })?;
    Uuid::try_parse(&sub).ok()
}

/// The role an administrative call acts as: the `SET ROLE` in force (inside a SECURITY DEFINER
/// trigger function too), else the session's login.
pub fn acting_role() -> String {
    setting(c"role")
        .filter(|role| role != "none")
        .unwrap_or_else(|| {
            // SAFETY: a catalog lookup of the session's user id.
            unsafe { CStr::from_ptr(pg_sys::GetUserNameFromId(pg_sys::GetSessionUserId(), false)) }
                .to_string_lossy()
                .into_owned()
        })
}

/// Runs `f` with the rights of the extension's owner, restoring the caller's identity afterwards.
/// Every statement on the extension's tables runs here, so this is where an outdated schema is
/// refused.
pub fn as_owner<R>(f: impl FnOnce() -> Result<R>) -> Result<R> {
    as_role(extension_owner()?, || {
        require_current_schema()?;
        f()
    })
}

thread_local! {
    /// The extension's owner, as last looked up in this backend.
    static OWNER: Cell<Option<pg_sys::Oid>> = const { Cell::new(None) };
    /// Whether the installed extension is this library's version, as last looked up.
    static SCHEMA_CURRENT: Cell<bool> = const { Cell::new(false) };
}

/// The library serves the schema of its own version only: between installing a new library and
/// `ALTER EXTENSION credential_vault UPDATE`, a call is refused with a clear error instead of
/// failing on what the older schema lacks.
fn require_current_schema() -> Result<()> {
    if SCHEMA_CURRENT.get() {
        return Ok(());
    }
    let current = read_row(
        "select extversion = $1 from pg_catalog.pg_extension where extname = 'credential_vault'",
        &[env!("CARGO_PKG_VERSION").into()],
        |row| row.get::<bool>(1),
    )?
    .flatten();
    if current != Some(true) {
        return Err(Error::SchemaOutdated);
    }
    SCHEMA_CURRENT.set(true);
    Ok(())
}

/// The extension's owner, looked up once per backend and again after any relation cache
/// invalidation (see `forget_owner`).
fn extension_owner() -> Result<pg_sys::Oid> {
    if let Some(owner) = OWNER.get() {
        return Ok(owner);
    }
    let owner = read_row(
        "select extowner from pg_catalog.pg_extension where extname = 'credential_vault'",
        &[],
        |row| row.get::<pg_sys::Oid>(1),
    )?
    .flatten()
    .ok_or(Error::StatementFailed)?;
    OWNER.set(Some(owner));
    Ok(owner)
}

/// Dropping, re-creating, re-owning or updating the extension invalidates its tables' relation
/// cache entries, in this backend and in every other, so any such invalidation drops the cached
/// owner and version check.
pub fn forget_owner() {
    OWNER.set(None);
    SCHEMA_CURRENT.set(false);
}

/// Runs `f` with the rights of `role`, the way SECURITY DEFINER does, restoring the caller's
/// identity on every exit, errors included.
pub fn as_role<R>(role: pg_sys::Oid, f: impl FnOnce() -> R) -> R {
    struct Restore(pg_sys::Oid, i32);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: puts back exactly what GetUserIdAndSecContext returned.
            unsafe { pg_sys::SetUserIdAndSecContext(self.0, self.1) }
        }
    }
    let (mut user, mut context) = (pg_sys::InvalidOid, 0);
    // SAFETY: the same switch fmgr_security_definer makes; Restore undoes it on every exit.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
        pg_sys::SetUserIdAndSecContext(role, context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32);
    }
    let _restore = Restore(user, context);
    f()
}
