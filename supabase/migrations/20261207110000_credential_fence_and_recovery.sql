-- credential_vault 0.5.0's fence and recovery window, for the app:
--   * deleting an integration (or its organization, by cascade) keeps its credentials for the
--     recovery window as kept deleted versions, instead of destroying them at once: one
--     PostgREST DELETE by an organization admin no longer erases what the window keeps. The
--     service role recovers them: it re-creates the integration with the same id (authenticated
--     may not choose an integration's id) and restores the version it wants. Immediate
--     destruction stays with destroy and the revokes, service_role only;
--   * the incident revokes take the extension's fence before they choose the integrations, so
--     that an integration or a credential written meanwhile is revoked with the rest;
--   * the organization's rotation report decides "admin?" once, before reading anything, and
--     reads only the organization's credentials.

create or replace function private.purge_deleted_integration_credentials()
returns trigger
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform credential_vault.delete_integration_credentials(old.id);
  return null;
end
$$;
comment on function private.purge_deleted_integration_credentials() is
  'After an integration is deleted: its current credentials become kept deleted versions for the recovery window (credential_vault.delete_integration_credentials).';

-- The revokes are service_role's (and superusers'): EXECUTE says so, and so does the body
-- (private.require_api_role, from 20261207100000), whatever the grants.
create or replace function public.revoke_organization_credentials(organization_id uuid)
returns table (integration_id uuid, organization uuid, integration_provider text,
               versions_destroyed integer, admins_to_notify uuid[])
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform private.require_api_role('revoke', false);
  -- The fence first (an empty revoke takes it), then the integrations, chosen by a statement
  -- that starts under it: no credential can be written until this transaction ends.
  perform credential_vault.revoke_integration_credentials('{}'::uuid[]);
  return query select * from private.revoke_integrations(array(
    select i.id from public.organization_integrations i
    where i.organization_id = revoke_organization_credentials.organization_id));
end
$$;
comment on function public.revoke_organization_credentials(uuid) is
  'Incident response: destroys every credential of the organization''s integrations, no recovery, writes in flight included; returns per integration what was destroyed and the admins to notify.';

create or replace function public.revoke_provider_credentials(provider text)
returns table (integration_id uuid, organization uuid, integration_provider text,
               versions_destroyed integer, admins_to_notify uuid[])
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform private.require_api_role('revoke', false);
  perform credential_vault.revoke_integration_credentials('{}'::uuid[]);
  return query select * from private.revoke_integrations(array(
    select i.id from public.organization_integrations i
    where i.provider = revoke_provider_credentials.provider));
end
$$;
comment on function public.revoke_provider_credentials(text) is
  'Incident response: destroys every credential of every integration with this provider, no recovery, writes in flight included; returns per integration what was destroyed and the admins to notify.';

create or replace function public.organization_rotation_report(
  organization_id uuid, older_than interval default interval '90 days')
returns table (integration_id uuid, integration_provider text, vault_secret_id uuid,
               created_at timestamptz, age interval, expires_at timestamptz, reason text)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform private.require_api_role('report on', true);
  -- Anyone but the organization's admins gets no rows, decided once, before anything is read.
  if not private.is_organization_admin(organization_rotation_report.organization_id) then
    return;
  end if;
  return query
    select r.integration_id, i.provider, r.vault_secret_id, r.created_at, r.age, r.expires_at,
           r.reason
    from credential_vault.rotation_report(
           older_than => organization_rotation_report.older_than,
           integration_ids => array(
             select o.id from public.organization_integrations o
             where o.organization_id = organization_rotation_report.organization_id)) r
    join public.organization_integrations i on i.id = r.integration_id
    order by r.created_at, r.integration_id;
end
$$;
