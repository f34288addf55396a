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
