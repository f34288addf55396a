-- credential_vault 0.2.0 -> 0.3.0: backends keep the registered authorizer and link hook.
-- * Every change of credential_vault.authorizer or credential_vault.link_hook, through
--   set_authorizer, set_link_hook or any other statement, tells every backend (on commit) to
--   read them again: the extension's own triggers on its own tables, which CREATE EXTENSION
--   makes again on a restore, so pg_dump needs to carry none of them.
-- * The link hook is called by its oid instead of by its name.
-- Released: never edit this file; a further change ships as a new version.

CREATE FUNCTION credential_vault.forget_cached_registrations() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'forget_cached_registrations_wrapper';
COMMENT ON FUNCTION credential_vault.forget_cached_registrations() IS
    'Tells every backend, when the change commits, to read the registered authorizer and link hook again.';
REVOKE ALL ON FUNCTION credential_vault.forget_cached_registrations() FROM PUBLIC;
CREATE TRIGGER forget_cached_authorizer
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON credential_vault.authorizer
    FOR EACH STATEMENT EXECUTE FUNCTION credential_vault.forget_cached_registrations();
CREATE TRIGGER forget_cached_link_hook
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON credential_vault.link_hook
    FOR EACH STATEMENT EXECUTE FUNCTION credential_vault.forget_cached_registrations();
