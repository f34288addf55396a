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
    credentials_json, error_text, orphans, report_figure, sqlstate,
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
    let purged = expire_and_purge(&db, &first).await;
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
    let organization = t.organization;
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

    let organization = t.organization.to_string();
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

/// The tenants' integration deleted by its organization's admin, through row level security as
/// a PostgREST DELETE runs.
async fn delete_as_the_admin(db: &TestDatabase, t: &Tenants) {
    let deleted = db
        .call(
            &t.admin,
            "delete from public.organization_integrations where id = $1::uuid \
             returning id::pg_catalog.text",
            &[&t.integration.to_string()],
        )
        .await
        .unwrap();
    assert_eq!(deleted.len(), 1, "the admin deletes the integration");
}

/// The state and whether a Vault secret remains, of every version of `integration`, oldest first.
async fn versions_of(db: &TestDatabase, integration: Uuid) -> Vec<String> {
    sqlx::query_scalar(
        "select c.vault_secret_id::text || ' ' || c.state
                || case when c.destroy_after > now() + interval '6 days' then ' kept' else '' end
         from credential_vault.credentials c
         join vault.secrets s on s.id = c.vault_secret_id
         where c.integration_id = $1 order by c.created_at, c.vault_secret_id",
    )
    .bind(integration)
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

/// One PostgREST DELETE of an integration (or of its organization) by an admin no longer
/// destroys what the window keeps: its credentials become kept deleted versions, audited, and
/// the service role brings them back by re-creating the integration with the same id.
#[tokio::test]
async fn deleting_an_integration_keeps_its_credentials_for_the_window_and_service_role_recovers_them()
 {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let (first, second) = stored_and_rotated(&db, &t).await;
    delete_as_the_admin(&db, &t).await;
    assert_eq!(
        versions_of(&db, t.integration).await,
        [
            format!("{first} previous kept"),
            format!("{second} deleted kept")
        ],
        "both versions are kept for the window, with their Vault secrets"
    );
    assert_eq!(
        audit_actions(&db.pool).await.last().map(String::as_str),
        Some("delete:authenticated"),
        "the deletion is audited, as the admin's"
    );
    // The admin cannot get them back (the integration is gone, and ids are not theirs to pick).
    assert_eq!(
        sqlstate(&db.call(&t.admin, RESTORE, &[&second]).await),
        "PT404"
    );
    // The service role re-creates the integration with its id and restores.
    sqlx::query(
        "insert into public.organization_integrations (id, organization_id, provider, display_name)
         select $1, organization_id, 'crm', 'Acme CRM' from public.organization_integrations
         where id = $2",
    )
    .bind(t.integration)
    .bind(t.add_integrations(&db.pool, 1).await[0])
    .execute(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        db.call(&Caller::ServiceRole, RESTORE, &[&second])
            .await
            .unwrap(),
        std::slice::from_ref(&second)
    );
    assert_eq!(
        credential_link(&db.pool, t.integration).await,
        Some(second.parse().unwrap())
    );
    assert_eq!(
        sqlstate(&db.call(&Caller::ServiceRole, RETRIEVE, &[&second]).await),
        "ok"
    );

    // An organization's deletion cascades to the same.
    let organization = t.organization;
    sqlx::query("delete from public.organizations where id = $1")
        .bind(organization)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        versions_of(&db, t.integration).await,
        [
            format!("{first} previous kept"),
            format!("{second} deleted kept")
        ]
    );
}

/// A deleted integration's credentials, kept for the window, are still its organization's and
/// its provider's: the revokes destroy and report them, also once the organization itself is
/// deleted.
#[tokio::test]
async fn the_revokes_reach_the_credentials_kept_from_deleted_integrations() {
    const REVOKE_ORGANIZATION: &str = "select integration_id::pg_catalog.text || ' ' \
         || versions_destroyed from public.revoke_organization_credentials($1::uuid)";
    const REVOKE_PROVIDER: &str = "select integration_id::pg_catalog.text || ' ' \
         || versions_destroyed from public.revoke_provider_credentials($1)";
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    stored_and_rotated(&db, &t).await;
    let organization = t.organization.to_string();
    delete_as_the_admin(&db, &t).await;
    assert_eq!(versions_of(&db, t.integration).await.len(), 2, "kept");
    let revoked = db
        .call(&Caller::ServiceRole, REVOKE_ORGANIZATION, &[&organization])
        .await
        .unwrap();
    assert_eq!(revoked, [format!("{} 2", t.integration)]);
    assert!(versions_of(&db, t.integration).await.is_empty());

    let other = Tenants::create(&db.pool).await;
    db.store(other.integration, &credentials_json(&canary("other")))
        .await;
    sqlx::query(
        "delete from public.organizations where id = \
           (select organization_id from public.organization_integrations where id = $1)",
    )
    .bind(other.integration)
    .execute(&db.pool)
    .await
    .unwrap();
    let revoked = db
        .call(&Caller::ServiceRole, REVOKE_PROVIDER, &["crm"])
        .await
        .unwrap();
    assert!(
        revoked.contains(&format!("{} 1", other.integration)),
        "{revoked:?}"
    );
    assert!(versions_of(&db, other.integration).await.is_empty());
    assert_eq!(orphans(&db.pool).await, 0);
}

/// The window is a duration of 0 to 365 days: months and years are refused (a month is 28 to 31
/// days on the calendar), so is anything longer or negative, each with its own code; NULL too.
/// Every change is audited with the old value, the new one and the role.
#[tokio::test]
async fn the_recovery_window_is_a_bounded_duration_and_every_change_is_audited() {
    let db = TestDatabase::new().await;
    for (window, expected) in [
        ("1 mon -29 days", Error::RecoveryWindowInMonths),
        ("1 year", Error::RecoveryWindowInMonths),
        ("300000 years", Error::RecoveryWindowTooLong),
        ("366 days", Error::RecoveryWindowTooLong),
        ("1 day -25 hours", Error::InvalidRecoveryWindow),
    ] {
        let result = sqlx::query("select credential_vault.set_recovery_window($1::interval)")
            .bind(window)
            .execute(&db.pool)
            .await;
        assert_eq!(
            (
                sqlstate(&result),
                error_text(&result).contains(expected.code())
            ),
            (expected.sqlstate().to_owned(), true),
            "{window}: {}",
            error_text(&result)
        );
    }
    let null = sqlx::query("select credential_vault.set_recovery_window(null)")
        .execute(&db.pool)
        .await;
    assert_eq!(sqlstate(&null), "22004");
    sqlx::raw_sql(
        "set role postgres; select credential_vault.set_recovery_window('30 days'); reset role;
         select credential_vault.set_recovery_window('365 days')",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let changes: Vec<String> = sqlx::query_scalar(
        "select concat_ws(' ', setting, coalesce(old_value, 'default'), new_value, actor_role)
         from credential_vault.settings_audit order by id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        changes,
        [
            "recovery_window default 7 days postgres",
            "recovery_window 7 days 30 days postgres",
            "recovery_window 30 days 365 days supabase_admin"
        ],
        "the app's migration set 7 days, as postgres"
    );
}

/// Beyond the bound on kept versions, the oldest kept ones are destroyed and audited as expire;
/// the current one never.
#[tokio::test]
async fn kept_versions_are_bounded_and_the_oldest_go_first() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    for bad in ["0", "1001"] {
        let result = sqlx::query("select credential_vault.set_max_kept_versions($1::integer)")
            .bind(bad)
            .execute(&db.pool)
            .await;
        assert_eq!(sqlstate(&result), "22023", "{bad}");
        assert!(error_text(&result).contains("invalid_max_kept_versions"));
    }
    sqlx::raw_sql("select credential_vault.set_max_kept_versions(3)")
        .execute(&db.pool)
        .await
        .unwrap();
    let mut references = vec![
        db.store(t.integration, &credentials_json(&canary("v0")))
            .await,
    ];
    for n in 1..=6 {
        let current = references.last().unwrap().clone();
        let next = db
            .call(
                &t.admin,
                ROTATE,
                &[&current, &credentials_json(&canary(&format!("v{n}")))],
            )
            .await
            .unwrap()
            .remove(0);
        references.push(next);
    }
    let versions = db
        .call(&t.admin, VERSIONS, &[&t.integration.to_string()])
        .await
        .unwrap();
    assert_eq!(
        versions,
        [
            format!("{} current", references[6]),
            format!("{} previous", references[5]),
            format!("{} previous", references[4]),
            format!("{} previous", references[3]),
        ],
        "three kept, the newest ones"
    );
    let counts = RowCounts::of(&db.pool).await;
    assert_eq!((counts.vault_secrets, counts.credentials), (4, 4));
    let expired: Vec<String> = sqlx::query_scalar(
        "select vault_secret_id::text || ' ' || actor_role from credential_vault.audit_log
         where action = 'expire' order by id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        expired,
        references[..3]
            .iter()
            .map(|r| format!("{r} authenticated"))
            .collect::<Vec<_>>()
    );
    let audited: String = sqlx::query_scalar(
        "select concat_ws(' ', setting, coalesce(old_value, 'default'), new_value)
         from credential_vault.settings_audit where setting = 'max_kept_versions'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(audited, "max_kept_versions default 3");
}

/// purge_expired destroys a version past its window and keeps one inside it; a revoke of one
/// organization leaves another's credentials; orphans() catches a planted orphan.
#[tokio::test]
async fn purge_keeps_what_is_inside_its_window_and_revoke_spares_other_organizations() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let (inside, second) = stored_and_rotated(&db, &t).await;
    // `second` becomes a kept version too, then is pushed past its window; `inside` stays within.
    db.call(
        &Caller::ServiceRole,
        ROTATE,
        &[&second, &credentials_json(&canary("c"))],
    )
    .await
    .unwrap();
    let purged = expire_and_purge(&db, &second).await;
    assert_eq!(purged, 1);
    let left: Vec<String> = sqlx::query_scalar(
        "select vault_secret_id::text from credential_vault.credentials c
         join vault.secrets s on s.id = c.vault_secret_id where c.state <> 'current'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(left, [inside], "only {second} went");

    // Another organization with two integrations' credentials.
    let other = Tenants::create(&db.pool).await;
    let other_more = other.add_integrations(&db.pool, 1).await;
    db.store(other.integration, &credentials_json(&canary("o1")))
        .await;
    db.store(other_more[0], &credentials_json(&canary("o2")))
        .await;
    let organization = t.organization.to_string();
    db.call(
        &Caller::ServiceRole,
        "select count(*)::pg_catalog.text from public.revoke_organization_credentials($1::uuid)",
        &[&organization],
    )
    .await
    .unwrap();
    let counts: (i64, i64) = sqlx::query_as(
        "select count(*) filter (where integration_id = any($1)),
                count(*) filter (where integration_id = $2)
         from credential_vault.credentials c join vault.secrets s on s.id = c.vault_secret_id",
    )
    .bind([other.integration, other_more[0]])
    .bind(t.integration)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(counts, (2, 0), "the other organization keeps both");

    // The orphan check used everywhere catches one when there is one.
    assert_eq!(orphans(&db.pool).await, 0);
    sqlx::raw_sql("select vault.create_secret('planted orphan')")
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(orphans(&db.pool).await, 1, "the planted orphan is caught");
}

/// The reports' intervals are checked; the organization's report reads only its own credentials
/// (counted in pg_stat_xact_user_tables) however many another tenant has.
#[tokio::test]
async fn reports_check_their_intervals_and_read_only_the_organizations_credentials() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    db.store(t.integration, &credentials_json(&canary("due")))
        .await;
    for (sql, expected) in [
        (
            "select count(*) from credential_vault.rotation_report(null)",
            "22004",
        ),
        (
            "select count(*) from credential_vault.rotation_report('-1 day')",
            "22023",
        ),
        (
            "select count(*) from credential_vault.rotation_report('90 days', '-1 day')",
            "22023",
        ),
        (
            "select count(*) from credential_vault.rotation_report('300000 years')",
            "22023",
        ),
    ] {
        let result = sqlx::query(sql).execute(&db.pool).await;
        assert_eq!(sqlstate(&result), expected, "{sql}");
    }
    let organization = t.organization.to_string();
    let negative = db
        .call(
            &t.admin,
            "select reason from public.organization_rotation_report($1::uuid, '-1 day')",
            &[&organization],
        )
        .await;
    assert_eq!(
        sqlstate(&negative),
        "22023",
        "the organization's report too"
    );

    // A large other tenant: 20,000 current credentials of its own, all due.
    sqlx::raw_sql(
        "insert into credential_vault.credentials (vault_secret_id, integration_id, created_at)
         select gen_random_uuid(), gen_random_uuid(), now() - interval '100 days'
         from generate_series(1, 20000);
         analyze credential_vault.credentials",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let tuples_read = "select coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)
                       from pg_stat_xact_user_tables
                       where relid = 'credential_vault.credentials'::regclass";
    let mut read = Vec::new();
    for caller in [&t.admin, &t.other_admin] {
        let mut tx = db.begin_as(caller).await;
        let before: i64 = sqlx::query_scalar(tuples_read)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        let rows: Vec<String> = sqlx::query_scalar(
            "select reason from public.organization_rotation_report($1::uuid, '0')",
        )
        .bind(&organization)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        let after: i64 = sqlx::query_scalar(tuples_read)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        read.push((rows.len(), after - before));
    }
    report_figure(&format!(
        "rotation report: with 20000 credentials of another tenant, the admin's report read {} credentials rows, another organization's admin's {}",
        read[0].1, read[1].1
    ));
    assert_eq!(
        read[0].0, 1,
        "the admin sees the organization's one credential"
    );
    assert!(read[0].1 <= 2, "the report read {} rows", read[0].1);
    assert_eq!(read[1], (0, 0), "a non-admin: no rows, nothing read");
}

/// An expired credential (expires_at in the past) still retrieves: expiry is a rotation due
/// date that the rotation report shows, not a lock (README, the credential lifecycle).
#[tokio::test]
async fn an_expired_credential_still_retrieves() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let reference = db
        .call(
            &Caller::ServiceRole,
            STORE_EXPIRING,
            &[
                &t.integration.to_string(),
                &credentials_json(&canary("expired")),
                "2000-01-01T00:00:00Z",
            ],
        )
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        sqlstate(&db.call(&Caller::ServiceRole, RETRIEVE, &[&reference]).await),
        "ok"
    );
}

/// Pushes the kept version `id` past its recovery window, then runs purge_expired(); returns
/// how many versions it destroyed.
async fn expire_and_purge(db: &TestDatabase, id: &str) -> i32 {
    sqlx::query(
        "update credential_vault.credentials set destroy_after = now() - interval '1 second'
         where vault_secret_id = $1::uuid",
    )
    .bind(id)
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query_scalar("select credential_vault.purge_expired()")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}
