-- The baseline: the plpgsql wrapper over raw Vault a user would write without credential_vault.
-- Installed by the benchmark as postgres (like a migration) and called as service_role, like ours.
create function bench.store_integration_credentials(integration_id text, credentials_json text)
returns text language plpgsql security definer set search_path = '' as $$
begin
  if pg_catalog.jsonb_typeof(credentials_json::jsonb) is distinct from 'object' then
    raise exception using errcode = '22023', message = 'credentials must be a JSON object';
  end if;
  perform integration_id::uuid;
  return vault.create_secret(credentials_json)::text;
end
$$;

create function bench.retrieve_integration_credentials(vault_secret_id text)
returns jsonb language plpgsql security definer set search_path = '' as $$
declare
  credentials jsonb;
begin
  select s.decrypted_secret::jsonb into credentials
  from vault.decrypted_secrets s where s.id = vault_secret_id::uuid;
  if not found then
    raise exception using errcode = 'P0002', message = 'credentials not found';
  end if;
  return credentials;
end
$$;

revoke all on function bench.store_integration_credentials(text, text),
                       bench.retrieve_integration_credentials(text) from public;
grant execute on function bench.store_integration_credentials(text, text),
                          bench.retrieve_integration_credentials(text) to service_role;
