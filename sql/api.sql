-- The RPC functions, in schema public so the API gateway can call them by argument name: each
-- one the extension's own C entry point (src/entry.rs), which raises "not found or not yours" as
-- PT404 and "changed concurrently" as PT409 (the gateway returns HTTP 404 and 409). They run with
-- the caller's rights: the extension decides what the calling role may do, and switches to its
-- owner only around its own statements. One SET search_path, for those statements; retrieve has
-- none: its fast path runs no statement, and it pins the same search_path around those it runs
-- (src/spi.rs), which saves the GUC save and restore of every call.

-- What store and rotate return: a reference to the secret, never a value. The result types live
-- in public, next to the functions, so that Supabase's type generator (which reads the schema
-- public only unless told otherwise) types the RPC results for supabase-js instead of `unknown`.
create type public.vault_credential_reference as (vault_secret_id uuid, created_at timestamptz);

create function public.vault_store_integration_credentials(integration_id text, credentials_json text)
returns public.vault_credential_reference
language c volatile parallel unsafe
set search_path = pg_catalog, pg_temp
as 'MODULE_PATHNAME', 'vault_store_integration_credentials';

-- With an expiry: two forms, no defaults, so that PostgREST picks one by the argument names.
create function public.vault_store_integration_credentials(integration_id text, credentials_json text, expires_at text)
returns public.vault_credential_reference
language c volatile parallel unsafe
set search_path = pg_catalog, pg_temp
as 'MODULE_PATHNAME', 'vault_store_integration_credentials';

create function public.vault_retrieve_integration_credentials(vault_secret_id text)
returns jsonb
language c volatile parallel unsafe
as 'MODULE_PATHNAME', 'vault_retrieve_integration_credentials';

create function public.vault_rotate_integration_credentials(vault_secret_id text, credentials_json text)
returns public.vault_credential_reference
language c volatile parallel unsafe
set search_path = pg_catalog, pg_temp
as 'MODULE_PATHNAME', 'vault_rotate_integration_credentials';

create function public.vault_rotate_integration_credentials(vault_secret_id text, credentials_json text, expires_at text)
returns public.vault_credential_reference
language c volatile parallel unsafe
set search_path = pg_catalog, pg_temp
as 'MODULE_PATHNAME', 'vault_rotate_integration_credentials';

create function public.vault_delete_integration_credentials(vault_secret_id text)
returns void
language c volatile parallel unsafe
set search_path = pg_catalog, pg_temp
as 'MODULE_PATHNAME', 'vault_delete_integration_credentials';

create function public.vault_list_integration_credentials(integration_id text)
returns setof public.vault_credential_reference
language c stable parallel unsafe
set search_path = pg_catalog, pg_temp
as 'MODULE_PATHNAME', 'vault_list_integration_credentials';

-- Every version of an integration's credentials, kept ones included: never a value.
create type public.vault_credential_version as (
    vault_secret_id uuid, created_at timestamptz, state text, replaced_at timestamptz,
    destroy_after timestamptz);

create function public.vault_list_integration_credential_versions(integration_id text)
returns setof public.vault_credential_version
language c stable parallel unsafe
set search_path = pg_catalog, pg_temp
as 'MODULE_PATHNAME', 'vault_list_integration_credential_versions';

create function public.vault_restore_integration_credentials(vault_secret_id text)
returns public.vault_credential_reference
language c volatile parallel unsafe
set search_path = pg_catalog, pg_temp
as 'MODULE_PATHNAME', 'vault_restore_integration_credentials';

create function public.vault_destroy_integration_credentials(vault_secret_id text)
returns void
language c volatile parallel unsafe
set search_path = pg_catalog, pg_temp
as 'MODULE_PATHNAME', 'vault_destroy_integration_credentials';

-- The API functions are granted per role by the application's migrations.
grant usage on schema credential_vault to public;
revoke all on function
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
from public;

-- The tables' CHECKs (sql/bootstrap.sql), which call the library's functions (src/checks.rs).
alter table credential_vault.credentials
    add constraint credentials_state_check
        check (credential_vault.is_credential_version(state, replaced_at, destroy_after));
alter table credential_vault.audit_log
    add constraint audit_log_action_check check (credential_vault.is_audit_action(action));
