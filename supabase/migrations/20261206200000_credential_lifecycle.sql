-- The credential lifecycle of credential_vault 0.4.0, for the app:
--   * the recovery window: a rotated-away, replaced or deleted secret stays restorable for 7 days
--     (vault_list_integration_credential_versions, vault_restore_integration_credentials), then
--     credential_vault.purge_expired(), scheduled by the operator, destroys it;
--   * EXECUTE on the new credential functions per the role matrix (destroy: service_role only);
--   * incident response: revoke every credential of an organization or of a provider at once,
--     with the admins to notify (service_role only);
--   * rotation due dates per organization, for its admins.

do $$
begin
  perform credential_vault.set_recovery_window(interval '7 days');
end
$$;

revoke all on function
  public.vault_store_integration_credentials(text, text, text),
  public.vault_rotate_integration_credentials(text, text, text),
  public.vault_list_integration_credential_versions(text),
  public.vault_restore_integration_credentials(text),
  public.vault_destroy_integration_credentials(text)
from public, anon, authenticated, service_role;
grant execute on function
  public.vault_store_integration_credentials(text, text, text),
  public.vault_rotate_integration_credentials(text, text, text),
  public.vault_list_integration_credential_versions(text),
  public.vault_restore_integration_credentials(text)
to authenticated, service_role;
grant execute on function public.vault_destroy_integration_credentials(text) to service_role;
grant execute on function credential_vault.revoke_integration_credentials(uuid[]) to service_role;

-- A kept version is linked to nothing: the app's guard and its link report count current
-- credentials only (the 0.3 versions counted every row, so unlinking on a rotate would be
-- refused while the old version is kept).
create or replace function private.guard_integration_credentials_reference()
returns trigger
language plpgsql security definer
set search_path = pg_catalog, pg_temp
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
      consistent := not exists (select 1 from credential_vault.credentials c
                             where c.integration_id = new.id and c.state = 'current');
    else
      consistent := exists (select 1 from credential_vault.credentials c
                            where c.vault_secret_id = new.credential_vault_id
                              and c.integration_id = new.id and c.state = 'current');
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

create or replace function private.credential_link_report(repair boolean default false)
returns table (problem text, integration_id uuid, credential_vault_id uuid, repaired boolean)
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  newest uuid;
begin
  for problem, integration_id, credential_vault_id in
    select case when i.credential_vault_id is null then 'link missing' else 'link dangling' end,
           i.id, i.credential_vault_id
    from public.organization_integrations i
    where (i.credential_vault_id is null
           and exists (select from credential_vault.credentials c
                       where c.integration_id = i.id and c.state = 'current'))
       or (i.credential_vault_id is not null
           and not exists (select from credential_vault.credentials c
                           where c.vault_secret_id = i.credential_vault_id and c.integration_id = i.id
                             and c.state = 'current'))
    order by i.id
  loop
    repaired := repair;
    if repair then
      select c.vault_secret_id into newest
      from credential_vault.credentials c
      where c.integration_id = credential_link_report.integration_id and c.state = 'current'
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

-- Destroys every version of these integrations' credentials (the extension tells the link hook
-- and audits each as revoke) and returns, per integration, its organization, its provider, how
-- many versions were destroyed and the organization's admins to notify. Never a value.
create or replace function private.revoke_integrations(integrations uuid[])
returns table (integration_id uuid, organization uuid, integration_provider text,
               versions_destroyed integer, admins_to_notify uuid[])
language sql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
  with destroyed as (
    select r.integration_id, count(*)::integer as versions
    from credential_vault.revoke_integration_credentials(revoke_integrations.integrations) r
    group by r.integration_id)
  select i.id, i.organization_id, i.provider, coalesce(d.versions, 0),
         array(select m.user_id from public.organization_members m
               where m.organization_id = i.organization_id and m.role = 'admin'
               order by m.user_id)
  from public.organization_integrations i
  left join destroyed d on d.integration_id = i.id
  where i.id = any (revoke_integrations.integrations)
  order by i.organization_id, i.id
$$;
revoke all on function private.revoke_integrations(uuid[]) from public;

create or replace function public.revoke_organization_credentials(organization_id uuid)
returns table (integration_id uuid, organization uuid, integration_provider text,
               versions_destroyed integer, admins_to_notify uuid[])
language sql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
  select * from private.revoke_integrations(array(
    select i.id from public.organization_integrations i
    where i.organization_id = revoke_organization_credentials.organization_id))
$$;
comment on function public.revoke_organization_credentials(uuid) is
  'Incident response: destroys every credential of the organization''s integrations, no recovery; returns per integration what was destroyed and the admins to notify.';

create or replace function public.revoke_provider_credentials(provider text)
returns table (integration_id uuid, organization uuid, integration_provider text,
               versions_destroyed integer, admins_to_notify uuid[])
language sql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
  select * from private.revoke_integrations(array(
    select i.id from public.organization_integrations i
    where i.provider = revoke_provider_credentials.provider))
$$;
comment on function public.revoke_provider_credentials(text) is
  'Incident response: destroys every credential of every integration with this provider, no recovery; returns per integration what was destroyed and the admins to notify.';

revoke all on function
  public.revoke_organization_credentials(uuid),
  public.revoke_provider_credentials(text)
from public, anon, authenticated, service_role;
grant execute on function
  public.revoke_organization_credentials(uuid),
  public.revoke_provider_credentials(text)
to service_role;

-- The organization's current credentials due for rotation, for its admins (anyone else gets no
-- rows): older than older_than, or past or near their expires_at. Never a value.
create or replace function public.organization_rotation_report(
  organization_id uuid, older_than interval default interval '90 days')
returns table (integration_id uuid, integration_provider text, vault_secret_id uuid,
               created_at timestamptz, age interval, expires_at timestamptz, reason text)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select r.integration_id, i.provider, r.vault_secret_id, r.created_at, r.age, r.expires_at, r.reason
  from credential_vault.rotation_report(organization_rotation_report.older_than) r
  join public.organization_integrations i on i.id = r.integration_id
  where i.organization_id = organization_rotation_report.organization_id
    and private.is_organization_admin(i.organization_id)
  order by r.created_at, r.integration_id
$$;
revoke all on function public.organization_rotation_report(uuid, interval)
from public, anon, authenticated, service_role;
grant execute on function public.organization_rotation_report(uuid, interval) to authenticated;
