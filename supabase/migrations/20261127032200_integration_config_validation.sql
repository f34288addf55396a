-- Validation of organization_integrations.field_mappings and .sync_schedule at write time.
--
-- Each document carries {"version": N}; the rules below are those of version 1, the only version
-- so far. A new version adds a branch to the *_problems function; it never reinterprets version 1.
--
-- The rules live in one place, the *_problems functions, which list every problem of a document
-- (empty array = valid). Two users:
--   * the trigger organization_integrations_validate_config, through private.check_*(), which raise
--     SQLSTATE 23514 (check_violation) with every problem in the message and the rule's name in
--     the error's constraint field;
--   * private.integration_config_report(), which lists (and can reset) rows that fail the current
--     rules because they were written before a rule existed.
-- Messages name the offending path and the rule, never the submitted value.
--
-- field_mappings, version 1:
--   {"version": 1,
--    "mappings": [                       -- array, at most 200 entries
--      {"source": "Email",               -- required, string, 1-128 characters, no control
--       "target": "contact.email",       -- characters, no surrounding spaces; targets unique
--       "transform": "lowercase",        -- optional: none trim lowercase uppercase to_number
--                                        --           to_boolean to_timestamp
--       "required": true}]}              -- optional, boolean
-- sync_schedule, version 1:
--   {"version": 1,
--    "enabled": true,                    -- required, boolean
--    "interval_minutes": 60,             -- integer 15..10080; required when enabled
--    "timezone": "Europe/Berlin",        -- optional, "UTC" or a region/city zone the server knows
--    "window": {"start_hour": 1,         -- optional; both hours required, integers 0..23,
--               "end_hour": 5}}          -- different (a window may wrap past midnight)
-- No other keys are allowed at any level.

-- A JSON number with no fractional part, or null.
create or replace function private.jsonb_integer(value jsonb)
returns numeric
language sql immutable strict
set search_path = ''
as $$
  select case
    when pg_catalog.jsonb_typeof(value) = 'number'
     and (value #>> '{}')::numeric = pg_catalog.trunc((value #>> '{}')::numeric)
    then (value #>> '{}')::numeric
  end
$$;

-- The keys of an object that are not in allowed.
create or replace function private.jsonb_unknown_keys(document jsonb, allowed text[])
returns text[]
language sql immutable strict
set search_path = ''
as $$
  select coalesce(pg_catalog.array_agg(k order by k), '{}')
  from pg_catalog.jsonb_object_keys(document) as k
  where k <> all (allowed)
$$;

-- The problem with a version member, or null when it is one of supported.
create or replace function private.jsonb_version_problem(document jsonb, supported integer[])
returns text
language sql immutable
set search_path = ''
as $$
  select case
    when not document ? 'version' then 'version is required'
    when private.jsonb_integer(document -> 'version') is null then 'version must be an integer'
    when private.jsonb_integer(document -> 'version') <> all (supported::numeric[])
      then pg_catalog.format('version is not supported (supported: %s)', pg_catalog.array_to_string(supported, ', '))
  end
$$;

-- A region/city time zone name the server knows ('Europe/Berlin', 'America/Argentina/Cordoba'),
-- 'Etc/GMT+5' or 'UTC'; not an abbreviation ('EST') or a POSIX rule ('UTC+3'), whose meaning is
-- easy to get wrong. The server reads any name with an offset in it ('Foo/Bar3') as a POSIX rule,
-- so digits are allowed only in Etc/GMT zones; what passes is looked up in the time zone database
-- (pg_timezone_names would read every zone on every call).
create or replace function private.is_time_zone_name(name text)
returns boolean
language plpgsql stable strict
set search_path = ''
as $$
begin
  if pg_catalog.length(name) > 64
     or name !~ '^(UTC|Etc/GMT[+-]([0-9]|1[0-4])|[A-Za-z_]+(/[A-Za-z_-]+)+)$' then
    return false;
  end if;
  perform pg_catalog.timezone(name, '2000-01-01 00:00'::timestamp);
  return true;
exception when invalid_parameter_value then
  -- time zone "..." not recognized
  return false;
end
$$;

-- The problem with a field name at path (a mapping's source or target), or null.
create or replace function private.field_name_problem(value jsonb, path text)
returns text
language sql immutable
set search_path = ''
as $$
  select case
    when value is null then path || ' is required'
    when pg_catalog.jsonb_typeof(value) <> 'string' then path || ' must be a string'
    when pg_catalog.length(value #>> '{}') not between 1 and 128 then path || ' must be 1 to 128 characters long'
    when (value #>> '{}') ~ '[[:cntrl:]]' then path || ' must not contain control characters'
    when (value #>> '{}') <> pg_catalog.btrim(value #>> '{}') then path || ' must not start or end with spaces'
  end
$$;

create or replace function private.field_mappings_problems(field_mappings jsonb)
returns text[]
language plpgsql immutable
set search_path = ''
as $$
declare
  problems text[] := '{}';
  problem text;
  mappings jsonb;
  mapping jsonb;
  position integer := 0;
  targets text[] := '{}';
  path text;
begin
  if field_mappings is null then
    return array['field_mappings must not be null'];
  end if;
  if pg_catalog.jsonb_typeof(field_mappings) <> 'object' then
    return array['field_mappings must be a JSON object'];
  end if;
  problem := private.jsonb_version_problem(field_mappings, array[1]);
  if problem is not null then
    -- The other rules depend on the version.
    return array[problem];
  end if;
  if pg_catalog.cardinality(private.jsonb_unknown_keys(field_mappings, array['version', 'mappings'])) > 0 then
    problems := problems || 'only the keys "version" and "mappings" are allowed'::text;
  end if;

  mappings := field_mappings -> 'mappings';
  if mappings is null then
    return problems || 'mappings is required'::text;
  elsif pg_catalog.jsonb_typeof(mappings) <> 'array' then
    return problems || 'mappings must be an array'::text;
  elsif pg_catalog.jsonb_array_length(mappings) > 200 then
    return problems || 'mappings must not have more than 200 entries'::text;
  end if;

  for mapping in select m from pg_catalog.jsonb_array_elements(mappings) as m loop
    path := pg_catalog.format('mappings[%s]', position);
    position := position + 1;
    if pg_catalog.jsonb_typeof(mapping) <> 'object' then
      problems := problems || (path || ' must be an object');
      continue;
    end if;
    if pg_catalog.cardinality(private.jsonb_unknown_keys(mapping, array['source', 'target', 'transform', 'required'])) > 0 then
      problems := problems || (path || ' allows only the keys "source", "target", "transform" and "required"');
    end if;
    problem := private.field_name_problem(mapping -> 'source', path || '.source');
    if problem is not null then
      problems := problems || problem;
    end if;
    problem := private.field_name_problem(mapping -> 'target', path || '.target');
    if problem is not null then
      problems := problems || problem;
    elsif (mapping ->> 'target') = any (targets) then
      problems := problems || (path || '.target is already the target of an earlier mapping');
    else
      targets := targets || (mapping ->> 'target');
    end if;
    if mapping ? 'transform'
       and (pg_catalog.jsonb_typeof(mapping -> 'transform') <> 'string'
            or (mapping ->> 'transform') <> all (array['none', 'trim', 'lowercase', 'uppercase',
                                                       'to_number', 'to_boolean', 'to_timestamp'])) then
      problems := problems || (path || '.transform must be one of none, trim, lowercase, uppercase, to_number, to_boolean, to_timestamp');
    end if;
    if mapping ? 'required' and pg_catalog.jsonb_typeof(mapping -> 'required') <> 'boolean' then
      problems := problems || (path || '.required must be true or false');
    end if;
  end loop;
  return problems;
end
$$;
comment on function private.field_mappings_problems(jsonb) is
  'Every way a field_mappings document breaks the current rules; empty when valid. Never quotes values.';

-- STABLE, not IMMUTABLE: the time zone check reads the server's time zone database.
create or replace function private.sync_schedule_problems(sync_schedule jsonb)
returns text[]
language plpgsql stable
set search_path = ''
as $$
declare
  problems text[] := '{}';
  problem text;
  enabled jsonb;
  interval_minutes numeric;
  time_zone jsonb;
  sync_window jsonb;
  start_hour numeric;
  end_hour numeric;
begin
  if sync_schedule is null then
    return array['sync_schedule must not be null'];
  end if;
  if pg_catalog.jsonb_typeof(sync_schedule) <> 'object' then
    return array['sync_schedule must be a JSON object'];
  end if;
  problem := private.jsonb_version_problem(sync_schedule, array[1]);
  if problem is not null then
    return array[problem];
  end if;
  if pg_catalog.cardinality(private.jsonb_unknown_keys(
       sync_schedule, array['version', 'enabled', 'interval_minutes', 'timezone', 'window'])) > 0 then
    problems := problems || 'only the keys "version", "enabled", "interval_minutes", "timezone" and "window" are allowed'::text;
  end if;

  enabled := sync_schedule -> 'enabled';
  if enabled is null then
    problems := problems || 'enabled is required'::text;
  elsif pg_catalog.jsonb_typeof(enabled) <> 'boolean' then
    problems := problems || 'enabled must be true or false'::text;
  end if;

  if sync_schedule ? 'interval_minutes' then
    interval_minutes := private.jsonb_integer(sync_schedule -> 'interval_minutes');
    if interval_minutes is null or interval_minutes not between 15 and 10080 then
      problems := problems || 'interval_minutes must be an integer from 15 to 10080'::text;
    end if;
  elsif enabled = 'true'::jsonb then
    problems := problems || 'interval_minutes is required when enabled is true'::text;
  end if;

  if sync_schedule ? 'timezone' then
    time_zone := sync_schedule -> 'timezone';
    if pg_catalog.jsonb_typeof(time_zone) <> 'string' or not private.is_time_zone_name(time_zone #>> '{}') then
      problems := problems || 'timezone must be "UTC" or a region/city time zone name such as "Europe/Berlin"'::text;
    end if;
  end if;

  if sync_schedule ? 'window' then
    sync_window := sync_schedule -> 'window';
    if pg_catalog.jsonb_typeof(sync_window) <> 'object' then
      problems := problems || 'window must be an object'::text;
    else
      if pg_catalog.cardinality(private.jsonb_unknown_keys(sync_window, array['start_hour', 'end_hour'])) > 0 then
        problems := problems || 'window allows only the keys "start_hour" and "end_hour"'::text;
      end if;
      start_hour := private.jsonb_integer(sync_window -> 'start_hour');
      end_hour := private.jsonb_integer(sync_window -> 'end_hour');
      if start_hour is null or start_hour not between 0 and 23 then
        problems := problems || 'window.start_hour must be an integer from 0 to 23'::text;
      end if;
      if end_hour is null or end_hour not between 0 and 23 then
        problems := problems || 'window.end_hour must be an integer from 0 to 23'::text;
      end if;
      if start_hour = end_hour then
        problems := problems || 'window.start_hour and window.end_hour must differ'::text;
      end if;
    end if;
  end if;
  return problems;
end
$$;
comment on function private.sync_schedule_problems(jsonb) is
  'Every way a sync_schedule document breaks the current rules; empty when valid. Never quotes values.';

-- The trigger's checks: true, or SQLSTATE 23514 naming every problem, so the API
-- gateway answers HTTP 400 with a message the caller can act on.
create or replace function private.check_field_mappings(field_mappings jsonb)
returns boolean
language plpgsql immutable
set search_path = ''
as $$
declare
  problems text[] := private.field_mappings_problems(field_mappings);
begin
  if pg_catalog.cardinality(problems) > 0 then
    raise exception using
      errcode = 'check_violation',
      message = 'invalid field_mappings: ' || pg_catalog.array_to_string(problems, '; '),
      hint = 'field_mappings is {"version": 1, "mappings": [{"source": ..., "target": ..., "transform": ..., "required": ...}]}',
      schema = 'public',
      table = 'organization_integrations',
      column = 'field_mappings',
      constraint = 'organization_integrations_field_mappings_valid';
  end if;
  return true;
end
$$;

create or replace function private.check_sync_schedule(sync_schedule jsonb)
returns boolean
language plpgsql stable
set search_path = ''
as $$
declare
  problems text[] := private.sync_schedule_problems(sync_schedule);
begin
  if pg_catalog.cardinality(problems) > 0 then
    raise exception using
      errcode = 'check_violation',
      message = 'invalid sync_schedule: ' || pg_catalog.array_to_string(problems, '; '),
      hint = 'sync_schedule is {"version": 1, "enabled": ..., "interval_minutes": ..., "timezone": ..., "window": {"start_hour": ..., "end_hour": ...}}',
      schema = 'public',
      table = 'organization_integrations',
      column = 'sync_schedule',
      constraint = 'organization_integrations_sync_schedule_valid';
  end if;
  return true;
end
$$;

-- The functions run with the rights of whoever writes a row, so the writers need EXECUTE.
revoke all on function
  private.jsonb_integer(jsonb),
  private.jsonb_unknown_keys(jsonb, text[]),
  private.jsonb_version_problem(jsonb, integer[]),
  private.is_time_zone_name(text),
  private.field_name_problem(jsonb, text),
  private.field_mappings_problems(jsonb),
  private.sync_schedule_problems(jsonb),
  private.check_field_mappings(jsonb),
  private.check_sync_schedule(jsonb)
from public;
grant execute on function
  private.jsonb_integer(jsonb),
  private.jsonb_unknown_keys(jsonb, text[]),
  private.jsonb_version_problem(jsonb, integer[]),
  private.is_time_zone_name(text),
  private.field_name_problem(jsonb, text),
  private.field_mappings_problems(jsonb),
  private.sync_schedule_problems(jsonb),
  private.check_field_mappings(jsonb),
  private.check_sync_schedule(jsonb)
to authenticated, service_role;

-- A trigger, not CHECK constraints: PostgreSQL re-runs every CHECK on every UPDATE of a row, and
-- the credential link updates credential_vault_id on every store, rotate and delete. The trigger
-- judges a document only when a statement writes a new one. NULL is left to NOT NULL's own error.
create or replace function private.check_integration_config()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.field_mappings is not null
     and (tg_op = 'INSERT' or new.field_mappings is distinct from old.field_mappings) then
    perform private.check_field_mappings(new.field_mappings);
  end if;
  if new.sync_schedule is not null
     and (tg_op = 'INSERT' or new.sync_schedule is distinct from old.sync_schedule) then
    perform private.check_sync_schedule(new.sync_schedule);
  end if;
  return new;
end
$$;
revoke all on function private.check_integration_config() from public;

create or replace trigger organization_integrations_validate_config
  before insert or update of field_mappings, sync_schedule on public.organization_integrations
  for each row execute function private.check_integration_config();

-- Rows that fail the current rules: written before a rule existed (the trigger only judges the
-- documents written after it) or before the time zone database dropped a name. One row per failing
-- document with every problem; with repair => true each failing document is reset to its column
-- default and action says so. Not an RPC: run by the service or an operator.
create or replace function private.integration_config_report(repair boolean default false)
returns table (integration_id uuid, organization_id uuid, document text, problems text[], action text)
language plpgsql volatile
set search_path = ''
as $$
declare
  failing record;
begin
  if repair then
    -- Nobody may fix a document between our check and our reset.
    lock table public.organization_integrations in share row exclusive mode;
  end if;
  for failing in
    select i.id, i.organization_id,
           private.field_mappings_problems(i.field_mappings) as mapping_problems,
           private.sync_schedule_problems(i.sync_schedule) as schedule_problems
    from public.organization_integrations i
    order by i.id
  loop
    continue when pg_catalog.cardinality(failing.mapping_problems) = 0
              and pg_catalog.cardinality(failing.schedule_problems) = 0;
    if repair then
      -- One UPDATE per row, both failing documents fixed at once. DEFAULT is the column default, the one place the safe documents are written down.
      if pg_catalog.cardinality(failing.mapping_problems) > 0 and pg_catalog.cardinality(failing.schedule_problems) > 0 then
        update public.organization_integrations i set field_mappings = default, sync_schedule = default where i.id = failing.id;
      elsif pg_catalog.cardinality(failing.mapping_problems) > 0 then
        update public.organization_integrations i set field_mappings = default where i.id = failing.id;
      else
        update public.organization_integrations i set sync_schedule = default where i.id = failing.id;
      end if;
    end if;
    integration_id := failing.id;
    organization_id := failing.organization_id;
    action := case when repair then 'reset to default' else 'none' end;
    if pg_catalog.cardinality(failing.mapping_problems) > 0 then
      document := 'field_mappings';
      problems := failing.mapping_problems;
      return next;
    end if;
    if pg_catalog.cardinality(failing.schedule_problems) > 0 then
      document := 'sync_schedule';
      problems := failing.schedule_problems;
      return next;
    end if;
  end loop;
end
$$;
comment on function private.integration_config_report(boolean) is
  'Integrations whose field_mappings or sync_schedule fail the current rules, with every problem; repair => true resets each failing document to its column default and reports it.';
revoke all on function private.integration_config_report(boolean) from public;
grant execute on function private.integration_config_report(boolean) to service_role;
