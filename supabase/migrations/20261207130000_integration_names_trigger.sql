-- organization_integrations' two name rules (provider's format, display_name's length) move from
-- CHECK constraints to a trigger that judges them only when a statement writes one of the two.
-- PostgreSQL reads back, plans and runs every CHECK of a table on every UPDATE of a row, whatever
-- it changes: the credential link hook's UPDATE of credential_vault_id, made in every store,
-- rotate and delete, paid about 97,000 instructions for them (bench/README.md, "Instruction
-- counts"), more than a third of the whole store without the app's migrations.
--
-- The same rules for every write of the two columns, with the same SQLSTATE (23514) and message
-- as the constraints':
--   * INSERT and COPY always fire the trigger; UPDATE fires it when its SET names either column
--     (a statement that names neither leaves both as they are);
--   * NULL passes, as it passes a CHECK, and meets NOT NULL's own error;
--   * it fires after the table's other BEFORE triggers (they fire in name order, and none of them
--     writes these columns), so it judges the row that is stored, as a CHECK does;
--   * ENABLE ALWAYS: it also fires with session_replication_role = replica (a logical
--     replication apply, a restore that sets it), where a CHECK holds too.
-- Every existing row already passed the constraints.

create or replace function private.check_integration_names()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  if not (new.provider operator(pg_catalog.~) '^[a-z][a-z0-9_-]{0,62}$') then
    raise exception using
      errcode = 'check_violation',
      message = 'new row for relation "organization_integrations" violates check constraint "organization_integrations_provider_format"',
      schema = 'public',
      table = 'organization_integrations',
      column = 'provider',
      constraint = 'organization_integrations_provider_format';
  end if;
  if not (pg_catalog.length(pg_catalog.btrim(new.display_name)) between 1 and 200) then
    raise exception using
      errcode = 'check_violation',
      message = 'new row for relation "organization_integrations" violates check constraint "organization_integrations_display_name_length"',
      schema = 'public',
      table = 'organization_integrations',
      column = 'display_name',
      constraint = 'organization_integrations_display_name_length';
  end if;
  return new;
end
$$;
comment on function private.check_integration_names() is
  'organization_integrations: provider is ^[a-z][a-z0-9_-]{0,62}$, display_name 1 to 200 characters once trimmed (SQLSTATE 23514).';
revoke all on function private.check_integration_names() from public;

create or replace trigger organization_integrations_validate_names
  before insert or update of provider, display_name on public.organization_integrations
  for each row execute function private.check_integration_names();
alter table public.organization_integrations enable always trigger organization_integrations_validate_names;

alter table public.organization_integrations
  drop constraint if exists organization_integrations_provider_format,
  drop constraint if exists organization_integrations_display_name_length;
