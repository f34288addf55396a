-- credential_vault 0.4.1 -> 0.5.0.

-- Issue 25: the secure read at raw Vault's speed. Retrieve reads Vault's row without running a
-- statement (src/read.rs) and pins search_path itself around the statements it does run
-- (src/spi.rs): the function's own SET clause, a GUC save and restore on every call, goes.
alter function public.vault_retrieve_integration_credentials(text) reset search_path;
