-- The grants hosted Supabase adds to Vault, for service_role only (anon and authenticated get
-- nothing): ../shared/reference/supabase-vault.md, "Privileges". Applied by the harness after
-- Vault is installed, whether it is the real supabase_vault or the test stand-in.

grant usage on schema vault to service_role;
grant select, delete on vault.secrets, vault.decrypted_secrets to service_role;
grant execute on function vault.create_secret(text, text, text, uuid),
                          vault.update_secret(uuid, text, text, text, uuid),
                          vault._crypto_aead_det_decrypt(bytea, bytea, bigint, bytea, bytea)
  to service_role;
