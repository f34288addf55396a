-- The role matrix with the app's grants and authorizer (README's "Role matrix"), owned here:
-- every credential function for every caller, impersonated as the API gateway does it, with the
-- exact allow or deny; a refused tenant's error the same as for an id of nothing; the audit's
-- record of who wrote. Also credential_vault_id kept in step by store, rotate and delete in the
-- same transaction; deleting an integration or an organization deletes its credentials; no
-- orphans. Every credential is a unique canary, and no error a caller sees (message, detail,
-- hint) may contain one. (The extension's own role check, apart from any grant, is in
-- tests/tests/extension.rs; the schema's grants as catalog entries in 01_schema_test.sql.)
begin;
select plan(84);

\set anon          '{"role":"anon"}'
\set member_a      '{"sub":"00000000-0000-4000-8000-0000000000a2","role":"authenticated"}'
\set admin_a       '{"sub":"00000000-0000-4000-8000-0000000000a1","role":"authenticated"}'
\set admin_b       '{"sub":"00000000-0000-4000-8000-0000000000b1","role":"authenticated"}'
\set service_role  '{"role":"service_role"}'
\set integration_a 'aaaaaaaa-0000-4000-8000-0000000000c1'
\set integration_b 'bbbbbbbb-0000-4000-8000-0000000000c1'

insert into public.organizations (id, name) values
  ('aaaaaaaa-0000-4000-8000-000000000000', 'Acme'),
  ('bbbbbbbb-0000-4000-8000-000000000000', 'Globex');
insert into public.organization_members (organization_id, user_id, role) values
  ('aaaaaaaa-0000-4000-8000-000000000000', '00000000-0000-4000-8000-0000000000a1', 'admin'),
  ('aaaaaaaa-0000-4000-8000-000000000000', '00000000-0000-4000-8000-0000000000a2', 'member'),
  ('bbbbbbbb-0000-4000-8000-000000000000', '00000000-0000-4000-8000-0000000000b1', 'admin');
insert into public.organization_integrations (id, organization_id, provider, display_name) values
  (:'integration_a', 'aaaaaaaa-0000-4000-8000-000000000000', 'crm', 'Acme CRM'),
  (:'integration_b', 'bbbbbbbb-0000-4000-8000-000000000000', 'crm', 'Globex CRM');

-- Everything a caller sees of an error: SQLSTATE, message, detail, hint ('' when it succeeded).
create function pg_temp.error_seen(statement text) returns text
language plpgsql as $$
declare
  state text; message text; detail text; hint text;
begin
  execute statement;
  return '';
exception when others then
  get stacked diagnostics state = returned_sqlstate, message = message_text,
                          detail = pg_exception_detail, hint = pg_exception_hint;
  return concat_ws(' | ', state, message, detail, hint);
end
$$;

-- The search for canaries can find one: PostgreSQL's own uuid parser quotes its input.
select alike(pg_temp.error_seen($$select 'canary-control-0a0'::uuid$$), '%canary-control-0a0%',
             'control: error_seen shows a canary that an error does echo');

-- The credential_vault_id of an integration, as the superuser sees it.
create function pg_temp.linked(integration uuid) returns uuid
language sql as $$
  select credential_vault_id from public.organization_integrations where id = integration
$$;

-- What a caller the authorizer refuses gets from each management call on an integration and
-- its secret: PT404 with the message for a missing one, the very error an id of nothing gets (so
-- existence does not leak), and never the credentials it sent.
create function pg_temp.refused_as_not_found(who text, integration uuid, reference uuid)
returns setof text
language plpgsql as $$
declare
  credentials constant text := '{"api_key": "canary-refused-3e7"}';
  store constant text := 'select public.vault_store_integration_credentials(%L, %L)';
  rotate constant text := 'select public.vault_rotate_integration_credentials(%L, %L)';
  delete constant text := 'select public.vault_delete_integration_credentials(%L)';
  list constant text := 'select public.vault_list_integration_credentials(%L)';
begin
  return next throws_ok(format(store, integration, credentials), 'PT404', 'integration not found',
                        who || ': store denied as not found');
  return next throws_ok(format(rotate, reference, credentials), 'PT404', 'integration credentials not found',
                        who || ': rotate denied as not found');
  return next throws_ok(format(delete, reference), 'PT404', 'integration credentials not found',
                        who || ': delete denied as not found');
  return next throws_ok(format(list, integration), 'PT404', 'integration not found',
                        who || ': list denied as not found');
  return next is(pg_temp.error_seen(format(store, integration, credentials)),
                 pg_temp.error_seen(format(store, gen_random_uuid(), credentials)),
                 who || ': store looks exactly like a missing integration');
  return next is(pg_temp.error_seen(format(rotate, reference, credentials)),
                 pg_temp.error_seen(format(rotate, gen_random_uuid(), credentials)),
                 who || ': rotate looks exactly like a missing secret');
  return next is(pg_temp.error_seen(format(delete, reference)), pg_temp.error_seen(format(delete, gen_random_uuid())),
                 who || ': delete looks exactly like a missing secret');
  return next is(pg_temp.error_seen(format(list, integration)), pg_temp.error_seen(format(list, gen_random_uuid())),
                 who || ': list looks exactly like a missing integration');
  return next unalike(pg_temp.error_seen(format(store, integration, credentials)), '%canary%',
                      who || ': the store refusal does not echo the credentials');
  return next unalike(pg_temp.error_seen(format(rotate, reference, credentials)), '%canary%',
                      who || ': the rotate refusal does not echo the credentials');
end
$$;

------------------------------------------------------------------------------------------------
-- service_role stores the first credentials of both integrations
set local role service_role;
select set_config('request.jwt.claims', :'service_role', true);
select vault_secret_id as ref_a from public.vault_store_integration_credentials(:'integration_a', '{"api_key": "canary-a-1f3e9c"}') \gset
select vault_secret_id as ref_b from public.vault_store_integration_credentials(:'integration_b', '{"api_key": "canary-b-77d2a0"}') \gset
reset role;
select is(pg_temp.linked(:'integration_a'), :'ref_a'::uuid, 'store links the new secret to integration A in the same transaction');
select is(pg_temp.linked(:'integration_b'), :'ref_b'::uuid, 'store links the new secret to integration B');
select results_eq($$select integration_id from credential_vault.credentials order by integration_id$$,
                  $$values ('aaaaaaaa-0000-4000-8000-0000000000c1'::uuid), ('bbbbbbbb-0000-4000-8000-0000000000c1'::uuid)$$,
                  'one credentials row per stored secret');

------------------------------------------------------------------------------------------------
-- anon: no EXECUTE on any credential function
set local role anon;
select set_config('request.jwt.claims', :'anon', true);
select throws_ok(format('select public.vault_store_integration_credentials(%L, %L)', :'integration_a', '{"api_key": "canary-anon-5a1"}'),
                 '42501', 'permission denied for function vault_store_integration_credentials', 'anon: store denied');
select throws_ok(format('select public.vault_rotate_integration_credentials(%L, %L)', :'ref_a', '{"api_key": "canary-anon-5a2"}'),
                 '42501', 'permission denied for function vault_rotate_integration_credentials', 'anon: rotate denied');
select throws_ok(format('select public.vault_delete_integration_credentials(%L)', :'ref_a'),
                 '42501', 'permission denied for function vault_delete_integration_credentials', 'anon: delete denied');
select throws_ok(format('select public.vault_list_integration_credentials(%L)', :'integration_a'),
                 '42501', 'permission denied for function vault_list_integration_credentials', 'anon: list denied');
select throws_ok(format('select public.vault_retrieve_integration_credentials(%L)', :'ref_a'),
                 '42501', 'permission denied for function vault_retrieve_integration_credentials', 'anon: retrieve denied');
select unalike(pg_temp.error_seen(format('select public.vault_store_integration_credentials(%L, %L)', :'integration_a', '{"api_key": "canary-anon-5a1"}')),
               '%canary%', 'anon: the refusal does not echo the credentials');
reset role;

------------------------------------------------------------------------------------------------
-- member of A: the authorizer says no (PT404, as if absent); never retrieve
set local role authenticated;
select set_config('request.jwt.claims', :'member_a', true);
select * from pg_temp.refused_as_not_found('member A on A', :'integration_a', :'ref_a');
select throws_ok(format('select public.vault_retrieve_integration_credentials(%L)', :'ref_a'),
                 '42501', 'permission denied for function vault_retrieve_integration_credentials', 'member A: retrieve denied');
select is(private.can_manage_integration(:'integration_a'), false, 'member A: the authorizer says no');
reset role;

------------------------------------------------------------------------------------------------
-- admin of B, against A's integration and secret: PT404 like a missing one; never retrieve
set local role authenticated;
select set_config('request.jwt.claims', :'admin_b', true);
select * from pg_temp.refused_as_not_found('admin B on A', :'integration_a', :'ref_a');
select throws_ok(format('select public.vault_retrieve_integration_credentials(%L)', :'ref_a'),
                 '42501', 'permission denied for function vault_retrieve_integration_credentials', 'admin B: retrieve on A denied');
select throws_ok(format('select public.vault_retrieve_integration_credentials(%L)', :'ref_b'),
                 '42501', 'permission denied for function vault_retrieve_integration_credentials', 'admin B: retrieve on its own B denied too');
select results_eq(format('select vault_secret_id from public.vault_list_integration_credentials(%L)', :'integration_b'),
                  format('values (%L::uuid)', :'ref_b'), 'admin B: lists its own integration B');
select is(private.can_manage_integration(:'integration_a'), false, 'admin B: the authorizer says no for A');
select is(private.can_manage_integration(:'integration_b'), true, 'admin B: the authorizer says yes for B');
reset role;
select is(pg_temp.linked(:'integration_a'), :'ref_a'::uuid, 'the denied callers changed nothing on A');
select results_eq($$select count(*) from vault.secrets$$, array[2::bigint], 'the denied callers stored nothing');

------------------------------------------------------------------------------------------------
-- admin of A: store, rotate, delete, list on A; never retrieve; nothing on B
set local role authenticated;
select set_config('request.jwt.claims', :'admin_a', true);
select is(private.can_manage_integration(:'integration_a'), true, 'admin A: the authorizer says yes for A');
select is(private.can_manage_integration(gen_random_uuid()), false, 'admin A: the authorizer says no for a missing integration');
select results_eq(format('select vault_secret_id from public.vault_list_integration_credentials(%L)', :'integration_a'),
                  format('values (%L::uuid)', :'ref_a'), 'admin A: lists A''s credentials');
select throws_ok(format('select public.vault_retrieve_integration_credentials(%L)', :'ref_a'),
                 '42501', 'permission denied for function vault_retrieve_integration_credentials', 'admin A: retrieve denied');
select throws_ok(format('select public.vault_store_integration_credentials(%L, %L)', :'integration_a', '{"api_key": "canary-second-2d4"}'),
                 '23505', 'integration already has credentials; rotate or delete them', 'admin A: a second store is refused (HTTP 409)');
select unalike(pg_temp.error_seen(format('select public.vault_store_integration_credentials(%L, %L)', :'integration_a', '{"api_key": "canary-second-2d4"}')),
               '%canary%', 'admin A: the refused second store does not echo the credentials');
select * from pg_temp.refused_as_not_found('admin A on B', :'integration_b', :'ref_b');
select vault_secret_id as ref_a2 from public.vault_rotate_integration_credentials(:'ref_a', '{"api_key": "canary-a-2b6f10"}') \gset
reset role;
select isnt(:'ref_a2'::uuid, :'ref_a'::uuid, 'admin A: rotate returns a new reference');
select is((select actor_role || ' ' || actor_uid from credential_vault.audit_log where vault_secret_id = :'ref_a2'),
          'authenticated 00000000-0000-4000-8000-0000000000a1',
          'admin A: the audit records the rotation under authenticated and auth.uid()');
select is(pg_temp.linked(:'integration_a'), :'ref_a2'::uuid, 'rotate moves credential_vault_id to the new secret in the same transaction');
select is((select state from credential_vault.credentials where vault_secret_id = :'ref_a'), 'previous',
          'rotate keeps the old secret as a previous version, no longer current');
select results_eq($$select count(*) from vault.secrets$$, array[3::bigint],
                  'the refused second store left no secret behind (B''s, A''s new and A''s kept one)');
set local role authenticated;
select set_config('request.jwt.claims', :'admin_a', true);
select lives_ok(format('select public.vault_delete_integration_credentials(%L)', :'ref_a2'), 'admin A: deletes A''s credentials');
reset role;
select is(pg_temp.linked(:'integration_a'), null::uuid, 'delete clears credential_vault_id in the same transaction');
select is((select state from credential_vault.credentials where vault_secret_id = :'ref_a2'), 'deleted',
          'delete leaves the secret kept as a deleted version, no longer current');
set local role authenticated;
select set_config('request.jwt.claims', :'admin_a', true);
select vault_secret_id as ref_a3 from public.vault_store_integration_credentials(:'integration_a', '{"api_key": "canary-a-3c4d52"}') \gset
reset role;
select is(pg_temp.linked(:'integration_a'), :'ref_a3'::uuid, 'admin A: stores again once the old credentials are gone');
select is(pg_temp.linked(:'integration_b'), :'ref_b'::uuid, 'admin A changed nothing on B');

------------------------------------------------------------------------------------------------
-- service_role: everything, on every integration
set local role service_role;
select set_config('request.jwt.claims', :'service_role', true);
select is(public.vault_retrieve_integration_credentials(:'ref_a3'), '{"api_key": "canary-a-3c4d52"}'::jsonb,
          'service_role: retrieves A''s credentials');
select is(public.vault_retrieve_integration_credentials(:'ref_b'), '{"api_key": "canary-b-77d2a0"}'::jsonb,
          'service_role: retrieves B''s credentials');
select results_eq(format('select vault_secret_id from public.vault_list_integration_credentials(%L)', :'integration_a'),
                  format('values (%L::uuid)', :'ref_a3'), 'service_role: lists A''s credentials');
select throws_ok(format('select public.vault_store_integration_credentials(%L, %L)', :'integration_b', '{"api_key": "canary-svc-6f1"}'),
                 '23505', 'integration already has credentials; rotate or delete them', 'service_role: a second store is refused too');
select throws_ok(format('select public.vault_store_integration_credentials(%L, %L)', gen_random_uuid(), '{"api_key": "canary-svc-6f2"}'),
                 'PT404', 'integration not found', 'service_role: store for a missing integration is not found');
select unalike(pg_temp.error_seen(format('select public.vault_store_integration_credentials(%L, %L)', gen_random_uuid(), '{"api_key": "canary-svc-6f2"}')),
               '%canary%', 'service_role: the not-found refusal does not echo the credentials');
select throws_ok(format('select public.vault_retrieve_integration_credentials(%L)', :'ref_a'),
                 'PT404', 'integration credentials not found', 'service_role: a rotated-away secret is gone');
select vault_secret_id as ref_b2 from public.vault_rotate_integration_credentials(:'ref_b', '{"api_key": "canary-b-9a8b7c"}') \gset
select is(public.vault_retrieve_integration_credentials(:'ref_b2'), '{"api_key": "canary-b-9a8b7c"}'::jsonb,
          'service_role: rotates B''s credentials');
select lives_ok(format('select public.vault_delete_integration_credentials(%L)', :'ref_b2'), 'service_role: deletes B''s credentials');
select vault_secret_id as ref_b3 from public.vault_store_integration_credentials(:'integration_b', '{"api_key": "canary-b-0e0f11"}') \gset
reset role;
select is(pg_temp.linked(:'integration_b'), :'ref_b3'::uuid, 'service_role: stores, and credential_vault_id follows');

------------------------------------------------------------------------------------------------
-- Deleting an integration keeps its credentials for the recovery window, as deleted versions
-- linked to nothing; deleting an organization too (cascade)
set local role authenticated;
select set_config('request.jwt.claims', :'admin_a', true);
select lives_ok(format('delete from public.organization_integrations where id = %L', :'integration_a'),
                'admin A: deletes integration A');
reset role;
select isnt_empty(format('select 1 from vault.secrets where id = %L', :'ref_a3'), 'deleting integration A keeps its Vault secret for the window');
select results_eq(format('select state from credential_vault.credentials where vault_secret_id = %L', :'ref_a3'),
                  array['deleted'], 'deleting integration A made its credentials a deleted version');
select results_eq(format('select action from credential_vault.audit_log where vault_secret_id = %L', :'ref_a3'),
                  array['store', 'delete'], 'the deletion is audited (reads are audited in the server log)');
set local role service_role;
select set_config('request.jwt.claims', :'service_role', true);
select lives_ok($$delete from public.organizations where id = 'bbbbbbbb-0000-4000-8000-000000000000'$$,
                'service_role: deletes organization B');
reset role;
select results_eq(format('select state from credential_vault.credentials where vault_secret_id = %L', :'ref_b3'),
                  array['deleted'], 'deleting organization B kept its integration''s secret as a deleted version');

------------------------------------------------------------------------------------------------
-- No orphans either way
select is_empty($$
  select c.vault_secret_id from credential_vault.credentials c
  left join public.organization_integrations i on i.id = c.integration_id
  where c.state = 'current' and i.credential_vault_id is distinct from c.vault_secret_id
$$, 'every current credentials row is the one its integration links to');
select is_empty($$
  select s.id from vault.secrets s
  where not exists (select 1 from credential_vault.credentials c where c.vault_secret_id = s.id)
$$, 'no Vault secret is left without its credentials row');
select is_empty($$
  select i.id from public.organization_integrations i
  where i.credential_vault_id is not null
    and not exists (select 1 from vault.secrets s where s.id = i.credential_vault_id)
$$, 'no integration links to a missing secret');

select * from finish();
rollback;
