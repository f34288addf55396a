-- The JSONB rules of organization_integrations.field_mappings and .sync_schedule, each one
-- accepted and refused (SQLSTATE 23514 and the exact message), written by the admin of the owning
-- organization through the API role; then the report/repair of rows written before a rule existed.
begin;
select plan(75);

\set admin_a      '{"sub":"00000000-0000-4000-8000-0000000000a1","role":"authenticated"}'
\set service_role '{"role":"service_role"}'

insert into public.organizations (id, name) values ('aaaaaaaa-0000-4000-8000-000000000000', 'Acme');
insert into public.organization_members (organization_id, user_id, role) values
  ('aaaaaaaa-0000-4000-8000-000000000000', '00000000-0000-4000-8000-0000000000a1', 'admin');
insert into public.organization_integrations (id, organization_id, provider, display_name) values
  ('aaaaaaaa-0000-4000-8000-0000000000c1', 'aaaaaaaa-0000-4000-8000-000000000000', 'crm', 'Acme CRM');

-- Writes a document (JSON text) into one column of integration A, with the caller's rights.
create function pg_temp.write(column_name text, document text) returns void
language plpgsql as $$
begin
  execute format('update public.organization_integrations set %I = $1::jsonb where id = %L',
                 column_name, 'aaaaaaaa-0000-4000-8000-0000000000c1')
  using document;
end
$$;

-- The error fields a client gets besides the message: constraint, column, hint.
create function pg_temp.error_fields(statement text) returns text
language plpgsql as $$
declare
  constraint_name text; column_name text; message text; hint text;
begin
  execute statement;
  return '';
exception when others then
  get stacked diagnostics constraint_name = constraint_name, column_name = column_name,
                          message = message_text, hint = pg_exception_hint;
  return concat_ws(' | ', constraint_name, column_name, message, hint);
end
$$;

set local role authenticated;
select set_config('request.jwt.claims', :'admin_a', true);

------------------------------------------------------------------------------------------------
-- field_mappings: accepted
select lives_ok($$select pg_temp.write('field_mappings', '{"version": 1, "mappings": []}')$$, 'field_mappings: the default is valid');
select lives_ok($$select pg_temp.write('field_mappings', '{"version": 1, "mappings": [
    {"source": "Email", "target": "contact.email", "transform": "lowercase", "required": true},
    {"source": "Name", "target": "contact.name", "transform": "trim", "required": false},
    {"source": "Code", "target": "contact.code", "transform": "uppercase"},
    {"source": "Amount", "target": "deal.amount", "transform": "to_number"},
    {"source": "Active", "target": "contact.active", "transform": "to_boolean"},
    {"source": "Created", "target": "contact.created_at", "transform": "to_timestamp"},
    {"source": "Email", "target": "contact.raw_email", "transform": "none"},
    {"source": "First Name", "target": "contact.first_name"}]}')$$,
  'field_mappings: every key and every transform');
select lives_ok($$select pg_temp.write('field_mappings', (
    select jsonb_build_object('version', 1, 'mappings', jsonb_agg(jsonb_build_object('source', 's' || g, 'target', 't' || g)))
    from generate_series(1, 200) g)::text)$$, 'field_mappings: 200 mappings');
select lives_ok(format($$select pg_temp.write('field_mappings', '{"version": 1, "mappings": [{"source": "%s", "target": "%s"}]}')$$,
                       repeat('s', 128), repeat('t', 128)), 'field_mappings: 128-character names');
select lives_ok($$insert into public.organization_integrations (organization_id, provider, display_name, field_mappings, sync_schedule)
                  values ('aaaaaaaa-0000-4000-8000-000000000000', 'erp', 'Acme ERP',
                          '{"version": 1, "mappings": [{"source": "id", "target": "erp.id"}]}',
                          '{"version": 1, "enabled": true, "interval_minutes": 30}')$$,
                'field_mappings and sync_schedule: valid documents on INSERT');

-- field_mappings: refused
select throws_ok($$select pg_temp.write('field_mappings', '[]')$$, '23514',
  'invalid field_mappings: field_mappings must be a JSON object', 'field_mappings: must be an object');
select throws_ok($$select pg_temp.write('field_mappings', '{"mappings": []}')$$, '23514',
  'invalid field_mappings: version is required', 'field_mappings: version is required');
select throws_ok($$select pg_temp.write('field_mappings', '{"version": "1", "mappings": []}')$$, '23514',
  'invalid field_mappings: version must be an integer', 'field_mappings: version must be a number');
select throws_ok($$select pg_temp.write('field_mappings', '{"version": 1.5, "mappings": []}')$$, '23514',
  'invalid field_mappings: version must be an integer', 'field_mappings: version must be an integer');
select throws_ok($$select pg_temp.write('field_mappings', '{"version": 2, "mappings": []}')$$, '23514',
  'invalid field_mappings: version is not supported (supported: 1)', 'field_mappings: unknown versions are refused');
select throws_ok($$select pg_temp.write('field_mappings', '{"version": 1, "mappings": [], "extra": true}')$$, '23514',
  'invalid field_mappings: only the keys "version" and "mappings" are allowed', 'field_mappings: no unknown top-level key');
select throws_ok($$select pg_temp.write('field_mappings', '{"version": 1}')$$, '23514',
  'invalid field_mappings: mappings is required', 'field_mappings: mappings is required');
select throws_ok($$select pg_temp.write('field_mappings', '{"version": 1, "mappings": {}}')$$, '23514',
  'invalid field_mappings: mappings must be an array', 'field_mappings: mappings must be an array');
select throws_ok($$select pg_temp.write('field_mappings', (
    select jsonb_build_object('version', 1, 'mappings', jsonb_agg(jsonb_build_object('source', 's' || g, 'target', 't' || g)))
    from generate_series(1, 201) g)::text)$$, '23514',
  'invalid field_mappings: mappings must not have more than 200 entries', 'field_mappings: at most 200 mappings');
select throws_ok($$select pg_temp.write('field_mappings', '{"version": 1, "mappings": ["email"]}')$$, '23514',
  'invalid field_mappings: mappings[0] must be an object', 'field_mappings: a mapping is an object');
select throws_ok($$select pg_temp.write('field_mappings', '{"version": 1, "mappings": [{"source": "a", "target": "b", "default": "x"}]}')$$, '23514',
  'invalid field_mappings: mappings[0] allows only the keys "source", "target", "transform" and "required"', 'field_mappings: no unknown mapping key');
select throws_ok($$select pg_temp.write('field_mappings', '{"version": 1, "mappings": [{"target": "b"}]}')$$, '23514',
  'invalid field_mappings: mappings[0].source is required', 'field_mappings: source is required');
select throws_ok($$select pg_temp.write('field_mappings', '{"version": 1, "mappings": [{"source": 7, "target": "b"}]}')$$, '23514',
  'invalid field_mappings: mappings[0].source must be a string', 'field_mappings: source is a string');
select throws_ok($$select pg_temp.write('field_mappings', '{"version": 1, "mappings": [{"source": "", "target": "b"}]}')$$, '23514',
  'invalid field_mappings: mappings[0].source must be 1 to 128 characters long', 'field_mappings: source is not empty');
select throws_ok(format($$select pg_temp.write('field_mappings', '{"version": 1, "mappings": [{"source": "%s", "target": "b"}]}')$$, repeat('s', 129)), '23514',
  'invalid field_mappings: mappings[0].source must be 1 to 128 characters long', 'field_mappings: source has at most 128 characters');
select throws_ok($$select pg_temp.write('field_mappings', '{"version": 1, "mappings": [{"source": "a\tb", "target": "b"}]}')$$, '23514',
  'invalid field_mappings: mappings[0].source must not contain control characters', 'field_mappings: no control characters');
select throws_ok($$select pg_temp.write('field_mappings', '{"version": 1, "mappings": [{"source": " email", "target": "b"}]}')$$, '23514',
  'invalid field_mappings: mappings[0].source must not start or end with spaces', 'field_mappings: no surrounding spaces');
select throws_ok($$select pg_temp.write('field_mappings', '{"version": 1, "mappings": [{"source": "a"}]}')$$, '23514',
  'invalid field_mappings: mappings[0].target is required', 'field_mappings: target is required');
select throws_ok($$select pg_temp.write('field_mappings', '{"version": 1, "mappings": [{"source": "a", "target": null}]}')$$, '23514',
  'invalid field_mappings: mappings[0].target must be a string', 'field_mappings: target is a string, not null');
select throws_ok($$select pg_temp.write('field_mappings', '{"version": 1, "mappings": [{"source": "a", "target": "x"}, {"source": "b", "target": "x"}]}')$$, '23514',
  'invalid field_mappings: mappings[1].target is already the target of an earlier mapping', 'field_mappings: targets are unique');
select throws_ok($$select pg_temp.write('field_mappings', '{"version": 1, "mappings": [{"source": "a", "target": "b", "transform": "reverse"}]}')$$, '23514',
  'invalid field_mappings: mappings[0].transform must be one of none, trim, lowercase, uppercase, to_number, to_boolean, to_timestamp',
  'field_mappings: transform is one of the known ones');
select throws_ok($$select pg_temp.write('field_mappings', '{"version": 1, "mappings": [{"source": "a", "target": "b", "transform": 1}]}')$$, '23514',
  'invalid field_mappings: mappings[0].transform must be one of none, trim, lowercase, uppercase, to_number, to_boolean, to_timestamp',
  'field_mappings: transform is a string');
select throws_ok($$select pg_temp.write('field_mappings', '{"version": 1, "mappings": [{"source": "a", "target": "b", "required": "yes"}]}')$$, '23514',
  'invalid field_mappings: mappings[0].required must be true or false', 'field_mappings: required is a boolean');
select throws_ok($$select pg_temp.write('field_mappings', '{"version": 1, "mappings": [{"source": "a", "target": "x", "required": 1}, 2], "x": 1}')$$, '23514',
  'invalid field_mappings: only the keys "version" and "mappings" are allowed; mappings[0].required must be true or false; mappings[1] must be an object',
  'field_mappings: every problem is reported at once');
select throws_ok($$select pg_temp.write('field_mappings', '{"version": 1, "mappings": [')$$, '22P02',
  'invalid input syntax for type json', 'field_mappings: malformed JSON text is refused by the jsonb type');
select throws_ok($$update public.organization_integrations set field_mappings = null$$, '23502',
  'null value in column "field_mappings" of relation "organization_integrations" violates not-null constraint', 'field_mappings: not null');
select throws_ok($$insert into public.organization_integrations (organization_id, provider, display_name, field_mappings)
                   values ('aaaaaaaa-0000-4000-8000-000000000000', 'erp2', 'Acme ERP 2', '{"version": 1, "mappings": [{}]}')$$, '23514',
  'invalid field_mappings: mappings[0].source is required; mappings[0].target is required', 'field_mappings: checked on INSERT too');
select is(pg_temp.error_fields($$select pg_temp.write('field_mappings', '{"version": 2}')$$),
  'organization_integrations_field_mappings_valid | field_mappings | invalid field_mappings: version is not supported (supported: 1) | field_mappings is {"version": 1, "mappings": [{"source": ..., "target": ..., "transform": ..., "required": ...}]}',
  'field_mappings: the error names the constraint and the column, with a hint');
select is(pg_temp.error_fields(format($$select pg_temp.write('field_mappings', '{"version": 1, "mappings": [{"source": "%s", "target": "canary-value-31f"}]}')$$, repeat('canary-value-31f', 10))),
  'organization_integrations_field_mappings_valid | field_mappings | invalid field_mappings: mappings[0].source must be 1 to 128 characters long | field_mappings is {"version": 1, "mappings": [{"source": ..., "target": ..., "transform": ..., "required": ...}]}',
  'field_mappings: the error never quotes the submitted values');

------------------------------------------------------------------------------------------------
-- sync_schedule: accepted
select lives_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": false}')$$, 'sync_schedule: the default is valid');
select lives_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": true, "interval_minutes": 15}')$$, 'sync_schedule: 15 minutes');
select lives_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": true, "interval_minutes": 10080, "timezone": "UTC"}')$$, 'sync_schedule: one week, UTC');
select lives_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": false, "interval_minutes": 60, "timezone": "America/Argentina/Buenos_Aires"}')$$,
  'sync_schedule: disabled with an interval, a three-part zone name');
select lives_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": true, "interval_minutes": 60, "timezone": "Europe/Berlin", "window": {"start_hour": 22, "end_hour": 4}}')$$,
  'sync_schedule: a window past midnight');
select lives_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": false, "timezone": "Etc/GMT-14"}')$$,
  'sync_schedule: an Etc/GMT zone');
select lives_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": true, "interval_minutes": 60, "window": {"start_hour": 0, "end_hour": 23}}')$$,
  'sync_schedule: hours 0 and 23');

-- sync_schedule: refused
select throws_ok($$select pg_temp.write('sync_schedule', '"daily"')$$, '23514',
  'invalid sync_schedule: sync_schedule must be a JSON object', 'sync_schedule: must be an object');
select throws_ok($$select pg_temp.write('sync_schedule', '{"enabled": false}')$$, '23514',
  'invalid sync_schedule: version is required', 'sync_schedule: version is required');
select throws_ok($$select pg_temp.write('sync_schedule', '{"version": 0, "enabled": false}')$$, '23514',
  'invalid sync_schedule: version is not supported (supported: 1)', 'sync_schedule: unknown versions are refused');
select throws_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": false, "cron": "* * * * *"}')$$, '23514',
  'invalid sync_schedule: only the keys "version", "enabled", "interval_minutes", "timezone" and "window" are allowed', 'sync_schedule: no unknown key');
select throws_ok($$select pg_temp.write('sync_schedule', '{"version": 1}')$$, '23514',
  'invalid sync_schedule: enabled is required', 'sync_schedule: enabled is required');
select throws_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": "yes"}')$$, '23514',
  'invalid sync_schedule: enabled must be true or false', 'sync_schedule: enabled is a boolean');
select throws_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": true}')$$, '23514',
  'invalid sync_schedule: interval_minutes is required when enabled is true', 'sync_schedule: an enabled schedule has an interval');
select throws_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": true, "interval_minutes": "60"}')$$, '23514',
  'invalid sync_schedule: interval_minutes must be an integer from 15 to 10080', 'sync_schedule: interval is a number');
select throws_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": true, "interval_minutes": 60.5}')$$, '23514',
  'invalid sync_schedule: interval_minutes must be an integer from 15 to 10080', 'sync_schedule: interval is an integer');
select throws_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": true, "interval_minutes": 14}')$$, '23514',
  'invalid sync_schedule: interval_minutes must be an integer from 15 to 10080', 'sync_schedule: interval at least 15');
select throws_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": true, "interval_minutes": 10081}')$$, '23514',
  'invalid sync_schedule: interval_minutes must be an integer from 15 to 10080', 'sync_schedule: interval at most 10080');
select throws_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": true, "interval_minutes": 1e400}')$$, '23514',
  'invalid sync_schedule: interval_minutes must be an integer from 15 to 10080', 'sync_schedule: a huge interval is refused, not an overflow');
select throws_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": false, "timezone": "Mars/Olympus_Mons"}')$$, '23514',
  'invalid sync_schedule: timezone must be "UTC" or a region/city time zone name such as "Europe/Berlin"', 'sync_schedule: an unknown zone');
select throws_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": false, "timezone": "EST"}')$$, '23514',
  'invalid sync_schedule: timezone must be "UTC" or a region/city time zone name such as "Europe/Berlin"', 'sync_schedule: no abbreviation');
select throws_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": false, "timezone": "UTC+3"}')$$, '23514',
  'invalid sync_schedule: timezone must be "UTC" or a region/city time zone name such as "Europe/Berlin"', 'sync_schedule: no POSIX rule');
select throws_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": false, "timezone": "Mars/Base3"}')$$, '23514',
  'invalid sync_schedule: timezone must be "UTC" or a region/city time zone name such as "Europe/Berlin"', 'sync_schedule: no name the server would read as a POSIX rule');
select throws_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": false, "timezone": 1}')$$, '23514',
  'invalid sync_schedule: timezone must be "UTC" or a region/city time zone name such as "Europe/Berlin"', 'sync_schedule: timezone is a string');
select throws_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": false, "window": [1, 5]}')$$, '23514',
  'invalid sync_schedule: window must be an object', 'sync_schedule: window is an object');
select throws_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": false, "window": {"start_hour": 1, "end_hour": 5, "days": [1]}}')$$, '23514',
  'invalid sync_schedule: window allows only the keys "start_hour" and "end_hour"', 'sync_schedule: no unknown window key');
select throws_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": false, "window": {"start_hour": 1}}')$$, '23514',
  'invalid sync_schedule: window.end_hour must be an integer from 0 to 23', 'sync_schedule: both hours are required');
select throws_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": false, "window": {"start_hour": 24, "end_hour": 5}}')$$, '23514',
  'invalid sync_schedule: window.start_hour must be an integer from 0 to 23', 'sync_schedule: hour at most 23');
select throws_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": false, "window": {"start_hour": -1, "end_hour": 5}}')$$, '23514',
  'invalid sync_schedule: window.start_hour must be an integer from 0 to 23', 'sync_schedule: hour at least 0');
select throws_ok($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": false, "window": {"start_hour": 3, "end_hour": 3}}')$$, '23514',
  'invalid sync_schedule: window.start_hour and window.end_hour must differ', 'sync_schedule: a window is not empty');
select is(pg_temp.error_fields($$select pg_temp.write('sync_schedule', '{"version": 1}')$$),
  'organization_integrations_sync_schedule_valid | sync_schedule | invalid sync_schedule: enabled is required | sync_schedule is {"version": 1, "enabled": ..., "interval_minutes": ..., "timezone": ..., "window": {"start_hour": ..., "end_hour": ...}}',
  'sync_schedule: the error names the constraint and the column, with a hint');
select is(pg_temp.error_fields($$select pg_temp.write('sync_schedule', '{"version": 1, "enabled": false, "timezone": "Canary/Value_Fff"}')$$),
  'organization_integrations_sync_schedule_valid | sync_schedule | invalid sync_schedule: timezone must be "UTC" or a region/city time zone name such as "Europe/Berlin" | sync_schedule is {"version": 1, "enabled": ..., "interval_minutes": ..., "timezone": ..., "window": {"start_hour": ..., "end_hour": ...}}',
  'sync_schedule: the error never quotes the submitted values');

reset role;
select results_eq($$select field_mappings, sync_schedule from public.organization_integrations where id = 'aaaaaaaa-0000-4000-8000-0000000000c1'$$,
  $$values ('{"version": 1, "mappings": [{"source": "ssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss", "target": "tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt"}]}'::jsonb,
            '{"version": 1, "enabled": true, "interval_minutes": 60, "window": {"start_hour": 0, "end_hour": 23}}'::jsonb)$$,
  'integration A holds the last accepted documents');

------------------------------------------------------------------------------------------------
-- Rows written before a rule existed: simulated by writing them while the validating trigger is
-- disabled (as rows a migration adding a rule finds in the table). All of it is rolled back at
-- the end.
alter table public.organization_integrations disable trigger organization_integrations_validate_config;
insert into public.organization_integrations (id, organization_id, provider, display_name, field_mappings, sync_schedule) values
  ('aaaaaaaa-0000-4000-8000-0000000000d1', 'aaaaaaaa-0000-4000-8000-000000000000', 'legacy1', 'Old mappings',
   '{"mappings": []}', '{"version": 1, "enabled": true, "interval_minutes": 60}'),
  ('aaaaaaaa-0000-4000-8000-0000000000d2', 'aaaaaaaa-0000-4000-8000-000000000000', 'legacy2', 'Old schedule',
   '{"version": 1, "mappings": [{"source": "a", "target": "b"}]}', '{"version": 1, "enabled": true}'),
  ('aaaaaaaa-0000-4000-8000-0000000000d3', 'aaaaaaaa-0000-4000-8000-000000000000', 'legacy3', 'Old everything',
   '{"version": 1, "mappings": [{"source": "a"}]}', '{"version": 1, "enabled": true, "interval_minutes": 5, "timezone": "Nowhere/Land"}');
alter table public.organization_integrations enable trigger organization_integrations_validate_config;

select lives_ok($$update public.organization_integrations set display_name = 'Renamed' where id = 'aaaaaaaa-0000-4000-8000-0000000000d2'$$,
  'an update that writes no document does not judge the old ones (the credential link writes on every store)');
select throws_ok($$update public.organization_integrations set sync_schedule = '{"version": 1, "enabled": true, "interval_minutes": 7}' where id = 'aaaaaaaa-0000-4000-8000-0000000000d2'$$, '23514',
  'invalid sync_schedule: interval_minutes must be an integer from 15 to 10080', 'a new document written to an old row is judged');

set local role authenticated;
select set_config('request.jwt.claims', :'admin_a', true);
select throws_ok($$select * from private.integration_config_report()$$, '42501',
  'permission denied for function integration_config_report', 'authenticated may not run the report');
reset role;

set local role service_role;
select set_config('request.jwt.claims', :'service_role', true);
select results_eq($$select integration_id, document, problems, action from private.integration_config_report()$$,
  $$values ('aaaaaaaa-0000-4000-8000-0000000000d1'::uuid, 'field_mappings', array['version is required'], 'none'),
           ('aaaaaaaa-0000-4000-8000-0000000000d2'::uuid, 'sync_schedule', array['interval_minutes is required when enabled is true'], 'none'),
           ('aaaaaaaa-0000-4000-8000-0000000000d3'::uuid, 'field_mappings', array['mappings[0].target is required'], 'none'),
           ('aaaaaaaa-0000-4000-8000-0000000000d3'::uuid, 'sync_schedule', array['interval_minutes must be an integer from 15 to 10080',
                                                                              'timezone must be "UTC" or a region/city time zone name such as "Europe/Berlin"'], 'none')$$,
  'the report lists every failing document with every problem');
select results_eq($$select count(*) from public.organization_integrations where field_mappings = '{"mappings": []}'$$, array[1::bigint],
  'the report alone changes nothing');
select results_eq($$select integration_id, document, action from private.integration_config_report(repair => true)$$,
  $$values ('aaaaaaaa-0000-4000-8000-0000000000d1'::uuid, 'field_mappings', 'reset to default'),
           ('aaaaaaaa-0000-4000-8000-0000000000d2'::uuid, 'sync_schedule', 'reset to default'),
           ('aaaaaaaa-0000-4000-8000-0000000000d3'::uuid, 'field_mappings', 'reset to default'),
           ('aaaaaaaa-0000-4000-8000-0000000000d3'::uuid, 'sync_schedule', 'reset to default')$$,
  'repair resets each failing document and reports it');
select is_empty($$select * from private.integration_config_report()$$, 'after the repair no row fails the rules');
reset role;
select results_eq($$select id, field_mappings, sync_schedule from public.organization_integrations where provider like 'legacy%' order by id$$,
  $$values ('aaaaaaaa-0000-4000-8000-0000000000d1'::uuid, '{"version": 1, "mappings": []}'::jsonb, '{"version": 1, "enabled": true, "interval_minutes": 60}'::jsonb),
           ('aaaaaaaa-0000-4000-8000-0000000000d2'::uuid, '{"version": 1, "mappings": [{"source": "a", "target": "b"}]}'::jsonb, '{"version": 1, "enabled": false}'::jsonb),
           ('aaaaaaaa-0000-4000-8000-0000000000d3'::uuid, '{"version": 1, "mappings": []}'::jsonb, '{"version": 1, "enabled": false}'::jsonb)$$,
  'only the failing documents were reset, to the column defaults');
select * from finish();
rollback;
