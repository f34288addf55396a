-- EXECUTE on the credential functions, per role. The extension revokes EXECUTE from PUBLIC, but
-- Supabase's default privileges on schema public may have granted it to anon, authenticated and
-- service_role explicitly when the functions were created: revoke from all, then grant.
--
--                      store  rotate  delete  list  retrieve
--   anon                 -      -       -      -       -
--   authenticated        x      x       x      x       -     (admins of the owning organization,
--                                                             decided by private.can_manage_integration)
--   service_role         x      x       x      x       x
-- The extension enforces the same matrix itself, whatever EXECUTE grants exist.
revoke all on function
  public.vault_store_integration_credentials(text, text),
  public.vault_retrieve_integration_credentials(text),
  public.vault_rotate_integration_credentials(text, text),
  public.vault_delete_integration_credentials(text),
  public.vault_list_integration_credentials(text)
from public, anon, authenticated, service_role;

grant execute on function
  public.vault_store_integration_credentials(text, text),
  public.vault_rotate_integration_credentials(text, text),
  public.vault_delete_integration_credentials(text),
  public.vault_list_integration_credentials(text)
to authenticated, service_role;

grant execute on function public.vault_retrieve_integration_credentials(text) to service_role;
