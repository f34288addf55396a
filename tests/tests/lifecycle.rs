//! The credential lifecycle on a database with the app's migrations: kept versions and the
//! recovery window, restore, destroy, the purge of expired versions, the incident revoke with
//! whom to notify, and rotation due dates. This suite owns them; the role matrix of the first
//! five functions is README's and readme.rs's.
//! Run with `scripts/harness/with-cluster -- cargo test -p credential-vault-tests --test lifecycle`.

use credential_vault_contract::Error;
use credential_vault_tests::api::{
    DELETE, DESTROY, LIST, RESTORE, RETRIEVE, ROTATE, STORE, STORE_EXPIRING, VERSIONS,
};
use credential_vault_tests::{
    Caller, RowCounts, Tenants, TestDatabase, audit_actions, canary, credential_link,
    credentials_json, error_text, sqlstate,
};
use uuid::Uuid;

/// Credentials stored for the tenants' integration and rotated once, as service_role: the first
/// reference (now a kept version) and the second (current).
async fn stored_and_rotated(db: &TestDatabase, t: &Tenants) -> (String, String) {
    let first = db
        .store(t.integration, &credentials_json(&canary("a")))
        .await;
    let second = db
        .call(
            &Caller::ServiceRole,
            ROTATE,
            &[&first, &credentials_json(&canary("b"))],
        )
        .await
        .unwrap()
        .remove(0);
    (first, second)
}

#[tokio::test]
async fn a_rotated_away_secret_is_kept_restorable_and_the_link_follows_the_restore() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let integration = t.integration.to_string();
    let first_body = credentials_json(&canary("first"));
    let first = db
        .call(&t.admin, STORE, &[&integration, &first_body])
        .await
        .unwrap()[0]
        .clone();
    let second = db
        .call(
            &t.admin,
            ROTATE,
            &[&first, &credentials_json(&canary("second"))],
        )
        .await
        .unwrap()[0]
        .clone();

    // The old one is kept: not retrieved, not listed, shown as a previous version.
    assert_eq!(
        sqlstate(&db.call(&Caller::ServiceRole, RETRIEVE, &[&first]).await),
        "PT404"
    );
    assert_eq!(
        db.call(&t.admin, LIST, &[&integration]).await.unwrap(),
        std::slice::from_ref(&second)
    );
    assert_eq!(
        db.call(&t.admin, VERSIONS, &[&integration]).await.unwrap(),
        [format!("{second} current"), format!("{first} previous")]
    );
    let window: String = sqlx::query_scalar(
        "select (destroy_after - replaced_at)::text from credential_vault.credentials
         where vault_secret_id = $1::uuid",
    )
    .bind(&first)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(window, "7 days", "the migrations' recovery window");
    assert_eq!(RowCounts::of(&db.pool).await.vault_secrets, 2);

    // The admin restores the first: it is current again, the second kept, the app's link follows.
    let restored = db.call(&t.admin, RESTORE, &[&first]).await.unwrap();
    assert_eq!(restored, std::slice::from_ref(&first));
    assert_eq!(
        db.call(&t.admin, VERSIONS, &[&integration]).await.unwrap(),
        [format!("{second} previous"), format!("{first} current")]
    );
    assert_eq!(
        credential_link(&db.pool, t.integration).await,
        Some(first.parse().unwrap())
    );
    let read = db
        .call(&Caller::ServiceRole, RETRIEVE, &[&first])
        .await
        .unwrap();
    assert!(read[0].contains(first_body.split('"').nth(3).unwrap()));

    // Deleted is kept too, and comes back.
    db.call(&t.admin, DELETE, &[&first]).await.unwrap();
    assert_eq!(credential_link(&db.pool, t.integration).await, None);
    assert_eq!(
        db.call(&t.admin, LIST, &[&integration])
            .await
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        db.call(&t.admin, RESTORE, &[&first]).await.unwrap(),
        std::slice::from_ref(&first)
    );
    assert_eq!(
        credential_link(&db.pool, t.integration).await,
        Some(first.parse().unwrap())
    );
    assert_eq!(
        audit_actions(&db.pool).await,
        [
            "store:authenticated",
            "rotate:authenticated",
            "restore:authenticated",
            "delete:authenticated",
            "restore:authenticated"
        ]
    );
}

#[tokio::test]
async fn restore_is_refused_as_not_found_for_the_current_the_unknown_the_expired_and_others() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let integration = t.integration.to_string();
    let (first, second) = stored_and_rotated(&db, &t).await;
    let not_found = |result: &Result<Vec<String>, sqlx::Error>, label: &str| {
        assert_eq!(
            sqlstate(result),
            Error::CredentialsNotFound.sqlstate(),
            "{label}"
        );
        assert!(
            error_text(result).starts_with("integration credentials not found"),
            "{label}"
        );
    };
    not_found(
        &db.call(&t.admin, RESTORE, &[&second]).await,
        "the current one",
    );
    not_found(
        &db.call(&t.admin, RESTORE, &[&Uuid::new_v4().to_string()])
            .await,
        "unknown",
    );
    not_found(
        &db.call(&t.other_admin, RESTORE, &[&first]).await,
        "another organization's",
    );
    sqlx::query(
        "update credential_vault.credentials set destroy_after = now() - interval '1 second',
           replaced_at = now() - interval '8 days' where vault_secret_id = $1::uuid",
    )
    .bind(&first)
    .execute(&db.pool)
    .await
    .unwrap();
    not_found(
        &db.call(&t.admin, RESTORE, &[&first]).await,
        "past its window",
    );
    // The control: the admin may restore a kept one within its window.
    db.call(
        &Caller::ServiceRole,
        ROTATE,
        &[&second, &credentials_json(&canary("c"))],
    )
    .await
    .unwrap();
    assert_eq!(
        db.call(&t.admin, RESTORE, &[&second]).await.unwrap(),
        [second]
    );
    assert_eq!(
        db.call(&t.admin, LIST, &[&integration])
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn destroy_and_purge_expired_remove_versions_for_good_and_a_zero_window_keeps_nothing() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let (first, second) = stored_and_rotated(&db, &t).await;
    let denied = db.call(&t.admin, DESTROY, &[&first]).await;
    assert_eq!(sqlstate(&denied), "42501", "destroy is service_role's only");

    // purge_expired destroys the kept versions past their window, and only those.
    sqlx::query(
        "update credential_vault.credentials set destroy_after = now() - interval '1 second'
         where vault_secret_id = $1::uuid",
    )
    .bind(&first)
    .execute(&db.pool)
    .await
    .unwrap();
    let purged: i32 = sqlx::query_scalar("select credential_vault.purge_expired()")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert_eq!(RowCounts::of(&db.pool).await.vault_secrets, 1);

    // destroy: the current one, at once, the link cleared.
    db.call(&Caller::ServiceRole, DESTROY, &[&second])
        .await
        .unwrap();
    assert_eq!(RowCounts::of(&db.pool).await.vault_secrets, 0);
    assert_eq!(credential_link(&db.pool, t.integration).await, None);
    assert_eq!(
        sqlstate(&db.call(&Caller::ServiceRole, RESTORE, &[&second]).await),
        "PT404"
    );

    // A zero window: rotate and delete destroy at once, as before 0.4.0.
    sqlx::raw_sql("select credential_vault.set_recovery_window('0')")
        .execute(&db.pool)
        .await
        .unwrap();
    let third = db
        .store(t.integration, &credentials_json(&canary("c")))
        .await;
    let fourth = db
        .call(
            &Caller::ServiceRole,
            ROTATE,
            &[&third, &credentials_json(&canary("d"))],
        )
        .await
        .unwrap()[0]
        .clone();
    db.call(&Caller::ServiceRole, DELETE, &[&fourth])
        .await
        .unwrap();
    assert_eq!(RowCounts::of(&db.pool).await.vault_secrets, 0);
    assert_eq!(RowCounts::of(&db.pool).await.credentials, 0, "nothing kept");
    let negative = sqlx::query("select credential_vault.set_recovery_window('-1 day')")
        .execute(&db.pool)
        .await;
    assert_eq!(sqlstate(&negative), Error::InvalidRecoveryWindow.sqlstate());
    let actions = audit_actions(&db.pool).await;
    assert!(
        actions.contains(&"expire:supabase_admin".to_owned()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"destroy:service_role".to_owned()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn revoking_an_organization_destroys_every_version_and_names_whom_to_notify() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let more = t.add_integrations(&db.pool, 2).await;
    let first = db
        .store(t.integration, &credentials_json(&canary("a")))
        .await;
    db.call(
        &Caller::ServiceRole,
        ROTATE,
        &[&first, &credentials_json(&canary("b"))],
    )
    .await
    .unwrap();
    db.store(more[0], &credentials_json(&canary("c"))).await;
    let organization: Uuid = sqlx::query_scalar(
        "select organization_id from public.organization_integrations where id = $1",
    )
    .bind(t.integration)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let admin = match &t.admin {
        Caller::Authenticated(admin) => *admin,
        _ => unreachable!(),
    };

    let revoke = "select integration_id::pg_catalog.text || ' ' || versions_destroyed || ' ' \
                  || array_to_string(admins_to_notify, ',') \
                  from public.revoke_organization_credentials($1::uuid)";
    let denied = db
        .call(&t.admin, revoke, &[&organization.to_string()])
        .await;
    assert_eq!(sqlstate(&denied), "42501", "service_role only");
    let mut revoked = db
        .call(&Caller::ServiceRole, revoke, &[&organization.to_string()])
        .await
        .unwrap();
    revoked.sort();
    let mut expected = vec![
        format!("{} 2 {admin}", t.integration),
        format!("{} 1 {admin}", more[0]),
        format!("{} 0 {admin}", more[1]),
    ];
    expected.sort();
    assert_eq!(
        revoked, expected,
        "per integration: versions destroyed, admins to notify"
    );
    assert_eq!(
        RowCounts::of(&db.pool).await.vault_secrets,
        0,
        "kept versions too, no recovery"
    );
    assert_eq!(credential_link(&db.pool, t.integration).await, None);
    assert_eq!(
        sqlstate(&db.call(&Caller::ServiceRole, RESTORE, &[&first]).await),
        "PT404"
    );
    let revokes = audit_actions(&db.pool)
        .await
        .into_iter()
        .filter(|action| action.starts_with("revoke:"))
        .count();
    assert_eq!(revokes, 3);
}

#[tokio::test]
async fn expiry_dates_reach_the_rotation_report_of_the_organizations_admins_only() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let more = t.add_integrations(&db.pool, 2).await;
    let body = credentials_json(&canary("expiring"));
    let soon = db
        .call(
            &t.admin,
            STORE_EXPIRING,
            &[&t.integration.to_string(), &body, "2000-01-01T00:00:00Z"],
        )
        .await
        .unwrap()[0]
        .clone();
    let later = db
        .call(
            &t.admin,
            STORE_EXPIRING,
            &[&more[0].to_string(), &body, "2999-01-01T00:00:00+02:00"],
        )
        .await
        .unwrap()[0]
        .clone();
    let bad = db
        .call(
            &t.admin,
            STORE_EXPIRING,
            &[&more[1].to_string(), &body, "tomorrow"],
        )
        .await;
    assert_eq!(sqlstate(&bad), Error::InvalidExpiresAt.sqlstate());
    assert!(
        !error_text(&bad).contains("tomorrow"),
        "the input is not quoted"
    );
    // An old one: stored 100 days ago, as far as the report can tell.
    let old = db.store(more[1], &body).await;
    sqlx::query("update credential_vault.credentials set created_at = now() - interval '100 days' where vault_secret_id = $1::uuid")
        .bind(&old)
        .execute(&db.pool)
        .await
        .unwrap();

    let organization: String = sqlx::query_scalar(
        "select organization_id::text from public.organization_integrations where id = $1",
    )
    .bind(t.integration)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let report = "select vault_secret_id::pg_catalog.text || ' ' || reason \
                  from public.organization_rotation_report($1::uuid)";
    let mut due = db.call(&t.admin, report, &[&organization]).await.unwrap();
    due.sort();
    let mut expected = vec![
        format!("{soon} expired"),
        format!("{old} older than 90 days"),
    ];
    expected.sort();
    assert_eq!(due, expected, "not {later}, which expires in 2999");
    assert!(
        db.call(&t.other_admin, report, &[&organization])
            .await
            .unwrap()
            .is_empty(),
        "another organization's admin sees nothing"
    );
}
