-- Every table operation for every caller, impersonated as the API gateway does it (SET LOCAL
-- ROLE plus request.jwt.claims): anon, a member and an admin of organization A, an admin of
-- organization B, and service_role. Row level security filters silently, so a denied UPDATE or
-- DELETE is asserted as 0 rows affected (and the data checked unchanged at the end), a denied
-- read as 0 rows, a denied INSERT as SQLSTATE 42501; a missing privilege is 42501 at once.
begin;
select plan(77);

\set anon          '{"role":"anon"}'
\set member_a      '{"sub":"00000000-0000-4000-8000-0000000000a2","role":"authenticated"}'
\set admin_a       '{"sub":"00000000-0000-4000-8000-0000000000a1","role":"authenticated"}'
\set admin_b       '{"sub":"00000000-0000-4000-8000-0000000000b1","role":"authenticated"}'
\set no_sub        '{"role":"authenticated"}'
\set service_role  '{"role":"service_role"}'

-- Organization A (admin a1, member a2) and organization B (admin b1), one integration each.
insert into public.organizations (id, name) values
  ('aaaaaaaa-0000-4000-8000-000000000000', 'Acme'),
  ('bbbbbbbb-0000-4000-8000-000000000000', 'Globex');
insert into public.organization_members (organization_id, user_id, role) values
  ('aaaaaaaa-0000-4000-8000-000000000000', '00000000-0000-4000-8000-0000000000a1', 'admin'),
  ('aaaaaaaa-0000-4000-8000-000000000000', '00000000-0000-4000-8000-0000000000a2', 'member'),
  ('bbbbbbbb-0000-4000-8000-000000000000', '00000000-0000-4000-8000-0000000000b1', 'admin');
insert into public.organization_integrations (id, organization_id, provider, display_name) values
  ('aaaaaaaa-0000-4000-8000-0000000000c1', 'aaaaaaaa-0000-4000-8000-000000000000', 'crm', 'Acme CRM'),
  ('bbbbbbbb-0000-4000-8000-0000000000c1', 'bbbbbbbb-0000-4000-8000-000000000000', 'crm', 'Globex CRM');

-- Rows a statement affected, run with the caller's rights.
create function pg_temp.rows_affected(statement text) returns bigint
language plpgsql as $$
declare
  affected bigint;
begin
  execute statement;
  get diagnostics affected = row_count;
  return affected;
end
$$;

------------------------------------------------------------------------------------------------
-- anon: no privilege on any table
set local role anon;
select set_config('request.jwt.claims', :'anon', true);
select throws_ok($$select * from public.organizations$$, '42501', 'permission denied for table organizations', 'anon: select organizations');
select throws_ok($$insert into public.organizations (name) values ('x')$$, '42501', 'permission denied for table organizations', 'anon: insert organizations');
select throws_ok($$update public.organizations set name = 'x'$$, '42501', 'permission denied for table organizations', 'anon: update organizations');
select throws_ok($$delete from public.organizations$$, '42501', 'permission denied for table organizations', 'anon: delete organizations');
select throws_ok($$select * from public.organization_members$$, '42501', 'permission denied for table organization_members', 'anon: select members');
select throws_ok($$insert into public.organization_members (organization_id, user_id, role) values ('aaaaaaaa-0000-4000-8000-000000000000', gen_random_uuid(), 'admin')$$,
                 '42501', 'permission denied for table organization_members', 'anon: insert members');
select throws_ok($$update public.organization_members set role = 'admin'$$, '42501', 'permission denied for table organization_members', 'anon: update members');
select throws_ok($$delete from public.organization_members$$, '42501', 'permission denied for table organization_members', 'anon: delete members');
select throws_ok($$select * from public.organization_integrations$$, '42501', 'permission denied for table organization_integrations', 'anon: select integrations');
select throws_ok($$insert into public.organization_integrations (organization_id, provider, display_name) values ('aaaaaaaa-0000-4000-8000-000000000000', 'erp', 'x')$$,
                 '42501', 'permission denied for table organization_integrations', 'anon: insert integrations');
select throws_ok($$update public.organization_integrations set display_name = 'x'$$, '42501', 'permission denied for table organization_integrations', 'anon: update integrations');
select throws_ok($$delete from public.organization_integrations$$, '42501', 'permission denied for table organization_integrations', 'anon: delete integrations');
reset role;

------------------------------------------------------------------------------------------------
-- authenticated without a sub claim: sees nothing
set local role authenticated;
select set_config('request.jwt.claims', :'no_sub', true);
select is_empty($$select id from public.organizations$$, 'no sub: no organization visible');
select is_empty($$select user_id from public.organization_members$$, 'no sub: no member visible');
select is_empty($$select id from public.organization_integrations$$, 'no sub: no integration visible');
reset role;

------------------------------------------------------------------------------------------------
-- member of A: reads A, changes nothing, sees nothing of B
set local role authenticated;
select set_config('request.jwt.claims', :'member_a', true);
select results_eq($$select id from public.organizations$$,
                  $$values ('aaaaaaaa-0000-4000-8000-000000000000'::uuid)$$, 'member A: reads organization A only');
select results_eq($$select user_id from public.organization_members order by user_id$$,
                  $$values ('00000000-0000-4000-8000-0000000000a1'::uuid), ('00000000-0000-4000-8000-0000000000a2'::uuid)$$,
                  'member A: reads the members of A only');
select results_eq($$select id from public.organization_integrations$$,
                  $$values ('aaaaaaaa-0000-4000-8000-0000000000c1'::uuid)$$, 'member A: reads the integrations of A only');
select is(pg_temp.rows_affected($$update public.organizations set name = 'Hacked' where id = 'aaaaaaaa-0000-4000-8000-000000000000'$$),
          0::bigint, 'member A: cannot rename A (0 rows)');
select throws_ok($$insert into public.organizations (name) values ('Mine')$$, '42501', 'permission denied for table organizations',
                 'member A: cannot create organizations');
select throws_ok($$delete from public.organizations$$, '42501', 'permission denied for table organizations',
                 'member A: cannot delete organizations');
select throws_ok($$insert into public.organization_members (organization_id, user_id, role) values ('aaaaaaaa-0000-4000-8000-000000000000', '00000000-0000-4000-8000-0000000000f1', 'admin')$$,
                 '42501', 'new row violates row-level security policy for table "organization_members"', 'member A: cannot add members to A');
select is(pg_temp.rows_affected($$update public.organization_members set role = 'admin' where user_id = '00000000-0000-4000-8000-0000000000a2'$$),
          0::bigint, 'member A: cannot promote itself (0 rows)');
select is(pg_temp.rows_affected($$delete from public.organization_members where organization_id = 'aaaaaaaa-0000-4000-8000-000000000000'$$),
          0::bigint, 'member A: cannot remove members of A (0 rows)');
select throws_ok($$insert into public.organization_integrations (organization_id, provider, display_name) values ('aaaaaaaa-0000-4000-8000-000000000000', 'erp', 'Acme ERP')$$,
                 '42501', 'new row violates row-level security policy for table "organization_integrations"', 'member A: cannot add integrations to A');
select is(pg_temp.rows_affected($$update public.organization_integrations set display_name = 'Hacked'$$),
          0::bigint, 'member A: cannot change integrations of A (0 rows)');
select is(pg_temp.rows_affected($$delete from public.organization_integrations$$),
          0::bigint, 'member A: cannot delete integrations of A (0 rows)');
reset role;

------------------------------------------------------------------------------------------------
-- admin of A: reads and changes A; B is invisible and untouchable
set local role authenticated;
select set_config('request.jwt.claims', :'admin_a', true);
select results_eq($$select id from public.organizations$$,
                  $$values ('aaaaaaaa-0000-4000-8000-000000000000'::uuid)$$, 'admin A: reads organization A only');
select is_empty($$select * from public.organization_members where organization_id = 'bbbbbbbb-0000-4000-8000-000000000000'$$,
                'admin A: 0 members of B');
select is_empty($$select * from public.organization_integrations where organization_id = 'bbbbbbbb-0000-4000-8000-000000000000'$$,
                'admin A: 0 integrations of B');
select is(pg_temp.rows_affected($$update public.organizations set name = 'Acme Inc' where id = 'aaaaaaaa-0000-4000-8000-000000000000'$$),
          1::bigint, 'admin A: renames A');
select is(pg_temp.rows_affected($$update public.organizations set name = 'Hacked' where id = 'bbbbbbbb-0000-4000-8000-000000000000'$$),
          0::bigint, 'admin A: cannot rename B (0 rows)');
select throws_ok($$delete from public.organizations where id = 'aaaaaaaa-0000-4000-8000-000000000000'$$, '42501',
                 'permission denied for table organizations', 'admin A: organizations are deleted by the service only');
select is(pg_temp.rows_affected($$insert into public.organization_members (organization_id, user_id, role) values ('aaaaaaaa-0000-4000-8000-000000000000', '00000000-0000-4000-8000-0000000000a3', 'member')$$),
          1::bigint, 'admin A: adds a member to A');
select is(pg_temp.rows_affected($$update public.organization_members set role = 'admin' where user_id = '00000000-0000-4000-8000-0000000000a3'$$),
          1::bigint, 'admin A: promotes a member of A');
select is(pg_temp.rows_affected($$delete from public.organization_members where user_id = '00000000-0000-4000-8000-0000000000a3'$$),
          1::bigint, 'admin A: removes a member of A');
select throws_ok($$insert into public.organization_members (organization_id, user_id, role) values ('bbbbbbbb-0000-4000-8000-000000000000', '00000000-0000-4000-8000-0000000000a1', 'admin')$$,
                 '42501', 'new row violates row-level security policy for table "organization_members"', 'admin A: cannot join B');
select is(pg_temp.rows_affected($$update public.organization_members set role = 'member' where organization_id = 'bbbbbbbb-0000-4000-8000-000000000000'$$),
          0::bigint, 'admin A: cannot change members of B (0 rows)');
select is(pg_temp.rows_affected($$delete from public.organization_members where organization_id = 'bbbbbbbb-0000-4000-8000-000000000000'$$),
          0::bigint, 'admin A: cannot remove members of B (0 rows)');
select throws_ok($$update public.organization_members set organization_id = 'bbbbbbbb-0000-4000-8000-000000000000' where user_id = '00000000-0000-4000-8000-0000000000a2'$$,
                 '42501', 'permission denied for table organization_members', 'admin A: cannot move a member to another organization');
select throws_ok($$insert into public.organization_integrations (id, organization_id, provider, display_name) values ('aaaaaaaa-0000-4000-8000-0000000000c2', 'aaaaaaaa-0000-4000-8000-000000000000', 'erp', 'Acme ERP')$$,
                 '42501', 'permission denied for table organization_integrations', 'admin A: cannot choose an integration''s id');
select is(pg_temp.rows_affected($$insert into public.organization_integrations (organization_id, provider, display_name) values ('aaaaaaaa-0000-4000-8000-000000000000', 'erp', 'Acme ERP')$$),
          1::bigint, 'admin A: adds an integration to A');
select is(pg_temp.rows_affected($$update public.organization_integrations set display_name = 'Acme ERP (EU)', sync_schedule = '{"version": 1, "enabled": true, "interval_minutes": 60}' where provider = 'erp'$$),
          1::bigint, 'admin A: changes an integration of A');
select is(pg_temp.rows_affected($$delete from public.organization_integrations where provider = 'erp'$$),
          1::bigint, 'admin A: deletes an integration of A');
select throws_ok($$insert into public.organization_integrations (organization_id, provider, display_name) values ('bbbbbbbb-0000-4000-8000-000000000000', 'erp', 'Planted')$$,
                 '42501', 'new row violates row-level security policy for table "organization_integrations"', 'admin A: cannot add integrations to B');
select is(pg_temp.rows_affected($$update public.organization_integrations set display_name = 'Hacked' where organization_id = 'bbbbbbbb-0000-4000-8000-000000000000'$$),
          0::bigint, 'admin A: cannot change integrations of B (0 rows)');
select is(pg_temp.rows_affected($$delete from public.organization_integrations where organization_id = 'bbbbbbbb-0000-4000-8000-000000000000'$$),
          0::bigint, 'admin A: cannot delete integrations of B (0 rows)');
select throws_ok($$update public.organization_integrations set organization_id = 'bbbbbbbb-0000-4000-8000-000000000000'$$,
                 '42501', 'permission denied for table organization_integrations', 'admin A: cannot move an integration to B');
-- credential_vault_id: only the credential functions write it
select throws_ok($$insert into public.organization_integrations (organization_id, provider, display_name, credential_vault_id) values ('aaaaaaaa-0000-4000-8000-000000000000', 'erp', 'Acme ERP', gen_random_uuid())$$,
                 '42501', 'permission denied for table organization_integrations', 'admin A: cannot insert a credential_vault_id');
select throws_ok($$update public.organization_integrations set credential_vault_id = gen_random_uuid() where id = 'aaaaaaaa-0000-4000-8000-0000000000c1'$$,
                 '42501', 'permission denied for table organization_integrations', 'admin A: cannot update credential_vault_id');
select throws_ok($$update public.organization_integrations set credential_vault_id = null where id = 'aaaaaaaa-0000-4000-8000-0000000000c1'$$,
                 '42501', 'permission denied for table organization_integrations', 'admin A: cannot clear credential_vault_id');
reset role;

------------------------------------------------------------------------------------------------
-- admin of B, against A: 0 rows read, 0 rows changed, inserts refused; B itself works
set local role authenticated;
select set_config('request.jwt.claims', :'admin_b', true);
select results_eq($$select id from public.organizations$$,
                  $$values ('bbbbbbbb-0000-4000-8000-000000000000'::uuid)$$, 'admin B: reads organization B only');
select is_empty($$select * from public.organizations where id = 'aaaaaaaa-0000-4000-8000-000000000000'$$, 'admin B: 0 rows of organization A');
select is_empty($$select * from public.organization_members where organization_id = 'aaaaaaaa-0000-4000-8000-000000000000'$$, 'admin B: 0 members of A');
select is_empty($$select * from public.organization_integrations where organization_id = 'aaaaaaaa-0000-4000-8000-000000000000'$$, 'admin B: 0 integrations of A');
select results_eq($$select id from public.organization_integrations$$,
                  $$values ('bbbbbbbb-0000-4000-8000-0000000000c1'::uuid)$$, 'admin B: reads its own integration');
select is(pg_temp.rows_affected($$update public.organizations set name = 'Hacked' where id = 'aaaaaaaa-0000-4000-8000-000000000000'$$),
          0::bigint, 'admin B: cannot rename A (0 rows)');
select throws_ok($$insert into public.organization_members (organization_id, user_id, role) values ('aaaaaaaa-0000-4000-8000-000000000000', '00000000-0000-4000-8000-0000000000b1', 'admin')$$,
                 '42501', 'new row violates row-level security policy for table "organization_members"', 'admin B: cannot make itself admin of A');
select is(pg_temp.rows_affected($$update public.organization_members set role = 'member' where organization_id = 'aaaaaaaa-0000-4000-8000-000000000000'$$),
          0::bigint, 'admin B: cannot demote the admin of A (0 rows)');
select is(pg_temp.rows_affected($$delete from public.organization_members where organization_id = 'aaaaaaaa-0000-4000-8000-000000000000'$$),
          0::bigint, 'admin B: cannot remove members of A (0 rows)');
select throws_ok($$insert into public.organization_integrations (organization_id, provider, display_name) values ('aaaaaaaa-0000-4000-8000-000000000000', 'erp', 'Planted')$$,
                 '42501', 'new row violates row-level security policy for table "organization_integrations"', 'admin B: cannot add integrations to A');
select is(pg_temp.rows_affected($$update public.organization_integrations set display_name = 'Hacked' where id = 'aaaaaaaa-0000-4000-8000-0000000000c1'$$),
          0::bigint, 'admin B: cannot change the integration of A (0 rows)');
select is(pg_temp.rows_affected($$delete from public.organization_integrations where id = 'aaaaaaaa-0000-4000-8000-0000000000c1'$$),
          0::bigint, 'admin B: cannot delete the integration of A (0 rows)');
select is(pg_temp.rows_affected($$update public.organization_integrations set display_name = 'Globex CRM (EU)' where id = 'bbbbbbbb-0000-4000-8000-0000000000c1'$$),
          1::bigint, 'admin B: changes its own integration');
reset role;

------------------------------------------------------------------------------------------------
-- service_role: everything, across organizations (BYPASSRLS) - but credential_vault_id stays
-- in step with Vault, and ids do not change
set local role service_role;
select set_config('request.jwt.claims', :'service_role', true);
select results_eq($$select count(*) from public.organizations$$, array[2::bigint], 'service_role: reads every organization');
select results_eq($$select count(*) from public.organization_members$$, array[3::bigint], 'service_role: reads every member');
select results_eq($$select count(*) from public.organization_integrations$$, array[2::bigint], 'service_role: reads every integration');
select is(pg_temp.rows_affected($$insert into public.organizations (id, name) values ('cccccccc-0000-4000-8000-000000000000', 'Initech')$$),
          1::bigint, 'service_role: creates an organization');
select is(pg_temp.rows_affected($$insert into public.organization_integrations (organization_id, provider, display_name) values ('cccccccc-0000-4000-8000-000000000000', 'erp', 'Initech ERP')$$),
          1::bigint, 'service_role: adds an integration to any organization');
select is(pg_temp.rows_affected($$update public.organization_integrations set display_name = 'Initech ERP 2' where organization_id = 'cccccccc-0000-4000-8000-000000000000'$$),
          1::bigint, 'service_role: changes any integration');
select is(pg_temp.rows_affected($$delete from public.organizations where id = 'cccccccc-0000-4000-8000-000000000000'$$),
          1::bigint, 'service_role: deletes an organization');
select throws_ok($$update public.organization_integrations set credential_vault_id = gen_random_uuid() where id = 'aaaaaaaa-0000-4000-8000-0000000000c1'$$,
                 '42501', 'credential_vault_id is set only by the credential functions', 'service_role: cannot update credential_vault_id directly');
select throws_ok($$insert into public.organization_integrations (organization_id, provider, display_name, credential_vault_id) values ('aaaaaaaa-0000-4000-8000-000000000000', 'erp', 'x', gen_random_uuid())$$,
                 '42501', 'credential_vault_id is set only by the credential functions', 'service_role: cannot insert a credential_vault_id directly');
select throws_ok($$update public.organization_integrations set id = gen_random_uuid() where id = 'aaaaaaaa-0000-4000-8000-0000000000c1'$$,
                 '42501', 'the id of an integration cannot change', 'service_role: cannot change an integration''s id');
reset role;

------------------------------------------------------------------------------------------------
-- What the denied callers tried left no trace
select results_eq($$select id, name from public.organizations order by id$$,
                  $$values ('aaaaaaaa-0000-4000-8000-000000000000'::uuid, 'Acme Inc'), ('bbbbbbbb-0000-4000-8000-000000000000'::uuid, 'Globex')$$,
                  'only admin A''s rename happened');
select results_eq($$select organization_id, user_id, role from public.organization_members order by organization_id, user_id$$,
                  $$values ('aaaaaaaa-0000-4000-8000-000000000000'::uuid, '00000000-0000-4000-8000-0000000000a1'::uuid, 'admin'),
                           ('aaaaaaaa-0000-4000-8000-000000000000'::uuid, '00000000-0000-4000-8000-0000000000a2'::uuid, 'member'),
                           ('bbbbbbbb-0000-4000-8000-000000000000'::uuid, '00000000-0000-4000-8000-0000000000b1'::uuid, 'admin')$$,
                  'memberships are as created');
select results_eq($$select id, organization_id, display_name, credential_vault_id from public.organization_integrations order by id$$,
                  $$values ('aaaaaaaa-0000-4000-8000-0000000000c1'::uuid, 'aaaaaaaa-0000-4000-8000-000000000000'::uuid, 'Acme CRM', null::uuid),
                           ('bbbbbbbb-0000-4000-8000-0000000000c1'::uuid, 'bbbbbbbb-0000-4000-8000-000000000000'::uuid, 'Globex CRM (EU)', null::uuid)$$,
                  'integrations are as created, except admin B''s own change');

select * from finish();
rollback;
