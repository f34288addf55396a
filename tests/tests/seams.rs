//! Where the extension meets PostgreSQL's message and error machinery: the client hears the
//! extension's errors and nothing else, whatever it asks to hear, and a cancel or a statement
//! timeout landing anywhere inside a call leaves no crashed backend and nothing half done.
//! Run with `scripts/harness/with-cluster -- cargo test -p credential-vault-tests --test seams`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use credential_vault_tests::api::{
    DELETE, DESTROY, LIST, RESTORE, RETRIEVE, ROTATE, STORE, VERSIONS,
};
use credential_vault_tests::{
    Caller, Tenants, TestDatabase, call_as, canary, credentials_json, orphans, report_figure,
    server_log, sqlstate,
};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// One message psql printed, with `\set VERBOSITY verbose`: its severity, its text and where
/// the server raised it (`LOCATION:  function, file:line`).
struct Message {
    severity: String,
    text: String,
    location: String,
}

fn messages(output: &str) -> Vec<Message> {
    let mut found: Vec<Message> = Vec::new();
    for line in output.lines() {
        if let Some((level, text)) = server_message(line) {
            found.push(Message {
                severity: level.to_owned(),
                text: text.to_owned(),
                location: String::new(),
            });
        } else if let (Some(location), Some(last)) =
            (line.strip_prefix("LOCATION:  "), found.last_mut())
        {
            last.location = location.to_owned();
        }
    }
    found
}

/// `("DEBUG1", "...")` for a line that starts a server message, which psql prefixes with
/// `psql:<stdin>:LINE: ` when it reads a script.
fn server_message(line: &str) -> Option<(&str, &str)> {
    let line = match line.strip_prefix("psql:") {
        Some(rest) => rest.splitn(3, ':').nth(2)?.trim_start(),
        None => line,
    };
    let (level, text) = line.split_once(":  ")?;
    let known = [
        "LOG", "INFO", "NOTICE", "WARNING", "ERROR", "FATAL", "PANIC",
    ];
    (known.contains(&level) || level.starts_with("DEBUG")).then_some((level, text))
}

/// Every denied and failed path, plus a successful read, with client_min_messages = debug5:
/// the client gets each error and no LOG, INFO, NOTICE or DEBUG line from the extension (the
/// denials and the read audit go to the server log only).
#[tokio::test]
async fn the_client_hears_the_error_and_nothing_else_from_the_extension() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let reference = db
        .store(t.integration, &credentials_json(&canary("messages")))
        .await;
    // Past the app's grants, so that the extension's own role check answers.
    sqlx::raw_sql("grant execute on all functions in schema public to anon, authenticated")
        .execute(&db.pool)
        .await
        .unwrap();
    // Each call is fixed SQL text run by one of these callers; every value reaches psql as a
    // variable (-v NAME=VALUE, quoted by psql as :'NAME'), never spliced into the text.
    let callers = [
        ("anon", Caller::Anon),
        ("admin", t.admin.clone()),
        ("other_admin", t.other_admin.clone()),
        ("service", Caller::ServiceRole),
    ];
    let values = [
        ("integration", t.integration.to_string()),
        ("reference", reference.to_string()),
        ("stranger", Uuid::new_v4().to_string()),
        ("body", r#"{"api_key":"messages-test"}"#.to_owned()),
        ("truncated", r#"{"api_key":"#.to_owned()),
    ];
    let failing_calls = [
        (
            "anon",
            "select public.vault_list_integration_credentials(:'integration')",
        ),
        (
            "admin",
            "select public.vault_retrieve_integration_credentials(:'reference')",
        ),
        (
            "other_admin",
            "select public.vault_delete_integration_credentials(:'reference')",
        ),
        (
            "other_admin",
            "select public.vault_rotate_integration_credentials(:'reference', :'body')",
        ),
        (
            "other_admin",
            "select public.vault_list_integration_credentials(:'integration')",
        ),
        (
            "other_admin",
            "select public.vault_store_integration_credentials(:'integration', :'body')",
        ),
        (
            "service",
            "select public.vault_retrieve_integration_credentials(:'stranger')",
        ),
        (
            "service",
            "select public.vault_retrieve_integration_credentials('not-a-uuid')",
        ),
        (
            "service",
            "select public.vault_store_integration_credentials(:'integration', :'truncated')",
        ),
        (
            "service",
            "select public.vault_store_integration_credentials(:'integration', :'body')",
        ),
        (
            "service",
            "set transaction read only; select public.vault_delete_integration_credentials(:'reference')",
        ),
    ];
    let succeeding_call = (
        "service",
        "select public.vault_retrieve_integration_credentials(:'reference') is not null",
    );
    let failing = failing_calls.len();
    let mut script = String::from("\\set VERBOSITY verbose\nset client_min_messages = debug5;\n");
    for (caller, sql) in failing_calls.iter().chain([&succeeding_call]) {
        for part in [
            "begin;\nselect set_config('role', :'role_",
            caller,
            "', true), set_config('request.jwt.claims', :'claims_",
            caller,
            "', true);\n",
            sql,
            ";\nrollback;\n",
        ] {
            script.push_str(part);
        }
    }
    let mut variables: Vec<String> = values
        .iter()
        .map(|(name, value)| [name, "=", value.as_str()].concat())
        .collect();
    for (name, caller) in &callers {
        variables.push(["role_", name, "=", caller.role()].concat());
        variables.push(["claims_", name, "=", &caller.claims().to_string()].concat());
    }
    let output = std::process::Command::new("psql")
        .args([
            "-X",
            "-q",
            "-U",
            "supabase_admin",
            "-d",
            &db.name,
            "-f",
            "-",
        ])
        .args(
            variables
                .iter()
                .flat_map(|variable| ["-v", variable.as_str()]),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(script.as_bytes())?;
            child.wait_with_output()
        })
        .expect("run psql");
    let printed = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    let heard = messages(&printed);

    let errors = heard.iter().filter(|m| m.severity == "ERROR").count();
    assert_eq!(
        errors, failing,
        "each failing call's error reached the client"
    );
    let debug = heard
        .iter()
        .filter(|m| m.severity.starts_with("DEBUG"))
        .count();
    assert!(
        debug > 0,
        "the control: the server's own DEBUG lines reach this client"
    );
    let from_extension: Vec<String> = heard
        .iter()
        .filter(|m| m.severity != "ERROR")
        // PostgreSQL's library loader names the library it looks for (from 18 on, at DEBUG3).
        .filter(|m| !m.location.contains("dfmgr.c:"))
        .filter(|m| m.text.contains("credential_vault") || m.location.contains(".rs:"))
        .map(|m| format!("{}: {} ({})", m.severity, m.text, m.location))
        .collect();
    assert!(
        from_extension.is_empty(),
        "the extension sent the client more than its error: {from_extension:#?}"
    );
    let log = server_log();
    assert!(
        log.contains(&format!(
            "denied delete to role authenticated on integration {}",
            t.integration
        )),
        "the denials are in the server log"
    );
}

/// Calls of every kind, several at once, while a superuser cancels them at random and half of
/// the sessions run with a statement timeout of a few milliseconds: no backend crashes (the
/// postmaster never restarts, every session lives on), and afterwards no Vault secret is
/// orphaned, no reference dangles, and every session's last reference still retrieves. Every
/// lifecycle function is in the storm: versions, restore (its multi-step write), destroy, the
/// revoke, delete_integration_credentials, and the two settings, whose bound on kept versions
/// is small enough that rotations expire the oldest.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancels_and_timeouts_at_any_point_leave_no_crash_and_nothing_half_done() {
    const SESSIONS: usize = 6;
    const STORM: Duration = Duration::from_secs(8);
    let db = TestDatabase::new().await;
    let t = Arc::new(Tenants::create(&db.pool).await);
    let integrations = t.add_integrations(&db.pool, SESSIONS as i64).await;
    let started: String = sqlx::query_scalar("select pg_postmaster_start_time()::text")
        .fetch_one(&db.pool)
        .await
        .unwrap();

    let mut sessions = Vec::new();
    let mut pids = Vec::new();
    for n in 0..SESSIONS {
        let mut session = PgConnection::connect_with(&db.options()).await.unwrap();
        if n % 2 == 1 {
            sqlx::raw_sql("set statement_timeout = '3ms'")
                .execute(&mut session)
                .await
                .unwrap();
        }
        let pid: i32 = sqlx::query_scalar("select pg_backend_pid()")
            .fetch_one(&mut session)
            .await
            .unwrap();
        pids.push(pid);
        sessions.push(session);
    }

    let storming = Arc::new(AtomicBool::new(true));
    let canceller = {
        let (pool, storming) = (db.pool.clone(), Arc::clone(&storming));
        tokio::spawn(async move {
            let mut cancels = 0;
            while storming.load(Ordering::Relaxed) {
                let pick = Uuid::new_v4().as_bytes()[0] as usize;
                sqlx::query("select pg_cancel_backend($1)")
                    .bind(pids[pick % pids.len()])
                    .execute(&pool)
                    .await
                    .unwrap();
                cancels += 1;
                tokio::time::sleep(Duration::from_micros(200 + 50 * (pick as u64 % 40))).await;
            }
            cancels
        })
    };

    let mut workers = Vec::new();
    for (session, integration) in sessions.into_iter().zip(integrations) {
        workers.push(tokio::spawn(storm_session(
            session,
            integration.to_string(),
            Arc::clone(&t),
            STORM,
        )));
    }

    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut survivors = Vec::new();
    for worker in workers {
        let (session, current, counts) = worker.await.expect("a session survived the storm");
        for (outcome, count) in counts {
            *outcomes.entry(outcome).or_default() += count;
        }
        survivors.push((session, current));
    }
    storming.store(false, Ordering::Relaxed);
    let cancels = canceller.await.unwrap();
    // Out of the storm: every session lives on, and what it holds is whole. A cancel or the
    // session's own 3 ms timeout can land on the ROLLBACK of a failed call too, so each ends what
    // is left of its transaction first, trying again while its timeout may still strike.
    for (mut session, current) in survivors {
        let mut settled = false;
        for _ in 0..5 {
            let _ = sqlx::raw_sql("rollback").execute(&mut session).await;
            settled = sqlx::query("set statement_timeout = 0")
                .execute(&mut session)
                .await
                .is_ok();
            if settled {
                break;
            }
        }
        assert!(settled, "the session lives on");
        if let Some(reference) = &current {
            let read = call_as(&mut session, &Caller::ServiceRole, RETRIEVE, &[reference]).await;
            assert_eq!(sqlstate(&read), "ok", "the last reference retrieves");
        }
    }

    let unexpected: Vec<&String> = outcomes
        .keys()
        .filter(|outcome| {
            let state = outcome.rsplit(' ').next().unwrap();
            let expected_denial = outcome.starts_with("denied delete") && state == "PT404";
            // 25P02: a cancel that lands on the ROLLBACK of a failed call leaves that
            // transaction open and aborted, and the next call's statements are refused once.
            !(matches!(state, "ok" | "57014" | "25P02") || expected_denial)
        })
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?} in {outcomes:?}");
    let count = |state: &str| -> usize {
        outcomes
            .iter()
            .filter(|(o, _)| o.ends_with(state))
            .map(|(_, n)| n)
            .sum()
    };
    let (cancelled, succeeded) = (count(" 57014"), count(" ok"));
    for op in ["store", "retrieve", "denied delete", "rotate", "restore"] {
        assert!(
            outcomes.get(&format!("{op} 57014")).copied().unwrap_or(0) > 0,
            "the storm cancelled no {op}: {outcomes:?}"
        );
    }
    for op in LIFECYCLE {
        assert!(
            outcomes
                .keys()
                .any(|outcome| outcome.starts_with(&format!("{op} "))),
            "the storm made no {op}: {outcomes:?}"
        );
    }
    assert!(
        succeeded > 0,
        "calls got through the storm too: {outcomes:?}"
    );

    let restarted: String = sqlx::query_scalar("select pg_postmaster_start_time()::text")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(restarted, started, "the postmaster never restarted");
    assert!(
        !server_log().contains("terminated by signal"),
        "no backend crashed"
    );
    assert_eq!(
        orphans(&db.pool).await,
        0,
        "no Vault secret without its reference, nor the reverse"
    );
    let out_of_step: i64 = sqlx::query_scalar(
        "select (select count(*) from credential_vault.health_report())
              + (select count(*) from private.credential_link_report())",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        out_of_step, 0,
        "no reference dangles and every link is in step"
    );
    report_figure(&format!(
        "cancel storm: {cancels} cancels sent, {cancelled} calls cancelled, {succeeded} succeeded, 0 crashes, 0 orphans"
    ));
}

/// The lifecycle's calls each session of the storm makes besides store, retrieve, list, rotate
/// and delete.
const LIFECYCLE: [&str; 7] = [
    "versions",
    "restore",
    "destroy",
    "revoke",
    "delete_integration_credentials",
    "set_max_kept_versions",
    "set_recovery_window",
];

/// One session of the storm: stores, reads, is denied, lists, rotates, lists the versions,
/// restores the one rotated away and destroys the one the restore replaced, changes the
/// settings (the bound on kept versions between 2 and 100, the window between 7 and 8 days),
/// and now and then deletes, revokes or deletes the integration's credentials as the app's
/// trigger does, until `storm` is over. Returns the session, its current reference and how
/// often each call ended how (`"rotate 57014"`).
async fn storm_session(
    mut session: PgConnection,
    integration: String,
    t: Arc<Tenants>,
    storm: Duration,
) -> (PgConnection, Option<String>, BTreeMap<String, usize>) {
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut note = |op: &str, result: &Result<Vec<String>, sqlx::Error>| {
        *outcomes
            .entry(format!("{op} {}", sqlstate(result)))
            .or_default() += 1;
    };
    let service = &Caller::ServiceRole;
    let mut current: Option<String> = None;
    let deadline = Instant::now() + storm;
    while Instant::now() < deadline {
        let body = credentials_json(&canary("storm"));
        let Some(reference) = current.clone() else {
            let stored = call_as(&mut session, service, STORE, &[&integration, &body]).await;
            note("store", &stored);
            current = stored.ok().map(|rows| rows[0].clone());
            continue;
        };
        let read = call_as(&mut session, service, RETRIEVE, &[&reference]).await;
        note("retrieve", &read);
        let denied = call_as(&mut session, &t.other_admin, DELETE, &[&reference]).await;
        note("denied delete", &denied);
        let listed = call_as(&mut session, &t.admin, LIST, &[&integration]).await;
        note("list", &listed);
        let rotated = call_as(&mut session, service, ROTATE, &[&reference, &body]).await;
        note("rotate", &rotated);
        let Ok(rows) = rotated else { continue };
        let rotated = rows[0].clone();
        current = Some(rotated.clone());
        let versions = call_as(&mut session, &t.admin, VERSIONS, &[&integration]).await;
        note("versions", &versions);
        let restored = call_as(&mut session, &t.admin, RESTORE, &[&reference]).await;
        note("restore", &restored);
        if restored.is_ok() {
            current = Some(reference);
            let destroyed = call_as(&mut session, service, DESTROY, &[&rotated]).await;
            note("destroy", &destroyed);
        }
        let pick = Uuid::new_v4().as_bytes()[0];
        let setting = if pick.is_multiple_of(2) {
            (
                "set_max_kept_versions",
                "select credential_vault.set_max_kept_versions($1::pg_catalog.int4)::pg_catalog.text",
                if pick.is_multiple_of(4) { "2" } else { "100" },
            )
        } else {
            (
                "set_recovery_window",
                "select credential_vault.set_recovery_window($1::pg_catalog.interval)::pg_catalog.text",
                if pick % 4 == 1 { "7 days" } else { "8 days" },
            )
        };
        note(
            setting.0,
            &own_call(&mut session, setting.1, setting.2).await,
        );
        let ends: [(&str, &str); 3] = [
            ("delete", DELETE),
            (
                "revoke",
                "select count(*)::pg_catalog.text
                 from credential_vault.revoke_integration_credentials(
                   array[(select integration_id from credential_vault.credentials
                          where vault_secret_id = $1::pg_catalog.uuid)])",
            ),
            (
                "delete_integration_credentials",
                "select credential_vault.delete_integration_credentials(
                   (select integration_id from credential_vault.credentials
                    where vault_secret_id = $1::pg_catalog.uuid))::pg_catalog.text",
            ),
        ];
        if pick < 48 {
            let (op, sql) = ends[pick as usize % 3];
            let reference = current.clone().unwrap();
            let ended = if op == "delete" {
                call_as(&mut session, service, sql, &[&reference]).await
            } else {
                own_call(&mut session, sql, &reference).await
            };
            note(op, &ended);
            if ended.is_ok() {
                current = None;
            }
        }
    }
    (session, current, outcomes)
}

/// `sql` with one text argument, as the session's own login (the superuser, as the app's
/// migrations and its trigger call the administration functions), in a transaction of its own.
async fn own_call(
    session: &mut PgConnection,
    sql: &'static str,
    argument: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let mut tx = session.begin().await?;
    let rows: Vec<String> = sqlx::query_scalar(sql)
        .bind(argument)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rows)
}
