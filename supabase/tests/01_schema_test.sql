-- The schema the migrations leave behind: extensions, row level security on every table, each
-- API role's privileges on the tables, the registered authorizer, and no app helper in the API's
-- reach. (Who may call which credential function is the role matrix: 03_credential_functions_test.sql;
-- every definer function's search_path is tests/tests/hijack.rs's.)
begin;
select plan(35);

-- Extensions
select has_extension('credential_vault', 'credential_vault is installed');
select ok(pg_catalog.to_regclass('vault.secrets') is not null, 'Vault (or its test stand-in) is present');
select has_schema('private', 'schema private holds the app''s helpers');

-- Tables and row level security
select tables_are('public', array['organizations', 'organization_members', 'organization_integrations'],
                  'public holds exactly the three app tables');
select is_empty($$
  select c.relname from pg_catalog.pg_class c
  where c.relnamespace in ('public'::regnamespace, 'private'::regnamespace)
    and c.relkind in ('r', 'p') and not c.relrowsecurity
$$, 'row level security is enabled on every table');
select columns_are('public', 'organization_integrations',
  array['id', 'organization_id', 'provider', 'display_name', 'field_mappings', 'sync_schedule',
        'credential_vault_id', 'created_at', 'updated_at'],
  'organization_integrations has the documented columns');
select col_type_is('public', 'organization_integrations', 'credential_vault_id', 'uuid',
                   'credential_vault_id is a uuid (a reference, never a credential)');
select col_type_is('public', 'organization_integrations', 'field_mappings', 'jsonb', 'field_mappings is jsonb');
select col_type_is('public', 'organization_integrations', 'sync_schedule', 'jsonb', 'sync_schedule is jsonb');
select policies_are('public', 'organizations',
  array['organizations_select_member', 'organizations_update_admin']);
select policies_are('public', 'organization_members',
  array['organization_members_select_member', 'organization_members_insert_admin',
        'organization_members_update_admin', 'organization_members_delete_admin']);
select policies_are('public', 'organization_integrations',
  array['organization_integrations_select_member', 'organization_integrations_insert_admin',
        'organization_integrations_update_admin', 'organization_integrations_delete_admin']);

-- Table privileges (row level security filters what these allow)
select table_privs_are('public', 'organizations', 'anon', '{}', 'anon: nothing on organizations');
select table_privs_are('public', 'organization_members', 'anon', '{}', 'anon: nothing on organization_members');
select table_privs_are('public', 'organization_integrations', 'anon', '{}', 'anon: nothing on organization_integrations');
select table_privs_are('public', 'organizations', 'authenticated', array['SELECT'],
                       'authenticated: organizations are read at table level, renamed by column');
select table_privs_are('public', 'organization_members', 'authenticated', array['SELECT', 'DELETE']);
select table_privs_are('public', 'organization_integrations', 'authenticated', array['SELECT', 'DELETE']);
select column_privs_are('public', 'organization_integrations', 'credential_vault_id', 'authenticated',
                        array['SELECT'], 'authenticated may read credential_vault_id but never write it');
select column_privs_are('public', 'organization_integrations', 'display_name', 'authenticated',
                        array['SELECT', 'INSERT', 'UPDATE']);
select column_privs_are('public', 'organization_integrations', 'organization_id', 'authenticated',
                        array['SELECT', 'INSERT'], 'an integration cannot be moved by authenticated');
select column_privs_are('public', 'organization_members', 'role', 'authenticated',
                        array['SELECT', 'INSERT', 'UPDATE']);
select column_privs_are('public', 'organizations', 'name', 'authenticated', array['SELECT', 'UPDATE']);
select table_privs_are('public', 'organization_integrations', 'service_role',
  array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']);

-- EXECUTE on the credential functions: for no role by default. Which API role may call which
-- function is the role matrix, which 03_credential_functions_test.sql owns, call by call.
select is_empty($$
  select p.oid::regprocedure
  from pg_catalog.pg_proc p, pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) as a
  where p.pronamespace = 'public'::regnamespace and p.proname like 'vault\_%\_integration\_credentials'
    and a.grantee = 0
$$, 'PUBLIC may execute no credential function');

-- The authorizer
select results_eq($$select authorizer::text from credential_vault.authorizer$$,
                  array['private.can_manage_integration(uuid)'],
                  'the extension consults private.can_manage_integration');
select is_definer('private', 'can_manage_integration', array['uuid'], 'the authorizer is SECURITY DEFINER');

-- Of the app, only its three RPCs are callable through the API: public holds extensions'
-- functions besides.
select set_eq($$
  select p.oid::regprocedure::text from pg_catalog.pg_proc p
  where p.pronamespace = 'public'::regnamespace
    and not exists (select 1 from pg_catalog.pg_depend d
                    where d.classid = 'pg_catalog.pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
$$, array['organization_rotation_report(uuid,interval)', 'revoke_organization_credentials(uuid)',
          'revoke_provider_credentials(text)'],
'the app''s only functions in the exposed schema public are its three RPCs');
select is_empty($$
  select p.oid::regprocedure from pg_catalog.pg_proc p
  where p.pronamespace = 'private'::regnamespace
    and pg_catalog.has_function_privilege('anon', p.oid, 'execute')
$$, 'anon may execute nothing in private');
select is_empty($$
  select p.oid::regprocedure from pg_catalog.pg_proc p
  where p.pronamespace = 'private'::regnamespace and p.prorettype = 'pg_catalog.trigger'::regtype
    and (pg_catalog.has_function_privilege('authenticated', p.oid, 'execute')
         or pg_catalog.has_function_privilege('service_role', p.oid, 'execute'))
$$, 'the trigger functions are executable by nobody but their owner');
select function_privs_are('private', 'integration_config_report', array['boolean'], 'authenticated', '{}');
select function_privs_are('private', 'integration_config_report', array['boolean'], 'service_role', array['EXECUTE']);

-- What keeps credential_vault_id in step: the link hook the extension calls, running as
-- postgres, and no trigger on the extension's tables (pg_dump would drop it)
select results_eq($$select hook::text || ' as ' || registered_by::text from credential_vault.link_hook$$,
                  array['private.sync_integration_credential_link(uuid,uuid,boolean) as postgres'],
                  'the extension tells private.sync_integration_credential_link, which runs as postgres');
select triggers_are('credential_vault', 'credentials', array[]::name[]);
select triggers_are('public', 'organization_integrations',
  array['organization_integrations_guard_credential_vault_id', 'organization_integrations_purge_credentials',
        'organization_integrations_touch_updated_at', 'organization_integrations_validate_config',
        'organization_integrations_validate_names']);

select * from finish();
rollback;
