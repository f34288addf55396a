-- credential_vault 0.1.0 -> 0.2.0: a life in a real Supabase database.
-- * The application's link is a registered hook the extension calls itself, instead of triggers
--   on the extension's tables (which the non-superuser postgres cannot create and pg_dump drops).
-- * pg_dump carries the audit log's sequence, so a restored log does not reuse ids.
-- * Reads are audited in the server log (so a read stays a read, also on a hot standby); the
--   table keeps the 0.1.0 'retrieve' rows as history and gains the 'repair' action.
-- * The RPC functions are the extension's own C entry points, raising PT404/PT409 themselves.
-- * purge_integration, the health report and set_link_hook are the extension's own code;
--   set_authorizer may be called by whoever holds EXECUTE (postgres, through the after-create
--   script). After the update, run the after-create script again for the new functions' grants.
-- Released: never edit this file; a further change ships as a new version.

alter table credential_vault.audit_log
    drop constraint audit_log_action_check,
    add constraint audit_log_action_check
        check (action in ('store', 'retrieve', 'rotate', 'delete', 'purge', 'repair'));
comment on table credential_vault.audit_log is
    'Every successful write (store, rotate, delete, purge, repair), in the same transaction: role and auth.uid() of the caller, action, references. Never a value. Reads are audited in the server log.';
select pg_catalog.pg_extension_config_dump('credential_vault.audit_log_id_seq', '');

create table credential_vault.link_hook (
    singleton boolean primary key default true check (singleton),
    hook regprocedure not null,
    registered_by regrole not null
);
comment on table credential_vault.link_hook is
    'The registered link hook and the role it runs as (see credential_vault.set_link_hook). At most one row.';
select pg_catalog.pg_extension_config_dump('credential_vault.link_hook', '');

alter function credential_vault.set_authorizer(regprocedure) security definer;

-- CREATE OR REPLACE keeps the grants made on the 0.1.0 function.
create or replace function credential_vault.purge_integration(integration_id uuid) returns integer
strict volatile parallel unsafe
set search_path to pg_catalog, pg_temp
language c as 'MODULE_PATHNAME', 'purge_integration_wrapper';
comment on function credential_vault.purge_integration(uuid) is
    'Deletes every credential of an integration, Vault secrets included, tells the link hook and audits each removal; returns how many. For the application''s "integration deleted" trigger.';

create function credential_vault.health_report(repair boolean default false)
returns table (problem text, integration_id uuid, vault_secret_id uuid, repaired boolean)
strict volatile parallel unsafe
set search_path to pg_catalog, pg_temp
language c as 'MODULE_PATHNAME', 'health_report_wrapper';
comment on function credential_vault.health_report(boolean) is
    'References whose Vault secret is gone (deleted around the extension). With repair, removes each such reference, tells the link hook and audits it as repair. Never a value.';
revoke all on function credential_vault.health_report(boolean) from public;

create function credential_vault.set_link_hook(hook regprocedure) returns void
strict volatile parallel unsafe
set search_path to pg_catalog, pg_temp
language c as 'MODULE_PATHNAME', 'set_link_hook_wrapper';
comment on function credential_vault.set_link_hook(regprocedure) is
    'Registers the function (integration_id uuid, vault_secret_id uuid, linked boolean) -> void that the extension calls, in the same transaction and with the rights of the role registering it, whenever a secret starts (linked) or stops belonging to an integration. Its errors abort the operation; no_data_found means the integration does not exist.';
revoke all on function credential_vault.set_link_hook(regprocedure) from public;

-- The RPC functions are the extension's own C entry points: no plpgsql wrapper, no exception
-- block (a subtransaction per call) and one SET search_path. CREATE OR REPLACE keeps their grants.
create or replace function public.vault_store_integration_credentials(integration_id text, credentials_json text)
returns credential_vault.credential_reference
language c volatile parallel unsafe
set search_path = pg_catalog, pg_temp
as 'MODULE_PATHNAME', 'vault_store_integration_credentials';

create or replace function public.vault_retrieve_integration_credentials(vault_secret_id text)
returns jsonb
language c volatile parallel unsafe
set search_path = pg_catalog, pg_temp
as 'MODULE_PATHNAME', 'vault_retrieve_integration_credentials';

create or replace function public.vault_rotate_integration_credentials(vault_secret_id text, credentials_json text)
returns credential_vault.credential_reference
language c volatile parallel unsafe
set search_path = pg_catalog, pg_temp
as 'MODULE_PATHNAME', 'vault_rotate_integration_credentials';

create or replace function public.vault_delete_integration_credentials(vault_secret_id text)
returns void
language c volatile parallel unsafe
set search_path = pg_catalog, pg_temp
as 'MODULE_PATHNAME', 'vault_delete_integration_credentials';

create or replace function public.vault_list_integration_credentials(integration_id text)
returns setof credential_vault.credential_reference
language c stable parallel unsafe
set search_path = pg_catalog, pg_temp
as 'MODULE_PATHNAME', 'vault_list_integration_credentials';

-- What the 0.1.0 wrappers called; the library keeps their code for databases not yet updated.
drop function credential_vault.reraise_as_http(text, text, text);
drop function credential_vault.store_credentials(text, text);
drop function credential_vault.retrieve_credentials(text);
drop function credential_vault.rotate_credentials(text, text);
drop function credential_vault.delete_credentials(text);
drop function credential_vault.list_credentials(text);
