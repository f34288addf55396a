//! The extension's SQL API through the harness: every function, validation rule and role, the
//! tenant boundary, concurrent rotation, and canaries searched for in every error and in the
//! server log. Run with `tests/harness/with-cluster -- cargo test -p credential-vault-tests`.

use std::sync::Arc;

use credential_vault_tests::{Caller, TestDatabase, canary, server_log, sqlstate};
use sqlx::{PgPool, Row};
use tokio::sync::Barrier;
use uuid::Uuid;

/// An organization with an admin, a plain member and one integration, plus a second
/// organization with its own admin, created as the superuser.
struct Tenants {
    integration: Uuid,
    admin: Caller,
    member: Caller,
    other_admin: Caller,
}

impl Tenants {
    async fn create(pool: &PgPool) -> Tenants {
        let (admin, member, other_admin) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let integration: Uuid = sqlx::query_scalar(
            "with org as (insert into public.organizations (name) values ('Acme') returning id),
                  other as (insert into public.organizations (name) values ('Globex') returning id),
                  members as (
                    insert into public.organization_members (organization_id, user_id, role)
                    select org.id, $1, 'admin' from org
                    union all select org.id, $2, 'member' from org
                    union all select other.id, $3, 'admin' from other)
             insert into public.organization_integrations (organization_id, provider, display_name)
             select id, 'crm', 'Acme CRM' from org returning id",
        )
        .bind(admin)
        .bind(member)
        .bind(other_admin)
        .fetch_one(pool)
        .await
        .expect("create the tenants");
        Tenants {
            integration,
            admin: Caller::Authenticated(admin),
            member: Caller::Authenticated(member),
            other_admin: Caller::Authenticated(other_admin),
        }
    }
}

fn credentials(secret: &str) -> String {
    serde_json::json!({"api_key": secret, "client_id": "client-1"}).to_string()
}

/// The text of a failed call a client could see: message, detail, hint; "" on success.
fn error_text<T>(result: &Result<T, sqlx::Error>) -> String {
    match result {
        Err(sqlx::Error::Database(e)) => {
            let pg = e.downcast_ref::<sqlx::postgres::PgDatabaseError>();
            format!(
                "{} {:?} {:?} {:?}",
                pg.message(),
                pg.detail(),
                pg.hint(),
                pg.r#where()
            )
        }
        Err(other) => format!("{other:?}"),
        Ok(_) => String::new(),
    }
}

async fn call(
    db: &TestDatabase,
    caller: &Caller,
    sql: &str,
    args: &[&str],
) -> Result<Vec<sqlx::postgres::PgRow>, sqlx::Error> {
    let mut tx = db.begin_as(caller).await;
    let mut query = sqlx::query(sql);
    for arg in args {
        query = query.bind(*arg);
    }
    let result = query.fetch_all(&mut *tx).await;
    if result.is_ok() {
        tx.commit().await.expect("commit");
    }
    result
}

const STORE: &str =
    "select vault_secret_id::text from public.vault_store_integration_credentials($1, $2)";
const RETRIEVE: &str = "select public.vault_retrieve_integration_credentials($1)::text";
const ROTATE: &str =
    "select vault_secret_id::text from public.vault_rotate_integration_credentials($1, $2)";
const DELETE: &str = "select public.vault_delete_integration_credentials($1)::text";
const LIST: &str =
    "select vault_secret_id::text from public.vault_list_integration_credentials($1)";

async fn store(db: &TestDatabase, caller: &Caller, integration: Uuid, secret: &str) -> String {
    let rows = call(
        db,
        caller,
        STORE,
        &[&integration.to_string(), &credentials(secret)],
    )
    .await
    .expect("store");
    rows[0].get(0)
}

#[tokio::test]
async fn round_trip_as_service_role_keeps_the_app_and_the_audit_in_step() {
    let db = TestDatabase::new().await;
    let tenants = Tenants::create(&db.pool).await;
    let secret = canary("roundtrip");
    let reference = store(&db, &Caller::ServiceRole, tenants.integration, &secret).await;

    let linked: Option<Uuid> = sqlx::query_scalar(
        "select credential_vault_id from public.organization_integrations where id = $1",
    )
    .bind(tenants.integration)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(linked.map(|u| u.to_string()), Some(reference.clone()));

    let retrieved = call(&db, &Caller::ServiceRole, RETRIEVE, &[&reference])
        .await
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(retrieved[0].get::<&str, _>(0)).unwrap();
    assert_eq!(
        value,
        serde_json::from_str::<serde_json::Value>(&credentials(&secret)).unwrap()
    );

    let rotated_secret = canary("rotated");
    let rotated: String = call(
        &db,
        &Caller::ServiceRole,
        ROTATE,
        &[&reference, &credentials(&rotated_secret)],
    )
    .await
    .unwrap()[0]
        .get(0);
    assert_ne!(rotated, reference);
    assert_eq!(
        sqlstate(&call(&db, &Caller::ServiceRole, RETRIEVE, &[&reference]).await),
        "PT404"
    );
    let listed = call(
        &db,
        &Caller::ServiceRole,
        LIST,
        &[&tenants.integration.to_string()],
    )
    .await
    .unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect::<Vec<_>>(),
        vec![rotated.clone()]
    );

    call(&db, &Caller::ServiceRole, DELETE, &[&rotated])
        .await
        .unwrap();
    let (secrets, rows, linked): (i64, i64, Option<Uuid>) = sqlx::query_as(
        "select (select count(*) from vault.secrets), (select count(*) from credential_vault.credentials),
                (select credential_vault_id from public.organization_integrations where id = $1)",
    )
    .bind(tenants.integration)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((secrets, rows, linked), (0, 0, None), "nothing left behind");

    let actions: Vec<String> = sqlx::query_scalar(
        "select action || ':' || actor_role from credential_vault.audit_log order by id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "store:service_role",
            "retrieve:service_role",
            "rotate:service_role",
            "delete:service_role"
        ]
    );
}

#[tokio::test]
async fn the_role_matrix_is_enforced_by_the_calling_role() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let integration = t.integration.to_string();
    let reference = store(&db, &Caller::ServiceRole, t.integration, &canary("matrix")).await;
    let body = credentials(&canary("matrix-new"));

    // Every caller gets EXECUTE here, so only the extension's own checks decide.
    sqlx::raw_sql(
        "grant execute on function public.vault_store_integration_credentials(text, text),
           public.vault_retrieve_integration_credentials(text), public.vault_rotate_integration_credentials(text, text),
           public.vault_delete_integration_credentials(text), public.vault_list_integration_credentials(text)
         to anon, authenticated, service_role",
    )
    .execute(&db.pool)
    .await
    .unwrap();

    for caller in [Caller::Anon, t.member.clone(), t.other_admin.clone()] {
        let denied = if matches!(caller, Caller::Anon) {
            "42501"
        } else {
            "PT404"
        };
        for (sql, args) in [
            (STORE, vec![integration.as_str(), body.as_str()]),
            (ROTATE, vec![reference.as_str(), body.as_str()]),
            (DELETE, vec![reference.as_str()]),
            (LIST, vec![integration.as_str()]),
        ] {
            assert_eq!(
                sqlstate(&call(&db, &caller, sql, &args).await),
                denied,
                "{caller:?} {sql}"
            );
        }
        assert_eq!(
            sqlstate(&call(&db, &caller, RETRIEVE, &[&reference]).await),
            "42501",
            "{caller:?} retrieve"
        );
    }

    // The admin of the owning organization may manage, never read.
    assert_eq!(
        sqlstate(&call(&db, &t.admin, RETRIEVE, &[&reference]).await),
        "42501"
    );
    assert_eq!(
        sqlstate(&call(&db, &t.admin, LIST, &[&integration]).await),
        "ok"
    );
    let rotated: String = call(&db, &t.admin, ROTATE, &[&reference, &body])
        .await
        .unwrap()[0]
        .get(0);
    assert_eq!(
        sqlstate(&call(&db, &t.admin, DELETE, &[&rotated]).await),
        "ok"
    );
    assert_eq!(
        sqlstate(&call(&db, &t.admin, STORE, &[&integration, &body]).await),
        "ok"
    );

    let uid: Option<Uuid> = sqlx::query_scalar(
        "select actor_uid from credential_vault.audit_log where action = 'rotate'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let Caller::Authenticated(admin_uid) = t.admin else {
        unreachable!()
    };
    assert_eq!(uid, Some(admin_uid), "the audit records auth.uid()");
}

#[tokio::test]
async fn another_tenants_reference_looks_exactly_like_a_missing_one() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let reference = store(&db, &Caller::ServiceRole, t.integration, &canary("tenant")).await;
    let missing = Uuid::new_v4().to_string();
    let body = credentials(&canary("tenant-new"));
    for (sql, args) in [(DELETE, vec![]), (ROTATE, vec![body.as_str()])] {
        let with = |id: &str| {
            [vec![id], args.clone()]
                .concat()
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let (foreign_args, absent_args) = (with(&reference), with(&missing));
        let foreign = call(
            &db,
            &t.other_admin,
            sql,
            &foreign_args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .await;
        let absent = call(
            &db,
            &t.other_admin,
            sql,
            &absent_args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .await;
        assert_eq!(sqlstate(&foreign), "PT404", "{sql}");
        assert_eq!(
            (sqlstate(&foreign), error_text(&foreign)),
            (sqlstate(&absent), error_text(&absent)),
            "{sql}"
        );
    }
    assert_eq!(
        sqlx::query_scalar::<_, i64>("select count(*) from vault.secrets")
            .fetch_one(&db.pool)
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn every_bad_input_gets_its_sqlstate_and_is_never_echoed() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let integration = t.integration.to_string();
    let reference = store(&db, &Caller::ServiceRole, t.integration, &canary("valid")).await;
    let c = canary("badinput");
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (STORE, vec![c.clone(), credentials(&c)], "22P02"),
        (
            STORE,
            vec![format!("{}x", &integration[..35]), credentials(&c)],
            "22P02",
        ),
        (
            STORE,
            vec![integration.clone(), format!("{{\"k\": {c}}}")],
            "22032",
        ),
        (
            STORE,
            vec![integration.clone(), format!("{{\"k\": \"{c}\"")],
            "22032",
        ),
        (
            STORE,
            vec![integration.clone(), format!("[\"{c}\"]")],
            "2203C",
        ),
        (
            STORE,
            vec![integration.clone(), format!("\"{c}\"")],
            "2203C",
        ),
        (STORE, vec![integration.clone(), "{}".into()], "22023"),
        (
            STORE,
            vec![
                integration.clone(),
                format!("{{\"k\": {{\"n\": \"{c}\"}}}}"),
            ],
            "22023",
        ),
        (
            STORE,
            vec![integration.clone(), format!("{{\"k\": 1, \"s\": \"{c}\"}}")],
            "22023",
        ),
        (
            STORE,
            vec![
                integration.clone(),
                format!("{{\"k\": \"\", \"s\": \"{c}\"}}"),
            ],
            "22023",
        ),
        (
            STORE,
            vec![integration.clone(), format!("{{\"\": \"{c}\"}}")],
            "22023",
        ),
        (
            STORE,
            vec![
                integration.clone(),
                format!("{{\"k\": \"{c}\", \"k\": \"{c}\"}}"),
            ],
            "22030",
        ),
        (
            STORE,
            vec![integration.clone(), format!("{{\"k\": \"{c}\\u0000\"}}")],
            "22P05",
        ),
        (
            STORE,
            vec![
                integration.clone(),
                format!("{{\"k\": \"{c}{}\"}}", "x".repeat(70_000)),
            ],
            "22001",
        ),
        (
            STORE,
            vec![
                integration.clone(),
                serde_json::to_string(
                    &(0..65)
                        .map(|i| (format!("k{i}"), serde_json::Value::from(c.clone())))
                        .collect::<serde_json::Map<_, _>>(),
                )
                .unwrap(),
            ],
            "2203E",
        ),
        (
            ROTATE,
            vec![reference.clone(), format!("{{\"k\": {c}")],
            "22032",
        ),
        (ROTATE, vec![c.clone(), credentials(&c)], "22P02"),
        (RETRIEVE, vec![c.clone()], "22P02"),
        (
            DELETE,
            vec![format!("'; drop table vault.secrets; -- {c}")],
            "22P02",
        ),
        (LIST, vec![c.clone()], "22P02"),
        (
            STORE,
            vec![Uuid::new_v4().to_string(), credentials(&c)],
            "PT404",
        ),
    ];
    for (sql, args, expected) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let result = call(&db, &Caller::ServiceRole, sql, &args).await;
        assert_eq!(
            sqlstate(&result),
            *expected,
            "{sql} case expecting {expected}"
        );
        assert!(!error_text(&result).contains(&c), "{sql} echoed its input");
    }
    let null_result = call(
        &db,
        &Caller::ServiceRole,
        "select public.vault_store_integration_credentials($1, null)",
        &[&integration],
    )
    .await;
    assert_eq!(sqlstate(&null_result), "22004");
    let counts: (i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from vault.secrets), (select count(*) from credential_vault.credentials),
                (select count(*) from credential_vault.audit_log)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(counts, (1, 1, 1), "no bad input wrote anything");
    assert!(
        !server_log().contains(&c),
        "a bad input reached the server log"
    );
}

#[tokio::test]
async fn of_concurrent_rotations_exactly_one_wins_and_nothing_is_orphaned() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let mut reference = store(&db, &Caller::ServiceRole, t.integration, &canary("race")).await;
    let contenders = 8;
    for round in 0..10 {
        let barrier = Arc::new(Barrier::new(contenders));
        let mut tasks = Vec::new();
        for _ in 0..contenders {
            let (pool, barrier, old) = (db.pool.clone(), barrier.clone(), reference.clone());
            tasks.push(tokio::spawn(async move {
                let mut tx = pool.begin().await.unwrap();
                credential_vault_tests::impersonate(&mut tx, &Caller::ServiceRole).await;
                barrier.wait().await;
                let result = sqlx::query_scalar::<_, String>(ROTATE)
                    .bind(&old)
                    .bind(credentials(&canary("race-new")))
                    .fetch_one(&mut *tx)
                    .await;
                // Hold the winner's transaction open until every contender has tried.
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                if result.is_ok() {
                    tx.commit().await.unwrap();
                }
                result
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            let result = task.await.unwrap();
            match sqlstate(&result).as_str() {
                "ok" => winners.push(result.unwrap()),
                "PT409" | "PT404" => {}
                other => panic!("round {round}: unexpected SQLSTATE {other}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one rotation wins");
        reference = winners.pop().unwrap();
    }
    let (secrets, rows, linked): (i64, i64, Option<Uuid>) = sqlx::query_as(
        "select (select count(*) from vault.secrets), (select count(*) from credential_vault.credentials),
                (select credential_vault_id from public.organization_integrations where id = $1)",
    )
    .bind(t.integration)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((secrets, rows), (1, 1), "no orphaned secret");
    assert_eq!(linked.map(|u| u.to_string()), Some(reference));
    let rotations: i64 = sqlx::query_scalar(
        "select count(*) from credential_vault.audit_log where action = 'rotate'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(rotations, 10);
}

#[tokio::test]
async fn a_secret_changed_around_the_extension_is_refused_without_echo() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let reference = store(&db, &Caller::ServiceRole, t.integration, &canary("corrupt")).await;
    let garbage = canary("garbage");
    sqlx::query("select vault.update_secret($1::uuid, $2)")
        .bind(&reference)
        .bind(format!("not json {garbage}"))
        .execute(&db.pool)
        .await
        .unwrap();
    let result = call(&db, &Caller::ServiceRole, RETRIEVE, &[&reference]).await;
    assert_eq!(sqlstate(&result), "XX001");
    assert!(!error_text(&result).contains(&garbage));
}

#[tokio::test]
async fn only_ciphertext_reaches_the_table_and_the_server_log_stays_clean() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let secret = canary("disk");
    let reference = store(&db, &Caller::ServiceRole, t.integration, &secret).await;
    let (stored, nonce_count): (String, i64) = sqlx::query_as(
        "select secret, (select count(distinct nonce) from vault.secrets) from vault.secrets where id = $1::uuid",
    )
    .bind(&reference)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(!stored.contains(&secret));
    assert_eq!(nonce_count, 1);

    // The same search finds a secret that went through Vault's create_secret with a NULL
    // description (hazard 2), so a clean log below is evidence, not luck.
    let control = canary("control");
    let hazard = sqlx::query("select vault.create_secret($1, null, null)")
        .bind(&control)
        .execute(&db.pool)
        .await;
    assert_eq!(sqlstate(&hazard), "23502");
    assert!(
        error_text(&hazard).contains(&control),
        "the stand-in reproduces hazard 2"
    );
    assert!(
        server_log().contains(&control),
        "the log search can find a canary"
    );
    assert!(
        !server_log().contains(&secret),
        "the stored secret reached the server log"
    );
}

#[tokio::test]
async fn errors_raised_inside_the_extension_carry_no_rust_internals() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    store(&db, &Caller::ServiceRole, t.integration, &canary("first")).await;
    // The application's trigger refuses a second reference; the error passes through the
    // extension's Rust code on its way out.
    let second = call(
        &db,
        &Caller::ServiceRole,
        STORE,
        &[&t.integration.to_string(), &credentials(&canary("second"))],
    )
    .await;
    assert_eq!(sqlstate(&second), "23505");
    let text = error_text(&second);
    assert!(
        text.contains("integration already has credentials"),
        "{text}"
    );
    assert!(
        !text.contains("backtrace") && !text.contains(".rs:"),
        "a Rust backtrace reached the client: {text}"
    );
}
