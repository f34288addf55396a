-- Run on a database restored from a dump of tests/restore/populate.sql's, in a fresh cluster
-- with the same Vault root key, or upgraded to a new major with pg_upgrade
-- (tests/pg_upgrade/upgrade-major), as postgres: everything the product had is there and works.
begin;
select plan(25);

\set service_role '{"role":"service_role"}'
\set admin_a      '{"sub":"00000000-0000-4000-8000-0000000000a1","role":"authenticated"}'
\set admin_b      '{"sub":"00000000-0000-4000-8000-0000000000b1","role":"authenticated"}'
\set c1 'aaaaaaaa-0000-4000-8000-0000000000c1'
\set c2 'aaaaaaaa-0000-4000-8000-0000000000c2'
\set b1 'bbbbbbbb-0000-4000-8000-0000000000c1'

create function pg_temp.linked(integration uuid) returns text
language sql as $$
  select credential_vault_id::text from public.organization_integrations where id = integration
$$;

-- Every secret retrieves through the app's link.
set local role service_role;
select set_config('request.jwt.claims', :'service_role', true);
select is(public.vault_retrieve_integration_credentials(pg_temp.linked(:'c1')),
          '{"api_key": "restore-c1-rotated"}'::jsonb, 'the rotated secret of Acme CRM retrieves');
select is(public.vault_retrieve_integration_credentials(pg_temp.linked(:'c2')),
          '{"api_key": "restore-c2"}'::jsonb, 'the secret Acme''s admin stored retrieves');
select is(public.vault_retrieve_integration_credentials(pg_temp.linked(:'b1')),
          '{"api_key": "restore-b1", "client_secret": "restore-b1-secret"}'::jsonb, 'Globex''s secret retrieves');
reset role;

-- The extension's own state came along: history, registrations, no dangling reference.
select is((select count(*)::int from credential_vault.audit_log), 6, 'the audit history is kept: 6 writes');
select results_eq($$select action from credential_vault.audit_log order by id$$,
                  array['store', 'store', 'rotate', 'store', 'delete', 'store'], 'in order');
select max(id) as last_audit_id from credential_vault.audit_log \gset
select is((select authorizer::text from credential_vault.authorizer),
          'private.can_manage_integration(uuid)', 'the authorizer registration is kept');
select is((select hook::text || ' as ' || registered_by::text from credential_vault.link_hook),
          'private.sync_integration_credential_link(uuid,uuid,boolean) as postgres', 'the link hook registration is kept');
select is((select recovery_window::text from credential_vault.settings), '7 days',
          'the recovery window the migrations set is kept');
select results_eq($$select state, count(*)::int from credential_vault.credentials
                    where state <> 'current' group by state order by state$$,
                  $$values ('deleted', 1), ('previous', 1)$$,
                  'the kept versions (one rotated away, one deleted) are kept, restorable');
-- The after-create script's revocations and the migrations' grants: the target's default
-- privileges made every RPC function executable by anon, authenticated and service_role.
select set_eq(
  $$select r.role || ' ' || f.name from unnest(array['public', 'anon', 'authenticated', 'service_role']) r(role),
           unnest(array['store', 'retrieve', 'rotate', 'delete', 'list']) f(name)
    where has_function_privilege(r.role, format('public.vault_%s_integration_credentials(text%s)', f.name,
                                                case when f.name in ('store', 'rotate') then ', text' else '' end),
                                 'execute')$$,
  array['authenticated store', 'authenticated rotate', 'authenticated delete', 'authenticated list',
        'service_role store', 'service_role retrieve', 'service_role rotate', 'service_role delete', 'service_role list'],
  'EXECUTE on the RPC functions is as before the dump: none for anon, no retrieve for authenticated');
select is_empty('select * from credential_vault.health_report()', 'no dangling reference');
select is_empty('select * from private.credential_link_report()', 'no app link out of step');

-- Writes work, the link follows them, and the audit continues without reusing an id.
set local role service_role;
select set_config('request.jwt.claims', :'service_role', true);
select vault_secret_id as rotated_c1 from public.vault_rotate_integration_credentials(
  pg_temp.linked(:'c1'), '{"api_key": "restore-c1-after"}') \gset
select is(pg_temp.linked(:'c1'), :'rotated_c1', 'rotate after the restore moves the link');
select is(public.vault_retrieve_integration_credentials(:'rotated_c1'),
          '{"api_key": "restore-c1-after"}'::jsonb, 'and the new secret retrieves');
select lives_ok(format('select public.vault_delete_integration_credentials(%L)', pg_temp.linked(:'b1')),
                'delete after the restore');
select is(pg_temp.linked(:'b1'), null, 'delete clears the link');
select vault_secret_id as stored_b1 from public.vault_store_integration_credentials(
  :'b1', '{"api_key": "restore-b1-after"}') \gset
select is(pg_temp.linked(:'b1'), :'stored_b1', 'store after the restore links');
select results_eq(format('select vault_secret_id::text from public.vault_list_integration_credentials(%L)', :'b1'),
                  array[:'stored_b1'], 'list after the restore');
reset role;
select ok((select min(id) from credential_vault.audit_log where id > :last_audit_id) = :last_audit_id + 1,
          'the audit continues after the restored history');
select results_eq(format('select action from credential_vault.audit_log where id > %s order by id', :last_audit_id),
                  array['rotate', 'delete', 'store'], 'every write after the restore is audited, no id reused');

-- The authorizer still decides.
set local role authenticated;
select set_config('request.jwt.claims', :'admin_a', true);
select results_eq(format('select count(*)::int from public.vault_list_integration_credentials(%L)', :'c2'),
                  array[1], 'Acme''s admin lists Acme''s credentials');
select set_config('request.jwt.claims', :'admin_b', true);
select throws_ok(format('select public.vault_list_integration_credentials(%L)', :'c2'),
                 'PT404', 'integration not found', 'Globex''s admin is told Acme''s integration does not exist');
reset role;

-- Deleting an integration still reaches the extension (the app's trigger came along): its
-- credentials become a kept deleted version.
select vault_secret_id_before from (select credential_vault_id::text as vault_secret_id_before
  from public.organization_integrations where id = :'c2') s \gset
delete from public.organization_integrations where id = :'c2';
select isnt_empty(format('select 1 from vault.secrets where id = %L', :'vault_secret_id_before'),
                  'deleting an integration after the restore keeps its Vault secret for the window');
select is((select action from credential_vault.audit_log order by id desc limit 1), 'delete', 'and audits it');
select is((select state from credential_vault.credentials where vault_secret_id = :'vault_secret_id_before'),
          'deleted', 'as a deleted version');

select * from finish();
rollback;
