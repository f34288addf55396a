-- credential_vault 0.4.0 -> 0.4.1: the same rules on the same tables, checked by the library.
-- PostgreSQL reads back and plans every CHECK expression of a table again in each statement that
-- writes a row, so 0.4.0's SQL lists of states and actions made a store cost 16% more
-- instructions than 0.3.1's. The CHECKs of credentials and audit_log now call one C function each
-- (is_credential_version, is_audit_action), with the same verdicts; the columns do not change.
-- Released: never edit this file; a further change ships as a new version.

select pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);

CREATE FUNCTION credential_vault.is_credential_version(state text, replaced_at timestamptz, destroy_after timestamptz) RETURNS boolean
IMMUTABLE PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'is_credential_version_wrapper';
COMMENT ON FUNCTION credential_vault.is_credential_version(text, timestamptz, timestamptz) IS
    'The CHECK of credential_vault.credentials: state current with no replacement times, or previous or deleted with both.';
REVOKE ALL ON FUNCTION credential_vault.is_credential_version(text, timestamptz, timestamptz) FROM PUBLIC;

CREATE FUNCTION credential_vault.is_audit_action(action text) RETURNS boolean
IMMUTABLE PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'is_audit_action_wrapper';
COMMENT ON FUNCTION credential_vault.is_audit_action(text) IS
    'The CHECK of credential_vault.audit_log: one of the actions the extension audits.';
REVOKE ALL ON FUNCTION credential_vault.is_audit_action(text) FROM PUBLIC;

alter table credential_vault.credentials
    drop constraint credentials_state_check,
    drop constraint credentials_kept_check,
    add constraint credentials_state_check
        check (credential_vault.is_credential_version(state, replaced_at, destroy_after));
alter table credential_vault.audit_log
    drop constraint audit_log_action_check,
    add constraint audit_log_action_check check (credential_vault.is_audit_action(action));
