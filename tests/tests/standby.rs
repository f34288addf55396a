//! Read replicas, owned here: a streaming hot standby of the harness's primary, as Supabase's
//! read replicas are. Retrieve and list work there under the same role and tenant rules (a
//! sample of each kind of caller; the whole matrix is supabase/tests/03's), each read is audited
//! in the standby's own server log, the versions and the rotation report read there too, and
//! store, rotate, delete, restore and destroy fail with 25006.
//!
//! Needs the standby, so it is ignored by default; run it with
//! `scripts/harness/with-cluster --standby -- cargo test -p credential-vault-tests --test standby -- --ignored`

use std::time::{Duration, Instant};

use credential_vault_tests::api::{
    DELETE, DESTROY, LIST, RESTORE, RETRIEVE, ROTATE, STORE, VERSIONS,
};
use credential_vault_tests::{
    Caller, Tenants, TestDatabase, call_as, canary, credentials_json, read_audit_roles_in,
    report_figure, sqlstate, standby_log, standby_options,
};
use sqlx::{Connection, PgConnection};

/// Waits until the standby has replayed everything the primary has written so far.
async fn wait_for_replay(db: &TestDatabase, standby: &mut PgConnection) {
    let written: String = sqlx::query_scalar("select pg_current_wal_lsn()::text")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let replayed: bool =
            sqlx::query_scalar("select pg_last_wal_replay_lsn() >= $1::text::pg_lsn")
                .bind(&written)
                .fetch_one(&mut *standby)
                .await
                .unwrap();
        if replayed {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the standby did not catch up in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
#[ignore = "needs the hot standby of scripts/harness/with-cluster --standby"]
async fn a_standby_serves_reads_under_the_same_rules_and_refuses_writes() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let secret = canary("standby");
    let reference = db.store(t.integration, &credentials_json(&secret)).await;
    let integration = t.integration.to_string();

    // The test's database itself is new: wait for it from the standby's `postgres` database.
    let mut standby_postgres = PgConnection::connect_with(&standby_options("postgres"))
        .await
        .expect("connect to the standby");
    wait_for_replay(&db, &mut standby_postgres).await;
    let mut standby = PgConnection::connect_with(&standby_options(&db.name))
        .await
        .expect("connect to the standby's copy of the test database");
    let in_recovery: bool = sqlx::query_scalar("select pg_is_in_recovery()")
        .fetch_one(&mut standby)
        .await
        .unwrap();
    assert!(in_recovery, "the connection reaches the standby");

    // Reads, for each caller, exactly as on the primary.
    let read = call_as(&mut standby, &Caller::ServiceRole, RETRIEVE, &[&reference])
        .await
        .expect("service_role retrieves on the standby");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&read[0]).unwrap(),
        serde_json::from_str::<serde_json::Value>(&credentials_json(&secret)).unwrap()
    );
    let mut answers = Vec::new();
    for (who, caller, sql, arg, expected) in [
        (
            "service_role list",
            &Caller::ServiceRole,
            LIST,
            &integration,
            "ok",
        ),
        ("admin list", &t.admin, LIST, &integration, "ok"),
        ("admin retrieve", &t.admin, RETRIEVE, &reference, "42501"),
        (
            "other admin list",
            &t.other_admin,
            LIST,
            &integration,
            "PT404",
        ),
        ("member list", &t.member, LIST, &integration, "PT404"),
        ("anon list", &Caller::Anon, LIST, &integration, "42501"),
    ] {
        let result = call_as(&mut standby, caller, sql, &[arg.as_str()]).await;
        assert_eq!(sqlstate(&result), expected, "{who} on the standby");
        if let Ok(rows) = result {
            assert_eq!(
                rows,
                std::slice::from_ref(&reference),
                "{who} on the standby"
            );
        }
        answers.push(expected);
    }

    // The versions and the rotation report are reads too.
    let versions = call_as(&mut standby, &t.admin, VERSIONS, &[integration.as_str()]).await;
    assert_eq!(
        versions.unwrap(),
        [format!("{reference} current")],
        "admin versions on the standby"
    );
    answers.push("ok");
    let due: i64 = sqlx::query_scalar("select count(*) from credential_vault.rotation_report('0')")
        .fetch_one(&mut standby)
        .await
        .expect("the rotation report on the standby");
    assert_eq!(due, 1, "the one current credential is older than 0");
    answers.push("ok");

    // Writes are refused with the documented SQLSTATE, whoever asks.
    let body = credentials_json(&canary("standby-write"));
    for (who, caller, sql, args) in [
        (
            "service_role store",
            &Caller::ServiceRole,
            STORE,
            vec![integration.as_str(), body.as_str()],
        ),
        (
            "admin store",
            &t.admin,
            STORE,
            vec![integration.as_str(), body.as_str()],
        ),
        (
            "service_role rotate",
            &Caller::ServiceRole,
            ROTATE,
            vec![reference.as_str(), body.as_str()],
        ),
        (
            "service_role delete",
            &Caller::ServiceRole,
            DELETE,
            vec![reference.as_str()],
        ),
        (
            "service_role restore",
            &Caller::ServiceRole,
            RESTORE,
            vec![reference.as_str()],
        ),
        (
            "service_role destroy",
            &Caller::ServiceRole,
            DESTROY,
            vec![reference.as_str()],
        ),
    ] {
        let result = call_as(&mut standby, caller, sql, &args).await;
        assert_eq!(sqlstate(&result), "25006", "{who} on the standby");
        answers.push("25006");
    }

    // So are the administration functions' writes, for the superuser too.
    for admin in [
        "select credential_vault.purge_expired()::text",
        "select count(*)::text from credential_vault.revoke_integration_credentials(array[$1::uuid])",
        "select credential_vault.set_recovery_window('1 day')::text",
        "select credential_vault.set_max_kept_versions(5)::text",
        "select credential_vault.delete_integration_credentials($1::uuid)::text",
        "select credential_vault.purge_integration($1::uuid)::text",
    ] {
        let query = sqlx::query_scalar::<_, String>(admin);
        let query = if admin.contains("$1") {
            query.bind(&integration)
        } else {
            query
        };
        let result = query.fetch_one(&mut standby).await;
        assert_eq!(sqlstate(&result), "25006", "{admin} on the standby");
        answers.push("25006");
    }

    let log = standby_log();
    assert_eq!(
        read_audit_roles_in(&log, reference.parse().unwrap()),
        ["service_role"],
        "the standby's own log records the read"
    );
    assert!(!log.contains(&secret), "no value reaches the standby's log");
    report_figure(&format!(
        "standby: 1 retrieve and {} other calls answered {answers:?}, the read audited in its log",
        answers.len()
    ));
}
