-- credential_vault 0.4.1 -> 0.5.0.

-- Issue 26: the RPC functions' result types move to public (as vault_credential_reference and
-- vault_credential_version), next to the functions, so that Supabase's type generator, which
-- reads the schema public only unless told otherwise, types the results for supabase-js instead
-- of `unknown`. The same types (same oids, same columns): what the functions return to their
-- callers does not change.
-- Renamed before the move, so that an application's own public.credential_reference, if any,
-- is no obstacle.
alter type credential_vault.credential_reference rename to vault_credential_reference;
alter type credential_vault.vault_credential_reference set schema public;
alter type credential_vault.credential_version rename to vault_credential_version;
alter type credential_vault.vault_credential_version set schema public;
