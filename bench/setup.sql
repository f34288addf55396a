-- The benchmark's own objects, created as postgres before baseline.sql (bench/README.md).
create schema bench;
grant usage on schema bench to service_role;
create table bench.raw_ids (n int primary key, id uuid not null);
create table bench.our_ids (n int primary key, id uuid not null);
-- One integration per measured store of ours: client c's i-th store uses key c * 1000000 + i.
create table bench.spare (n bigint primary key, id uuid not null);
grant select, insert on bench.raw_ids, bench.our_ids, bench.spare to service_role;
-- Without the app's migrations nobody granted these; with them this repeats their grant.
grant execute on function public.vault_store_integration_credentials(text, text),
                          public.vault_retrieve_integration_credentials(text) to service_role;

-- A synthetic credentials document, never a real one.
create function bench.payload(n bigint) returns text language sql immutable as $$
  select json_build_object('api_key', 'sk-bench-' || md5(n::text), 'client_id', 'client-1')::text
$$;

-- An integration for one store of ours: a row of the app's table when the migrations are
-- applied (the app keeps one credential reference per integration), else just an id.
create function bench.new_integration() returns uuid language plpgsql as $$
declare
  integration uuid := gen_random_uuid();
begin
  if to_regclass('public.organization_integrations') is not null then
    insert into public.organizations (id, name) values (integration, 'Benchmark');
    insert into public.organization_integrations (id, organization_id, provider, display_name)
    values (integration, integration, 'bench', 'Benchmark');
  end if;
  return integration;
end
$$;

-- Grows a population to size, keys k % parts = part, 10,000 keys per transaction, as
-- service_role: raw by vault.create_secret, ours by the product's store (no second writer).
create procedure bench.grow(raw boolean, size int, part int, parts int) language plpgsql as $$
declare
  have int := (select coalesce(max(n), 0) from bench.raw_ids where raw and n % parts = part)
            + (select coalesce(max(n), 0) from bench.our_ids where not raw and n % parts = part);
begin
  while have < size loop
    if raw then
      insert into bench.raw_ids (n, id) select k, vault.create_secret(bench.payload(k))
      from generate_series(have + 1, least(have + 10000, size)) k where k % parts = part;
    else
      insert into bench.our_ids (n, id)
      select k, (public.vault_store_integration_credentials(bench.new_integration()::text, bench.payload(k))).vault_secret_id
      from generate_series(have + 1, least(have + 10000, size)) k where k % parts = part;
    end if;
    have := least(have + 10000, size);
    commit;
  end loop;
end
$$;

-- Before a round's stores: keys 1..cap for each of clients (as postgres).
create procedure bench.prepare_spare(clients int, cap int) language sql as $$
  insert into bench.spare (n, id) select c * 1000000::bigint + i, bench.new_integration()
  from generate_series(0, clients - 1) c, generate_series(1, cap) i
  where not exists (select from bench.spare s where s.n = c * 1000000::bigint + i)
$$;

-- After a round's stores: removes what they added, so every measurement sees N. Ours through
-- the product's purge (counts[c] = stores client c-1 made), then the raw and wrapper secrets.
create procedure bench.cleanup(since timestamptz, counts int[]) language plpgsql as $$
declare
  used uuid[] := (select coalesce(array_agg(s.id), '{}') from bench.spare s, generate_subscripts(counts, 1) c
                  where s.n between (c - 1) * 1000000::bigint + 1 and (c - 1) * 1000000::bigint + counts[c]);
begin
  perform credential_vault.purge_integration(u) from unnest(used) u;
  if to_regclass('public.organizations') is not null then
    delete from public.organizations o where o.id = any (used);  -- and their integrations
  end if;
  delete from bench.spare s where s.id = any (used);
  delete from vault.secrets s where s.created_at >= since;
end
$$;
