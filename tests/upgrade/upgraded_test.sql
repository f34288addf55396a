-- Run as postgres on a database that stored credentials with 0.1.0, was updated to the current
-- version, and then had the migrations applied: what 0.1.0 stored retrieves, its history is
-- kept, and everything 0.2.0 brings works on it.
begin;
select plan(17);

\set service_role '{"role":"service_role"}'
\set c1 'cccccccc-0000-4000-8000-000000000001'
\set c2 'cccccccc-0000-4000-8000-000000000002'

select is((select extversion from pg_catalog.pg_extension where extname = 'credential_vault'),
          (select default_version from pg_catalog.pg_available_extensions where name = 'credential_vault'),
          'the extension is at the version this build installs');
select results_eq('select action from credential_vault.audit_log order by id',
                  array['store', 'store', 'store', 'purge'], 'the 0.1.0 audit history is kept');
select max(id) as last_audit_id from credential_vault.audit_log \gset
select vault_secret_id as old_1 from credential_vault.credentials where integration_id = :'c1' \gset
select vault_secret_id as old_2 from credential_vault.credentials where integration_id = :'c2' \gset

-- What 0.1.0 stored is ciphertext on disk, checked while it is still there (the retrieves below
-- show what its plaintext is).
select is((select count(*)::int from vault.secrets where id in (:'old_1', :'old_2')), 2,
          'control: both secrets 0.1.0 stored are in vault.secrets');
select is_empty($$select id from vault.secrets where secret like '%upgrade-%'$$, 'only ciphertext in vault.secrets');

set local role service_role;
select set_config('request.jwt.claims', :'service_role', true);
select is(public.vault_retrieve_integration_credentials(:'old_1'), '{"api_key": "upgrade-1"}'::jsonb,
          'a secret stored by 0.1.0 retrieves');
select is(public.vault_retrieve_integration_credentials(:'old_2'),
          '{"api_key": "upgrade-2", "client_secret": "upgrade-2-secret"}'::jsonb, 'so does the other');
select results_eq(format('select vault_secret_id::text from public.vault_list_integration_credentials(%L)', :'c1'),
                  array[:'old_1'], 'list shows what 0.1.0 stored');
reset role;
select is((select count(*)::int from credential_vault.audit_log), 4, 'reads are no longer written to the table');

-- The app adopts the integrations, linked to what 0.1.0 stored.
insert into public.organizations (id, name) values ('cccccccc-0000-4000-8000-000000000000', 'Initech');
insert into public.organization_integrations (id, organization_id, provider, display_name, credential_vault_id) values
  (:'c1', 'cccccccc-0000-4000-8000-000000000000', 'crm', 'Initech CRM', :'old_1'),
  (:'c2', 'cccccccc-0000-4000-8000-000000000000', 'accounting', 'Initech books', :'old_2');

set local role service_role;
select set_config('request.jwt.claims', :'service_role', true);
select vault_secret_id as new_1 from public.vault_rotate_integration_credentials(:'old_1', '{"api_key": "upgrade-1-rotated"}') \gset
select is((select credential_vault_id::text from public.organization_integrations where id = :'c1'), :'new_1',
          'the link hook follows a rotation of a 0.1.0 secret');
select is(public.vault_retrieve_integration_credentials(:'new_1'), '{"api_key": "upgrade-1-rotated"}'::jsonb,
          'the rotated secret retrieves');
select throws_ok(format('select public.vault_retrieve_integration_credentials(%L)', :'old_1'),
                 'PT404', 'integration credentials not found', 'the old one is gone');
select lives_ok(format('select public.vault_delete_integration_credentials(%L)', :'old_2'), 'delete a 0.1.0 secret');
select is((select credential_vault_id from public.organization_integrations where id = :'c2'), null,
          'the link hook follows the delete');
reset role;
select results_eq(format('select action from credential_vault.audit_log where id > %s order by id', :last_audit_id),
                  array['rotate', 'delete'], 'the audit continues after the 0.1.0 history');

-- Deleting an integration keeps its credentials for the window (0.5.0's trigger).
delete from public.organization_integrations where id = :'c1';
select is((select state from credential_vault.credentials where vault_secret_id = :'new_1'), 'deleted',
          'the deletion kept the credentials as a deleted version');
select is((select action from credential_vault.audit_log order by id desc limit 1), 'delete', 'and audited it');
select is_empty('select * from credential_vault.health_report()', 'no dangling reference');

select * from finish();
rollback;
