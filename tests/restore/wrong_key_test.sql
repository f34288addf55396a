-- Run on a database restored from a dump of tests/restore/populate.sql's into a fresh cluster
-- with ANOTHER Vault root key, as postgres: every secret the dump carried fails to decrypt, with
-- Vault's own error. (tests/restore/dump-and-restore checks that no error echoes a value.)
begin;
select plan(2);

\set service_role '{"role":"service_role"}'

-- The SQLSTATE and message of the error a statement raises; NULLs when it succeeds.
create function pg_temp.error_of(statement text, out code text, out message text)
language plpgsql
as $$
begin
  execute statement;
exception when others then
  get stacked diagnostics code = returned_sqlstate, message = message_text;
end
$$;
-- The current ones: a kept version is not retrieved under any key.
create temp table stored as
select vault_secret_id::text as id from credential_vault.credentials where state = 'current';
grant select on stored to service_role;

set local role service_role;
select set_config('request.jwt.claims', :'service_role', true);
create temp table failures as
select s.id, e.* from pg_temp.stored s,
  lateral pg_temp.error_of(format('select public.vault_retrieve_integration_credentials(%L)', s.id)) e;
reset role;

select is((select count(*)::int from failures), 3, 'the restore brought the 3 stored secrets');
select is_empty($$select id, code, message from failures
                  where code is distinct from '22000' or message not like '%invalid ciphertext'$$,
                'none decrypts under another root key: each retrieve fails with Vault''s invalid ciphertext (22000)');

select * from finish();
rollback;
