-- private.credential_link_report(repair): integrations whose credential_vault_id is out of step
-- with the extension's credentials (say, after a restore of an old dump) are listed, and repaired
-- on request; nobody but postgres may run it. The links are broken here the only way they can
-- be: by postgres, which owns the table, with its guard trigger disabled.
begin;
select plan(8);

\set service_role '{"role":"service_role"}'
\set integration 'dddddddd-0000-4000-8000-0000000000c1'

insert into public.organizations (id, name) values ('dddddddd-0000-4000-8000-000000000000', 'Hooli');
insert into public.organization_integrations (id, organization_id, provider, display_name)
values (:'integration', 'dddddddd-0000-4000-8000-000000000000', 'crm', 'Hooli CRM');

set local role service_role;
select set_config('request.jwt.claims', :'service_role', true);
select vault_secret_id as ref from public.vault_store_integration_credentials(:'integration', '{"api_key": "canary-link-4d1"}') \gset
select throws_ok('select * from private.credential_link_report()', '42501', null,
                 'service_role may not run the link report');
reset role;
select is_empty('select * from private.credential_link_report()', 'nothing out of step after a store');

alter table public.organization_integrations disable trigger organization_integrations_guard_credential_vault_id;
update public.organization_integrations set credential_vault_id = null where id = :'integration';
select results_eq('select problem, integration_id, credential_vault_id, repaired from private.credential_link_report()',
                  format($$values ('link missing', %L::uuid, null::uuid, false)$$, :'integration'),
                  'an integration with credentials but no link is reported');
select results_eq('select problem, repaired from private.credential_link_report(true)',
                  $$values ('link missing', true)$$, 'and repaired');
select is((select credential_vault_id::text from public.organization_integrations where id = :'integration'), :'ref',
          'the repair links the integration''s credentials again');

update public.organization_integrations set credential_vault_id = 'dddddddd-0000-4000-8000-00000000dead'
where id = :'integration';
select results_eq('select problem, credential_vault_id::text from private.credential_link_report()',
                  $$values ('link dangling', 'dddddddd-0000-4000-8000-00000000dead')$$,
                  'a link to credentials that do not exist is reported');
select lives_ok('select * from private.credential_link_report(true)', 'and repaired');
alter table public.organization_integrations enable trigger organization_integrations_guard_credential_vault_id;
select is((select credential_vault_id::text from public.organization_integrations where id = :'integration'), :'ref',
          'the repair points the link at the integration''s credentials');

select * from finish();
rollback;
