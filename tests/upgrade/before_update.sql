-- Run as supabase_admin on a database with credential_vault 0.1.0 installed from its frozen script
-- (sql/credential_vault--0.1.0.sql), before ALTER EXTENSION credential_vault UPDATE.
-- The library serves only the schema of its own version (a call gets 55000 schema_outdated until
-- the update, checked first), and no 0.1.0 library is built here: so what 0.1.0's stores wrote is
-- written here as they wrote it, each secret encrypted inside its INSERT with Vault's own
-- function, its reference and its audit row; then 0.1.0's own SQL purge_integration removes one
-- integration's and audits it.
\set ON_ERROR_STOP on
begin;
do $$
begin
  perform public.vault_list_integration_credentials('cccccccc-0000-4000-8000-000000000001');
  raise exception 'the library served the 0.1.0 schema';
exception when object_not_in_prerequisite_state then
  null;  -- schema_outdated
end
$$;
create temporary table stored_by_0_1_0 (id uuid, integration_id uuid, credentials text, nonce bytea);
insert into stored_by_0_1_0
select gen_random_uuid(), integration_id::uuid, credentials, decode(md5(random()::text), 'hex')
from (values ('cccccccc-0000-4000-8000-000000000001', '{"api_key": "upgrade-1"}'),
             ('cccccccc-0000-4000-8000-000000000002',
              '{"api_key": "upgrade-2", "client_secret": "upgrade-2-secret"}'),
             ('cccccccc-0000-4000-8000-000000000003', '{"api_key": "upgrade-3-purged"}'))
     v(integration_id, credentials);
insert into vault.secrets (id, description, secret, nonce)
select id, 'credential_vault: credentials of integration ' || integration_id,
       encode(vault._crypto_aead_det_encrypt(convert_to(credentials, 'utf8'), convert_to(id::text, 'utf8'),
                                             0, 'pgsodium'::bytea, nonce), 'base64'),
       nonce
from stored_by_0_1_0;
insert into credential_vault.credentials (vault_secret_id, integration_id, created_at)
select id, integration_id, now() from stored_by_0_1_0;
insert into credential_vault.audit_log (action, actor_role, integration_id, vault_secret_id)
select 'store', 'service_role', integration_id, id from stored_by_0_1_0 order by integration_id;
commit;
select credential_vault.purge_integration('cccccccc-0000-4000-8000-000000000003');
