-- Every function the earlier migrations created searches pg_catalog first and pg_temp last.
-- They were created with search_path = '', which PostgreSQL reads as "the caller's temporary
-- schema first" for tables and types. What such a SECURITY DEFINER function reaches without a SET
-- of its own was parsed that way: Supabase's auth.uid() casts to unqualified jsonb and uuid, so a
-- session that had created a temporary domain named uuid, whose CHECK runs a query, got that
-- query run with postgres's rights through any policy or authorizer that asks auth.uid().
-- Naming pg_temp last closes that; every name in the functions' bodies is already qualified.
-- Released migrations are never edited: this one alters the functions they created (postgres's,
-- in public and private, with the empty path), and a re-run finds none left to alter.
do $$
declare
  target record;
begin
  for target in
    select n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid) as arguments
    from pg_catalog.pg_proc p
    join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    where n.nspname in ('public', 'private')
      and p.proowner = (select r.oid from pg_catalog.pg_roles r where r.rolname = current_user)
      and 'search_path=""' = any (p.proconfig)
  loop
    execute pg_catalog.format('alter function %I.%I(%s) set search_path = pg_catalog, pg_temp',
                              target.nspname, target.proname, target.arguments);
  end loop;
end
$$;
