-- The Supabase Vault 0.3.x contract the project builds on (read from supabase/vault at tag v0.3.1):
-- objects, owner, privileges, SQLSTATEs, real encryption and hazards 1, 2, 4, 5 and 6 (hazard 3,
-- the server log, depends on how callers pass secrets, not on Vault, so it is not tested here).
-- Runs unchanged against the test stand-in (scripts/harness/vault_standin.sql) and against a real
-- supabase_vault carrying hosted Supabase's grants to service_role; the few tests that only one
-- of them can run are skipped on the other. Run as a superuser; everything is rolled back.
begin;
select plan(122);

-- Helpers, temporary like everything else here.

-- The error a statement raises, for the parts throws_ok does not look at (the DETAIL).
create function pg_temp.error_of(statement text, out code text, out message text, out detail text)
language plpgsql
as $$
begin
  execute statement;
exception when others then
  get stacked diagnostics code = returned_sqlstate, message = message_text, detail = pg_exception_detail;
end
$$;

-- A relation's columns and their types, in order.
create function pg_temp.columns_of(rel regclass) returns table (col text, type text)
language sql
as $$
  select attname::text collate "default", format_type(atttypid, atttypmod) from pg_attribute
  where attrelid = rel and attnum > 0 and not attisdropped order by attnum
$$;

create function pg_temp.is_standin() returns boolean
language sql
as $$ select to_regprocedure('vault._standin_seal(bytea,bytea,bigint,bytea,bytea)') is not null $$;

-- Hazard 1 evidence: every value written to vault.secrets.secret, in order.
create temp table secret_writes (n serial, op text, old_secret text, new_secret text);
create function pg_temp.capture_secret_writes() returns trigger
language plpgsql
as $$
begin
  insert into pg_temp.secret_writes (op, old_secret, new_secret)
  values (tg_op, case when tg_op = 'UPDATE' then old.secret end, new.secret);
  return new;
end
$$;

-- Schema and table ----------------------------------------------------------------------------

select has_schema('vault', 'schema vault exists');
select has_table('vault'::name, 'secrets'::name, 'table vault.secrets exists');
select results_eq(
  $$ select * from pg_temp.columns_of('vault.secrets') $$,
  $$ values ('id', 'uuid'), ('name', 'text'), ('description', 'text'), ('secret', 'text'),
            ('key_id', 'uuid'), ('nonce', 'bytea'),
            ('created_at', 'timestamp with time zone'), ('updated_at', 'timestamp with time zone') $$,
  'vault.secrets has exactly these columns, in this order, with these types');
select col_type_is('vault', 'secrets', 'id', 'uuid', 'secrets.id is uuid');
select col_type_is('vault', 'secrets', 'secret', 'text', 'secrets.secret is text');
select col_type_is('vault', 'secrets', 'nonce', 'bytea', 'secrets.nonce is bytea');
select col_is_pk('vault', 'secrets', 'id', 'secrets.id is the primary key');
select col_not_null('vault', 'secrets', 'id', 'secrets.id is not null');
select col_is_null('vault', 'secrets', 'name', 'secrets.name is nullable');
select col_not_null('vault', 'secrets', 'description', 'secrets.description is not null');
select col_not_null('vault', 'secrets', 'secret', 'secrets.secret is not null');
select col_is_null('vault', 'secrets', 'key_id', 'secrets.key_id is nullable');
select col_is_null('vault', 'secrets', 'nonce', 'secrets.nonce is nullable');
select col_not_null('vault', 'secrets', 'created_at', 'secrets.created_at is not null');
select col_not_null('vault', 'secrets', 'updated_at', 'secrets.updated_at is not null');
select col_default_is('vault', 'secrets', 'id', 'gen_random_uuid()', 'secrets.id defaults to gen_random_uuid()');
select col_hasnt_default('vault', 'secrets', 'name', 'secrets.name has no default');
select col_default_is('vault', 'secrets', 'description', '', 'secrets.description defaults to the empty string');
select col_hasnt_default('vault', 'secrets', 'secret', 'secrets.secret has no default');
select col_hasnt_default('vault', 'secrets', 'key_id', 'secrets.key_id has no default');
select col_default_is('vault', 'secrets', 'nonce', 'vault._crypto_aead_det_noncegen()',
                      'secrets.nonce defaults to vault._crypto_aead_det_noncegen()');
select col_default_is('vault', 'secrets', 'created_at', 'CURRENT_TIMESTAMP', 'secrets.created_at defaults to CURRENT_TIMESTAMP');
select col_default_is('vault', 'secrets', 'updated_at', 'CURRENT_TIMESTAMP', 'secrets.updated_at defaults to CURRENT_TIMESTAMP');
select indexes_are('vault', 'secrets', array['secrets_pkey', 'secrets_name_idx'], 'vault.secrets has only its primary key and secrets_name_idx');
select has_index('vault', 'secrets', 'secrets_name_idx', 'name', 'secrets_name_idx indexes name');
select index_is_unique('vault', 'secrets', 'secrets_name_idx', 'secrets_name_idx is unique');
select index_is_type('vault', 'secrets', 'secrets_name_idx', 'btree', 'secrets_name_idx is a btree');
select is((select pg_get_expr(i.indpred, i.indrelid) from pg_index i where i.indexrelid = to_regclass('vault.secrets_name_idx')),
          '(name IS NOT NULL)', 'secrets_name_idx is partial: only where name is not null');

-- View ----------------------------------------------------------------------------------------

select has_view('vault'::name, 'decrypted_secrets'::name, 'view vault.decrypted_secrets exists');
select results_eq(
  $$ select * from pg_temp.columns_of('vault.decrypted_secrets') $$,
  $$ values ('id', 'uuid'), ('name', 'text'), ('description', 'text'), ('secret', 'text'),
            ('decrypted_secret', 'text'), ('key_id', 'uuid'), ('nonce', 'bytea'),
            ('created_at', 'timestamp with time zone'), ('updated_at', 'timestamp with time zone') $$,
  'vault.decrypted_secrets has the columns of vault.secrets plus decrypted_secret after secret');
select is((select co.collname::text from pg_attribute a join pg_collation co on co.oid = a.attcollation
           where a.attrelid = 'vault.decrypted_secrets'::regclass and a.attname = 'decrypted_secret'),
          'C', 'decrypted_secret has collation "C"');
select is((select reloptions from pg_class where oid = 'vault.decrypted_secrets'::regclass), null,
          'decrypted_secrets is a plain view (no security_invoker, no security_barrier)');

-- Functions -----------------------------------------------------------------------------------

select is((select count(*)::int from pg_proc where pronamespace = 'vault'::regnamespace
           and proname in ('create_secret', 'update_secret', '_crypto_aead_det_encrypt',
                           '_crypto_aead_det_decrypt', '_crypto_aead_det_noncegen')),
          5, 'each Vault function exists once (no other overloads)');
select results_eq(
  $$ select pg_get_function_arguments(p.oid), pg_get_function_result(p.oid), l.lanname::text collate "default",
            p.provolatile::text, p.prosecdef, p.proisstrict, p.proconfig collate "default"
     from pg_proc p join pg_language l on l.oid = p.prolang
     where p.oid = to_regprocedure('vault.create_secret(text, text, text, uuid)') $$,
  $$ values ($a$new_secret text, new_name text DEFAULT NULL::text, new_description text DEFAULT ''::text, new_key_id uuid DEFAULT NULL::uuid$a$,
             'uuid', 'plpgsql', 'v', true, false, array['search_path=""']) $$,
  'create_secret: signature, defaults, plpgsql, volatile, SECURITY DEFINER, search_path pinned');
select results_eq(
  $$ select pg_get_function_arguments(p.oid), pg_get_function_result(p.oid), l.lanname::text collate "default",
            p.provolatile::text, p.prosecdef, p.proisstrict, p.proconfig collate "default"
     from pg_proc p join pg_language l on l.oid = p.prolang
     where p.oid = to_regprocedure('vault.update_secret(uuid, text, text, text, uuid)') $$,
  $$ values ($a$secret_id uuid, new_secret text DEFAULT NULL::text, new_name text DEFAULT NULL::text, new_description text DEFAULT NULL::text, new_key_id uuid DEFAULT NULL::uuid$a$,
             'void', 'plpgsql', 'v', true, false, array['search_path=""']) $$,
  'update_secret: signature, defaults, plpgsql, volatile, SECURITY DEFINER, search_path pinned');
-- The language of the crypto functions differs (C in Vault), so it is not compared.
select results_eq(
  $$ select pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
            p.provolatile::text, p.prosecdef, p.proisstrict, p.proconfig collate "default"
     from pg_proc p where p.oid = to_regprocedure('vault._crypto_aead_det_encrypt(bytea, bytea, bigint, bytea, bytea)') $$,
  $$ values ($a$message bytea, additional bytea, key_id bigint, context bytea DEFAULT '\x7067736f6469756d'::bytea, nonce bytea DEFAULT NULL::bytea$a$,
             'bytea', 'i', false, false, null::text[]) $$,
  '_crypto_aead_det_encrypt: signature, context defaults to ''pgsodium'', IMMUTABLE, invoker rights, not strict');
select results_eq(
  $$ select pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
            p.provolatile::text, p.prosecdef, p.proisstrict, p.proconfig collate "default"
     from pg_proc p where p.oid = to_regprocedure('vault._crypto_aead_det_decrypt(bytea, bytea, bigint, bytea, bytea)') $$,
  $$ values ($a$message bytea, additional bytea, key_id bigint, context bytea DEFAULT '\x7067736f6469756d'::bytea, nonce bytea DEFAULT NULL::bytea$a$,
             'bytea', 'i', false, false, null::text[]) $$,
  '_crypto_aead_det_decrypt: signature, context defaults to ''pgsodium'', IMMUTABLE, invoker rights, not strict');
select results_eq(
  $$ select pg_get_function_arguments(p.oid), pg_get_function_result(p.oid), p.provolatile::text, p.prosecdef
     from pg_proc p where p.oid = to_regprocedure('vault._crypto_aead_det_noncegen()') $$,
  $$ values ('', 'bytea', 'i', false) $$,
  '_crypto_aead_det_noncegen: no arguments, returns bytea, declared IMMUTABLE (hazard 4), invoker rights');

-- Owner ---------------------------------------------------------------------------------------

select is((select r.rolsuper from pg_namespace n join pg_roles r on r.oid = n.nspowner where n.nspname = 'vault'),
          true, 'schema vault is owned by a superuser (the one who installed Vault)');
select is_empty(
  $$ select c.relname::text from pg_class c
     where c.oid in ('vault.secrets'::regclass, 'vault.decrypted_secrets'::regclass)
       and c.relowner <> (select nspowner from pg_namespace where nspname = 'vault')
     union all
     select p.proname::text from pg_proc p
     where p.pronamespace = 'vault'::regnamespace
       and p.proname in ('create_secret', 'update_secret', '_crypto_aead_det_encrypt',
                         '_crypto_aead_det_decrypt', '_crypto_aead_det_noncegen')
       and p.proowner <> (select nspowner from pg_namespace where nspname = 'vault') $$,
  'the table, the view and the functions belong to the owner of schema vault');

-- Privileges: exactly hosted Supabase's grants to service_role, nothing for anyone else ----------

select set_eq(
  $$ select r.role, p.priv from unnest(array['public', 'anon', 'authenticated', 'service_role', 'authenticator']) r(role)
     cross join unnest(array['USAGE', 'CREATE']) p(priv)
     where has_schema_privilege(r.role, 'vault', p.priv) $$,
  $$ values ('service_role', 'USAGE') $$,
  'on schema vault only service_role has anything: USAGE');
select set_eq(
  $$ select r.role, t.rel, p.priv from unnest(array['public', 'anon', 'authenticated', 'service_role', 'authenticator']) r(role)
     cross join unnest(array['vault.secrets', 'vault.decrypted_secrets']) t(rel)
     cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p(priv)
     where has_table_privilege(r.role, t.rel, p.priv) $$,
  $$ values ('service_role', 'vault.secrets', 'SELECT'), ('service_role', 'vault.secrets', 'DELETE'),
            ('service_role', 'vault.decrypted_secrets', 'SELECT'), ('service_role', 'vault.decrypted_secrets', 'DELETE') $$,
  'on the table and the view only service_role has anything: SELECT and DELETE');
select is_empty(
  $$ select attname from pg_attribute
     where attrelid in ('vault.secrets'::regclass, 'vault.decrypted_secrets'::regclass) and attacl is not null $$,
  'no column-level grants on the table or the view');
select set_eq(
  $$ select r.role, f.fn from unnest(array['public', 'anon', 'authenticated', 'service_role', 'authenticator']) r(role)
     cross join unnest(array['vault.create_secret(text, text, text, uuid)',
                             'vault.update_secret(uuid, text, text, text, uuid)',
                             'vault._crypto_aead_det_encrypt(bytea, bytea, bigint, bytea, bytea)',
                             'vault._crypto_aead_det_decrypt(bytea, bytea, bigint, bytea, bytea)',
                             'vault._crypto_aead_det_noncegen()']) f(fn)
     where has_function_privilege(r.role, f.fn, 'EXECUTE') $$,
  $$ values ('service_role', 'vault.create_secret(text, text, text, uuid)'),
            ('service_role', 'vault.update_secret(uuid, text, text, text, uuid)'),
            ('service_role', 'vault._crypto_aead_det_decrypt(bytea, bytea, bigint, bytea, bytea)') $$,
  'EXECUTE: not PUBLIC; service_role on create_secret, update_secret, _crypto_aead_det_decrypt only');

-- What service_role can and cannot do, as the API gateway would run it.
set local role service_role;
select lives_ok($$ select vault.create_secret('sr_secret_value', 'cv-test-sr', 'made by service_role') $$,
                'service_role can create a secret');
select is((select decrypted_secret from vault.decrypted_secrets where name = 'cv-test-sr'), 'sr_secret_value',
          'service_role reads it back through decrypted_secrets');
select lives_ok($$ select vault.update_secret((select id from vault.secrets where name = 'cv-test-sr'), 'sr_secret_value_2') $$,
                'service_role can update a secret');
select is((select decrypted_secret from vault.decrypted_secrets where name = 'cv-test-sr'), 'sr_secret_value_2',
          'service_role reads the new value');
-- The nonce is given: left to its default, the planner would first refuse service_role the
-- noncegen function (it folds IMMUTABLE calls while planning).
select throws_ok($$ insert into vault.secrets (secret, nonce) values ('x', null) $$, '42501', 'permission denied for table secrets',
                 'service_role cannot INSERT into vault.secrets');
select throws_ok($$ update vault.secrets set description = 'x' $$, '42501', 'permission denied for table secrets',
                 'service_role cannot UPDATE vault.secrets');
select throws_ok($$ select vault._crypto_aead_det_encrypt('x', 'y', 0) $$, '42501',
                 'permission denied for function _crypto_aead_det_encrypt', 'service_role cannot call _crypto_aead_det_encrypt');
select throws_ok($$ select vault._crypto_aead_det_noncegen() $$, '42501',
                 'permission denied for function _crypto_aead_det_noncegen', 'service_role cannot call _crypto_aead_det_noncegen');
select results_eq($$ delete from vault.decrypted_secrets where name = 'cv-test-sr' returning name $$,
                  $$ values ('cv-test-sr'::text) $$, 'service_role can delete a secret through decrypted_secrets');
select lives_ok($$ select vault.create_secret('sr_secret_value_3', 'cv-test-sr') $$, 'service_role creates another one');
select results_eq($$ delete from vault.secrets where name = 'cv-test-sr' returning name $$,
                  $$ values ('cv-test-sr'::text) $$, 'service_role can delete a secret from vault.secrets');
reset role;

-- The view checks the decrypt function's EXECUTE right against the caller, not its owner.
select lives_ok($$ select vault.create_secret('caller_rights_value', 'cv-test-caller') $$, 'a secret to read');
revoke execute on function vault._crypto_aead_det_decrypt(bytea, bytea, bigint, bytea, bytea) from service_role;
set local role service_role;
select throws_ok($$ select decrypted_secret from vault.decrypted_secrets where name = 'cv-test-caller' $$, '42501',
                 'permission denied for function _crypto_aead_det_decrypt',
                 'without EXECUTE on _crypto_aead_det_decrypt, decrypted_secret cannot be read');
select results_eq($$ select name from vault.decrypted_secrets where name = 'cv-test-caller' $$,
                  $$ values ('cv-test-caller'::text) $$, '... while the other columns still can');
reset role;
grant execute on function vault._crypto_aead_det_decrypt(bytea, bytea, bigint, bytea, bytea) to service_role;

set local role authenticated;
select throws_ok($$ select vault.create_secret('x') $$, '42501', 'permission denied for schema vault',
                 'authenticated cannot create secrets');
select throws_ok($$ select decrypted_secret from vault.decrypted_secrets $$, '42501', 'permission denied for schema vault',
                 'authenticated cannot read decrypted_secrets');
select throws_ok($$ select secret from vault.secrets $$, '42501', 'permission denied for schema vault',
                 'authenticated cannot read vault.secrets');
reset role;
set local role anon;
select throws_ok($$ select vault.update_secret('00000000-0000-0000-0000-000000000000', 'x') $$, '42501',
                 'permission denied for schema vault', 'anon cannot update secrets');
select throws_ok($$ select decrypted_secret from vault.decrypted_secrets $$, '42501', 'permission denied for schema vault',
                 'anon cannot read decrypted_secrets');
reset role;
set local role authenticator;
select throws_ok($$ select decrypted_secret from vault.decrypted_secrets $$, '42501', 'permission denied for schema vault',
                 'authenticator (NOINHERIT) cannot read decrypted_secrets without switching role');
reset role;

-- create_secret and update_secret ---------------------------------------------------------------

select throws_ok($$ select vault.create_secret(null) $$, '23502',
                 'null value in column "secret" of relation "secrets" violates not-null constraint',
                 'a NULL secret fails with 23502');
select lives_ok($$ select vault.create_secret('', 'cv-test-empty') $$, 'an empty secret is accepted');
select is((select decrypted_secret from vault.decrypted_secrets where name = 'cv-test-empty'), '',
          'the empty secret decrypts to the empty string');
select is((select octet_length(decode(secret, 'base64')) from vault.secrets where name = 'cv-test-empty'), 32,
          'the empty secret is stored as 32 bytes (the fixed overhead)');
select is((select description from vault.secrets where name = 'cv-test-empty'), '',
          'an omitted description is stored as the empty string');
select lives_ok($$ select vault.create_secret('unnamed_one'), vault.create_secret('unnamed_two') $$,
                'any number of secrets may have no name');

select lives_ok($$ select vault.create_secret('dup_value_one', 'cv-test-dup') $$, 'a named secret');
select throws_ok($$ select vault.create_secret('dup_value_two', 'cv-test-dup') $$, '23505',
                 'duplicate key value violates unique constraint "secrets_name_idx"',
                 'create_secret with a name already taken fails with 23505');
select is((select detail from pg_temp.error_of($$ select vault.create_secret('dup_value_two', 'cv-test-dup') $$)),
          'Key (name)=(cv-test-dup) already exists.', '... and the DETAIL shows the name');
select throws_ok($$ select vault.update_secret((select id from vault.secrets where name = 'cv-test-empty'), new_name => 'cv-test-dup') $$,
                 '23505', 'duplicate key value violates unique constraint "secrets_name_idx"',
                 'update_secret to a name already taken fails with 23505');

select lives_ok($$ select vault.update_secret((select id from vault.secrets where name = 'cv-test-dup'), new_description => 'changed') $$,
                'update_secret with only a new description');
select results_eq($$ select name, description, decrypted_secret collate "default" from vault.decrypted_secrets where name = 'cv-test-dup' $$,
                  $$ values ('cv-test-dup'::text, 'changed'::text, 'dup_value_one'::text) $$,
                  'NULL arguments of update_secret leave the secret and the name unchanged');
select lives_ok($$ select vault.update_secret(vault.create_secret('key_id_value', 'cv-test-key-id', '', gen_random_uuid()),
                                               new_key_id => gen_random_uuid()) $$,
                'create_secret and update_secret accept a key id');
select is((select key_id from vault.secrets where name = 'cv-test-key-id'), null,
          '... and ignore it: key_id stays NULL');

-- Hazard 6: update_secret on a missing id does nothing, silently.
select lives_ok($$ select vault.update_secret('00000000-0000-4000-8000-000000000006', 'nobody_value', 'cv-test-h6') $$,
                'hazard 6: update_secret on a missing id raises nothing');
select is_empty($$ select id from vault.secrets where id = '00000000-0000-4000-8000-000000000006' or name = 'cv-test-h6' $$,
                '... and writes nothing');

-- Real encryption -------------------------------------------------------------------------------

select lives_ok($$ select vault.create_secret('correct_horse_battery_staple', 'cv-test-enc') $$, 'a secret to inspect');
select is((select octet_length(decode(secret, 'base64')) from vault.secrets where name = 'cv-test-enc'),
          octet_length('correct_horse_battery_staple') + 32, 'the ciphertext is the plaintext length + 32 bytes');
select ok((select position(convert_to('correct_horse_battery_staple', 'utf8') in decode(secret, 'base64')) = 0
                  and secret <> 'correct_horse_battery_staple'
           from vault.secrets where name = 'cv-test-enc'),
          'the stored secret does not contain the plaintext');
select is((select decrypted_secret from vault.decrypted_secrets where name = 'cv-test-enc'), 'correct_horse_battery_staple',
          'decrypted_secrets gives the plaintext back');
select is((select decode(s.secret, 'base64') from vault.secrets s where s.name = 'cv-test-enc'),
          (select vault._crypto_aead_det_encrypt(convert_to('correct_horse_battery_staple', 'utf8'),
                                                 convert_to(s.id::text, 'utf8'), 0, 'pgsodium', s.nonce)
           from vault.secrets s where s.name = 'cv-test-enc'),
          'the stored secret is base64(_crypto_aead_det_encrypt(plaintext, id::text, 0, ''pgsodium'', nonce)), deterministically');
select lives_ok($$ select vault.create_secret('pässwörd ✓ ' || repeat('long ', 40), 'cv-test-long') $$, 'a long non-ASCII secret');
select results_eq(
  $$ select decrypted_secret collate "default", octet_length(decode(secret, 'base64')), strpos(secret, E'\n') > 0
     from vault.decrypted_secrets where name = 'cv-test-long' $$,
  $$ values ('pässwörd ✓ ' || repeat('long ', 40), octet_length(convert_to('pässwörd ✓ ' || repeat('long ', 40), 'utf8')) + 32, true) $$,
  'non-ASCII round-trips; length counts UTF-8 bytes; the base64 text is wrapped across lines');

select throws_ok(
  $$ select vault._crypto_aead_det_decrypt(decode(secret, 'base64'), convert_to(gen_random_uuid()::text, 'utf8'), 0, 'pgsodium', nonce)
     from vault.secrets where name = 'cv-test-enc' $$,
  '22000', 'pgsodium_crypto_aead_det_decrypt_by_id: invalid ciphertext', 'decrypting with another id fails with 22000');
select throws_ok(
  $$ select vault._crypto_aead_det_decrypt(decode(secret, 'base64'), convert_to(id::text, 'utf8'), 0, 'pgsodium',
                                           set_byte(nonce, 0, get_byte(nonce, 0) # 1))
     from vault.secrets where name = 'cv-test-enc' $$,
  '22000', 'pgsodium_crypto_aead_det_decrypt_by_id: invalid ciphertext', 'decrypting with another nonce fails');
select throws_ok(
  $$ select vault._crypto_aead_det_decrypt(decode(secret, 'base64'), convert_to(id::text, 'utf8'), 0, 'pgsodium', null)
     from vault.secrets where name = 'cv-test-enc' $$,
  '22000', 'pgsodium_crypto_aead_det_decrypt_by_id: invalid ciphertext', 'decrypting without the nonce fails');
select throws_ok(
  $$ select vault._crypto_aead_det_decrypt(decode(secret, 'base64'), convert_to(id::text, 'utf8'), 1, 'pgsodium', nonce)
     from vault.secrets where name = 'cv-test-enc' $$,
  '22000', 'pgsodium_crypto_aead_det_decrypt_by_id: invalid ciphertext', 'decrypting with another key id fails');
select throws_ok(
  $$ select vault._crypto_aead_det_decrypt(decode(secret, 'base64'), convert_to(id::text, 'utf8'), 0, 'pgsodiuM', nonce)
     from vault.secrets where name = 'cv-test-enc' $$,
  '22000', 'pgsodium_crypto_aead_det_decrypt_by_id: invalid ciphertext', 'decrypting with another context fails');
select throws_ok(
  $$ select vault._crypto_aead_det_decrypt(set_byte(c, 40, get_byte(c, 40) # 1), convert_to(id::text, 'utf8'), 0, 'pgsodium', nonce)
     from (select id, nonce, decode(secret, 'base64') c from vault.secrets where name = 'cv-test-enc') s $$,
  '22000', 'pgsodium_crypto_aead_det_decrypt_by_id: invalid ciphertext', 'one flipped bit in byte 41 is detected');
select throws_ok(
  $$ select vault._crypto_aead_det_decrypt(set_byte(c, 0, get_byte(c, 0) # 128), convert_to(id::text, 'utf8'), 0, 'pgsodium', nonce)
     from (select id, nonce, decode(secret, 'base64') c from vault.secrets where name = 'cv-test-enc') s $$,
  '22000', 'pgsodium_crypto_aead_det_decrypt_by_id: invalid ciphertext', 'one flipped bit in the first byte is detected');
select throws_ok(
  $$ select vault._crypto_aead_det_decrypt(substring(c from 1 for octet_length(c) - 1), convert_to(id::text, 'utf8'), 0, 'pgsodium', nonce)
     from (select id, nonce, decode(secret, 'base64') c from vault.secrets where name = 'cv-test-enc') s $$,
  '22000', 'pgsodium_crypto_aead_det_decrypt_by_id: invalid ciphertext', 'a truncated ciphertext is detected');
select throws_ok($$ select vault._crypto_aead_det_decrypt(decode(repeat('00', 31), 'hex'), 'x', 0) $$,
                 '22000', 'pgsodium_crypto_aead_det_decrypt_by_id: invalid message', 'fewer than 32 bytes is not a ciphertext');
select throws_ok($$ select vault._crypto_aead_det_decrypt(null, 'x', 0) $$,
                 '22000', 'pgsodium_crypto_aead_det_decrypt_by_id: message cannot be NULL', 'decrypting NULL fails with 22000');
select throws_ok($$ select vault._crypto_aead_det_encrypt('x', 'y', 0, 'pgsodium', decode('00', 'hex')) $$,
                 '22000', 'pgsodium_crypto_aead_det_encrypt_by_id: invalid nonce', 'a nonce must be 16 bytes');
select throws_ok($$ select vault._crypto_aead_det_encrypt('x', 'y', 0, 'short') $$,
                 '22000', 'pgsodium_derive_helper: crypto_kdf_derive_from_key: context must be 8 bytes', 'a context must be 8 bytes');
select is(vault._crypto_aead_det_decrypt(vault._crypto_aead_det_encrypt('no nonce', 'ad', 7), 'ad', 7), 'no nonce'::bytea,
          'without a nonce, encrypt and decrypt still round-trip');

-- A ciphertext copied to another row does not decrypt there: the row id is bound in.
select lives_ok($$ select vault.create_secret('copy_source_value', 'cv-test-copy-src'), vault.create_secret('other_value', 'cv-test-copy-dst') $$,
                'two secrets');
update vault.secrets d set secret = s.secret, nonce = s.nonce
from vault.secrets s where s.name = 'cv-test-copy-src' and d.name = 'cv-test-copy-dst';
select throws_ok($$ select decrypted_secret from vault.decrypted_secrets where name = 'cv-test-copy-dst' $$,
                 '22000', 'pgsodium_crypto_aead_det_decrypt_by_id: invalid ciphertext',
                 'a ciphertext (with its nonce) copied to another row does not decrypt');
select throws_ok($$ select vault.update_secret((select id from vault.secrets where name = 'cv-test-copy-dst'), 'repaired_value') $$,
                 '22000', 'pgsodium_crypto_aead_det_decrypt_by_id: invalid ciphertext',
                 'update_secret cannot overwrite a row that no longer decrypts (it decrypts first)');
delete from vault.secrets where name = 'cv-test-copy-dst';

-- Hazard 1: the plaintext is INSERTed, then UPDATEd to its ciphertext --------------------------------

create trigger cv_test_capture_secret_writes before insert or update on vault.secrets
  for each row execute function pg_temp.capture_secret_writes();
select lives_ok($$ select vault.create_secret('plaintext_reaches_the_wal', 'cv-test-h1') $$, 'create a secret while watching writes');
drop trigger cv_test_capture_secret_writes on vault.secrets;
select results_eq(
  $$ select op, old_secret, new_secret from pg_temp.secret_writes order by n $$,
  $$ select 'INSERT', null::text, 'plaintext_reaches_the_wal'::text
     union all
     select 'UPDATE', 'plaintext_reaches_the_wal', secret from vault.secrets where name = 'cv-test-h1' $$,
  'hazard 1: create_secret writes the plaintext row first, then replaces it with the ciphertext');

-- Hazard 2: a NULL description puts the plaintext in the error's DETAIL ----------------------------

select results_eq(
  $$ select code, message, detail like 'Failing row contains (%, cv-test-h2, null, plaintext_in_the_error, %'
     from pg_temp.error_of($h2$ select vault.create_secret('plaintext_in_the_error', 'cv-test-h2', null) $h2$) $$,
  $$ values ('23502', 'null value in column "description" of relation "secrets" violates not-null constraint', true) $$,
  'hazard 2: a NULL description fails with 23502 and a DETAIL that shows the plaintext');

-- Hazard 4: one nonce for many rows --------------------------------------------------------------

-- Each execution of a cached plan reuses the nonce folded into it. PL/pgSQL plans the INSERT
-- inside create_secret afresh for the first 5 calls of a session, then keeps one generic plan.
create temp table loop_ids (n int, id uuid);
do $$
begin
  for i in 1..25 loop
    insert into pg_temp.loop_ids values (i, vault.create_secret('nonce_loop_value_' || i));
  end loop;
end
$$;
select is((select count(distinct s.nonce)::int from pg_temp.loop_ids l join vault.secrets s using (id) where l.n > 5), 1,
          'hazard 4: 20 secrets created in one plpgsql loop share one nonce');
select cmp_ok((select count(distinct s.nonce)::int from pg_temp.loop_ids l join vault.secrets s using (id)), '<=', 6,
              'hazard 4: 25 secrets created in one plpgsql loop have at most 6 distinct nonces');
select results_eq(
  $$ select count(distinct s.secret)::int, count(*) filter (where d.decrypted_secret = 'nonce_loop_value_' || l.n)::int
     from pg_temp.loop_ids l join vault.secrets s using (id) join vault.decrypted_secrets d using (id) $$,
  $$ values (25, 25) $$,
  '... they still encrypt to distinct ciphertexts (the id is bound in) and all decrypt');
create temp table nonce_before as select id, nonce from vault.secrets where name = 'cv-test-enc';
select lives_ok($$ select vault.update_secret((select id from vault.secrets where name = 'cv-test-enc'), 'rotated_value') $$,
                'update a secret');
select is((select s.nonce from vault.secrets s join pg_temp.nonce_before b using (id)), (select nonce from pg_temp.nonce_before),
          'hazard 4: update_secret keeps the row''s nonce');
select is((select decrypted_secret from vault.decrypted_secrets where name = 'cv-test-enc'), 'rotated_value',
          '... and the new value decrypts');

-- Hazard 5: one row inserted directly with its plaintext breaks reading the view -------------------

insert into vault.secrets (name, secret) values ('cv-test-h5', 'plaintext_inserted_directly');
select throws_ok($$ select name, decrypted_secret from vault.decrypted_secrets $$, '22023',
                 'invalid symbol "_" found while decoding base64 sequence',
                 'hazard 5: a plaintext row in vault.secrets breaks every read of decrypted_secrets');
delete from vault.secrets where name = 'cv-test-h5';
select lives_ok($$ select name, decrypted_secret from vault.decrypted_secrets $$, '... and reading works again once it is gone');

-- Tests that only the stand-in or only a real Vault can run --------------------------------------

create function pg_temp.standin_only() returns setof text
language plpgsql
as $$
begin
  if not pg_temp.is_standin() then
    return next skip('needs the test stand-in: it replaces and removes the stand-in''s root key', 5);
    return;
  end if;
  return next set_eq(
    $q$ select relname::text from pg_class where relnamespace = 'vault'::regnamespace and relkind in ('r', 'p', 'm') $q$,
    array['secrets'], 'stand-in: no table holds the root key, so pg_dump cannot carry it');
  return next matches(current_setting('vault_standin.root_key'), '^[0-9a-f]{64}$',
                      'stand-in: the root key is the server setting vault_standin.root_key, 32 bytes in hex');

  -- A session's setting stands for another cluster's key, rolled back with the transaction.
  perform set_config('vault_standin.root_key', repeat('ab', 32), true);
  return next throws_ok($q$ select decrypted_secret from vault.decrypted_secrets where name = 'cv-test-h1' $q$,
                        '22000', 'pgsodium_crypto_aead_det_decrypt_by_id: invalid ciphertext',
                        'stand-in: under another root key, secrets no longer decrypt');
  reset vault_standin.root_key;
  return next is((select decrypted_secret from vault.decrypted_secrets where name = 'cv-test-h1'), 'plaintext_reaches_the_wal',
                 'stand-in: with the root key back, they do again');

  perform set_config('vault_standin.root_key', '', true);
  return next throws_ok($q$ select decrypted_secret from vault.decrypted_secrets where name = 'cv-test-h1' $q$,
                        '22000', 'pgsodium_derive_helper: pgsodium_derive: no server secret key defined.',
                        'stand-in: without a root key, it fails like Vault without its preloaded key');
  reset vault_standin.root_key;
end
$$;
select * from pg_temp.standin_only();

create function pg_temp.real_vault_only() returns setof text
language plpgsql
as $$
begin
  if pg_temp.is_standin() then
    return next skip('needs a real supabase_vault: the stand-in is not an extension', 1);
    return;
  end if;
  return next ok((select 'vault.secrets'::regclass = any(extconfig) from pg_extension where extname = 'supabase_vault'),
                 'real Vault: pg_dump includes the rows of vault.secrets (pg_extension_config_dump)');
end
$$;
select * from pg_temp.real_vault_only();

-- Last, as it empties the table: DELETE alone lets service_role remove every secret at once.
set local role service_role;
select lives_ok($$ delete from vault.secrets $$, 'service_role may run DELETE FROM vault.secrets without WHERE');
select is_empty($$ select id from vault.secrets $$, '... which removes every secret');
reset role;

select * from finish();
rollback;
