-- The incident revokes reach the credentials of deleted integrations. Since
-- 20261207110000 a deleted integration's credentials are kept for the recovery window (kept
-- deleted versions, recoverable by the service role), but the revokes chose integrations from
-- public.organization_integrations alone: after an integration (or its organization) was
-- deleted, "destroy every credential of this organization" left its kept versions in Vault and
-- did not report them. The app now remembers whose each deleted integration was.

-- One row per deleted integration: its organization and provider, which the revokes match.
-- Written by the deletion's trigger; read only by the definer functions below (row level
-- security on, no policy, no grant).
create table if not exists private.deleted_integrations (
  id uuid primary key,
  organization_id uuid not null,
  provider text not null,
  deleted_at timestamptz not null default now()
);
alter table private.deleted_integrations enable row level security;
revoke all on table private.deleted_integrations from public, anon, authenticated, service_role;
comment on table private.deleted_integrations is
  'Integrations deleted while their credentials may still be kept for the recovery window: whose they were, for the incident revokes.';

create or replace function private.purge_deleted_integration_credentials()
returns trigger
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into private.deleted_integrations (id, organization_id, provider)
  values (old.id, old.organization_id, old.provider)
  on conflict (id) do update
    set organization_id = excluded.organization_id, provider = excluded.provider,
        deleted_at = excluded.deleted_at;
  perform credential_vault.delete_integration_credentials(old.id);
  return null;
end
$$;
comment on function private.purge_deleted_integration_credentials() is
  'After an integration is deleted: remembers whose it was (private.deleted_integrations), and its current credentials become kept deleted versions for the recovery window (credential_vault.delete_integration_credentials).';

-- What the revokes match: every integration, live or deleted, with its organization and
-- provider (a live one wins over a deleted record of the same id, re-created since).
create or replace function private.known_integrations()
returns table (id uuid, organization_id uuid, provider text)
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select i.id, i.organization_id, i.provider from public.organization_integrations i
  union all
  select d.id, d.organization_id, d.provider from private.deleted_integrations d
  where not exists (select from public.organization_integrations i where i.id = d.id)
$$;
revoke all on function private.known_integrations() from public;

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
  from private.known_integrations() i
  left join destroyed d on d.integration_id = i.id
  where i.id = any (revoke_integrations.integrations)
  order by i.organization_id, i.id
$$;

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
    select i.id from private.known_integrations() i
    where i.organization_id = revoke_organization_credentials.organization_id));
end
$$;

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
    select i.id from private.known_integrations() i
    where i.provider = revoke_provider_credentials.provider));
end
$$;
