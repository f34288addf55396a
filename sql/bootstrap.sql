-- credential_vault's own objects. Nothing here refers to Vault, so the extension installs
-- before Vault does; the functions check for Vault when they are called.

-- Tenant binding: every secret this extension stored, and the integration it was stored for.
-- A secret is current (retrieved, listed) or a kept version: previous (replaced by a rotate or
-- a restore) or deleted, restorable until destroy_after, then destroyed with its Vault row.
create table credential_vault.credentials (
    vault_secret_id uuid primary key,
    integration_id uuid not null,
    created_at timestamptz not null,
    -- current, previous or deleted, with replaced_at and destroy_after set exactly on the kept
    -- ones: the CHECK credentials_state_check, added by api.sql (it calls a function of the library).
    state text not null default 'current',
    replaced_at timestamptz,
    destroy_after timestamptz,
    expires_at timestamptz
);
create index credentials_integration_id_idx on credential_vault.credentials (integration_id, created_at);
create index credentials_destroy_after_idx on credential_vault.credentials (destroy_after)
    where destroy_after is not null;
comment on table credential_vault.credentials is
    'One row per Vault secret stored through credential_vault: which integration it belongs to, its state and when a kept version is destroyed. Never a value.';

-- The database's settings; no row, or NULL, means the default (a row the install script
-- inserted would collide with the dumped one on a restore). The set_ functions check each
-- value's range; the CHECKs only keep out what no reading of the table could use.
create table credential_vault.settings (
    singleton boolean primary key default true check (singleton),
    recovery_window interval
        constraint settings_recovery_window_check check (recovery_window >= interval '0'),
    max_kept_versions integer
        constraint settings_max_kept_versions_check check (max_kept_versions >= 1)
);
comment on table credential_vault.settings is
    'How long a replaced or deleted secret is kept (see credential_vault.set_recovery_window; NULL or no row: 7 days) and how many kept versions an integration may have (set_max_kept_versions; NULL or no row: 100).';

-- Every change of a setting: who, when, from what to what (NULL: the default was in force).
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

-- Who did what, when; never a value.
create table credential_vault.audit_log (
    id bigint generated always as identity primary key,
    occurred_at timestamptz not null default pg_catalog.clock_timestamp(),
    -- The CHECK audit_log_action_check, added by api.sql, takes the actions the extension audits.
    action text not null,
    actor_role name not null,
    actor_uid uuid,
    integration_id uuid not null,
    vault_secret_id uuid not null,
    previous_vault_secret_id uuid
);
comment on table credential_vault.audit_log is
    'Every successful write (store, rotate, delete, restore, destroy, expire, revoke, purge, repair), in the same transaction: role and auth.uid() of the caller, action, references. Never a value. Reads are audited in the server log.';

-- The one meeting point with the application's schema: a function (integration_id uuid) -> boolean
-- that says whether the calling `authenticated` user may manage the integration.
-- Kept by name (its signature, qualified), resolved when used: pg_upgrade keeps no function oid,
-- and refuses a regprocedure column.
create table credential_vault.authorizer (
    singleton boolean primary key default true check (singleton),
    authorizer text not null
);
comment on table credential_vault.authorizer is
    'The registered authorizer (see credential_vault.set_authorizer). At most one row.';

-- The second meeting point: the application's function told whenever a secret starts or stops
-- belonging to an integration, and the role it runs as (see credential_vault.set_link_hook).
create table credential_vault.link_hook (
    singleton boolean primary key default true check (singleton),
    hook text not null,
    registered_by regrole not null
);
comment on table credential_vault.link_hook is
    'The registered link hook and the role it runs as (see credential_vault.set_link_hook). At most one row.';

select pg_catalog.pg_extension_config_dump('credential_vault.credentials', '');
select pg_catalog.pg_extension_config_dump('credential_vault.audit_log', '');
select pg_catalog.pg_extension_config_dump('credential_vault.authorizer', '');
select pg_catalog.pg_extension_config_dump('credential_vault.link_hook', '');
select pg_catalog.pg_extension_config_dump('credential_vault.settings', '');
select pg_catalog.pg_extension_config_dump('credential_vault.settings_audit', '');
-- Without this, a restored audit log would hand out its ids again from 1.
select pg_catalog.pg_extension_config_dump('credential_vault.audit_log_id_seq', '');
select pg_catalog.pg_extension_config_dump('credential_vault.settings_audit_id_seq', '');
