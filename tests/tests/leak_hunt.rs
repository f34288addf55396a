//! The leak hunt, owner of "no plaintext in a log, on disk or in an error": the whole store /
//! retrieve / rotate / delete workload, error paths included, on a cluster that logs every
//! statement, explains nested statements and keeps pg_stat_statements, then a search for every
//! canary in the server log, every WAL segment, the raw pages of every relation after a
//! checkpoint, pg_stat_statements and every error the client received. Run by scripts/test as
//! `scripts/harness/with-cluster --hostile-logging -- cargo test -p credential-vault-tests --test leak_hunt -- --ignored`.

use std::path::Path;

use credential_vault_tests::api::{DELETE, RETRIEVE, ROTATE, STORE};
use credential_vault_tests::{
    Caller, Tenants, TestDatabase, canary, credentials_json, report_figure, server_log,
};

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Every place on disk and in the server's views where a credential must never appear; returns
/// the names of the places where `needle` was found.
async fn places_holding(db: &TestDatabase, needle: &str) -> Vec<String> {
    let pgdata = std::path::PathBuf::from(std::env::var("CV_PGDATA").unwrap());
    let mut found = Vec::new();
    if server_log().contains(needle) {
        found.push("server log".to_string());
    }
    for file in files_under(&pgdata.join("pg_wal"))
        .into_iter()
        .chain(files_under(&pgdata.join("base")))
    {
        let bytes = std::fs::read(&file).unwrap_or_default();
        if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            found.push(file.display().to_string());
        }
    }
    let in_statements: bool = sqlx::query_scalar(
        "select exists (select 1 from pg_stat_statements where strpos(query, $1) > 0)",
    )
    .bind(needle)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    if in_statements {
        found.push("pg_stat_statements".to_string());
    }
    found
}

#[tokio::test]
#[ignore = "needs the hostile-logging cluster: scripts/harness/with-cluster --hostile-logging"]
async fn no_canary_reaches_a_log_the_wal_a_page_or_an_error() {
    let db = TestDatabase::new().await;
    sqlx::raw_sql("create extension if not exists pg_stat_statements")
        .execute(&db.pool)
        .await
        .unwrap();
    let t = Tenants::create(&db.pool).await;

    let mut canaries = Vec::new();
    let mut errors = Vec::new();
    let mut next = |label: &str| {
        let c = canary(label);
        canaries.push(c.clone());
        c
    };
    let (s1, s2, s3) = (next("store"), next("rotate"), next("admin-rotate"));
    let bad = [next("bad-json"), next("bad-id"), next("bad-value")];
    let (service, admin) = (&Caller::ServiceRole, &t.admin);
    let integration = t.integration.to_string();
    let reference = db.store(t.integration, &credentials_json(&s1)).await;
    db.call(service, RETRIEVE, &[&reference]).await.unwrap();
    let rotated = db
        .call(service, ROTATE, &[&reference, &credentials_json(&s2)])
        .await
        .unwrap()
        .remove(0);
    let rotated = db
        .call(admin, ROTATE, &[&rotated, &credentials_json(&s3)])
        .await
        .unwrap()
        .remove(0);

    let (bad_json, bad_id, bad_value) = (
        format!("{{\"k\": {}", bad[0]),
        credentials_json(&bad[1]),
        format!("{{\"k\": [\"{}\"]}}", bad[2]),
    );
    for (sql, args) in [
        (STORE, [integration.as_str(), bad_json.as_str()].as_slice()),
        (STORE, &[bad[1].as_str(), bad_id.as_str()]),
        (ROTATE, &[rotated.as_str(), bad_value.as_str()]),
        (RETRIEVE, &[bad[1].as_str()]),
    ] {
        for caller in [service, admin, &Caller::Anon] {
            let error = db
                .call(caller, sql, args)
                .await
                .expect_err("every call here is refused");
            errors.push(format!("{error:?} {error}"));
        }
    }
    db.call(service, DELETE, &[&rotated]).await.unwrap();

    // The control: Vault's own create_secret writes its plaintext to the WAL and the heap.
    let control = canary("create-secret-control");
    sqlx::query("select vault.create_secret($1)")
        .bind(&control)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::raw_sql("checkpoint").execute(&db.pool).await.unwrap();

    let control_places = places_holding(&db, &control).await;
    assert!(
        control_places.iter().any(|p| p.contains("pg_wal")),
        "the search finds Vault's create_secret plaintext in the WAL: {control_places:?}"
    );
    for c in &canaries {
        let places = places_holding(&db, c).await;
        assert!(places.is_empty(), "{c} found in {places:?}");
        assert!(
            !errors.iter().any(|e| e.contains(c.as_str())),
            "{c} echoed in an error"
        );
    }
    let posture: Vec<String> = sqlx::query_scalar(
        "select setting from credential_vault.logging_posture() where at_risk order by 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(
        posture.contains(&"log_statement".to_string())
            && posture.contains(&"auto_explain".to_string()),
        "{posture:?}"
    );
    report_figure(&format!(
        "leak hunt: {} canaries, {} errors checked, 0 hits; control found in {} places",
        canaries.len(),
        errors.len(),
        control_places.len()
    ));
}
