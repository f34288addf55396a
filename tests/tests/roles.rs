//! Every function decides by the calling role itself, whatever the grants. This suite names no
//! function: it finds every function of the extension and every function of the app in schema
//! public from the catalog, grants EXECUTE on all of them to anon, authenticated and
//! service_role (what a restored project's default privileges do), and calls each, with
//! arguments aimed at organization A, as anon, an authenticated user of no organization, a
//! member of A, the admin of another organization B, A's admin and service_role. Each call runs
//! in a transaction of its own, rolled back. Besides service_role, no caller may destroy a Vault
//! secret, change the settings, the registrations or anybody else's rows, or receive an id or a
//! credential it may not see; A's admin may change A's credentials (the RPCs), no one else may
//! change any; service_role is never refused for its role.
//! Run with `scripts/harness/with-cluster -- cargo test -p credential-vault-tests --test roles`;
//! with CV_ROLES_DATABASE set it runs in that existing database (tests/restore/new-project).

use std::collections::BTreeSet;

use credential_vault_tests::{
    Caller, Tenants, TestDatabase, canary, credentials_json, impersonate, report_figure, sqlstate,
};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

/// Every function of the extension, and every function in public that belongs to no extension
/// (pgTAP's are there too), but trigger functions, which only a trigger can call: name, call
/// text with one text bind parameter per argument, cast to the argument's type, and each
/// argument's name and type.
const FUNCTIONS: &str = r#"
select p.oid::pg_catalog.regprocedure::pg_catalog.text,
       pg_catalog.format('select x::pg_catalog.text from %I.%I(%s) x',
         n.nspname, p.proname,
         (select coalesce(pg_catalog.string_agg(pg_catalog.format('$%s::%s', a.n,
                            pg_catalog.format_type(a.t, null)), ', ' order by a.n), '')
          from pg_catalog.unnest(p.proargtypes::pg_catalog.oid[]) with ordinality a(t, n))),
       coalesce(p.proargnames[1:p.pronargs], '{}'),
       array(select pg_catalog.format_type(t, null)
             from pg_catalog.unnest(p.proargtypes::pg_catalog.oid[]) with ordinality a(t, n) order by n)
from pg_catalog.pg_proc p
join pg_catalog.pg_namespace n on n.oid = p.pronamespace
left join pg_catalog.pg_depend d
  on d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass and d.objid = p.oid and d.deptype = 'e'
left join pg_catalog.pg_extension e on e.oid = d.refobjid
where (e.extname = 'credential_vault' or (n.nspname = 'public' and d.objid is null))
  and p.prokind = 'f'
  and p.prorettype not in ('pg_catalog.trigger'::pg_catalog.regtype,
                           'pg_catalog.event_trigger'::pg_catalog.regtype)
order by 1
"#;

/// What a call may not change, as the superuser sees it inside the call's transaction: the Vault
/// secrets (a set: new ones may appear), the settings and registrations, the organizations and
/// members, B's integrations and credentials, and A's integrations and credentials.
const STATE: &str = r#"
select array(select s.id::text from vault.secrets s order by 1),
       pg_catalog.concat((select pg_catalog.array_agg(t order by t::text) from credential_vault.settings t),
                         (select pg_catalog.array_agg(t order by t::text) from credential_vault.authorizer t),
                         (select pg_catalog.array_agg(t order by t::text) from credential_vault.link_hook t),
                         (select pg_catalog.array_agg(t order by t::text) from public.organizations t),
                         (select pg_catalog.array_agg(t order by t::text) from public.organization_members t)),
       pg_catalog.concat((select pg_catalog.array_agg(t order by t::text) from public.organization_integrations t
                          where t.organization_id <> $1),
                         (select pg_catalog.array_agg(c order by c::text) from credential_vault.credentials c
                          join public.organization_integrations i on i.id = c.integration_id
                          where i.organization_id <> $1)),
       pg_catalog.concat((select pg_catalog.array_agg(t order by t::text) from public.organization_integrations t
                          where t.organization_id = $1),
                         (select pg_catalog.array_agg(c order by c::text) from credential_vault.credentials c
                          where c.integration_id not in (select i.id from public.organization_integrations i
                                                         where i.organization_id <> $1)))
"#;

#[derive(Debug, PartialEq, Eq)]
struct State {
    secrets: BTreeSet<String>,
    shared: String,
    others: String,
    victim: String,
}

async fn state(connection: &mut PgConnection, victim_org: Uuid) -> State {
    let row = sqlx::query(STATE)
        .bind(victim_org)
        .fetch_one(connection)
        .await
        .expect("read the state");
    State {
        secrets: row.get::<Vec<String>, _>(0).into_iter().collect(),
        shared: row.get(1),
        others: row.get(2),
        victim: row.get(3),
    }
}

/// The fixture: organization A (the victim) with its admin, a member, an integration with
/// current credentials and an expired kept version; organization B with its admin and an
/// integration whose current secret was deleted around the extension (so the health report has
/// something to show); a function of each registrable shape to register.
struct Fixture {
    victim_org: Uuid,
    victim_integration: Uuid,
    reference: String,
    /// Ids of A only its admin and service_role may see.
    victim_ids: Vec<String>,
    /// Ids of B, and of A's admins and members, that none of the callers here may see (B's
    /// admin sees B's, but nothing here returns them to B's admin but a leak).
    hidden_ids: Vec<String>,
    canaries: Vec<String>,
}

async fn fixture(db: &TestDatabase, t: &Tenants) -> Fixture {
    let victim_org: Uuid = sqlx::query_scalar(
        "select organization_id from public.organization_integrations where id = $1",
    )
    .bind(t.integration)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let (first, second) = (canary("roles-first"), canary("roles-current"));
    let kept = db.store(t.integration, &credentials_json(&first)).await;
    let reference: String = sqlx::query_scalar(
        "select vault_secret_id::text from public.vault_rotate_integration_credentials($1, $2)",
    )
    .bind(&kept)
    .bind(credentials_json(&second))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    // The kept version's window is over: purge_expired() would destroy it.
    sqlx::query(
        "update credential_vault.credentials set replaced_at = now() - interval '9 days',
           destroy_after = now() - interval '1 day' where vault_secret_id = $1::uuid",
    )
    .bind(&kept)
    .execute(&db.pool)
    .await
    .unwrap();
    let other_org: Uuid = sqlx::query_scalar(
        "select organization_id from public.organization_members where role = 'admin'
         and organization_id <> $1 and user_id = $2",
    )
    .bind(victim_org)
    .bind(match &t.other_admin {
        Caller::Authenticated(id) => *id,
        _ => unreachable!("the other admin is a signed-in user"),
    })
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let other_integration: Uuid = sqlx::query_scalar(
        "insert into public.organization_integrations (organization_id, provider, display_name)
         values ($1, 'erp', 'Globex ERP') returning id",
    )
    .bind(other_org)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let other_secret = canary("roles-other");
    let other_reference = db
        .store(other_integration, &credentials_json(&other_secret))
        .await;
    sqlx::query("delete from vault.secrets where id = $1::uuid")
        .bind(&other_reference)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::raw_sql(
        "create schema cv_probe;
         grant usage on schema cv_probe to public;
         create function cv_probe.allow_all(uuid) returns boolean language sql
           set search_path = pg_catalog, pg_temp as 'select true';
         create function cv_probe.ignore_link(uuid, uuid, boolean) returns void language sql
           set search_path = pg_catalog, pg_temp as 'select';",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let user_ids: Vec<String> = sqlx::query_scalar(
        "select user_id::text from public.organization_members where organization_id in ($1, $2)",
    )
    .bind(victim_org)
    .bind(other_org)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    Fixture {
        victim_org,
        victim_integration: t.integration,
        victim_ids: vec![
            victim_org.to_string(),
            t.integration.to_string(),
            kept,
            reference.clone(),
        ],
        hidden_ids: [
            other_org.to_string(),
            other_integration.to_string(),
            other_reference,
        ]
        .into_iter()
        .chain(user_ids)
        .collect(),
        reference,
        canaries: vec![first, second, other_secret],
    }
}

/// The value of an argument, by its type and name, aimed at A; panics on a type it does not
/// know, so that a new function with a new kind of argument cannot pass unseen.
fn argument(f: &Fixture, function: &str, name: &str, kind: &str) -> Option<String> {
    let integration = f.victim_integration.to_string();
    Some(match (kind, name) {
        ("uuid", "organization_id") => f.victim_org.to_string(),
        ("uuid", _) => integration,
        ("uuid[]", _) => format!("{{{integration}}}"),
        ("text", "vault_secret_id") => f.reference.clone(),
        ("text", "integration_id") => integration,
        ("text", "credentials_json") => credentials_json("roles-new"),
        ("text", "expires_at") => return None,
        ("text", "provider") => "crm".to_owned(),
        ("text", _) => "current".to_owned(),
        ("interval", _) => "0 seconds".to_owned(),
        ("boolean", _) => "true".to_owned(),
        ("integer", _) => "1".to_owned(),
        ("regprocedure", "hook") => "cv_probe.ignore_link(uuid,uuid,boolean)".to_owned(),
        ("regprocedure", _) => "cv_probe.allow_all(uuid)".to_owned(),
        ("timestamp with time zone", _) => "2026-01-01T00:00:00Z".to_owned(),
        _ => panic!("{function}: no test value for an argument {name} of type {kind}"),
    })
}

#[tokio::test]
async fn every_function_decides_by_the_calling_role_whatever_the_grants() {
    let db = match std::env::var("CV_ROLES_DATABASE") {
        Ok(name) => TestDatabase::existing(&name).await,
        Err(_) => TestDatabase::new().await,
    };
    sqlx::raw_sql(
        "grant execute on all functions in schema public, credential_vault
           to anon, authenticated, service_role",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let t = Tenants::create(&db.pool).await;
    let f = fixture(&db, &t).await;
    let functions: Vec<(String, String, Vec<String>, Vec<String>)> =
        sqlx::query_as(FUNCTIONS).fetch_all(&db.pool).await.unwrap();
    assert!(
        functions
            .iter()
            .any(|(name, ..)| name.starts_with("credential_vault."))
            && functions
                .iter()
                .any(|(name, ..)| name.starts_with("revoke_organization")),
        "the catalog query finds the extension's and the app's functions: {functions:?}"
    );
    let callers = [
        ("anon", Caller::Anon),
        (
            "no organization's user",
            Caller::Authenticated(Uuid::new_v4()),
        ),
        ("A's member", t.member.clone()),
        ("B's admin", t.other_admin.clone()),
        ("A's admin", t.admin.clone()),
        ("service_role", Caller::ServiceRole),
    ];
    let mut violations = Vec::new();
    let (mut calls, mut refused) = (0, 0);
    for (function, call, names, kinds) in &functions {
        let args: Vec<Option<String>> = kinds
            .iter()
            .enumerate()
            .map(|(i, kind)| argument(&f, function, names.get(i).map_or("", String::as_str), kind))
            .collect();
        for (who, caller) in &callers {
            calls += 1;
            let mut tx = db.pool.begin().await.unwrap();
            let before = state(&mut tx, f.victim_org).await;
            impersonate(&mut tx, caller).await.unwrap();
            let result = args
                .iter()
                // The call's text is built by the catalog query (FUNCTIONS) from quoted names and
                // placeholders; every argument travels as a bind parameter.
                .fold(
                    sqlx::query_scalar::<_, Option<String>>(sqlx::AssertSqlSafe(call.as_str())),
                    |q, arg| q.bind(arg.clone()),
                )
                .fetch_all(&mut *tx)
                .await;
            let mut problems = Vec::new();
            match (&result, caller) {
                // The control that every call reaches its function: service_role's call is never
                // refused, and never fails for a call this test got wrong (class 42, 0A000).
                (_, Caller::ServiceRole) => {
                    let code = sqlstate(&result);
                    if code.starts_with("42") || code == "0A000" {
                        problems.push(format!("failed with {code}"));
                    }
                }
                (Err(_), _) => refused += 1,
                (Ok(rows), _) => {
                    let output = rows.iter().flatten().cloned().collect::<Vec<_>>().join(" ");
                    let victim_admin = matches!(caller, Caller::Authenticated(id)
                        if Some(*id) == match &t.admin { Caller::Authenticated(a) => Some(*a), _ => None });
                    let visible: &[String] = if victim_admin { &f.victim_ids } else { &[] };
                    for id in f.victim_ids.iter().chain(&f.hidden_ids) {
                        if output.contains(id.as_str()) && !visible.contains(id) {
                            problems.push(format!("returned {id}"));
                        }
                    }
                    if f.canaries.iter().any(|c| output.contains(c.as_str())) {
                        problems.push("returned a credential".to_owned());
                    }
                    sqlx::query("select set_config('role', 'none', true)")
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                    let after = state(&mut tx, f.victim_org).await;
                    if !after.secrets.is_superset(&before.secrets) {
                        problems.push("destroyed a Vault secret".to_owned());
                    }
                    if after.shared != before.shared {
                        problems.push(
                            "changed settings, registrations, organizations or members".to_owned(),
                        );
                    }
                    if after.others != before.others {
                        problems.push("changed another organization's rows".to_owned());
                    }
                    if after.victim != before.victim && !victim_admin {
                        problems.push("changed A's rows".to_owned());
                    }
                }
            }
            tx.rollback().await.unwrap();
            if !problems.is_empty() {
                violations.push(format!("{function} as {who}: {}", problems.join(", ")));
            }
        }
    }
    report_figure(&format!(
        "roles: {} functions x {} callers = {calls} calls, {refused} refused, {} violations",
        functions.len(),
        callers.len(),
        violations.len()
    ));
    assert!(
        violations.is_empty(),
        "{} calls went through a role check that should have refused them:\n{}",
        violations.len(),
        violations.join("\n")
    );
}
