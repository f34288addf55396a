-- The meeting points with the credential_vault extension, all of them set up here by postgres (the
-- extension's after-create script grants what that needs) and all carried by pg_dump: the
-- registrations live in the extension's configuration tables, the triggers on the app's table.
--   * the authorizer it consults for authenticated callers;
--   * the link hook that keeps organization_integrations.credential_vault_id in step with the
--     extension's credentials, in the same transaction as every store, rotate and delete;
--   * deleting an integration (or its organization) deletes its credentials;
--   * a report of links out of step, with a repair.

-- "May the calling user manage this integration?": yes for an admin of the organization that owns
-- it. The extension calls it with the caller's identity (current_user authenticated, auth.uid()
-- readable) and answers PT404 on false, the same as for a missing integration.
create or replace function private.can_manage_integration(integration_id uuid)
returns boolean
language sql stable security definer
set search_path = ''
as $$
  select exists (
    select 1
    from public.organization_integrations i
    join public.organization_members m on m.organization_id = i.organization_id
    where i.id = can_manage_integration.integration_id
      and m.user_id = auth.uid()
      and m.role = 'admin'
  )
$$;
comment on function private.can_manage_integration(uuid) is
  'credential_vault''s authorizer: true when auth.uid() is an admin of the organization owning the integration.';
revoke all on function private.can_manage_integration(uuid) from public;
grant execute on function private.can_manage_integration(uuid) to authenticated, service_role;

-- An upsert of the extension's single authorizer row: re-running it changes nothing.
do $$
begin
  perform credential_vault.set_authorizer('private.can_manage_integration(uuid)'::regprocedure);
end
$$;

-- The link hook: the extension calls it, in the same transaction, whenever a secret starts
-- (linked) or stops belonging to an integration: store, both halves of rotate, delete, purge, and
-- the health report's repair. Its messages reach the caller unchanged (but for its
-- no_data_found, which the extension raises as PT404) and never carry a credential.
create or replace function private.sync_integration_credential_link(
  integration_id uuid, vault_secret_id uuid, linked boolean)
returns void
language plpgsql security definer
set search_path = ''
as $$
begin
  if not linked then
    update public.organization_integrations i
    set credential_vault_id = null
    where i.credential_vault_id = sync_integration_credential_link.vault_secret_id;
    return;
  end if;
  -- One statement: its row lock serializes concurrent stores for one integration, and the
  -- second, once the first commits, finds the row linked to another secret and updates nothing.
  update public.organization_integrations i
  set credential_vault_id = sync_integration_credential_link.vault_secret_id
  where i.id = sync_integration_credential_link.integration_id
    and (i.credential_vault_id is null
         or i.credential_vault_id = sync_integration_credential_link.vault_secret_id);
  if found then
    return;
  end if;
  if exists (select from public.organization_integrations i
             where i.id = sync_integration_credential_link.integration_id) then
    raise exception using
      errcode = 'unique_violation',
      message = 'integration already has credentials; rotate or delete them';
  end if;
  raise exception using errcode = 'no_data_found', message = 'integration not found';
end
$$;
comment on function private.sync_integration_credential_link(uuid, uuid, boolean) is
  'credential_vault''s link hook: keeps organization_integrations.credential_vault_id in step with the integration''s credentials.';
revoke all on function private.sync_integration_credential_link(uuid, uuid, boolean) from public;

-- An upsert of the extension's single link hook row, which runs the hook as postgres.
do $$
begin
  perform credential_vault.set_link_hook('private.sync_integration_credential_link(uuid, uuid, boolean)'::regprocedure);
end
$$;

-- An integration was deleted (directly or by its organization's cascade): delete its secrets.
-- AFTER, not BEFORE: the purge's own unlink trigger must find the row already gone.
-- Owned by postgres, which holds EXECUTE on purge_integration through the extension's
-- after-create script; nobody else may call it.
create or replace function private.purge_deleted_integration_credentials()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform credential_vault.purge_integration(old.id);
  return null;
end
$$;

-- Whoever writes organization_integrations directly (service_role included; authenticated has
-- no column privilege on it anyway), credential_vault_id can only take the value that
-- credential_vault.credentials holds for the integration, and ids never change (the extension's
-- rows refer to them).
create or replace function private.guard_integration_credentials_reference()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  consistent boolean;
begin
  if tg_op = 'UPDATE' and new.id is distinct from old.id then
    raise exception using
      errcode = 'insufficient_privilege',
      message = 'the id of an integration cannot change';
  end if;
  if tg_op = 'INSERT' or new.credential_vault_id is distinct from old.credential_vault_id then
    if new.credential_vault_id is null then
      consistent := not exists (select 1 from credential_vault.credentials c where c.integration_id = new.id);
    else
      consistent := exists (select 1 from credential_vault.credentials c
                            where c.vault_secret_id = new.credential_vault_id
                              and c.integration_id = new.id);
    end if;
    if not consistent then
      raise exception using
        errcode = 'insufficient_privilege',
        message = 'credential_vault_id is set only by the credential functions',
        hint = 'use vault_store_integration_credentials, vault_rotate_integration_credentials or vault_delete_integration_credentials';
    end if;
  end if;
  return new;
end
$$;

-- Trigger functions cannot be called directly; no EXECUTE is needed to fire them.
revoke all on function
  private.purge_deleted_integration_credentials(),
  private.guard_integration_credentials_reference()
from public;

create or replace trigger organization_integrations_purge_credentials
  after delete on public.organization_integrations
  for each row execute function private.purge_deleted_integration_credentials();
create or replace trigger organization_integrations_guard_credential_vault_id
  before insert or update on public.organization_integrations
  for each row execute function private.guard_integration_credentials_reference();

-- Links out of step with the extension's credentials (after a restore of an old dump, say): an
-- integration whose credential_vault_id names no credentials of its own, or that has credentials
-- but no link. With repair, each is pointed at the integration's newest credentials, or cleared.
-- Run credential_vault.health_report(true) first: it removes references whose Vault secret is gone.
create or replace function private.credential_link_report(repair boolean default false)
returns table (problem text, integration_id uuid, credential_vault_id uuid, repaired boolean)
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  newest uuid;
begin
  for problem, integration_id, credential_vault_id in
    select case when i.credential_vault_id is null then 'link missing' else 'link dangling' end,
           i.id, i.credential_vault_id
    from public.organization_integrations i
    where (i.credential_vault_id is null
           and exists (select from credential_vault.credentials c where c.integration_id = i.id))
       or (i.credential_vault_id is not null
           and not exists (select from credential_vault.credentials c
                           where c.vault_secret_id = i.credential_vault_id and c.integration_id = i.id))
    order by i.id
  loop
    repaired := repair;
    if repair then
      select c.vault_secret_id into newest
      from credential_vault.credentials c
      where c.integration_id = credential_link_report.integration_id
      order by c.created_at desc, c.vault_secret_id
      limit 1;
      update public.organization_integrations i
      set credential_vault_id = newest
      where i.id = credential_link_report.integration_id;
    end if;
    return next;
  end loop;
end
$$;
comment on function private.credential_link_report(boolean) is
  'Integrations whose credential_vault_id is out of step with credential_vault.credentials; with repair, fixes each. References only, never a value.';
revoke all on function private.credential_link_report(boolean) from public;
