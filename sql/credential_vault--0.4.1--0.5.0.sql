-- credential_vault 0.4.1 -> 0.5.0.

-- Issue 23: revoke is a fence, the recovery window cannot be bypassed or broken, kept versions
-- are bounded.
-- * revoke_integration_credentials locks credential_vault.credentials in SHARE ROW EXCLUSIVE
--   mode first (code only); every write takes ROW EXCLUSIVE before any row lock (code only).
-- * Settings: NULL means the default; max_kept_versions (default 100); every change audited in
--   settings_audit. A stored window outside 0 to 365 days is brought into it (0.4.1 accepted
--   '300000 years', with which every rotate failed).
-- * delete_integration_credentials keeps a deleted integration's credentials for the window
--   (for the app's trigger); set_max_kept_versions; rotation_report validates its intervals
--   (no longer STRICT) and takes the integrations to report on.
select pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
alter table credential_vault.settings
    alter column recovery_window drop not null,
    add column max_kept_versions integer
        constraint settings_max_kept_versions_check check (max_kept_versions >= 1);
update credential_vault.settings
set recovery_window = least(greatest(recovery_window, interval '0'), interval '365 days');
comment on table credential_vault.settings is
    'How long a replaced or deleted secret is kept (see credential_vault.set_recovery_window; NULL or no row: 7 days) and how many kept versions an integration may have (set_max_kept_versions; NULL or no row: 100).';

create table credential_vault.settings_audit (
    id bigint generated always as identity primary key,
    occurred_at timestamptz not null default pg_catalog.clock_timestamp(),
    setting text not null,
    old_value text,
    new_value text not null,
    actor_role name not null,
    actor_uid uuid
);
comment on table credential_vault.settings_audit is
    'Every change of credential_vault.settings, in the same transaction: the setting, its old value (NULL: the default) and new value, role and auth.uid() of the caller.';
select pg_catalog.pg_extension_config_dump('credential_vault.settings_audit', '');
select pg_catalog.pg_extension_config_dump('credential_vault.settings_audit_id_seq', '');

CREATE FUNCTION credential_vault.delete_integration_credentials(integration_id uuid) RETURNS integer
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c AS 'MODULE_PATHNAME', 'delete_integration_credentials_wrapper';
COMMENT ON FUNCTION credential_vault.delete_integration_credentials(uuid) IS
    'The integration was deleted: each of its current credentials becomes a kept deleted version for the recovery window, as vault_delete_integration_credentials does (the link hook told, audited as delete); kept versions keep their own window. Returns how many. For the application''s "integration deleted" trigger.';
REVOKE ALL ON FUNCTION credential_vault.delete_integration_credentials(uuid) FROM PUBLIC;

COMMENT ON FUNCTION credential_vault.set_recovery_window(interval) IS
    'How long a rotated-away, replaced or deleted secret is kept, restorable, before purge_expired() destroys it: 0 to 365 days, in days or smaller units (each day 24 hours), never months or years; 0 destroys at once. Default 7 days. Audited in credential_vault.settings_audit. For the application''s migrations.';

CREATE FUNCTION credential_vault.set_max_kept_versions(max_kept_versions integer) RETURNS void
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c AS 'MODULE_PATHNAME', 'set_max_kept_versions_wrapper';
COMMENT ON FUNCTION credential_vault.set_max_kept_versions(integer) IS
    'How many kept versions one integration may have, 1 to 1000 (default 100): when a version becomes a kept one beyond it, the oldest kept ones are destroyed and audited as expire; the current one never. Audited in credential_vault.settings_audit.';
REVOKE ALL ON FUNCTION credential_vault.set_max_kept_versions(integer) FROM PUBLIC;

DROP FUNCTION credential_vault.rotation_report(interval, interval);
CREATE FUNCTION credential_vault.rotation_report(
    older_than interval DEFAULT '90 days', expiring_within interval DEFAULT '7 days',
    integration_ids uuid[] DEFAULT NULL)
RETURNS TABLE (integration_id uuid, vault_secret_id uuid, created_at timestamptz, age interval,
               expires_at timestamptz, reason text)
STABLE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c AS 'MODULE_PATHNAME', 'rotation_report_wrapper';
COMMENT ON FUNCTION credential_vault.rotation_report(interval, interval, uuid[]) IS
    'Current credentials due for rotation: older than older_than, or past or within expiring_within of their expires_at (each 0 to 3650 days); of the integrations given (found by index: the cost is theirs alone), or of all when NULL; with their age and why. Never a value.';
REVOKE ALL ON FUNCTION credential_vault.rotation_report(interval, interval, uuid[]) FROM PUBLIC;

-- Issue 26: the RPC functions' result types move to public (as vault_credential_reference and
-- vault_credential_version), next to the functions, so that Supabase's type generator, which
-- reads the schema public only unless told otherwise, types the results for supabase-js instead
-- of `unknown`. The same types (same oids, same columns): what the functions return to their
-- callers does not change.
-- Renamed before the move, so that an application's own public.credential_reference, if any,
-- is no obstacle.
alter type credential_vault.credential_reference rename to vault_credential_reference;
alter type credential_vault.vault_credential_reference set schema public;
alter type credential_vault.credential_version rename to vault_credential_version;
alter type credential_vault.vault_credential_version set schema public;

-- Issue 25: the secure read at raw Vault's speed. Retrieve reads Vault's row without running a
-- statement (src/read.rs) and pins search_path itself around the statements it does run
-- (src/spi.rs): the function's own SET clause, a GUC save and restore on every call, goes.
alter function public.vault_retrieve_integration_credentials(text) reset search_path;

-- Issue 27: every guard holds on the settings Supabase ships and after a supautils update.
-- The logging posture gains the rows log_min_messages and credential_vault.allow_unaudited_reads
-- (the same function as sql/posture.sql's; CREATE OR REPLACE keeps its grants).
create or replace function credential_vault.logging_posture()
returns table (setting text, current_value text, at_risk boolean, why text, recommendation text)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    preloaded text := concat_ws(',', current_setting('shared_preload_libraries', true),
                                current_setting('session_preload_libraries', true),
                                current_setting('local_preload_libraries', true));
    statement_logging boolean;
begin
    -- pg_settings.setting is the bare number; current_setting() adds units (1s, 64B).
    select s.setting::integer >= 0 or current_setting('log_statement') = 'all' into statement_logging
    from pg_catalog.pg_settings s where s.name = 'log_min_duration_statement';

    setting := 'log_parameter_max_length';
    current_value := (select s.setting from pg_catalog.pg_settings s where s.name = logging_posture.setting);
    at_risk := current_value::integer <> 0;
    why := 'logged statements carry their bind parameter values, which is how credentials travel'
        || case when statement_logging then ' (statement logging is on now)' else '' end;
    recommendation := 'set log_parameter_max_length = 0';
    return next;

    setting := 'log_parameter_max_length_on_error';
    current_value := (select s.setting from pg_catalog.pg_settings s where s.name = logging_posture.setting);
    at_risk := current_value::integer <> 0;
    why := 'a failing statement''s bind parameter values go to the log';
    recommendation := 'set log_parameter_max_length_on_error = 0';
    return next;

    setting := 'log_statement';
    current_value := current_setting(setting);
    at_risk := current_value = 'all';
    why := 'every statement''s text is logged: a caller that puts a credential in the SQL text instead of a bind parameter leaks it';
    recommendation := 'set log_statement = ''ddl'' (or ''none''), and log_parameter_max_length = 0 where it must stay';
    return next;

    setting := 'log_min_duration_statement';
    current_value := (select s.setting from pg_catalog.pg_settings s where s.name = logging_posture.setting);
    at_risk := current_value::integer >= 0;
    why := 'slow statements are logged with their text and parameters';
    recommendation := 'set log_min_duration_statement = -1, or log_parameter_max_length = 0';
    return next;

    setting := 'log_min_error_statement';
    current_value := current_setting(setting);
    at_risk := current_value not in ('log', 'fatal', 'panic');
    why := 'the text of a failing statement is logged (STATEMENT:), with any credential written into it as a literal';
    recommendation := 'send credentials only as bind parameters; set log_min_error_statement = panic on servers where that cannot be guaranteed';
    return next;

    -- The read audit is a LOG line: PostgreSQL writes LOG lines only while log_min_messages is
    -- at most error. Supabase's self-hosted compose starts the server with fatal.
    setting := 'log_min_messages';
    current_value := current_setting(setting);
    at_risk := current_value in ('fatal', 'panic');
    why := 'plaintext reads are audited as LOG lines, which the server drops at fatal or panic; retrieve then refuses with read_not_audited (unless credential_vault.allow_unaudited_reads is on)';
    recommendation := 'start the server with log_min_messages = warning: remove -c log_min_messages=fatal from the command: line of the db service in Supabase''s docker-compose.yml (ALTER SYSTEM cannot override a command-line option), then restart';
    return next;

    setting := 'credential_vault.allow_unaudited_reads';
    current_value := coalesce(current_setting(setting, true), 'off');
    at_risk := current_value = 'on';
    why := 'a superuser allowed retrieve to return plaintext that the server log does not record';
    recommendation := 'set credential_vault.allow_unaudited_reads = off once log_min_messages is at most error';
    return next;

    setting := 'auto_explain';
    current_value := coalesce(current_setting('auto_explain.log_min_duration', true), 'not loaded')
        || case when current_setting('auto_explain.log_nested_statements', true) = 'on' then ', nested statements' else '' end;
    at_risk := preloaded like '%auto_explain%'
               and (select s.setting::integer >= 0 from pg_catalog.pg_settings s where s.name = 'auto_explain.log_min_duration');
    why := 'auto_explain logs the text of the statements it explains, nested ones included when log_nested_statements is on';
    recommendation := 'set auto_explain.log_min_duration = -1 or leave auto_explain unloaded on this database';
    return next;

    setting := 'pgaudit.log_parameter';
    current_value := coalesce(current_setting('pgaudit.log_parameter', true), 'not loaded');
    at_risk := current_value = 'on';
    why := 'pgaudit writes every audited statement''s parameter values to the log';
    recommendation := 'set pgaudit.log_parameter = off';
    return next;

    setting := 'pg_stat_statements.track_utility';
    current_value := case when preloaded like '%pg_stat_statements%'
                          then coalesce(current_setting('pg_stat_statements.track_utility', true), 'on')
                          else 'not loaded' end;
    at_risk := current_value = 'on';
    why := 'pg_stat_statements keeps query texts on disk; constants are normalized except in utility statements (DO, CALL, ...)';
    recommendation := 'set pg_stat_statements.track_utility = off';
    return next;

    setting := 'shared_preload_libraries';
    current_value := current_setting(setting);
    at_risk := exists (select 1 from pg_catalog.pg_extension where extname = 'supabase_vault')
               and current_value not like '%supabase_vault%';
    why := 'Supabase Vault loads its root key at server start only when preloaded; without it nothing can be encrypted or decrypted';
    recommendation := 'add supabase_vault to shared_preload_libraries and set vault.getkey_script, then restart';
    return next;

    -- Not a setting, but the one way around the read audit: Vault's own view.
    setting := 'vault.decrypted_secrets readers';
    if pg_catalog.to_regclass('vault.decrypted_secrets') is null
       or pg_catalog.to_regprocedure('vault._crypto_aead_det_decrypt(bytea,bytea,bigint,bytea,bytea)') is null then
        current_value := 'Vault not installed';
    else
        select coalesce(pg_catalog.string_agg(r.rolname, ', ' order by r.rolname), 'none') into current_value
        from pg_catalog.pg_roles r
        where not r.rolsuper and r.rolname !~ '^pg_'
          and pg_catalog.has_table_privilege(r.oid, 'vault.decrypted_secrets', 'select')
          and pg_catalog.has_function_privilege(r.oid,
                'vault._crypto_aead_det_decrypt(bytea,bytea,bigint,bytea,bytea)', 'execute');
    end if;
    at_risk := current_value not in ('none', 'Vault not installed');
    why := 'these roles (and every superuser) can read any plaintext directly through vault.decrypted_secrets, which credential_vault''s read audit never sees';
    recommendation := 'as the superuser that owns Vault, revoke select on vault.decrypted_secrets and execute on function vault._crypto_aead_det_decrypt from each; credential_vault reads as its own owner and keeps working';
    return next;

    -- Not a setting either: functions that run with their owner's rights and look up tables and
    -- types in the caller's temporary schema first.
    setting := 'security definer search_path';
    select coalesce(pg_catalog.string_agg(p.oid::pg_catalog.regprocedure::text, ', '
                                           order by p.oid::pg_catalog.regprocedure::text), 'none')
      into current_value
    from pg_catalog.pg_proc p
    join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema')
      and not exists (select from pg_catalog.unnest(p.proconfig) c
                      where c ~ '^search_path=.*pg_temp"?$');
    at_risk := current_value <> 'none';
    why := 'a SECURITY DEFINER function whose search_path does not name pg_temp last resolves tables and types in the caller''s temporary schema first: a caller''s temporary view or domain then runs with the owner''s rights';
    recommendation := 'alter function ... set search_path = pg_catalog, pg_temp on each';
    return next;
end
$$;

-- supautils runs ALTER EXTENSION UPDATE as supabase_admin and no after-create script: the
-- functions an upgrade script creates in public get supabase_admin's default privileges there
-- (EXECUTE for anon, authenticated and service_role), which postgres cannot revoke, and postgres
-- gets nothing of what the migrations need. So every update sets the grants of a fresh install
-- with its after-create script itself: the owner's grants to the API roles are taken back from
-- every member function (postgres's own grants, the migrations', stay), and postgres, where it
-- is the non-superuser project owner, gets what after-create.sql grants it.
do $$
declare
  member regprocedure;
  api_role text;
begin
  for member in
    select d.objid::pg_catalog.regprocedure from pg_catalog.pg_depend d
    where d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass and d.deptype = 'e'
      and d.refobjid = (select e.oid from pg_catalog.pg_extension e where e.extname = 'credential_vault')
  loop
    foreach api_role in array array['anon', 'authenticated', 'service_role'] loop
      if pg_catalog.to_regrole(api_role) is not null then
        execute pg_catalog.format('revoke all on function %s from %I', member, api_role);
      end if;
    end loop;
  end loop;
  if exists (select from pg_catalog.pg_roles r where r.rolname = 'postgres' and not r.rolsuper) then
    grant execute on function
        public.vault_store_integration_credentials(text, text),
        public.vault_store_integration_credentials(text, text, text),
        public.vault_retrieve_integration_credentials(text),
        public.vault_rotate_integration_credentials(text, text),
        public.vault_rotate_integration_credentials(text, text, text),
        public.vault_delete_integration_credentials(text),
        public.vault_list_integration_credentials(text),
        public.vault_list_integration_credential_versions(text),
        public.vault_restore_integration_credentials(text),
        public.vault_destroy_integration_credentials(text)
      to postgres with grant option;
    grant select on credential_vault.credentials, credential_vault.audit_log,
        credential_vault.settings_audit
      to postgres with grant option;
    grant execute on function
        credential_vault.set_authorizer(regprocedure),
        credential_vault.set_link_hook(regprocedure),
        credential_vault.purge_integration(uuid),
        credential_vault.delete_integration_credentials(uuid),
        credential_vault.health_report(boolean),
        credential_vault.logging_posture(),
        credential_vault.set_recovery_window(interval),
        credential_vault.set_max_kept_versions(integer),
        credential_vault.purge_expired(),
        credential_vault.revoke_integration_credentials(uuid[]),
        credential_vault.rotation_report(interval, interval, uuid[])
      to postgres with grant option;
  end if;
end
$$;
