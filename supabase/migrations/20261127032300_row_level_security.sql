-- Row level security and table privileges.
--
--   anon           nothing at all (no privilege on any table).
--   authenticated  members read their organizations' rows; admins change them; rows of other
--                  organizations are invisible and untouchable. Column privileges leave out ids,
--                  timestamps and credential_vault_id (set only by the credential functions).
--                  Organizations themselves are created and deleted by the service.
--   service_role   everything (BYPASSRLS), still subject to the triggers that keep
--                  credential_vault_id in step with Vault.

-- Membership checks for the policies. SECURITY DEFINER so that a policy on organization_members
-- can consult organization_members without recursing into its own policies.
create or replace function private.is_organization_member(organization_id uuid)
returns boolean
language sql stable security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.organization_members m
    where m.organization_id = is_organization_member.organization_id
      and m.user_id = auth.uid()
  )
$$;

create or replace function private.is_organization_admin(organization_id uuid)
returns boolean
language sql stable security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.organization_members m
    where m.organization_id = is_organization_admin.organization_id
      and m.user_id = auth.uid()
      and m.role = 'admin'
  )
$$;

revoke all on function private.is_organization_member(uuid), private.is_organization_admin(uuid) from public;
-- Policies run their functions with the querying role's rights.
grant execute on function private.is_organization_member(uuid), private.is_organization_admin(uuid)
  to authenticated, service_role;

alter table public.organizations enable row level security;
alter table public.organization_members enable row level security;
alter table public.organization_integrations enable row level security;

-- Supabase's default privileges grant ALL on new tables in public to anon and authenticated;
-- take that back and grant exactly what the policies below are meant to filter.
revoke all on table public.organizations, public.organization_members, public.organization_integrations
  from public, anon, authenticated;
grant all on table public.organizations, public.organization_members, public.organization_integrations
  to service_role;

grant select, update (name) on table public.organizations to authenticated;
grant select, delete, insert (organization_id, user_id, role), update (role)
  on table public.organization_members to authenticated;
grant select, delete,
      insert (organization_id, provider, display_name, field_mappings, sync_schedule),
      update (display_name, field_mappings, sync_schedule)
  on table public.organization_integrations to authenticated;

-- organizations
drop policy if exists organizations_select_member on public.organizations;
create policy organizations_select_member on public.organizations
  for select to authenticated
  using (private.is_organization_member(id));

drop policy if exists organizations_update_admin on public.organizations;
create policy organizations_update_admin on public.organizations
  for update to authenticated
  using (private.is_organization_admin(id))
  with check (private.is_organization_admin(id));

-- organization_members
drop policy if exists organization_members_select_member on public.organization_members;
create policy organization_members_select_member on public.organization_members
  for select to authenticated
  using (private.is_organization_member(organization_id));

drop policy if exists organization_members_insert_admin on public.organization_members;
create policy organization_members_insert_admin on public.organization_members
  for insert to authenticated
  with check (private.is_organization_admin(organization_id));

drop policy if exists organization_members_update_admin on public.organization_members;
create policy organization_members_update_admin on public.organization_members
  for update to authenticated
  using (private.is_organization_admin(organization_id))
  with check (private.is_organization_admin(organization_id));

drop policy if exists organization_members_delete_admin on public.organization_members;
create policy organization_members_delete_admin on public.organization_members
  for delete to authenticated
  using (private.is_organization_admin(organization_id));

-- organization_integrations
drop policy if exists organization_integrations_select_member on public.organization_integrations;
create policy organization_integrations_select_member on public.organization_integrations
  for select to authenticated
  using (private.is_organization_member(organization_id));

drop policy if exists organization_integrations_insert_admin on public.organization_integrations;
create policy organization_integrations_insert_admin on public.organization_integrations
  for insert to authenticated
  with check (private.is_organization_admin(organization_id));

drop policy if exists organization_integrations_update_admin on public.organization_integrations;
create policy organization_integrations_update_admin on public.organization_integrations
  for update to authenticated
  using (private.is_organization_admin(organization_id))
  with check (private.is_organization_admin(organization_id));

drop policy if exists organization_integrations_delete_admin on public.organization_integrations;
create policy organization_integrations_delete_admin on public.organization_integrations
  for delete to authenticated
  using (private.is_organization_admin(organization_id));
