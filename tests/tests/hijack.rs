//! No code of a caller's runs with anybody else's rights through the search path. A session may
//! create temporary tables, views, domains and functions; a function that runs with its owner's
//! rights (SECURITY DEFINER, or the extension's switch to its owner) and looks a table or a type
//! up in the caller's temporary schema first would run them. This suite names no function it
//! attacks: it finds every SECURITY DEFINER function and registered callback in the database,
//! shadows every type, relation and function name it could reach, and calls every API function
//! (the lifecycle's versions, restore, destroy and revokes included) and every table with row
//! level security, from a login in `authenticated` and one in `service_role`, and every
//! administration function of the lifecycle from a login in `postgres` (the app's migrations).
//! Run with `scripts/harness/with-cluster -- cargo test -p credential-vault-tests --test hijack`.

use credential_vault_tests::api::{
    DELETE, DESTROY, LIST, RESTORE, RETRIEVE, ROTATE, STORE, VERSIONS,
};
use credential_vault_tests::{
    Caller, Tenants, TestDatabase, call_as, canary, create_integration, credentials_json,
    report_figure, sqlstate,
};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// In the attacker's session: a counter of runs by another role, the recorder every shadow
/// calls, and the shadows, each named like a type, relation or function of the database.
/// The recorder counts a call only when it runs as neither the session's login nor the role it
/// set (a SECURITY DEFINER owner, the extension's owner), and its own names are qualified, so
/// the shadows never shadow it.
const SHADOW_EVERYTHING: &str = r#"
create temporary sequence hijack_seen;
grant all on sequence pg_temp.hijack_seen to public;
create function pg_temp.hijacked() returns pg_catalog.bool
language sql volatile set search_path = pg_catalog, pg_temp as $$
  select case when current_user <> session_user
                   and current_user::pg_catalog.text <> pg_catalog.current_setting('role')
              then pg_catalog.nextval('pg_temp.hijack_seen') >= 0
              else true end
$$;
do $$
declare
  target record;
  made pg_catalog.int4 := 0;
begin
  -- pg_catalog first: an unqualified type name means pg_catalog's unless a schema shadows it.
  for target in
    select n.nspname, t.typname from pg_catalog.pg_type t
    join pg_catalog.pg_namespace n on n.oid = t.typnamespace
    where t.typtype in ('b', 'd', 'e', 'r', 'm') and t.typname !~ '^_' and t.typisdefined
      and n.nspname !~ '^pg_(temp|toast)'
    order by n.nspname <> 'pg_catalog', n.nspname
  loop
    begin
      execute pg_catalog.format('create domain pg_temp.%I as %I.%I check (pg_temp.hijacked())',
                                target.typname, target.nspname, target.typname);
      made := made + 1;
    exception when others then null;  -- a name taken already, a type no domain can wrap
    end;
  end loop;
  for target in
    select n.nspname, c.relname from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p', 'v', 'm', 'f') and n.nspname !~ '^pg_(temp|toast)'
    order by n.nspname <> 'pg_catalog', n.nspname
  loop
    begin
      execute pg_catalog.format(
        'create temporary view %I as select * from %I.%I where pg_temp.hijacked()',
        target.relname, target.nspname, target.relname);
      made := made + 1;
    exception when others then null;
    end;
  end loop;
  -- Functions in pg_temp are never found without the schema's name; shadowed all the same.
  for target in
    select p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid) as arguments,
           p.prorettype::pg_catalog.regtype as result
    from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    where p.prokind = 'f' and not p.proretset
      and n.nspname in ('auth', 'public', 'private', 'credential_vault', 'vault')
  loop
    begin
      execute pg_catalog.format(
        'create function pg_temp.%I(%s) returns %s language sql as '
        '''select null::%s from (select pg_temp.hijacked()) seen''',
        target.proname, target.arguments, target.result, target.result);
      made := made + 1;
    exception when others then null;
    end;
  end loop;
  perform pg_catalog.set_config('hijack.shadows', made::pg_catalog.text, false);
end
$$;
"#;

/// How many runs by another role the recorder has counted in this session.
async fn hijacks(session: &mut PgConnection) -> i64 {
    sqlx::query_scalar(
        "select case when is_called then last_value else 0 end from pg_temp.hijack_seen",
    )
    .fetch_one(session)
    .await
    .expect("read the recorder")
}

/// SECURITY DEFINER functions and registered callbacks whose search_path does not name pg_temp
/// last, outside Vault (which the extension never calls into) and PostgreSQL's own schemas.
async fn unsafe_paths(db: &TestDatabase) -> Vec<String> {
    sqlx::query_scalar(
        "select p.oid::regprocedure::text from pg_proc p
         join pg_namespace n on n.oid = p.pronamespace
         where (p.prosecdef
                  and n.nspname not in ('pg_catalog', 'information_schema', 'vault')
                or p.oid in (select to_regprocedure(authorizer) from credential_vault.authorizer
                             union all select to_regprocedure(hook) from credential_vault.link_hook))
           and not exists (select from unnest(p.proconfig) c where c ~ '^search_path=.*pg_temp\"?$')
         order by 1",
    )
    .fetch_all(&db.pool)
    .await
    .expect("list the definer functions")
}

/// Who makes the calls: an API role, impersonated as the gateway does, or the session's own
/// login (a member of `postgres`, as the app's migrations and the SQL editor are).
enum Calling {
    As(Caller),
    Own,
}

/// `sql` with text arguments in a transaction of its own, committed when it succeeded, made as
/// `calling`; the first column of every row.
async fn call(
    session: &mut PgConnection,
    calling: &Calling,
    sql: &'static str,
    args: &[&str],
) -> Result<Vec<String>, sqlx::Error> {
    match calling {
        Calling::As(caller) => call_as(session, caller, sql, args).await,
        Calling::Own => {
            use sqlx::Row;
            let mut tx = session.begin().await?;
            let query = args.iter().fold(sqlx::query(sql), |q, arg| q.bind(*arg));
            let rows = query.fetch_all(&mut *tx).await;
            if rows.is_ok() {
                tx.commit().await?;
            }
            Ok(rows?.iter().map(|row| row.get(0)).collect())
        }
    }
}

/// Every call a caller can make: the API functions through a store, rotate, versions listing,
/// restore (a multi-step write: the current version retired, the kept one made current),
/// destroy and delete, a read of every table with row level security, an integration inserted,
/// given credentials and deleted (which fires the app's triggers, and so the extension's
/// delete_integration_credentials), and the revokes of the extension and of the app. Each
/// answer normalized to what must not change: the SQLSTATE, and the row counts and values.
async fn every_call(
    db: &TestDatabase,
    session: &mut PgConnection,
    caller: &Caller,
    integration: Uuid,
) -> Vec<String> {
    let integration = integration.to_string();
    let body = credentials_json(&canary("hijack"));
    let mut answers = Vec::new();
    let stored = call_as(session, caller, STORE, &[&integration, &body]).await;
    answers.push(answer("store", &stored));
    let reference = stored.map(|rows| rows[0].clone()).unwrap_or_default();
    answers.push(answer(
        "list",
        &call_as(session, caller, LIST, &[&integration]).await,
    ));
    let retrieved = call_as(session, caller, RETRIEVE, &[&reference]).await;
    answers.push(answer("retrieve", &retrieved));
    if let Ok(rows) = &retrieved {
        let value: serde_json::Value = serde_json::from_str(&rows[0]).unwrap();
        let sent: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value, sent, "retrieve returns what was stored");
    }
    let rotated = call_as(session, caller, ROTATE, &[&reference, &body]).await;
    answers.push(answer("rotate", &rotated));
    let rotated = rotated.map(|rows| rows[0].clone()).unwrap_or_default();
    answers.push(answer(
        "versions",
        &call_as(session, caller, VERSIONS, &[&integration]).await,
    ));
    // The first version back; the rotated one becomes a kept version, which destroy then takes.
    let restored = call_as(session, caller, RESTORE, &[&reference]).await;
    answers.push(answer("restore", &restored));
    let current = restored.map_or(rotated.clone(), |rows| rows[0].clone());
    answers.push(answer(
        "destroy",
        &call_as(session, caller, DESTROY, &[&rotated]).await,
    ));
    answers.push(answer(
        "delete",
        &call_as(session, caller, DELETE, &[&current]).await,
    ));

    // Every table whose row level security policies run code on a read (a table no API role
    // may read, without a policy, runs none).
    let protected: Vec<String> = sqlx::query_scalar(
        "select format('select count(*)::pg_catalog.text from %I.%I', n.nspname, c.relname)
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where c.relrowsecurity and exists (select from pg_policy p where p.polrelid = c.oid)
         order by 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(
        protected.len() >= 3,
        "the app's tables have row level security"
    );
    for read in &protected {
        // Safe as SQL: the server quoted the names with format('%I').
        let result = call_as(session, caller, sqlx::AssertSqlSafe(read.as_str()), &[]).await;
        let counted = result.as_deref().unwrap_or_default().join(" ");
        answers.push(format!("{}: {counted}", answer(read, &result)));
    }

    let added = call_as(
        session,
        caller,
        "insert into public.organization_integrations (organization_id, provider, display_name)
         select organization_id, 'crm', 'Hijack CRM' from public.organization_integrations
         where id = $1::pg_catalog.uuid returning id::pg_catalog.text",
        &[&integration],
    )
    .await;
    answers.push(answer("insert integration", &added));
    if let Ok(rows) = added {
        let added = &rows[0];
        answers.push(answer(
            "store on it",
            &call_as(session, caller, STORE, &[added, &body]).await,
        ));
        answers.push(answer(
            "update it",
            &call_as(
                session,
                caller,
                "update public.organization_integrations set display_name = 'Renamed'
                 where id = $1::pg_catalog.uuid returning id::pg_catalog.text",
                &[added],
            )
            .await,
        ));
        answers.push(answer(
            "delete it",
            &call_as(
                session,
                caller,
                "delete from public.organization_integrations
                 where id = $1::pg_catalog.uuid returning id::pg_catalog.text",
                &[added],
            )
            .await,
        ));
        // What its deletion kept for the window.
        answers.push(answer(
            "revoke its credentials",
            &call_as(
                session,
                caller,
                "select state from credential_vault.revoke_integration_credentials(
                   array[$1::pg_catalog.uuid])",
                &[added],
            )
            .await,
        ));
    }
    let stored = call_as(session, caller, STORE, &[&integration, &body]).await;
    answers.push(answer("store again", &stored));
    answers.push(answer(
        "revoke the organization's credentials",
        &call_as(
            session,
            caller,
            "select r.versions_destroyed::pg_catalog.text
             from public.organization_integrations i,
                  public.revoke_organization_credentials(i.organization_id) r
             where i.id = $1::pg_catalog.uuid",
            &[&integration],
        )
        .await,
    ));
    answers
}

/// Every administration function of the lifecycle, as the app's migrations call them, on
/// `integration`, given a current and a kept version first: the recovery window and the bound
/// on kept versions set (each audited) and one refused, the rotation report, the integration's
/// deletion (its current version kept), the revoke, the purges and the health report.
async fn every_admin_call(
    db: &TestDatabase,
    session: &mut PgConnection,
    integration: Uuid,
) -> Vec<String> {
    let own = &Calling::Own;
    let body = credentials_json(&canary("hijack admin"));
    let first = db.store(integration, &body).await;
    db.call(&Caller::ServiceRole, ROTATE, &[&first, &body])
        .await
        .unwrap();
    let integration = integration.to_string();
    let mut answers = Vec::new();
    for (label, sql, args) in [
        (
            "set_recovery_window",
            "select credential_vault.set_recovery_window('8 days')::pg_catalog.text",
            vec![],
        ),
        (
            "set_recovery_window back",
            "select credential_vault.set_recovery_window('7 days')::pg_catalog.text",
            vec![],
        ),
        (
            "set_recovery_window in months",
            "select credential_vault.set_recovery_window('1 mon')::pg_catalog.text",
            vec![],
        ),
        (
            "set_max_kept_versions",
            "select credential_vault.set_max_kept_versions(50)::pg_catalog.text",
            vec![],
        ),
        (
            "set_max_kept_versions back",
            "select credential_vault.set_max_kept_versions(100)::pg_catalog.text",
            vec![],
        ),
        (
            "rotation_report",
            "select reason from credential_vault.rotation_report(
               '0 days', '0 days', array[$1::pg_catalog.uuid])",
            vec![integration.as_str()],
        ),
        (
            "delete_integration_credentials",
            "select credential_vault.delete_integration_credentials($1::pg_catalog.uuid)::pg_catalog.text",
            vec![integration.as_str()],
        ),
        (
            "purge_expired",
            "select credential_vault.purge_expired()::pg_catalog.text",
            vec![],
        ),
        (
            "health_report",
            "select problem from credential_vault.health_report()",
            vec![],
        ),
        (
            "revoke_integration_credentials",
            "select state from credential_vault.revoke_integration_credentials(
               array[$1::pg_catalog.uuid])",
            vec![integration.as_str()],
        ),
        (
            "purge_integration",
            "select credential_vault.purge_integration($1::pg_catalog.uuid)::pg_catalog.text",
            vec![integration.as_str()],
        ),
    ] {
        let result = call(session, own, sql, &args).await;
        let rows = result.as_deref().unwrap_or_default().join(" ");
        answers.push(format!("{}: {rows}", answer(label, &result)));
    }
    answers
}

/// A call's answer as what must not change: its SQLSTATE and how many rows it returned.
fn answer(label: &str, result: &Result<Vec<String>, sqlx::Error>) -> String {
    let rows = result.as_ref().map_or(0, Vec::len);
    format!("{label}: {} {rows}", sqlstate(result))
}

/// A new login that is a member of `role`, as a sync worker's login is; returns a session.
async fn login_in(db: &TestDatabase, role: &str) -> PgConnection {
    let login = format!("hijacker_{role}_{}", Uuid::new_v4().simple());
    let create: String =
        sqlx::query_scalar("select format('create role %I login in role %I', $1::text, $2::text)")
            .bind(&login)
            .bind(role)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    // Safe as SQL: the server quoted the names with format('%I').
    let create = sqlx::AssertSqlSafe(create);
    sqlx::raw_sql(create).execute(&db.pool).await.unwrap();
    PgConnection::connect_with(&db.options().username(&login))
        .await
        .expect("log in")
}

#[tokio::test]
async fn temporary_objects_named_like_what_definer_code_reaches_never_run() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;

    for (role, calling) in [
        ("authenticated", Calling::As(t.admin.clone())),
        ("service_role", Calling::As(Caller::ServiceRole)),
        ("postgres", Calling::Own),
    ] {
        // Each run on an integration of its own, both made before either runs: the versions
        // listing counts what a run left, the reads of the app's tables what exists.
        let [for_plain, for_attacker] = if role == "authenticated" {
            let made = t.add_integrations(&db.pool, 2).await;
            [made[0], made[1]]
        } else {
            [
                create_integration(&db.pool).await,
                create_integration(&db.pool).await,
            ]
        };
        let calls = async |session: &mut PgConnection, integration: Uuid| match &calling {
            Calling::As(caller) => every_call(&db, session, caller, integration).await,
            Calling::Own => every_admin_call(&db, session, integration).await,
        };
        let mut plain = login_in(&db, role).await;
        let expected = calls(&mut plain, for_plain).await;
        // The calls reach the functions' bodies: refused are only what the role matrix denies
        // and the window in months.
        let refused: Vec<&str> = expected
            .iter()
            .filter(|answer| !answer.contains(": ok "))
            .map(|answer| answer.split(':').next().unwrap())
            .collect();
        let denied: &[&str] = match role {
            "authenticated" => &[
                "retrieve",
                "destroy",
                "revoke its credentials",
                "revoke the organization's credentials",
            ],
            "service_role" => &[],
            _ => &["set_recovery_window in months"],
        };
        assert_eq!(refused, denied, "{role}: {expected:?}");

        let mut attacker = login_in(&db, role).await;
        sqlx::raw_sql(SHADOW_EVERYTHING)
            .execute(&mut attacker)
            .await
            .expect("create the shadows");
        let shadows: i64 = sqlx::query_scalar("select current_setting('hijack.shadows')::int8")
            .fetch_one(&mut attacker)
            .await
            .unwrap();
        assert!(shadows > 100, "{role}: only {shadows} shadows were made");

        // The control: a definer function with the empty path, called the same way, is caught.
        sqlx::raw_sql(
            "create function public.hijack_control() returns text language sql
               security definer set search_path = ''
               as $$ select '00000000-0000-0000-0000-000000000000'::uuid::text $$;
             alter function public.hijack_control() owner to postgres;
             grant execute on function public.hijack_control() to public",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        let control = call(
            &mut attacker,
            &calling,
            "select public.hijack_control()::pg_catalog.text",
            &[],
        )
        .await;
        assert_eq!(sqlstate(&control), "ok");
        let caught = hijacks(&mut attacker).await;
        assert!(caught > 0, "{role}: the control's hijack was not recorded");
        sqlx::raw_sql("drop function public.hijack_control()")
            .execute(&db.pool)
            .await
            .unwrap();

        let answers = calls(&mut attacker, for_attacker).await;
        assert_eq!(
            hijacks(&mut attacker).await - caught,
            0,
            "{role}: a shadow ran with another role's rights"
        );
        assert_eq!(answers, expected, "{role}: the shadows changed an answer");
        report_figure(&format!(
            "hijack ({role}): {shadows} shadows, {} calls, 0 runs with another role's rights; control caught",
            answers.len()
        ));
    }
    // Also those no call above reached.
    assert_eq!(
        unsafe_paths(&db).await,
        Vec::<String>::new(),
        "every SECURITY DEFINER function and callback names pg_temp last"
    );
}
