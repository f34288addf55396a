-- The cluster-wide roles of a Supabase database (those of Supabase's supabase/postgres image),
-- run once per throwaway cluster as the bootstrap superuser supabase_admin. Roles are not part of
-- a database dump, so a cluster that a dump is restored into is given the same ones first.
-- Each role is created only when missing: pgrx's test cluster has its own bootstrap postgres.

do $$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'supabase_admin') then
    -- Only in pgrx's test cluster, so that grants naming it have a role to name.
    create role supabase_admin nologin;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'postgres') then
    -- NOT a superuser, as on every Supabase stack.
    create role postgres login createrole createdb replication bypassrls;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'anon') then
    create role anon nologin inherit;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'authenticated') then
    create role authenticated nologin inherit;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'service_role') then
    create role service_role nologin inherit bypassrls;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
end
$$;

grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role, pg_monitor, pg_read_all_data, pg_signal_backend to postgres;
