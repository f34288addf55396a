-- Extensions and the app's private schema.
--
-- Every migration is idempotent: applying it again is a no-op (checked by
-- tests/tests/migrations.rs), so a half-recorded deploy can simply be re-run.

-- Vault: Supabase projects already have it, and the test harness installs a stand-in made of plain
-- objects in schema vault, so the extension is created only when Vault's table is absent.
do $$
begin
  if pg_catalog.to_regclass('vault.secrets') is null then
    create extension if not exists supabase_vault;
  end if;
end
$$;

-- Needs a superuser. Creates schema credential_vault and the RPC functions in public, whose
-- EXECUTE grants are set in 20261127032500_credential_function_grants.sql.
create extension if not exists credential_vault;

-- App-internal helpers (authorization, validation, triggers). The API gateway exposes only schema
-- public, where every function is an RPC endpoint; nothing here is reachable through it.
create schema if not exists private;
comment on schema private is
  'App-internal helpers: authorization, JSONB validation, triggers. Not exposed through the API.';
revoke all on schema private from public;
-- PL/pgSQL looks names up when it runs, with the caller's rights: the CHECK constraint and policy
-- helpers called by authenticated and service_role need USAGE. Each function's EXECUTE is
-- granted separately, and only where a caller needs it.
grant usage on schema private to authenticated, service_role;
