//! What the application and an operator call besides the RPC functions: the purge for the
//! application's "integration deleted" trigger, the values-free health report with its repair,
//! the recovery window and the purge of expired versions, the incident revoke, and the rotation
//! report. EXECUTE on each is revoked from PUBLIC; on Supabase the after-create script grants it
//! to `postgres`.

use pgrx::prelude::*;

use pgrx::datum::Interval;

use crate::caller::{acting_role, as_owner, from_pg, jwt_subject, require_service, to_pg};
use crate::error::{Error, Result};
use crate::hooks::notify_link;
use credential_vault_contract::{
    check_max_kept_versions, check_recovery_window, check_report_interval,
};

use crate::operations::{remove_secret, require_vault, require_writable, retire};
use crate::raise_on_error;
use crate::spi::{read_rows, run, uuid_arg, write_row, write_rows};

#[pg_extern(sql = r#"
CREATE FUNCTION credential_vault.purge_integration(integration_id uuid) RETURNS integer
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c AS 'MODULE_PATHNAME', 'purge_integration_wrapper';
COMMENT ON FUNCTION credential_vault.purge_integration(uuid) IS
    'Destroys every version of an integration''s credentials, kept ones too, Vault secrets included, tells the link hook of the current ones and audits each removal; returns how many. For the application''s "integration deleted" trigger.';
REVOKE ALL ON FUNCTION credential_vault.purge_integration(uuid) FROM PUBLIC;
"#)]
fn purge_integration(integration_id: pgrx::Uuid) -> i32 {
    raise_on_error(|| {
        require_service("purge")?;
        require_writable()?;
        let integration = from_pg(integration_id);
        let versions = as_owner(|| {
            require_vault()?;
            read_rows(
                "select vault_secret_id, state = 'current' from credential_vault.credentials \
                 where integration_id = $1",
                &[uuid_arg(integration)],
                |row| Ok((row.get::<pgrx::Uuid>(1)?, row.get::<bool>(2)?)),
            )
        })?;
        let role = acting_role();
        for (id, current) in &versions {
            if let Some(id) = id {
                remove_secret(
                    "purge",
                    &role,
                    integration,
                    from_pg(*id),
                    *current == Some(true),
                )?;
            }
        }
        Ok(versions.len() as i32)
    })
}

#[pg_extern(sql = r#"
CREATE FUNCTION credential_vault.delete_integration_credentials(integration_id uuid) RETURNS integer
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c AS 'MODULE_PATHNAME', 'delete_integration_credentials_wrapper';
COMMENT ON FUNCTION credential_vault.delete_integration_credentials(uuid) IS
    'The integration was deleted: each of its current credentials becomes a kept deleted version for the recovery window, as vault_delete_integration_credentials does (the link hook told, audited as delete); kept versions keep their own window. Returns how many. For the application''s "integration deleted" trigger.';
REVOKE ALL ON FUNCTION credential_vault.delete_integration_credentials(uuid) FROM PUBLIC;
"#)]
fn delete_integration_credentials(integration_id: pgrx::Uuid) -> i32 {
    raise_on_error(|| {
        require_service("delete")?;
        require_writable()?;
        let integration = from_pg(integration_id);
        let current = as_owner(|| {
            require_vault()?;
            read_rows(
                "select vault_secret_id from credential_vault.credentials \
                 where integration_id = $1 and state = 'current' \
                 order by created_at, vault_secret_id",
                &[uuid_arg(integration)],
                |row| row.get::<pgrx::Uuid>(1),
            )
        })?;
        let role = acting_role();
        let current: Vec<_> = current.into_iter().flatten().map(from_pg).collect();
        for id in &current {
            retire(&role, integration, *id, "deleted", None)?;
            crate::audit::write("delete", &role, integration, *id, None)?;
        }
        Ok(current.len() as i32)
    })
}

#[pg_extern(sql = r#"
CREATE FUNCTION credential_vault.health_report(repair boolean DEFAULT false)
RETURNS TABLE (problem text, integration_id uuid, vault_secret_id uuid, repaired boolean)
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c AS 'MODULE_PATHNAME', 'health_report_wrapper';
COMMENT ON FUNCTION credential_vault.health_report(boolean) IS
    'References whose Vault secret is gone (deleted around the extension). With repair, removes each such reference, tells the link hook and audits it as repair. Never a value.';
REVOKE ALL ON FUNCTION credential_vault.health_report(boolean) FROM PUBLIC;
"#)]
fn health_report(
    repair: bool,
) -> TableIterator<
    'static,
    (
        name!(problem, String),
        name!(integration_id, pgrx::Uuid),
        name!(vault_secret_id, pgrx::Uuid),
        name!(repaired, bool),
    ),
> {
    raise_on_error(|| {
        require_service("check the health of")?;
        if repair {
            require_writable()?;
        }
        let dangling = as_owner(|| {
            require_vault()?;
            read_rows(
                "select c.integration_id, c.vault_secret_id, c.state = 'current' \
                 from credential_vault.credentials c \
                 where not exists (select from vault.secrets s where s.id = c.vault_secret_id) \
                 order by c.created_at, c.vault_secret_id",
                &[],
                |row| {
                    Ok((
                        row.get::<pgrx::Uuid>(1)?,
                        row.get::<pgrx::Uuid>(2)?,
                        row.get::<bool>(3)?,
                    ))
                },
            )
        })?;
        let role = acting_role();
        let mut rows = Vec::with_capacity(dangling.len());
        for (integration, id, current) in dangling {
            let (Some(integration), Some(id)) = (integration.map(from_pg), id.map(from_pg)) else {
                continue;
            };
            if repair {
                remove_secret("repair", &role, integration, id, current == Some(true))?;
            }
            rows.push((
                "vault secret missing".to_owned(),
                to_pg(integration),
                to_pg(id),
                repair,
            ));
        }
        Ok(TableIterator::new(rows))
    })
}

#[pg_extern(sql = r#"
CREATE FUNCTION credential_vault.set_recovery_window(recovery_window interval) RETURNS void
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c AS 'MODULE_PATHNAME', 'set_recovery_window_wrapper';
COMMENT ON FUNCTION credential_vault.set_recovery_window(interval) IS
    'How long a rotated-away, replaced or deleted secret is kept, restorable, before purge_expired() destroys it: 0 to 365 days, in days or smaller units (each day 24 hours), never months or years; 0 destroys at once. Default 7 days. Audited in credential_vault.settings_audit. For the application''s migrations.';
REVOKE ALL ON FUNCTION credential_vault.set_recovery_window(interval) FROM PUBLIC;
"#)]
fn set_recovery_window(recovery_window: Option<Interval>) {
    raise_on_error(|| {
        require_service("set the recovery window of")?;
        check_recovery_window(recovery_window.map(contract_interval))?;
        require_writable()?;
        change_setting(
            "with old as (select recovery_window::text as value from credential_vault.settings), \
             changed as ( \
               insert into credential_vault.settings (recovery_window) values ($1) \
               on conflict (singleton) do update set recovery_window = excluded.recovery_window \
               where settings.recovery_window is distinct from excluded.recovery_window \
               returning recovery_window::text as value) \
             insert into credential_vault.settings_audit (setting, old_value, new_value, actor_role, actor_uid) \
             select 'recovery_window', (select value from old), value, $2, $3 from changed",
            recovery_window.into(),
        )
    })
}

#[pg_extern(sql = r#"
CREATE FUNCTION credential_vault.set_max_kept_versions(max_kept_versions integer) RETURNS void
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c AS 'MODULE_PATHNAME', 'set_max_kept_versions_wrapper';
COMMENT ON FUNCTION credential_vault.set_max_kept_versions(integer) IS
    'How many kept versions one integration may have, 1 to 1000 (default 100): when a version becomes a kept one beyond it, the oldest kept ones are destroyed and audited as expire; the current one never. Audited in credential_vault.settings_audit.';
REVOKE ALL ON FUNCTION credential_vault.set_max_kept_versions(integer) FROM PUBLIC;
"#)]
fn set_max_kept_versions(max_kept_versions: Option<i32>) {
    raise_on_error(|| {
        require_service("set the kept versions of")?;
        let most = check_max_kept_versions(max_kept_versions)?;
        require_writable()?;
        change_setting(
            "with old as (select max_kept_versions::text as value from credential_vault.settings), \
             changed as ( \
               insert into credential_vault.settings (max_kept_versions) values ($1) \
               on conflict (singleton) do update set max_kept_versions = excluded.max_kept_versions \
               where settings.max_kept_versions is distinct from excluded.max_kept_versions \
               returning max_kept_versions::text as value) \
             insert into credential_vault.settings_audit (setting, old_value, new_value, actor_role, actor_uid) \
             select 'max_kept_versions', (select value from old), value, $2, $3 from changed",
            most.into(),
        )
    })
}

/// Runs a setting's upsert-and-audit statement with the new value as $1 and the acting role
/// and its auth.uid() as $2 and $3: a value set again unchanged writes and audits nothing.
fn change_setting(sql: &'static str, value: pgrx::datum::DatumWithOid<'static>) -> Result<()> {
    let role = acting_role();
    as_owner(|| {
        run(
            sql,
            &[value, role.as_str().into(), jwt_subject().map(to_pg).into()],
        )
    })
}

/// An interval's fields, for the contract's rules.
fn contract_interval(interval: Interval) -> credential_vault_contract::Interval {
    credential_vault_contract::Interval {
        months: interval.months(),
        days: interval.days(),
        micros: interval.micros(),
    }
}

#[pg_extern(sql = r#"
CREATE FUNCTION credential_vault.purge_expired() RETURNS integer
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c AS 'MODULE_PATHNAME', 'purge_expired_wrapper';
COMMENT ON FUNCTION credential_vault.purge_expired() IS
    'Destroys every kept version past its recovery window, Vault secrets included, audits each as expire, and returns how many. Schedule it, with pg_cron for example.';
REVOKE ALL ON FUNCTION credential_vault.purge_expired() FROM PUBLIC;
"#)]
fn purge_expired() -> i32 {
    raise_on_error(|| {
        require_service("purge")?;
        require_writable()?;
        let role = acting_role();
        as_owner(|| {
            require_vault()?;
            // Kept versions are linked to nothing: no link hook to tell.
            write_row(
                "with gone as ( \
                   delete from credential_vault.credentials \
                   where state <> 'current' and destroy_after <= now() \
                   returning integration_id, vault_secret_id), \
                 secrets as (delete from vault.secrets s using gone where s.id = gone.vault_secret_id), \
                 audited as ( \
                   insert into credential_vault.audit_log \
                     (action, actor_role, actor_uid, integration_id, vault_secret_id) \
                   select 'expire', $1, $2, integration_id, vault_secret_id from gone returning 1) \
                 select count(*)::integer from audited",
                &[role.as_str().into(), jwt_subject().map(to_pg).into()],
                |row| row.get::<i32>(1),
            )
        })
        .map(|count| count.flatten().unwrap_or(0))
    })
}

#[pg_extern(sql = r#"
CREATE FUNCTION credential_vault.revoke_integration_credentials(integration_ids uuid[])
RETURNS TABLE (integration_id uuid, vault_secret_id uuid, created_at timestamptz, state text)
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c AS 'MODULE_PATHNAME', 'revoke_integration_credentials_wrapper';
COMMENT ON FUNCTION credential_vault.revoke_integration_credentials(uuid[]) IS
    'Incident response: destroys every version of these integrations'' credentials at once, no recovery, tells the link hook of each current one, audits each as revoke, and returns what was destroyed. Never a value.';
REVOKE ALL ON FUNCTION credential_vault.revoke_integration_credentials(uuid[]) FROM PUBLIC;
"#)]
fn revoke_integration_credentials(
    integration_ids: Vec<Option<pgrx::Uuid>>,
) -> TableIterator<
    'static,
    (
        name!(integration_id, pgrx::Uuid),
        name!(vault_secret_id, pgrx::Uuid),
        name!(created_at, TimestampWithTimeZone),
        name!(state, String),
    ),
> {
    raise_on_error(|| {
        require_service("revoke")?;
        require_writable()?;
        require_read_committed()?;
        let ids: Vec<pgrx::Uuid> = integration_ids.into_iter().flatten().collect();
        let role = acting_role();
        // The fence: SHARE ROW EXCLUSIVE conflicts with the ROW EXCLUSIVE lock every write of
        // credentials takes before it locks or writes a row (store, rotate, delete, restore,
        // destroy, purges), and with itself. It waits for the writes in flight to commit, which
        // the next statement's snapshot then sees and revokes with the rest, and holds every
        // later write off until this transaction ends. Reads (retrieve, list) are not held up.
        // One statement for every version, then the link hook for each current one: the
        // application's own checks see the credentials gone.
        let destroyed = as_owner(|| {
            require_vault()?;
            run(
                "lock table credential_vault.credentials in share row exclusive mode",
                &[],
            )?;
            write_rows(
                "with gone as ( \
                   delete from credential_vault.credentials where integration_id = any($1) \
                   returning integration_id, vault_secret_id, created_at, state), \
                 secrets as (delete from vault.secrets s using gone where s.id = gone.vault_secret_id), \
                 audited as ( \
                   insert into credential_vault.audit_log \
                     (action, actor_role, actor_uid, integration_id, vault_secret_id) \
                   select 'revoke', $2, $3, integration_id, vault_secret_id from gone) \
                 select integration_id, vault_secret_id, created_at, state from gone \
                 order by integration_id, created_at, vault_secret_id",
                &[
                    ids.into(),
                    role.as_str().into(),
                    jwt_subject().map(to_pg).into(),
                ],
                |row| {
                    Ok((
                        row.get::<pgrx::Uuid>(1)?,
                        row.get::<pgrx::Uuid>(2)?,
                        row.get::<TimestampWithTimeZone>(3)?,
                        row.get::<String>(4)?,
                    ))
                },
            )
        })?;
        let mut rows = Vec::with_capacity(destroyed.len());
        for row in destroyed {
            let (Some(integration), Some(id), Some(created_at), Some(state)) = row else {
                continue;
            };
            if state == "current" {
                notify_link(from_pg(integration), from_pg(id), false)?;
            }
            rows.push((integration, id, created_at, state));
        }
        Ok(TableIterator::new(rows))
    })
}

/// The fence holds only if the revoke's statement sees what committed while it waited for the
/// lock: under READ COMMITTED its snapshot is taken after the lock, under REPEATABLE READ and
/// SERIALIZABLE it was taken when the transaction's first statement started.
fn require_read_committed() -> Result<()> {
    // SAFETY: reads the current transaction's isolation level, a backend global.
    let level = unsafe { pg_sys::XactIsoLevel };
    if level >= pg_sys::XACT_REPEATABLE_READ as i32 {
        return Err(Error::RevokeNeedsReadCommitted);
    }
    Ok(())
}

#[pg_extern(sql = r#"
CREATE FUNCTION credential_vault.rotation_report(
    older_than interval DEFAULT '90 days', expiring_within interval DEFAULT '7 days',
    integration_ids uuid[] DEFAULT NULL)
RETURNS TABLE (integration_id uuid, vault_secret_id uuid, created_at timestamptz, age interval,
               expires_at timestamptz, reason text)
STABLE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c AS 'MODULE_PATHNAME', 'rotation_report_wrapper';
COMMENT ON FUNCTION credential_vault.rotation_report(interval, interval, uuid[]) IS
    'Current credentials due for rotation: older than older_than, or past or within expiring_within of their expires_at (each 0 to 3650 days); of the integrations given (found by index: the cost is theirs alone), or of all when NULL; with their age and why. Never a value.';
REVOKE ALL ON FUNCTION credential_vault.rotation_report(interval, interval, uuid[]) FROM PUBLIC;
"#)]
fn rotation_report(
    older_than: Option<Interval>,
    expiring_within: Option<Interval>,
    integration_ids: Option<Vec<Option<pgrx::Uuid>>>,
) -> TableIterator<
    'static,
    (
        name!(integration_id, pgrx::Uuid),
        name!(vault_secret_id, pgrx::Uuid),
        name!(created_at, TimestampWithTimeZone),
        name!(age, Interval),
        name!(expires_at, Option<TimestampWithTimeZone>),
        name!(reason, String),
    ),
> {
    raise_on_error(|| {
        require_service("report on")?;
        check_report_interval("older_than", older_than.map(contract_interval))?;
        check_report_interval("expiring_within", expiring_within.map(contract_interval))?;
        let map = |row: pgrx::spi::SpiHeapTupleData| {
            Ok((
                row.get::<pgrx::Uuid>(1)?,
                row.get::<pgrx::Uuid>(2)?,
                row.get::<TimestampWithTimeZone>(3)?,
                row.get::<Interval>(4)?,
                row.get::<TimestampWithTimeZone>(5)?,
                row.get::<String>(6)?,
            ))
        };
        let due = as_owner(|| match integration_ids {
            // Two statements rather than one with "$3 is null or ...", whose generic plan
            // would scan every tenant's credentials.
            Some(ids) => read_rows(
                "select integration_id, vault_secret_id, created_at, now() - created_at, expires_at, \
                        case when expires_at <= now() then 'expired' \
                             when expires_at <= now() + $2 then 'expires soon' \
                             else 'older than ' || $1::text end \
                 from credential_vault.credentials \
                 where integration_id = any($3) and state = 'current' \
                   and (created_at < now() - $1 or expires_at <= now() + $2) \
                 order by integration_id, created_at, vault_secret_id",
                &[
                    older_than.into(),
                    expiring_within.into(),
                    ids.into_iter().flatten().collect::<Vec<_>>().into(),
                ],
                map,
            ),
            None => read_rows(
                "select integration_id, vault_secret_id, created_at, now() - created_at, expires_at, \
                        case when expires_at <= now() then 'expired' \
                             when expires_at <= now() + $2 then 'expires soon' \
                             else 'older than ' || $1::text end \
                 from credential_vault.credentials \
                 where state = 'current' \
                   and (created_at < now() - $1 or expires_at <= now() + $2) \
                 order by integration_id, created_at, vault_secret_id",
                &[older_than.into(), expiring_within.into()],
                map,
            ),
        })?;
        Ok(TableIterator::new(due.into_iter().filter_map(
            |(integration, id, created_at, age, expires_at, reason)| {
                Some((integration?, id?, created_at?, age?, expires_at, reason?))
            },
        )))
    })
}
