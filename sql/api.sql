-- The RPC functions, in schema public so the API gateway can call them by argument name.
-- They run with the caller's rights: the credential_vault.* functions they wrap decide what the
-- calling role may do. The wrappers exist to turn "not found or not yours" (P0002) into PT404
-- and "changed concurrently" (40001) into PT409, which the gateway returns as HTTP 404 and 409;
-- pgrx can only raise SQLSTATEs that PostgreSQL defines.

-- What store and rotate return: a reference to the secret, never a value. A named type rather than
-- OUT columns, which plpgsql would confuse with the vault_secret_id argument.
create type credential_vault.credential_reference as (vault_secret_id uuid, created_at timestamptz);

create function credential_vault.reraise_as_http(sqlstate text, message text, hint text) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
    raise exception using
        errcode = case sqlstate when 'P0002' then 'PT404' else 'PT409' end,
        message = message,
        hint = coalesce(hint, '');
end
$$;

create function public.vault_store_integration_credentials(integration_id text, credentials_json text)
returns credential_vault.credential_reference
language plpgsql volatile security invoker
set search_path = pg_catalog, pg_temp
as $$
declare
    reference credential_vault.credential_reference;
    state text; message text; hint text;
begin
    select * into reference from credential_vault.store_credentials(integration_id, credentials_json);
    return reference;
exception when no_data_found or serialization_failure then
    get stacked diagnostics state = returned_sqlstate, message = message_text, hint = pg_exception_hint;
    perform credential_vault.reraise_as_http(state, message, hint);
end
$$;

create function public.vault_retrieve_integration_credentials(vault_secret_id text)
returns jsonb
language plpgsql volatile security invoker
set search_path = pg_catalog, pg_temp
as $$
declare
    state text; message text; hint text;
begin
    return credential_vault.retrieve_credentials(vault_secret_id);
exception when no_data_found or serialization_failure then
    get stacked diagnostics state = returned_sqlstate, message = message_text, hint = pg_exception_hint;
    perform credential_vault.reraise_as_http(state, message, hint);
end
$$;

create function public.vault_rotate_integration_credentials(vault_secret_id text, credentials_json text)
returns credential_vault.credential_reference
language plpgsql volatile security invoker
set search_path = pg_catalog, pg_temp
as $$
declare
    reference credential_vault.credential_reference;
    state text; message text; hint text;
begin
    select * into reference from credential_vault.rotate_credentials(vault_secret_id, credentials_json);
    return reference;
exception when no_data_found or serialization_failure then
    get stacked diagnostics state = returned_sqlstate, message = message_text, hint = pg_exception_hint;
    perform credential_vault.reraise_as_http(state, message, hint);
end
$$;

create function public.vault_delete_integration_credentials(vault_secret_id text)
returns void
language plpgsql volatile security invoker
set search_path = pg_catalog, pg_temp
as $$
declare
    state text; message text; hint text;
begin
    perform credential_vault.delete_credentials(vault_secret_id);
exception when no_data_found or serialization_failure then
    get stacked diagnostics state = returned_sqlstate, message = message_text, hint = pg_exception_hint;
    perform credential_vault.reraise_as_http(state, message, hint);
end
$$;

create function public.vault_list_integration_credentials(integration_id text)
returns setof credential_vault.credential_reference
language plpgsql stable security invoker
set search_path = pg_catalog, pg_temp
as $$
declare
    state text; message text; hint text;
begin
    return query select * from credential_vault.list_credentials(integration_id);
exception when no_data_found or serialization_failure then
    get stacked diagnostics state = returned_sqlstate, message = message_text, hint = pg_exception_hint;
    perform credential_vault.reraise_as_http(state, message, hint);
end
$$;

-- The wrapped functions enforce every rule themselves, so callers may reach them; the API
-- functions are granted per role by the application's migrations.
grant usage on schema credential_vault to public;
revoke all on function credential_vault.set_authorizer(regprocedure) from public;
revoke all on function
    public.vault_store_integration_credentials(text, text),
    public.vault_retrieve_integration_credentials(text),
    public.vault_rotate_integration_credentials(text, text),
    public.vault_delete_integration_credentials(text),
    public.vault_list_integration_credentials(text)
from public;
