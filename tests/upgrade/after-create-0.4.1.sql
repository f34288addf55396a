-- The after-create script as released with credential_vault 0.4.1 (git show dfb7ba8:extension-custom-scripts/credential_vault/after-create.sql), for tests/upgrade/supautils-update.
-- credential_vault's after-create script for the Supabase Postgres image. supautils runs it as
-- supabase_admin right after `create extension credential_vault` (which it runs as supabase_admin
-- when credential_vault is listed in supautils.privileged_extensions). Install it as
--   /etc/postgresql-custom/extension-custom-scripts/credential_vault/after-create.sql
-- and run it again after `alter extension credential_vault update`: it only grants, so a re-run
-- changes nothing.
--
-- The extension's objects belong to supabase_admin. This lets the project owner `postgres` wire
-- its application to them from its own migrations (register the authorizer and the link hook,
-- purge an integration's credentials from its "integration deleted" trigger, set the recovery
-- window, offer the incident revoke and the rotation report), schedule purge_expired(), check
-- the server's logging posture and the references' health, and read the audit log, which holds
-- no value.
--
-- Supabase's default privileges in schema public gave anon, authenticated and service_role
-- EXECUTE on the extension's RPC functions, granted by supabase_admin, which postgres cannot
-- revoke. They are taken back here, and postgres may grant them per API role from its
-- migrations (the extension still decides by the calling role, whatever the grants).
revoke execute on function
    public.vault_store_integration_credentials(text, text),
    public.vault_store_integration_credentials(text, text, text),
    public.vault_retrieve_integration_credentials(text),
    public.vault_rotate_integration_credentials(text, text),
    public.vault_rotate_integration_credentials(text, text, text),
    public.vault_delete_integration_credentials(text),
    public.vault_list_integration_credentials(text),
    public.vault_list_integration_credential_versions(text),
    public.vault_restore_integration_credentials(text),
    public.vault_destroy_integration_credentials(text)
  from anon, authenticated, service_role;
grant execute on function
    public.vault_store_integration_credentials(text, text),
    public.vault_store_integration_credentials(text, text, text),
    public.vault_retrieve_integration_credentials(text),
    public.vault_rotate_integration_credentials(text, text),
    public.vault_rotate_integration_credentials(text, text, text),
    public.vault_delete_integration_credentials(text),
    public.vault_list_integration_credentials(text),
    public.vault_list_integration_credential_versions(text),
    public.vault_restore_integration_credentials(text),
    public.vault_destroy_integration_credentials(text)
  to postgres with grant option;

grant select on credential_vault.credentials, credential_vault.audit_log
  to postgres with grant option;
grant execute on function
    credential_vault.set_authorizer(regprocedure),
    credential_vault.set_link_hook(regprocedure),
    credential_vault.purge_integration(uuid),
    credential_vault.health_report(boolean),
    credential_vault.logging_posture(),
    credential_vault.set_recovery_window(interval),
    credential_vault.purge_expired(),
    credential_vault.revoke_integration_credentials(uuid[]),
    credential_vault.rotation_report(interval, interval)
  to postgres with grant option;
