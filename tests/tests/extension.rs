//! The extension's SQL API through the harness: every function, validation rule and role, the
//! tenant boundary, and canaries searched for in every error and in the server log (concurrent
//! rotation is in concurrency.rs, the full bad-input corpus in bad_input.rs). Run with
//! `tests/harness/with-cluster -- cargo test -p credential-vault-tests`.

use credential_vault_contract::Error;
use credential_vault_tests::api::{DELETE, LIST, RETRIEVE, ROTATE, STORE};
use credential_vault_tests::{
    Caller, RowCounts, Tenants, TestDatabase, audit_actions, call_as, canary, create_integration,
    credentials_json, error_text, impersonate, integration_state, read_audit_roles, server_log,
    sqlstate,
};
use uuid::Uuid;

/// Runs `sql` as `caller` with text arguments, as the API gateway does; returns the first column of
/// every row.
async fn call(
    db: &TestDatabase,
    caller: &Caller,
    sql: &str,
    args: &[&str],
) -> Result<Vec<String>, sqlx::Error> {
    let mut connection = db.pool.acquire().await.expect("acquire a connection");
    call_as(&mut connection, caller, sql, args).await
}

async fn store(db: &TestDatabase, caller: &Caller, integration: Uuid, secret: &str) -> String {
    let rows = call(
        db,
        caller,
        STORE,
        &[&integration.to_string(), &credentials_json(secret)],
    )
    .await
    .expect("store");
    rows[0].clone()
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
    let value: serde_json::Value = serde_json::from_str(&retrieved[0]).unwrap();
    assert_eq!(
        value,
        serde_json::from_str::<serde_json::Value>(&credentials_json(&secret)).unwrap()
    );

    let rotated_secret = canary("rotated");
    let rotated: String = call(
        &db,
        &Caller::ServiceRole,
        ROTATE,
        &[&reference, &credentials_json(&rotated_secret)],
    )
    .await
    .unwrap()[0]
        .clone();
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
    assert_eq!(listed, vec![rotated.clone()]);

    call(&db, &Caller::ServiceRole, DELETE, &[&rotated])
        .await
        .unwrap();
    assert_eq!(
        integration_state(&db.pool, tenants.integration).await,
        (0, 0, 3, None),
        "nothing left behind but the audit"
    );
    assert_eq!(
        read_audit_roles(reference.parse().unwrap()),
        ["service_role"]
    );

    let actions = audit_actions(&db.pool).await;
    assert_eq!(
        actions,
        [
            "store:service_role",
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
    let body = credentials_json(&canary("matrix-new"));

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
        .clone();
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
    let body = credentials_json(&canary("tenant-new"));
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
        (STORE, vec![c.clone(), credentials_json(&c)], "22P02"),
        (
            STORE,
            vec![format!("{}x", &integration[..35]), credentials_json(&c)],
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
        (ROTATE, vec![c.clone(), credentials_json(&c)], "22P02"),
        (RETRIEVE, vec![c.clone()], "22P02"),
        (
            DELETE,
            vec![format!("'; drop table vault.secrets; -- {c}")],
            "22P02",
        ),
        (LIST, vec![c.clone()], "22P02"),
        (
            STORE,
            vec![Uuid::new_v4().to_string(), credentials_json(&c)],
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
    let counts = RowCounts::of(&db.pool).await;
    assert_eq!(
        (counts.vault_secrets, counts.credentials, counts.audit_log),
        (1, 1, 1),
        "no bad input wrote anything"
    );
    assert!(
        !server_log().contains(&c),
        "a bad input reached the server log"
    );
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
        &[
            &t.integration.to_string(),
            &credentials_json(&canary("second")),
        ],
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

#[tokio::test]
async fn a_read_is_audited_in_the_server_log_through_a_rollback_and_stays_a_read() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let secret = canary("read-audit");
    let reference = store(&db, &Caller::ServiceRole, t.integration, &secret).await;
    let rows_before = RowCounts::of(&db.pool).await;

    let mut tx = db.begin_as(&Caller::ServiceRole).await;
    let read: String = sqlx::query_scalar(RETRIEVE)
        .bind(&reference)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert!(read.contains(&secret));
    let xid: Option<String> = sqlx::query_scalar("select pg_current_xact_id_if_assigned()::text")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(xid, None, "a read assigns no transaction id");
    tx.rollback().await.unwrap();

    assert_eq!(
        RowCounts::of(&db.pool).await,
        rows_before,
        "a read writes no row"
    );
    assert_eq!(
        read_audit_roles(reference.parse().unwrap()),
        ["service_role"],
        "the record of the read survives the reader's rollback"
    );
    let log = server_log();
    let record = log
        .lines()
        .find(|line| {
            line.contains("credential_vault audit: action=retrieve") && line.contains(&reference)
        })
        .unwrap();
    assert!(
        record.contains(&format!("integration_id={}", t.integration))
            && record.contains("uid=none"),
        "the record names the integration and auth.uid(): {record}"
    );
    assert!(!log.contains(&secret), "no value reaches the server log");
}

#[tokio::test]
async fn writes_in_a_read_only_transaction_are_refused_with_25006() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let reference = store(
        &db,
        &Caller::ServiceRole,
        t.integration,
        &canary("read-only"),
    )
    .await;
    let body = credentials_json(&canary("read-only-new"));
    let integration = t.integration.to_string();
    for (sql, args) in [
        (STORE, vec![integration.as_str(), body.as_str()]),
        (ROTATE, vec![reference.as_str(), body.as_str()]),
        (DELETE, vec![reference.as_str()]),
    ] {
        let mut tx = db.pool.begin().await.unwrap();
        sqlx::query("set transaction read only")
            .execute(&mut *tx)
            .await
            .unwrap();
        impersonate(&mut tx, &Caller::ServiceRole)
            .await
            .expect("switch to service_role");
        let result = args
            .iter()
            .fold(sqlx::query(sql), |query, arg| query.bind(*arg))
            .fetch_all(&mut *tx)
            .await;
        let read_only = Error::ReadOnly;
        assert_eq!(sqlstate(&result), read_only.sqlstate(), "{sql}");
        // Message, code (the DETAIL) and hint, as the catalogue has them.
        let expected = format!(
            "{read_only} {:?} {:?}",
            Some(read_only.code()),
            read_only.hint()
        );
        assert!(
            error_text(&result).starts_with(&expected),
            "{}",
            error_text(&result)
        );
    }
}

#[tokio::test]
async fn a_vault_secret_deleted_around_the_extension_is_not_listed_and_is_repaired() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let reference = store(
        &db,
        &Caller::ServiceRole,
        t.integration,
        &canary("dangling"),
    )
    .await;
    let integration = t.integration.to_string();
    // service_role holds DELETE on vault.secrets on the platform.
    let mut tx = db.begin_as(&Caller::ServiceRole).await;
    sqlx::query("delete from vault.secrets where id = $1::uuid")
        .bind(&reference)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let listed = call(&db, &Caller::ServiceRole, LIST, &[&integration])
        .await
        .unwrap();
    assert!(
        listed.is_empty(),
        "a reference whose secret is gone is not listed"
    );
    let report = "select problem || ' ' || integration_id || ' ' || vault_secret_id || ' ' || repaired \
                  from credential_vault.health_report($1)";
    let found: Vec<String> = sqlx::query_scalar(report)
        .bind(false)
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        found,
        [format!(
            "vault secret missing {integration} {reference} false"
        )]
    );
    let links = "select problem || ' ' || integration_id from private.credential_link_report()";
    let app_found: Vec<String> = sqlx::query_scalar(links).fetch_all(&db.pool).await.unwrap();
    assert!(
        app_found.is_empty(),
        "the link still names a credentials row: {app_found:?}"
    );

    let repaired: Vec<String> = sqlx::query_scalar(report)
        .bind(true)
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        repaired,
        [format!(
            "vault secret missing {integration} {reference} true"
        )]
    );
    assert_eq!(
        integration_state(&db.pool, t.integration).await,
        (0, 0, 2, None),
        "the reference and the app's link are gone, the repair audited"
    );
    assert_eq!(
        audit_actions(&db.pool).await.last().map(String::as_str),
        Some("repair:supabase_admin")
    );
    let again: Vec<String> = sqlx::query_scalar(report)
        .bind(false)
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert!(again.is_empty());
}

#[tokio::test]
async fn a_new_registration_reaches_a_backend_that_kept_the_old_one() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let integration = t.integration.to_string();
    // One backend throughout, so that what it keeps of the registrations is what is tested.
    let mut kept = db.pool.acquire().await.unwrap();
    assert_eq!(
        sqlstate(&call_as(&mut kept, &t.admin, LIST, &[&integration]).await),
        "ok"
    );
    sqlx::raw_sql(
        "create function public.deny_every_user(uuid) returns boolean language sql as 'select false';
         select credential_vault.set_authorizer('public.deny_every_user(uuid)');",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        sqlstate(&call_as(&mut kept, &t.admin, LIST, &[&integration]).await),
        "PT404",
        "the new authorizer decides"
    );

    let body = credentials_json(&canary("hook"));
    let first = create_integration(&db.pool).await.to_string();
    assert_eq!(
        sqlstate(&call_as(&mut kept, &Caller::ServiceRole, STORE, &[&first, &body]).await),
        "ok"
    );
    // An SQL function whose last statement is not a SELECT returns void as NULL.
    sqlx::raw_sql(
        "create table public.link_notes (integration_id uuid, vault_secret_id uuid, linked boolean);
         create function public.note_link(uuid, uuid, boolean) returns void language sql
           as 'insert into public.link_notes values ($1, $2, $3)';
         select credential_vault.set_link_hook('public.note_link(uuid, uuid, boolean)');",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let second = create_integration(&db.pool).await;
    let stored = call_as(
        &mut kept,
        &Caller::ServiceRole,
        STORE,
        &[&second.to_string(), &body],
    )
    .await;
    assert_eq!(sqlstate(&stored), "ok", "the new hook is called");
    let notes: Vec<(Uuid, bool)> =
        sqlx::query_as("select integration_id, linked from public.link_notes")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        notes,
        vec![(second, true)],
        "by the backend that kept the old one"
    );

    sqlx::raw_sql("drop function public.note_link(uuid, uuid, boolean)")
        .execute(&db.pool)
        .await
        .unwrap();
    let third = create_integration(&db.pool).await.to_string();
    assert_eq!(
        sqlstate(&call_as(&mut kept, &Caller::ServiceRole, STORE, &[&third, &body]).await),
        "55000",
        "a dropped hook is refused, not called"
    );
}
