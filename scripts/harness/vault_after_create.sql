-- What the Supabase image's after-create script for Vault grants (supabase/postgres, its
-- extension-custom-scripts/supabase_vault): postgres with grant option, service_role without;
-- anon and authenticated get nothing, and nobody gets INSERT, UPDATE or TRIGGER. Applied by the
-- harness as supabase_admin after Vault is created, whether the real supabase_vault or the stand-in.

grant usage on schema vault to postgres with grant option;
grant select, delete on vault.secrets, vault.decrypted_secrets to postgres with grant option;
grant execute on function vault.create_secret(text, text, text, uuid),
                          vault.update_secret(uuid, text, text, text, uuid),
                          vault._crypto_aead_det_decrypt(bytea, bytea, bigint, bytea, bytea)
  to postgres with grant option;

grant usage on schema vault to service_role;
grant select, delete on vault.secrets, vault.decrypted_secrets to service_role;
grant execute on function vault.create_secret(text, text, text, uuid),
                          vault.update_secret(uuid, text, text, text, uuid),
                          vault._crypto_aead_det_decrypt(bytea, bytea, bigint, bytea, bytea)
  to service_role;
