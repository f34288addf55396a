-- A database worth restoring, written through the product as its callers would, into the
-- harness's cv_test (run by tests/restore/dump-and-restore as supabase_admin): two organizations,
-- three integrations with credentials stored by service_role and by an organization admin, a
-- rotation, a deletion and a read, so the audit log has history and the app link has followed.
\set ON_ERROR_STOP on
\set service_role '{"role":"service_role"}'
\set admin_a      '{"sub":"00000000-0000-4000-8000-0000000000a1","role":"authenticated"}'

insert into public.organizations (id, name) values
  ('aaaaaaaa-0000-4000-8000-000000000000', 'Acme'),
  ('bbbbbbbb-0000-4000-8000-000000000000', 'Globex');
insert into public.organization_members (organization_id, user_id, role) values
  ('aaaaaaaa-0000-4000-8000-000000000000', '00000000-0000-4000-8000-0000000000a1', 'admin'),
  ('bbbbbbbb-0000-4000-8000-000000000000', '00000000-0000-4000-8000-0000000000b1', 'admin');
insert into public.organization_integrations (id, organization_id, provider, display_name) values
  ('aaaaaaaa-0000-4000-8000-0000000000c1', 'aaaaaaaa-0000-4000-8000-000000000000', 'crm', 'Acme CRM'),
  ('aaaaaaaa-0000-4000-8000-0000000000c2', 'aaaaaaaa-0000-4000-8000-000000000000', 'accounting', 'Acme books'),
  ('bbbbbbbb-0000-4000-8000-0000000000c1', 'bbbbbbbb-0000-4000-8000-000000000000', 'crm', 'Globex CRM');

begin;
set local role service_role;
select set_config('request.jwt.claims', :'service_role', true);
select vault_secret_id as first_c1 from public.vault_store_integration_credentials(
  'aaaaaaaa-0000-4000-8000-0000000000c1', '{"api_key": "restore-c1-first"}') \gset
select public.vault_store_integration_credentials(
  'bbbbbbbb-0000-4000-8000-0000000000c1', '{"api_key": "restore-b1", "client_secret": "restore-b1-secret"}');
select public.vault_rotate_integration_credentials(:'first_c1', '{"api_key": "restore-c1-rotated"}');
commit;

begin;
set local role authenticated;
select set_config('request.jwt.claims', :'admin_a', true);
select vault_secret_id as doomed from public.vault_store_integration_credentials(
  'aaaaaaaa-0000-4000-8000-0000000000c2', '{"api_key": "restore-c2-doomed"}') \gset
select public.vault_delete_integration_credentials(:'doomed');
select vault_secret_id from public.vault_store_integration_credentials(
  'aaaaaaaa-0000-4000-8000-0000000000c2', '{"api_key": "restore-c2"}');
commit;

begin;
set local role service_role;
select set_config('request.jwt.claims', :'service_role', true);
select public.vault_retrieve_integration_credentials(credential_vault_id::text)
from public.organization_integrations where id = 'bbbbbbbb-0000-4000-8000-0000000000c1';
commit;
