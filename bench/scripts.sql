-- The pgbench scripts, one after each "--- operation implementation" line. With -M prepared
-- every :variable is a bind parameter. Retrieves pick a key in 1..N (:n) at random; a store of
-- ours or the wrapper takes client :client_id's next spare integration (:i counts per client).
--- retrieve floor
select 1;
--- retrieve raw
\set k random(1, :n)
select decrypted_secret from vault.decrypted_secrets where id = (select id from bench.raw_ids where n = :k);
--- retrieve wrapper
\set k random(1, :n)
select bench.retrieve_integration_credentials((select id::text from bench.raw_ids where n = :k));
--- retrieve ours
\set k random(1, :n)
select public.vault_retrieve_integration_credentials((select id::text from bench.our_ids where n = :k));
--- store raw
select vault.create_secret(:payload);
--- store wrapper
\set i :i + 1
select bench.store_integration_credentials((select id::text from bench.spare where n = :client_id * 1000000 + :i), :payload);
--- store ours
\set i :i + 1
select public.vault_store_integration_credentials((select id::text from bench.spare where n = :client_id * 1000000 + :i), :payload);
