-- The logging posture check: the server settings that can put a credential into a log file or
-- onto disk, each with why and what to set; and the two ways around the extension's checks that
-- a database can leave open (direct readers of Vault's plaintext, functions with an unsafe path).
-- Secrets reach this extension as bind parameters, so the dangerous settings are the ones that
-- log parameters or statement text.

create function credential_vault.logging_posture()
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
comment on function credential_vault.logging_posture() is
    'Each server setting that can put a credential into a log or onto disk, the roles that can read Vault''s plaintext around the read audit, and SECURITY DEFINER functions with an unsafe search_path: the value, whether it is risky now, why, and what to do.';
revoke all on function credential_vault.logging_posture() from public;
