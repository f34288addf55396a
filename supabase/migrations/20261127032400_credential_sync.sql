-- The meeting points with the credential_vault extension:
--   * the authorizer it consults for authenticated callers;
--   * organization_integrations.credential_vault_id kept in step with the extension's
--     credential_vault.credentials rows, in the same transaction as every store, rotate and delete;
--   * deleting an integration (or its organization) deletes its credentials.

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

-- A secret was stored for an integration (store, or the second half of rotate): link it.
-- The extension writes credential_vault.credentials as its owner; the messages below reach the
-- caller through its wrappers (P0002 becomes PT404) and never carry a credential.
create or replace function private.link_integration_credentials()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  linked uuid;
begin
  -- FOR UPDATE serializes concurrent stores for one integration: the second sees the first's link.
  select i.credential_vault_id into linked
  from public.organization_integrations i
  where i.id = new.integration_id
  for update;
  if not found then
    raise exception using errcode = 'no_data_found', message = 'integration not found';
  end if;
  if linked is not null and linked <> new.vault_secret_id then
    raise exception using
      errcode = 'unique_violation',
      message = 'integration already has credentials; rotate or delete them';
  end if;
  update public.organization_integrations i
  set credential_vault_id = new.vault_secret_id
  where i.id = new.integration_id;
  return null;
end
$$;

-- A secret was deleted (delete, the first half of rotate, or a purge): unlink it.
create or replace function private.unlink_integration_credentials()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  update public.organization_integrations i
  set credential_vault_id = null
  where i.credential_vault_id = old.vault_secret_id;
  return null;
end
$$;

-- An integration was deleted (directly or by its organization's cascade): delete its secrets.
-- AFTER, not BEFORE: the purge's own unlink trigger must find the row already gone.
-- Owned by the superuser running the migrations, who alone may execute purge_integration.
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
  private.link_integration_credentials(),
  private.unlink_integration_credentials(),
  private.purge_deleted_integration_credentials(),
  private.guard_integration_credentials_reference()
from public;

create or replace trigger organization_integrations_link
  after insert on credential_vault.credentials
  for each row execute function private.link_integration_credentials();
create or replace trigger organization_integrations_unlink
  after delete on credential_vault.credentials
  for each row execute function private.unlink_integration_credentials();
create or replace trigger organization_integrations_purge_credentials
  after delete on public.organization_integrations
  for each row execute function private.purge_deleted_integration_credentials();
create or replace trigger organization_integrations_guard_credential_vault_id
  before insert or update on public.organization_integrations
  for each row execute function private.guard_integration_credentials_reference();
