-- An incident revoke survives a concurrent deletion of one of its integrations. The deletion
-- locks the integration's row and then, in its trigger, waits for the revoke's fence; the
-- revoke holds the fence and then, through the link hook, waits for that row. PostgreSQL breaks
-- the deadlock by aborting one of them, and the revoke was often the one: the responder's call
-- failed with 40P01 and nothing was revoked. Now a revoke chosen as the victim undoes its
-- attempt (which lets the deletion finish) and starts again; the deleted integration's kept
-- credentials are then revoked with the rest (20261207140000).

-- The revoke of every integration, live or deleted, of the organization or with the provider
-- given (one of the two), retried up to three times when it loses a deadlock.
create or replace function private.revoke_matching(organization_id uuid, provider text)
returns table (integration_id uuid, organization uuid, integration_provider text,
               versions_destroyed integer, admins_to_notify uuid[])
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  attempt integer := 1;
begin
  loop
    begin
      -- The fence first (an empty revoke takes it), then the integrations, chosen by a
      -- statement that starts under it: no credential can be written until this transaction
      -- ends. revoke_integrations sorts its rows, so nothing is returned before it has revoked.
      perform credential_vault.revoke_integration_credentials('{}'::uuid[]);
      return query select * from private.revoke_integrations(array(
        select i.id from private.known_integrations() i
        where i.organization_id = revoke_matching.organization_id
           or i.provider = revoke_matching.provider));
      return;
    exception when deadlock_detected then
      if attempt = 3 then
        raise;
      end if;
      attempt := attempt + 1;
    end;
  end loop;
end
$$;
revoke all on function private.revoke_matching(uuid, text) from public;

create or replace function public.revoke_organization_credentials(organization_id uuid)
returns table (integration_id uuid, organization uuid, integration_provider text,
               versions_destroyed integer, admins_to_notify uuid[])
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform private.require_api_role('revoke', false);
  return query select * from private.revoke_matching(revoke_organization_credentials.organization_id, null);
end
$$;

create or replace function public.revoke_provider_credentials(provider text)
returns table (integration_id uuid, organization uuid, integration_provider text,
               versions_destroyed integer, admins_to_notify uuid[])
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform private.require_api_role('revoke', false);
  return query select * from private.revoke_matching(null, revoke_provider_credentials.provider);
end
$$;
