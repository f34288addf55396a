-- credential_vault 0.3.1 -> 0.4.0: the credential lifecycle, and the registrations pg_upgrade keeps.
-- * Versions and a recovery window: rotate, delete and restore keep the replaced secret as a
--   kept version (state previous or deleted) until destroy_after, set from the database's
--   recovery window (credential_vault.settings, set_recovery_window; 7 days when unset; 0
--   destroys at once as before). Kept versions are never retrieved nor listed;
--   vault_list_integration_credential_versions shows them, vault_restore_integration_credentials
--   makes one current again, vault_destroy_integration_credentials destroys one now, and
--   purge_expired() destroys those past their window.
-- * Incident response: revoke_integration_credentials(uuid[]) destroys every version at once.
-- * Rotation due dates: store and rotate take an expires_at in a three-argument form (the
--   two-argument forms stay, so that existing calls and grants keep working), and
--   rotation_report() lists what is due.
-- * pg_upgrade: the registrations are kept by name (the function's qualified signature) and
--   resolved when used, instead of in regprocedure columns, which pg_upgrade refuses.
-- Released: never edit this file; a further change ships as a new version.

-- Names printed with nothing on the search path, so every one comes qualified.
select pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
alter table credential_vault.authorizer add column authorizer_name text;
update credential_vault.authorizer set authorizer_name = authorizer::pg_catalog.text;
alter table credential_vault.authorizer drop column authorizer;
alter table credential_vault.authorizer rename column authorizer_name to authorizer;
alter table credential_vault.authorizer alter column authorizer set not null;
alter table credential_vault.link_hook add column hook_name text;
update credential_vault.link_hook set hook_name = hook::pg_catalog.text;
alter table credential_vault.link_hook drop column hook;
alter table credential_vault.link_hook rename column hook_name to hook;
alter table credential_vault.link_hook alter column hook set not null;

alter table credential_vault.credentials
    add column state text not null default 'current'
        constraint credentials_state_check check (state in ('current', 'previous', 'deleted')),
    add column replaced_at timestamptz,
    add column destroy_after timestamptz,
    add column expires_at timestamptz,
    add constraint credentials_kept_check
        check ((state = 'current') = (replaced_at is null and destroy_after is null));
create index credentials_destroy_after_idx on credential_vault.credentials (destroy_after)
    where destroy_after is not null;
comment on table credential_vault.credentials is
    'One row per Vault secret stored through credential_vault: which integration it belongs to, its state and when a kept version is destroyed. Never a value.';

create table credential_vault.settings (
    singleton boolean primary key default true check (singleton),
    recovery_window interval not null
        constraint settings_recovery_window_check check (recovery_window >= interval '0')
);
comment on table credential_vault.settings is
    'How long a replaced or deleted secret is kept (see credential_vault.set_recovery_window); no row: 7 days.';

select pg_catalog.pg_extension_config_dump('credential_vault.settings', '');

alter table credential_vault.audit_log
    drop constraint audit_log_action_check,
    add constraint audit_log_action_check
        check (action in ('store', 'retrieve', 'rotate', 'delete', 'purge', 'repair',
                          'restore', 'destroy', 'expire', 'revoke'));
comment on table credential_vault.audit_log is
    'Every successful write (store, rotate, delete, restore, destroy, expire, revoke, purge, repair), in the same transaction: role and auth.uid() of the caller, action, references. Never a value. Reads are audited in the server log.';

create function public.vault_store_integration_credentials(integration_id text, credentials_json text, expires_at text)
returns credential_vault.credential_reference
language c volatile parallel unsafe
set search_path = pg_catalog, pg_temp
as 'MODULE_PATHNAME', 'vault_store_integration_credentials';

create function public.vault_rotate_integration_credentials(vault_secret_id text, credentials_json text, expires_at text)
returns credential_vault.credential_reference
language c volatile parallel unsafe
set search_path = pg_catalog, pg_temp
as 'MODULE_PATHNAME', 'vault_rotate_integration_credentials';

create type credential_vault.credential_version as (
    vault_secret_id uuid, created_at timestamptz, state text, replaced_at timestamptz,
    destroy_after timestamptz);

create function public.vault_list_integration_credential_versions(integration_id text)
returns setof credential_vault.credential_version
language c stable parallel unsafe
set search_path = pg_catalog, pg_temp
as 'MODULE_PATHNAME', 'vault_list_integration_credential_versions';

create function public.vault_restore_integration_credentials(vault_secret_id text)
returns credential_vault.credential_reference
language c volatile parallel unsafe
set search_path = pg_catalog, pg_temp
as 'MODULE_PATHNAME', 'vault_restore_integration_credentials';

create function public.vault_destroy_integration_credentials(vault_secret_id text)
returns void
language c volatile parallel unsafe
set search_path = pg_catalog, pg_temp
as 'MODULE_PATHNAME', 'vault_destroy_integration_credentials';

revoke all on function
    public.vault_store_integration_credentials(text, text, text),
    public.vault_rotate_integration_credentials(text, text, text),
    public.vault_list_integration_credential_versions(text),
    public.vault_restore_integration_credentials(text),
    public.vault_destroy_integration_credentials(text)
from public;

COMMENT ON FUNCTION credential_vault.purge_integration(uuid) IS
    'Destroys every version of an integration''s credentials, kept ones too, Vault secrets included, tells the link hook of the current ones and audits each removal; returns how many. For the application''s "integration deleted" trigger.';

CREATE FUNCTION credential_vault.set_recovery_window(recovery_window interval) RETURNS void
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c AS 'MODULE_PATHNAME', 'set_recovery_window_wrapper';
COMMENT ON FUNCTION credential_vault.set_recovery_window(interval) IS
    'How long a rotated-away, replaced or deleted secret is kept, restorable, before purge_expired() destroys it; 0 destroys at once. Default 7 days. For the application''s migrations.';
REVOKE ALL ON FUNCTION credential_vault.set_recovery_window(interval) FROM PUBLIC;
CREATE FUNCTION credential_vault.purge_expired() RETURNS integer
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c AS 'MODULE_PATHNAME', 'purge_expired_wrapper';
COMMENT ON FUNCTION credential_vault.purge_expired() IS
    'Destroys every kept version past its recovery window, Vault secrets included, audits each as expire, and returns how many. Schedule it, with pg_cron for example.';
REVOKE ALL ON FUNCTION credential_vault.purge_expired() FROM PUBLIC;
CREATE FUNCTION credential_vault.revoke_integration_credentials(integration_ids uuid[])
RETURNS TABLE (integration_id uuid, vault_secret_id uuid, created_at timestamptz, state text)
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c AS 'MODULE_PATHNAME', 'revoke_integration_credentials_wrapper';
COMMENT ON FUNCTION credential_vault.revoke_integration_credentials(uuid[]) IS
    'Incident response: destroys every version of these integrations'' credentials at once, no recovery, tells the link hook of each current one, audits each as revoke, and returns what was destroyed. Never a value.';
REVOKE ALL ON FUNCTION credential_vault.revoke_integration_credentials(uuid[]) FROM PUBLIC;
CREATE FUNCTION credential_vault.rotation_report(
    older_than interval DEFAULT '90 days', expiring_within interval DEFAULT '7 days')
RETURNS TABLE (integration_id uuid, vault_secret_id uuid, created_at timestamptz, age interval,
               expires_at timestamptz, reason text)
STRICT STABLE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c AS 'MODULE_PATHNAME', 'rotation_report_wrapper';
COMMENT ON FUNCTION credential_vault.rotation_report(interval, interval) IS
    'Current credentials due for rotation: older than older_than, or past or within expiring_within of their expires_at; with their age and why. Never a value.';
REVOKE ALL ON FUNCTION credential_vault.rotation_report(interval, interval) FROM PUBLIC;
