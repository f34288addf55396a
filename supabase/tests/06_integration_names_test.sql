-- The name rules of organization_integrations (provider's format, display_name's length), kept by
-- the trigger organization_integrations_validate_names with the SQLSTATE (23514), message and
-- constraint name of the CHECK constraints they replace: on INSERT, on an UPDATE of either column,
-- as the API's admin and as postgres, also where replication roles skip triggers; an UPDATE of
-- another column (the credential link's) does not judge them.
begin;
select plan(16);

\set admin_a '{"sub":"00000000-0000-4000-8000-0000000000a1","role":"authenticated"}'
\set provider_message 'new row for relation "organization_integrations" violates check constraint "organization_integrations_provider_format"'
\set display_name_message 'new row for relation "organization_integrations" violates check constraint "organization_integrations_display_name_length"'

insert into public.organizations (id, name) values ('eeeeeeee-0000-4000-8000-000000000000', 'Initech');
insert into public.organization_members (organization_id, user_id, role) values
  ('eeeeeeee-0000-4000-8000-000000000000', '00000000-0000-4000-8000-0000000000a1', 'admin');
insert into public.organization_integrations (id, organization_id, provider, display_name) values
  ('eeeeeeee-0000-4000-8000-0000000000c1', 'eeeeeeee-0000-4000-8000-000000000000', 'crm', 'Initech CRM');

-- The error fields a client gets besides the message.
create function pg_temp.error_fields(statement text) returns text
language plpgsql as $$
declare
  schema_name text; table_name text; constraint_name text; column_name text; message text;
begin
  execute statement;
  return '';
exception when others then
  get stacked diagnostics schema_name = schema_name, table_name = table_name,
                          constraint_name = constraint_name, column_name = column_name,
                          message = message_text;
  return concat_ws(' | ', schema_name, table_name, constraint_name, column_name, message);
end
$$;

set local role authenticated;
select set_config('request.jwt.claims', :'admin_a', true);

select lives_ok($$insert into public.organization_integrations (organization_id, provider, display_name)
                  values ('eeeeeeee-0000-4000-8000-000000000000', 'a' || repeat('z', 62), repeat('n', 200))$$,
                'the longest provider and display_name are accepted');
select lives_ok($$insert into public.organization_integrations (organization_id, provider, display_name)
                  values ('eeeeeeee-0000-4000-8000-000000000000', 'erp_2-b', '  x  ')$$,
                'digits, _ and - after the first letter; a display_name of one character once trimmed');
select throws_ok($$insert into public.organization_integrations (organization_id, provider, display_name)
                   values ('eeeeeeee-0000-4000-8000-000000000000', 'CRM', 'Initech')$$,
                 '23514', :'provider_message', 'provider: upper case is refused on INSERT');
select throws_ok($$insert into public.organization_integrations (organization_id, provider, display_name)
                   values ('eeeeeeee-0000-4000-8000-000000000000', 'a' || repeat('z', 63), 'Initech')$$,
                 '23514', :'provider_message', 'provider: 64 characters are refused');
select throws_ok($$insert into public.organization_integrations (organization_id, provider, display_name)
                   values ('eeeeeeee-0000-4000-8000-000000000000', '1crm', 'Initech')$$,
                 '23514', :'provider_message', 'provider: a leading digit is refused');
select throws_ok($$insert into public.organization_integrations (organization_id, provider, display_name)
                   values ('eeeeeeee-0000-4000-8000-000000000000', 'crm', '   ')$$,
                 '23514', :'display_name_message', 'display_name: blank is refused on INSERT');
select throws_ok($$insert into public.organization_integrations (organization_id, provider, display_name)
                   values ('eeeeeeee-0000-4000-8000-000000000000', 'crm', repeat('n', 201))$$,
                 '23514', :'display_name_message', 'display_name: 201 characters are refused');
select throws_ok($$update public.organization_integrations set display_name = ''
                   where id = 'eeeeeeee-0000-4000-8000-0000000000c1'$$,
                 '23514', :'display_name_message', 'display_name: checked on UPDATE');
select is(pg_temp.error_fields($$update public.organization_integrations set display_name = ''
                                 where id = 'eeeeeeee-0000-4000-8000-0000000000c1'$$),
          'public | organization_integrations | organization_integrations_display_name_length | display_name | ' || :'display_name_message',
          'display_name: the error names the table, the constraint and the column');
select throws_ok($$insert into public.organization_integrations (organization_id, provider, display_name)
                   values ('eeeeeeee-0000-4000-8000-000000000000', null, 'Initech')$$,
                 '23502', null, 'provider: NULL meets NOT NULL''s own error');
reset role;

select throws_ok($$update public.organization_integrations set provider = 'Crm'
                   where id = 'eeeeeeee-0000-4000-8000-0000000000c1'$$,
                 '23514', :'provider_message', 'provider: checked on UPDATE (postgres)');
select is(pg_temp.error_fields($$update public.organization_integrations set provider = 'Crm'
                                 where id = 'eeeeeeee-0000-4000-8000-0000000000c1'$$),
          'public | organization_integrations | organization_integrations_provider_format | provider | ' || :'provider_message',
          'provider: the error names the table, the constraint and the column');
select throws_ok($$insert into public.organization_integrations (organization_id, provider, display_name)
                   select 'eeeeeeee-0000-4000-8000-000000000000', 'crm', ''$$,
                 '23514', :'display_name_message', 'display_name: checked on INSERT ... SELECT');

-- As a CHECK, the rules hold where ordinary triggers do not fire (session_replication_role =
-- replica, which only a superuser sets).
select is((select t.tgenabled::text from pg_catalog.pg_trigger t
           where t.tgrelid = 'public.organization_integrations'::regclass
             and t.tgname = 'organization_integrations_validate_names'),
          'A', 'the trigger fires always, with session_replication_role = replica too');

-- A row written before the rules (the trigger disabled by the table's owner) is not judged by
-- an UPDATE of another column: that is what the link hook's UPDATE makes cheap.
alter table public.organization_integrations disable trigger organization_integrations_validate_names;
update public.organization_integrations set provider = 'Legacy CRM' where id = 'eeeeeeee-0000-4000-8000-0000000000c1';
alter table public.organization_integrations enable always trigger organization_integrations_validate_names;
select lives_ok($$update public.organization_integrations set sync_schedule = '{"version": 1, "enabled": false}'
                  where id = 'eeeeeeee-0000-4000-8000-0000000000c1'$$,
                'an UPDATE of another column does not judge the names');
select throws_ok($$update public.organization_integrations set display_name = 'Legacy'
                   where id = 'eeeeeeee-0000-4000-8000-0000000000c1'$$,
                 '23514', :'provider_message', 'an UPDATE of either column judges both');

select * from finish();
rollback;
