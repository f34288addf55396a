-- Run as supabase_admin on a database with credential_vault 0.1.0 installed from its frozen script
-- (sql/credential_vault--0.1.0.sql), before ALTER EXTENSION credential_vault UPDATE: credentials
-- stored, and read, the 0.1.0 way.
\set ON_ERROR_STOP on
begin;
set local role service_role;
select vault_secret_id as old_1 from public.vault_store_integration_credentials(
  'cccccccc-0000-4000-8000-000000000001', '{"api_key": "upgrade-1"}') \gset
select public.vault_store_integration_credentials(
  'cccccccc-0000-4000-8000-000000000002', '{"api_key": "upgrade-2", "client_secret": "upgrade-2-secret"}');
select public.vault_retrieve_integration_credentials(:'old_1');
commit;
-- This library audits that read in the server log; a 0.1.0 library wrote a row, as here.
insert into credential_vault.audit_log (action, actor_role, integration_id, vault_secret_id)
values ('retrieve', 'service_role', 'cccccccc-0000-4000-8000-000000000001', :'old_1');
