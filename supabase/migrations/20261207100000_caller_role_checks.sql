-- The app's functions in public decide by the calling role themselves, whatever the grants.
-- Grants alone do not hold: a project moved with `supabase db dump` and psql gets them back from
-- the new project's default privileges (pg_dump writes no REVOKE from anon or authenticated), and
-- then an admin of one organization could revoke every credential of another. The extension's
-- own functions refuse such callers since credential_vault 0.5.0; these are SECURITY DEFINER,
-- so the extension sees their owner, postgres, and the check must be made here.

-- Refuses the caller unless it is a superuser, has service_role's privileges (service_role, or
-- postgres, which inherits them), or, when users_allowed, is authenticated; with the same
-- SQLSTATE, message and code (role_not_allowed) as the extension's own refusal. Inside a
-- SECURITY DEFINER function current_user is the owner: the caller is the role set with SET ROLE
-- (as the API gateway does per request), else the session's login. PostgreSQL refuses SET ROLE
-- inside a SECURITY DEFINER function, so no callee can change what this sees.
create or replace function private.require_api_role(action text, users_allowed boolean)
returns void
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  caller name := coalesce(nullif(pg_catalog.current_setting('role'), 'none'), session_user);
begin
  if pg_catalog.pg_has_role(caller, 'service_role', 'usage')
     or (users_allowed and caller = 'authenticated') then
    return;
  end if;
  raise exception using
    errcode = 'insufficient_privilege',
    message = pg_catalog.format('permission denied: this role may not %s integration credentials', action),
    detail = 'role_not_allowed';
end
$$;
comment on function private.require_api_role(text, boolean) is
  'Refuses (42501, role_not_allowed) a caller other than a superuser, a role with service_role''s privileges, or, when users_allowed, authenticated.';
revoke all on function private.require_api_role(text, boolean) from public;

create or replace function public.revoke_organization_credentials(organization_id uuid)
returns table (integration_id uuid, organization uuid, integration_provider text,
               versions_destroyed integer, admins_to_notify uuid[])
language sql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
  select private.require_api_role('revoke', false);
  select * from private.revoke_integrations(array(
    select i.id from public.organization_integrations i
    where i.organization_id = revoke_organization_credentials.organization_id))
$$;

create or replace function public.revoke_provider_credentials(provider text)
returns table (integration_id uuid, organization uuid, integration_provider text,
               versions_destroyed integer, admins_to_notify uuid[])
language sql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
  select private.require_api_role('revoke', false);
  select * from private.revoke_integrations(array(
    select i.id from public.organization_integrations i
    where i.provider = revoke_provider_credentials.provider))
$$;

-- For an organization's admins (authenticated, decided by auth.uid()) and the service.
create or replace function public.organization_rotation_report(
  organization_id uuid, older_than interval default interval '90 days')
returns table (integration_id uuid, integration_provider text, vault_secret_id uuid,
               created_at timestamptz, age interval, expires_at timestamptz, reason text)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select private.require_api_role('report on', true);
  select r.integration_id, i.provider, r.vault_secret_id, r.created_at, r.age, r.expires_at, r.reason
  from credential_vault.rotation_report(organization_rotation_report.older_than) r
  join public.organization_integrations i on i.id = r.integration_id
  where i.organization_id = organization_rotation_report.organization_id
    and private.is_organization_admin(i.organization_id)
  order by r.created_at, r.integration_id
$$;
