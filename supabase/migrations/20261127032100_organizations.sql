-- Organizations, their members, and their third-party integrations.
-- Row level security and privileges: 20261127032300_row_level_security.sql.
-- JSONB rules: 20261127032200_integration_config_validation.sql.

-- Keeps updated_at honest whoever writes the row.
create or replace function private.touch_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := pg_catalog.now();
  return new;
end
$$;
revoke all on function private.touch_updated_at() from public;

create table if not exists public.organizations (
  id         uuid primary key default gen_random_uuid(),
  name       text not null
             constraint organizations_name_length check (pg_catalog.length(pg_catalog.btrim(name)) between 1 and 200),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.organizations is 'Tenants. Members read, admins rename; created and deleted by the service.';

-- user_id is auth.uid() of a Supabase user. No foreign key to auth.users: the tests' databases
-- have no GoTrue tables, and membership rows are removed by the service when a user is deleted.
create table if not exists public.organization_members (
  organization_id uuid not null references public.organizations (id) on delete cascade,
  user_id         uuid not null,
  role            text not null
                  constraint organization_members_role_valid check (role in ('admin', 'member')),
  created_at      timestamptz not null default now(),
  primary key (organization_id, user_id)
);
-- The policies look members up by user first.
create index if not exists organization_members_user_id_idx
  on public.organization_members (user_id, organization_id, role);
comment on table public.organization_members is 'Who belongs to which organization, as admin or member.';

create table if not exists public.organization_integrations (
  id                  uuid primary key default gen_random_uuid(),
  organization_id     uuid not null references public.organizations (id) on delete cascade,
  provider            text not null
                      constraint organization_integrations_provider_format check (provider ~ '^[a-z][a-z0-9_-]{0,62}$'),
  display_name        text not null
                      constraint organization_integrations_display_name_length
                      check (pg_catalog.length(pg_catalog.btrim(display_name)) between 1 and 200),
  -- Versioned JSON documents, checked by the trigger added in the validation migration.
  field_mappings      jsonb not null default '{"version": 1, "mappings": []}'::jsonb,
  sync_schedule       jsonb not null default '{"version": 1, "enabled": false}'::jsonb,
  -- Only a reference to a Vault secret, never a credential. Written only by the triggers on
  -- credential_vault.credentials (20261127032400_credential_sync.sql); one secret per integration.
  credential_vault_id uuid
                      constraint organization_integrations_credential_vault_id_key unique,
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now()
);
create index if not exists organization_integrations_organization_id_idx
  on public.organization_integrations (organization_id);
comment on table public.organization_integrations is
  'Third-party integrations of an organization. Credentials live in Vault; credential_vault_id references them.';
comment on column public.organization_integrations.credential_vault_id is
  'The Vault secret holding this integration''s credentials (a reference, never a value). Set only by the credential functions.';

create or replace trigger organizations_touch_updated_at
  before update on public.organizations
  for each row execute function private.touch_updated_at();
create or replace trigger organization_integrations_touch_updated_at
  before update on public.organization_integrations
  for each row execute function private.touch_updated_at();
