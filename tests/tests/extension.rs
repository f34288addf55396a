//! The extension's SQL API through the harness, on a database with the app's migrations. This
//! suite owns: the service-role round trip with the app's link and the audit in step; the
//! extension's own role check, apart from any grant; stored secrets changed around the
//! extension; errors free of Rust internals; the read audit; read-only transactions; secrets
//! deleted around the extension and their repair; registrations reaching backends that kept
//! the old ones; and the registered callbacks failing closed. Elsewhere: the role matrix with the app's grants and authorizer is
//! supabase/tests/03_credential_functions_test.sql's, every bad input is bad_input.rs's,
//! plaintext on disk and in logs is leak_hunt.rs's, concurrent rotation is concurrency.rs's.
//! Run with `scripts/harness/with-cluster -- cargo test -p credential-vault-tests --test extension`.

use credential_vault_contract::{Error, VaultVersion};
use credential_vault_tests::api::{DELETE, LIST, RETRIEVE, ROTATE, STORE};
use credential_vault_tests::{
    Caller, RowCounts, Tenants, TestDatabase, audit_actions, call_as, canary, credential_link,
    credentials_json, error_text, impersonate, integration_state, read_audit_roles, server_log,
    sqlstate,
};
use sqlx::Connection;
use uuid::Uuid;

/// Asserts that `result` is the catalogue's `expected`: its SQLSTATE, message, code (the
/// DETAIL) and hint.
fn assert_catalogue_error<T>(result: &Result<T, sqlx::Error>, expected: Error, label: &str) {
    assert_eq!(sqlstate(result), expected.sqlstate(), "{label}");
    let text = format!(
        "{expected} {:?} {:?}",
        Some(expected.code()),
        expected.hint()
    );
    assert!(
        error_text(result).starts_with(&text),
        "{label}: {}",
        error_text(result)
    );
}

/// A test's database with the tenants, and credentials holding `secret` stored for their
/// integration; returns the reference too.
async fn with_stored_credentials(secret: &str) -> (TestDatabase, Tenants, String) {
    let db = TestDatabase::new().await;
    let tenants = Tenants::create(&db.pool).await;
    let reference = db
        .store(tenants.integration, &credentials_json(secret))
        .await;
    (db, tenants, reference)
}

#[tokio::test]
async fn round_trip_as_service_role_keeps_the_app_and_the_audit_in_step() {
    let db = TestDatabase::new().await;
    let tenants = Tenants::create(&db.pool).await;
    let secret = canary("roundtrip");
    let reference = db
        .store(tenants.integration, &credentials_json(&secret))
        .await;
    assert_eq!(
        credential_link(&db.pool, tenants.integration)
            .await
            .map(|u| u.to_string()),
        Some(reference.clone())
    );

    let retrieved = db
        .call(&Caller::ServiceRole, RETRIEVE, &[&reference])
        .await
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(&retrieved[0]).unwrap();
    assert_eq!(
        value,
        serde_json::from_str::<serde_json::Value>(&credentials_json(&secret)).unwrap()
    );

    let rotated_secret = canary("rotated");
    let rotated: String = db
        .call(
            &Caller::ServiceRole,
            ROTATE,
            &[&reference, &credentials_json(&rotated_secret)],
        )
        .await
        .unwrap()
        .remove(0);
    assert_ne!(rotated, reference);
    assert_eq!(
        sqlstate(&db.call(&Caller::ServiceRole, RETRIEVE, &[&reference]).await),
        "PT404"
    );
    let listed = db
        .call(
            &Caller::ServiceRole,
            LIST,
            &[&tenants.integration.to_string()],
        )
        .await
        .unwrap();
    assert_eq!(listed, vec![rotated.clone()]);

    db.call(&Caller::ServiceRole, DELETE, &[&rotated])
        .await
        .unwrap();
    assert_eq!(
        integration_state(&db.pool, tenants.integration).await,
        (2, 2, 3, None),
        "nothing left behind but the audit and, for the recovery window, the two kept versions"
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

/// The check inside the extension, not only the app's grants: with EXECUTE on every function
/// granted to anon and authenticated, anon is still refused every call and authenticated is
/// refused retrieve, each with the catalogue's role_not_allowed (which no grant produces).
#[tokio::test]
async fn the_extension_itself_refuses_anon_everything_and_authenticated_retrieve() {
    let (db, t, reference) = with_stored_credentials(&canary("role-check")).await;
    sqlx::raw_sql("grant execute on all functions in schema public to anon, authenticated")
        .execute(&db.pool)
        .await
        .unwrap();
    let integration = t.integration.to_string();
    let body = credentials_json(&canary("role-check-new"));

    for (action, sql, args) in [
        ("store", STORE, vec![integration.as_str(), body.as_str()]),
        ("retrieve", RETRIEVE, vec![reference.as_str()]),
        ("rotate", ROTATE, vec![reference.as_str(), body.as_str()]),
        ("delete", DELETE, vec![reference.as_str()]),
        ("list", LIST, vec![integration.as_str()]),
    ] {
        let result = db.call(&Caller::Anon, sql, &args).await;
        assert_catalogue_error(&result, Error::RoleNotAllowed(action), action);
    }
    let result = db.call(&t.admin, RETRIEVE, &[&reference]).await;
    assert_catalogue_error(&result, Error::RoleNotAllowed("retrieve"), "admin retrieve");
    // The control: the same admin gets past the role check where users are allowed.
    assert_eq!(
        db.call(&t.admin, LIST, &[&integration]).await.unwrap(),
        [reference]
    );
}

#[tokio::test]
async fn a_secret_changed_around_the_extension_is_refused_without_echo() {
    let (db, _, reference) = with_stored_credentials(&canary("corrupt")).await;
    let garbage = canary("garbage");
    sqlx::query("select vault.update_secret($1::uuid, $2)")
        .bind(&reference)
        .bind(format!("not json {garbage}"))
        .execute(&db.pool)
        .await
        .unwrap();
    let result = db.call(&Caller::ServiceRole, RETRIEVE, &[&reference]).await;
    assert_eq!(sqlstate(&result), "XX001");
    assert!(!error_text(&result).contains(&garbage));
}

#[tokio::test]
async fn errors_raised_inside_the_extension_carry_no_rust_internals() {
    let (db, t, _) = with_stored_credentials(&canary("first")).await;
    // The application's trigger refuses a second reference; the error passes through the
    // extension's Rust code on its way out.
    let second = db
        .call(
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

/// A retrieve reads Vault's row directly once its backend's first read, through
/// `vault.decrypted_secrets`, agreed: on one connection every shape of credentials comes back as
/// the view gives it, a version rotated away stays unreadable, a secret changed around the
/// extension is refused without echo and a tampered ciphertext with Vault's own error, exactly
/// as through the view.
#[tokio::test]
async fn the_direct_read_gives_what_vaults_view_gives() {
    let db = TestDatabase::new().await;
    let tenants = Tenants::create(&db.pool).await;
    let many: serde_json::Map<String, serde_json::Value> = (0..64)
        .map(|n| (format!("key_{n:02}"), format!("value {n}").into()))
        .collect();
    let shapes = [
        credentials_json(&canary("direct")),
        r#"{"zeta": "last", "alpha": "first", "mid": "dle"}"#.to_owned(),
        r#"{"bb": "1", "a": "2", "ab": "3", "b": "4", "\u0061c": "5"}"#.to_owned(),
        r#"{"unicode": "caf\u00e9 \ud83d\udd11 日本 é", "escapes": "a\"b\\c\n\t\/"}"#.to_owned(),
        serde_json::json!({"long": "x".repeat(60_000)}).to_string(),
        serde_json::Value::Object(many).to_string(),
        "  {\"spaced\" :  \"out\" }  ".to_owned(),
    ];
    let integrations = tenants
        .add_integrations(&db.pool, shapes.len() as i64 + 3)
        .await;
    let mut references = Vec::new();
    for (shape, integration) in shapes.iter().zip(&integrations) {
        references.push(db.store(*integration, shape).await);
    }
    let mut session = sqlx::PgConnection::connect_with(&db.options())
        .await
        .unwrap();
    let viewed = |reference: &str| {
        sqlx::query_scalar::<_, String>(
            "select decrypted_secret::jsonb::text from vault.decrypted_secrets where id = $1::uuid",
        )
        .bind(reference.to_owned())
    };
    // Twice over: the first read decides, every later one is direct.
    for reference in references.iter().chain(&references) {
        let retrieved = call_as(&mut session, &Caller::ServiceRole, RETRIEVE, &[reference])
            .await
            .unwrap();
        let expected = viewed(reference).fetch_one(&db.pool).await.unwrap();
        assert_eq!(retrieved, [expected], "{reference}");
    }

    let old = db
        .store(
            integrations[shapes.len()],
            &credentials_json(&canary("old")),
        )
        .await;
    call_as(
        &mut session,
        &Caller::ServiceRole,
        ROTATE,
        &[&old, &credentials_json(&canary("new"))],
    )
    .await
    .unwrap();
    let result = call_as(&mut session, &Caller::ServiceRole, RETRIEVE, &[&old]).await;
    assert_catalogue_error(&result, Error::CredentialsNotFound, "a kept version");

    let changed = db
        .store(
            integrations[shapes.len() + 1],
            &credentials_json(&canary("changed")),
        )
        .await;
    let garbage = canary("direct-garbage");
    sqlx::query("select vault.update_secret($1::uuid, $2)")
        .bind(&changed)
        .bind(format!("not json {garbage}"))
        .execute(&db.pool)
        .await
        .unwrap();
    let result = call_as(&mut session, &Caller::ServiceRole, RETRIEVE, &[&changed]).await;
    assert_catalogue_error(&result, Error::StoredCredentialsCorrupt, "changed around");
    assert!(!error_text(&result).contains(&garbage));

    let tampered = db
        .store(
            integrations[shapes.len() + 2],
            &credentials_json(&canary("tampered")),
        )
        .await;
    sqlx::query(
        "update vault.secrets set secret = encode(set_byte(decode(secret, 'base64'), 0, \
           get_byte(decode(secret, 'base64'), 0) # 1), 'base64') where id = $1::uuid",
    )
    .bind(&tampered)
    .execute(&db.pool)
    .await
    .unwrap();
    let through_view = viewed(&tampered).fetch_one(&db.pool).await;
    let direct = call_as(&mut session, &Caller::ServiceRole, RETRIEVE, &[&tampered]).await;
    assert_ne!(
        sqlstate(&through_view),
        "",
        "the view refuses the tampered row"
    );
    assert_eq!(sqlstate(&direct), sqlstate(&through_view));
    assert_eq!(
        direct
            .unwrap_err()
            .as_database_error()
            .map(|e| e.message().to_owned()),
        through_view
            .unwrap_err()
            .as_database_error()
            .map(|e| e.message().to_owned())
    );
    assert!(
        !server_log().contains("direct read disagrees"),
        "a backend fell back to reading through the view"
    );
}

#[tokio::test]
async fn a_read_is_audited_in_the_server_log_through_a_rollback_and_stays_a_read() {
    let secret = canary("read-audit");
    let (db, t, reference) = with_stored_credentials(&secret).await;
    let rows_before = RowCounts::of(&db.pool).await;

    // Every LOG line would carry its statement, so the record must hide it; a LOG line of the
    // caller's own is the control that would show it.
    let mut tx = db.pool.begin().await.unwrap();
    let pid: i32 = sqlx::query_scalar(
        "select pg_backend_pid() from set_config('log_min_error_statement', 'log', true)",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    impersonate(&mut tx, &Caller::ServiceRole).await.unwrap();
    let read: String = sqlx::query_scalar(RETRIEVE)
        .bind(&reference)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert!(read.contains(&secret));
    let control = canary("read-audit-control");
    sqlx::query("select set_config('cv.control', $1, true)")
        .bind(&control)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::raw_sql("do $$ begin raise log '%', current_setting('cv.control'); end $$")
        .execute(&mut *tx)
        .await
        .unwrap();
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
    // This backend's lines: the control's message comes with its statement, the record's not.
    let own: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(&format!("[{pid}]")))
        .collect();
    let has_statement = |needle: &str| {
        let at = own.iter().position(|line| line.contains(needle)).unwrap();
        own[at + 1..]
            .iter()
            .take_while(|line| !line.contains(" LOG:  "))
            .any(|line| line.contains(" STATEMENT:  "))
    };
    assert!(has_statement(&control), "the control's statement is logged");
    assert!(
        !has_statement("credential_vault audit: action=retrieve"),
        "the record hides its statement"
    );
}

#[tokio::test]
async fn writes_in_a_read_only_transaction_are_refused_with_25006() {
    let (db, t, reference) = with_stored_credentials(&canary("read-only")).await;
    let body = credentials_json(&canary("read-only-new"));
    let integration = t.integration.to_string();
    for (sql, args) in [
        (STORE, vec![integration.as_str(), body.as_str()]),
        (ROTATE, vec![reference.as_str(), body.as_str()]),
        (DELETE, vec![reference.as_str()]),
    ] {
        let mut tx = db.begin_as(&Caller::ServiceRole).await;
        sqlx::query("set transaction read only")
            .execute(&mut *tx)
            .await
            .unwrap();
        let result = args
            .iter()
            .fold(sqlx::query(sql), |query, arg| query.bind(*arg))
            .fetch_all(&mut *tx)
            .await;
        assert_catalogue_error(&result, Error::ReadOnly, sql);
    }
}

/// `credential_vault.health_report(repair)`, a line per problem.
async fn health_report(db: &TestDatabase, repair: bool) -> Vec<String> {
    sqlx::query_scalar(
        "select problem || ' ' || integration_id || ' ' || vault_secret_id || ' ' || repaired \
         from credential_vault.health_report($1)",
    )
    .bind(repair)
    .fetch_all(&db.pool)
    .await
    .expect("run the health report")
}

#[tokio::test]
async fn a_vault_secret_deleted_around_the_extension_is_not_listed_and_is_repaired() {
    let (db, t, reference) = with_stored_credentials(&canary("dangling")).await;
    let integration = t.integration.to_string();
    // service_role holds DELETE on vault.secrets on the platform.
    let mut tx = db.begin_as(&Caller::ServiceRole).await;
    sqlx::query("delete from vault.secrets where id = $1::uuid")
        .bind(&reference)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let listed = db
        .call(&Caller::ServiceRole, LIST, &[&integration])
        .await
        .unwrap();
    assert!(
        listed.is_empty(),
        "a reference whose secret is gone is not listed"
    );
    let missing = |repaired: bool| {
        [format!(
            "vault secret missing {integration} {reference} {repaired}"
        )]
    };
    assert_eq!(health_report(&db, false).await, missing(false));
    let links = "select problem || ' ' || integration_id from private.credential_link_report()";
    let app_found: Vec<String> = sqlx::query_scalar(links).fetch_all(&db.pool).await.unwrap();
    assert!(
        app_found.is_empty(),
        "the link still names a credentials row: {app_found:?}"
    );

    assert_eq!(health_report(&db, true).await, missing(true));
    assert_eq!(
        integration_state(&db.pool, t.integration).await,
        (0, 0, 2, None),
        "the reference and the app's link are gone, the repair audited"
    );
    assert_eq!(
        audit_actions(&db.pool).await.last().map(String::as_str),
        Some("repair:supabase_admin")
    );
    assert!(health_report(&db, false).await.is_empty());
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
        "create function public.deny_every_user(uuid) returns boolean language sql
           set search_path = pg_catalog, pg_temp as 'select false';
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
    // One integration per store, each of which starts a link.
    let integrations = t.add_integrations(&db.pool, 3).await;
    let (first, second, third) = (
        integrations[0].to_string(),
        integrations[1],
        integrations[2].to_string(),
    );
    assert_eq!(
        sqlstate(&call_as(&mut kept, &Caller::ServiceRole, STORE, &[&first, &body]).await),
        "ok"
    );
    // An SQL function whose last statement is not a SELECT returns void as NULL.
    sqlx::raw_sql(
        "create table public.link_notes (integration_id uuid, vault_secret_id uuid, linked boolean);
         create function public.note_link(uuid, uuid, boolean) returns void language sql
           set search_path = pg_catalog, pg_temp as 'insert into public.link_notes values ($1, $2, $3)';
         select credential_vault.set_link_hook('public.note_link(uuid, uuid, boolean)');",
    )
    .execute(&db.pool)
    .await
    .unwrap();
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
    assert_eq!(
        sqlstate(&call_as(&mut kept, &Caller::ServiceRole, STORE, &[&third, &body]).await),
        "55000",
        "a dropped hook is refused, not called"
    );
}

/// The extension calls the app's functions only with rights a caller could use from SQL, and
/// registers only functions that set their own search_path.
#[tokio::test]
async fn registered_callbacks_fail_closed() {
    let (db, t, reference) = with_stored_credentials(&canary("callbacks")).await;
    let integration = t.integration.to_string();
    let body = credentials_json(&canary("callbacks-new"));
    // The control: the admin may list while the authorizer is executable.
    assert_eq!(
        sqlstate(&db.call(&t.admin, LIST, &[&integration]).await),
        "ok"
    );

    sqlx::raw_sql(
        "revoke execute on function private.can_manage_integration(uuid) from authenticated",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    for (action, sql, args) in [
        ("store", STORE, vec![integration.as_str(), body.as_str()]),
        ("rotate", ROTATE, vec![reference.as_str(), body.as_str()]),
        ("delete", DELETE, vec![reference.as_str()]),
        ("list", LIST, vec![integration.as_str()]),
    ] {
        let result = db.call(&t.admin, sql, &args).await;
        assert_catalogue_error(&result, Error::AuthorizerNotPermitted, action);
    }

    // The link hook runs as postgres, who registered it: without EXECUTE, nothing is written.
    let before = RowCounts::of(&db.pool).await;
    sqlx::raw_sql(
        "revoke execute on function private.sync_integration_credential_link(uuid, uuid, boolean)
           from postgres",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let rotated = db
        .call(&Caller::ServiceRole, ROTATE, &[&reference, &body])
        .await;
    assert_catalogue_error(&rotated, Error::LinkHookNotPermitted, "rotate");
    assert_eq!(RowCounts::of(&db.pool).await, before, "nothing changed");

    let mut postgres = sqlx::PgConnection::connect_with(&db.postgres_options())
        .await
        .unwrap();
    sqlx::raw_sql(
        "create function public.allow_without_path(uuid) returns boolean language sql
           as 'select true';
         create function public.link_without_path(uuid, uuid, boolean) returns void
           language sql as 'select'",
    )
    .execute(&mut postgres)
    .await
    .unwrap();
    for registration in [
        "select credential_vault.set_authorizer('public.allow_without_path(uuid)')",
        "select credential_vault.set_link_hook('public.link_without_path(uuid, uuid, boolean)')",
    ] {
        let result = sqlx::query(registration).execute(&mut postgres).await;
        assert_catalogue_error(&result, Error::CallbackWithoutSearchPath, registration);
    }
    for (registration, argument) in [
        ("select credential_vault.set_authorizer(null)", "authorizer"),
        ("select credential_vault.set_link_hook(null)", "hook"),
    ] {
        let result = sqlx::query(registration).execute(&mut postgres).await;
        assert_eq!(sqlstate(&result), "22004", "{registration}");
        assert!(
            error_text(&result).starts_with(&format!("{argument} must not be null")),
            "{registration}"
        );
    }
}

/// `credential_vault.logging_posture()`'s row for `setting`: its value and whether it is at risk.
async fn posture(db: &TestDatabase, setting: &str) -> (String, bool) {
    sqlx::query_as(
        "select current_value, at_risk from credential_vault.logging_posture() where setting = $1",
    )
    .bind(setting)
    .fetch_one(&db.pool)
    .await
    .expect("read the posture")
}

/// The posture check names the roles that can read Vault's plaintext around the read audit (on
/// Supabase, Vault's own grants give postgres and service_role that), and revoking those grants
/// closes the way without breaking the extension, which reads as its own owner. It also names
/// SECURITY DEFINER functions whose search_path does not put pg_temp last: Vault's own two here,
/// never the extension's or the app's.
#[tokio::test]
async fn the_posture_check_names_what_goes_around_the_extension() {
    let (db, _, reference) = with_stored_credentials(&canary("posture")).await;
    // Roles are the cluster's: other tests' logins in service_role are listed too.
    let (readers, at_risk) = posture(&db, "vault.decrypted_secrets readers").await;
    let readers: Vec<&str> = readers.split(", ").collect();
    assert!(
        at_risk && readers.contains(&"postgres") && readers.contains(&"service_role"),
        "{readers:?}"
    );
    sqlx::raw_sql(
        "revoke select on vault.decrypted_secrets from postgres, service_role cascade;
         revoke execute on function vault._crypto_aead_det_decrypt(bytea, bytea, bigint, bytea, bytea)
           from postgres, service_role cascade",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        posture(&db, "vault.decrypted_secrets readers").await,
        ("none".to_owned(), false)
    );
    let read = db.call(&Caller::ServiceRole, RETRIEVE, &[&reference]).await;
    assert_eq!(sqlstate(&read), "ok", "the extension still reads");

    let vaults_own =
        "vault.create_secret(text,text,text,uuid), vault.update_secret(uuid,text,text,text,uuid)";
    assert_eq!(
        posture(&db, "security definer search_path").await,
        (vaults_own.to_owned(), true)
    );
    sqlx::raw_sql(
        "create function public.unsafe_definer() returns void language sql security definer
           set search_path = '' as 'select'",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        posture(&db, "security definer search_path").await.0,
        format!("public.unsafe_definer(), {vaults_own}")
    );
}

/// A Vault older than 0.3.0 (0.2.x, on older images, encrypts through pgsodium and has no
/// `vault._crypto_aead_det_encrypt`) is refused with the version found and the one needed.
#[tokio::test]
async fn an_old_vault_is_refused_with_the_version_found_and_needed() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    // What 0.2.8 looks like to the extension: the function missing, the version it reports. The
    // stand-in is no extension, so it gets the catalog row an installed Vault has.
    sqlx::raw_sql(
        "do $$
         begin
           if exists (select from pg_extension where extname = 'supabase_vault') then
             alter extension supabase_vault
               drop function vault._crypto_aead_det_encrypt(bytea, bytea, bigint, bytea, bytea);
             update pg_extension set extversion = '0.2.8' where extname = 'supabase_vault';
           else
             insert into pg_extension (oid, extname, extowner, extnamespace, extrelocatable, extversion)
             select (select max(oid::int8) + 1000 from pg_extension)::oid, 'supabase_vault',
                    'supabase_admin'::regrole, 'vault'::regnamespace, false, '0.2.8';
           end if;
           drop function vault._crypto_aead_det_encrypt(bytea, bytea, bigint, bytea, bytea);
         end
         $$",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let body = credentials_json(&canary("old-vault"));
    let stored = db
        .call(
            &Caller::ServiceRole,
            STORE,
            &[&t.integration.to_string(), &body],
        )
        .await;
    let expected = Error::VaultUnsupported(VaultVersion::Found(0, 2, 8));
    assert_catalogue_error(&stored, expected, "store");
}

/// The CHECKs of the extension's tables (the library's is_credential_version and
/// is_audit_action): each row written directly, as a superuser, in its own statement.
#[tokio::test]
async fn the_tables_take_only_known_states_and_actions() {
    let db = TestDatabase::new().await;
    let version = |state: &'static str, replaced_at: bool, destroy_after: bool| {
        sqlx::query(
            "insert into credential_vault.credentials
               (vault_secret_id, integration_id, created_at, state, replaced_at, destroy_after)
             select gen_random_uuid(), gen_random_uuid(), now(), $1,
                    case when $2 then now() end, case when $3 then now() + interval '7 days' end",
        )
        .bind(state)
        .bind(replaced_at)
        .bind(destroy_after)
        .execute(&db.pool)
    };
    for (state, replaced_at, destroy_after, expected) in [
        ("current", false, false, "ok"),
        ("previous", true, true, "ok"),
        ("deleted", true, true, "ok"),
        ("current", true, true, "23514"),
        ("previous", false, false, "23514"),
        ("expired", true, true, "23514"),
        ("deleted", true, false, "23514"),
    ] {
        assert_eq!(
            sqlstate(&version(state, replaced_at, destroy_after).await),
            expected,
            "state {state}, replaced_at set {replaced_at}, destroy_after set {destroy_after}"
        );
    }

    let audited = |action: &'static str| {
        sqlx::query(
            "insert into credential_vault.audit_log (action, actor_role, integration_id, vault_secret_id)
             values ($1, current_user, gen_random_uuid(), gen_random_uuid())",
        )
        .bind(action)
        .execute(&db.pool)
    };
    for (action, expected) in [
        ("store", "ok"),
        ("retrieve", "ok"),
        ("rotate", "ok"),
        ("delete", "ok"),
        ("purge", "ok"),
        ("repair", "ok"),
        ("restore", "ok"),
        ("destroy", "ok"),
        ("expire", "ok"),
        ("revoke", "ok"),
        ("read", "23514"),
        ("Store", "23514"),
    ] {
        assert_eq!(
            sqlstate(&audited(action).await),
            expected,
            "action {action}"
        );
    }
}
