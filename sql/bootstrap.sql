-- credential_vault's own objects. Nothing here refers to Vault, so the extension installs
-- before Vault does; the functions check for Vault when they are called.

-- Tenant binding: every secret this extension stored, and the integration it was stored for.
create table credential_vault.credentials (
    vault_secret_id uuid primary key,
    integration_id uuid not null,
    created_at timestamptz not null
);
create index credentials_integration_id_idx on credential_vault.credentials (integration_id, created_at);
comment on table credential_vault.credentials is
    'One row per Vault secret stored through credential_vault: which integration it belongs to. Never a value.';

-- Who did what, when; never a value.
create table credential_vault.audit_log (
    id bigint generated always as identity primary key,
    occurred_at timestamptz not null default pg_catalog.clock_timestamp(),
    action text not null check (action in ('store', 'retrieve', 'rotate', 'delete', 'purge')),
    actor_role name not null,
    actor_uid uuid,
    integration_id uuid not null,
    vault_secret_id uuid not null,
    previous_vault_secret_id uuid
);
comment on table credential_vault.audit_log is
    'Every successful operation, written in the same transaction: role and auth.uid() of the caller, action, references. Never a value.';

-- The one meeting point with the application's schema: a function (integration_id uuid) -> boolean
-- that says whether the calling `authenticated` user may manage the integration.
create table credential_vault.authorizer (
    singleton boolean primary key default true check (singleton),
    authorizer regprocedure not null
);
comment on table credential_vault.authorizer is
    'The registered authorizer (see credential_vault.set_authorizer). At most one row.';

select pg_catalog.pg_extension_config_dump('credential_vault.credentials', '');
select pg_catalog.pg_extension_config_dump('credential_vault.audit_log', '');
select pg_catalog.pg_extension_config_dump('credential_vault.authorizer', '');

create function credential_vault.set_authorizer(authorizer regprocedure) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
    if not exists (
        select 1 from pg_catalog.pg_proc p
        where p.oid = authorizer
          and p.pronargs = 1
          and p.proargtypes[0] = 'pg_catalog.uuid'::pg_catalog.regtype
          and p.prorettype = 'pg_catalog.bool'::pg_catalog.regtype
          and not p.proretset
    ) then
        raise exception using
            errcode = '22023',
            message = 'an authorizer must take one uuid argument and return boolean';
    end if;
    insert into credential_vault.authorizer (authorizer) values (authorizer)
    on conflict (singleton) do update set authorizer = excluded.authorizer;
end
$$;
comment on function credential_vault.set_authorizer(regprocedure) is
    'Registers the function (integration_id uuid) -> boolean that decides whether the calling authenticated user may store, rotate, delete and list an integration''s credentials. It is called with the caller''s identity.';

-- For the application's "integration deleted" trigger: removes every credential of the
-- integration, Vault secrets included, and audits each removal.
create function credential_vault.purge_integration(integration_id uuid) returns integer
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    purged integer;
begin
    with gone as (
        delete from credential_vault.credentials c
        where c.integration_id = purge_integration.integration_id
        returning c.vault_secret_id, c.integration_id
    ), deleted_secrets as (
        delete from vault.secrets s using gone where s.id = gone.vault_secret_id
    )
    insert into credential_vault.audit_log (action, actor_role, actor_uid, integration_id, vault_secret_id)
    select 'purge',
           coalesce(nullif(pg_catalog.current_setting('role'), 'none'), session_user),
           null, gone.integration_id, gone.vault_secret_id
    from gone;
    get diagnostics purged = row_count;
    return purged;
end
$$;
