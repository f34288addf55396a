//! What the application and an operator call besides the five operations: the purge for the
//! application's "integration deleted" trigger, and the values-free health report with its repair.
//! EXECUTE on both is revoked from PUBLIC; on Supabase the after-create script grants it to
//! `postgres`.

use pgrx::prelude::*;

use crate::caller::{acting_role, as_owner, from_pg, to_pg};
use crate::operations::{remove_secret, require_vault, require_writable};
use crate::raise_on_error;
use crate::spi::{read_rows, uuid_arg};

#[pg_extern(sql = r#"
CREATE FUNCTION credential_vault.purge_integration(integration_id uuid) RETURNS integer
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c AS 'MODULE_PATHNAME', 'purge_integration_wrapper';
COMMENT ON FUNCTION credential_vault.purge_integration(uuid) IS
    'Deletes every credential of an integration, Vault secrets included, tells the link hook and audits each removal; returns how many. For the application''s "integration deleted" trigger.';
REVOKE ALL ON FUNCTION credential_vault.purge_integration(uuid) FROM PUBLIC;
"#)]
fn purge_integration(integration_id: pgrx::Uuid) -> i32 {
    raise_on_error(|| {
        require_writable()?;
        let integration = from_pg(integration_id);
        let ids = as_owner(|| {
            require_vault()?;
            read_rows(
                "select vault_secret_id from credential_vault.credentials where integration_id = $1",
                &[uuid_arg(integration)],
                |row| row.get::<pgrx::Uuid>(1),
            )
        })?;
        let role = acting_role();
        for id in ids.iter().flatten().copied().map(from_pg) {
            remove_secret("purge", &role, integration, id)?;
        }
        Ok(ids.len() as i32)
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
        if repair {
            require_writable()?;
        }
        let dangling = as_owner(|| {
            require_vault()?;
            read_rows(
                "select c.integration_id, c.vault_secret_id from credential_vault.credentials c \
                 where not exists (select from vault.secrets s where s.id = c.vault_secret_id) \
                 order by c.created_at, c.vault_secret_id",
                &[],
                |row| Ok((row.get::<pgrx::Uuid>(1)?, row.get::<pgrx::Uuid>(2)?)),
            )
        })?;
        let role = acting_role();
        let mut rows = Vec::with_capacity(dangling.len());
        for (integration, id) in dangling {
            let (Some(integration), Some(id)) = (integration.map(from_pg), id.map(from_pg)) else {
                continue;
            };
            if repair {
                remove_secret("repair", &role, integration, id)?;
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
