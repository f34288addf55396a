-- Run as supabase_admin on a database with credential_vault 0.1.0 installed from its frozen script
-- (sql/credential_vault--0.1.0.sql), before ALTER EXTENSION credential_vault UPDATE: credentials
-- stored, read and purged through 0.1.0's own functions, which write the audit history the
-- update must keep. The shared library is the current one (it is not versioned): stores are
-- audited in the table as 0.1.0's were, the read in the server log (0.1.0's library wrote a
-- row), and the purge by 0.1.0's own SQL function.
\set ON_ERROR_STOP on
begin;
set local role service_role;
select vault_secret_id as old_1 from public.vault_store_integration_credentials(
  'cccccccc-0000-4000-8000-000000000001', '{"api_key": "upgrade-1"}') \gset
select public.vault_store_integration_credentials(
  'cccccccc-0000-4000-8000-000000000002', '{"api_key": "upgrade-2", "client_secret": "upgrade-2-secret"}');
select public.vault_store_integration_credentials(
  'cccccccc-0000-4000-8000-000000000003', '{"api_key": "upgrade-3-purged"}');
select public.vault_retrieve_integration_credentials(:'old_1');
commit;
select credential_vault.purge_integration('cccccccc-0000-4000-8000-000000000003');
