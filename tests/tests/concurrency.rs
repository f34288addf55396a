//! Concurrency: 16 connections rotate one credential 1,008 times in all (63 rounds in which all
//! 16 try to rotate the current reference at once) while 4 more connections read the
//! integration's current reference and retrieve it without pause. Every round has exactly one
//! winner; every read returns the value written under the reference it asked for, or PT404 for
//! a reference already rotated away; no Vault secret or credentials row is orphaned; the audit
//! log has one row per successful operation. The race must have happened for any of this to
//! mean something: some losers found the reference locked (PT409), the readers read values of
//! several references, and some of their reads found a reference already rotated away.
//! This suite owns concurrent rotation and concurrent stores for one integration, the revoke
//! fence (refused outside READ COMMITTED), and a destroy racing a restore.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use credential_vault_contract::Error;
use credential_vault_tests::{
    Caller, RowCounts, Tenants, TestDatabase, api, call_as, canary, credential_link,
    credentials_json, error_text, impersonate, orphans, reads_audited, report_figure, sqlstate,
    wait_until,
};
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use tokio::sync::Barrier;
use uuid::Uuid;

const WRITERS: usize = 16;
const READERS: usize = 4;
const ROUNDS: usize = 63;

/// What one retrieval saw.
enum Read {
    /// The credentials retrieved for `reference`, as JSON text.
    Value { reference: String, json: String },
    /// PT404 for `reference`; `rotated` says whether a committed rotation had replaced it.
    NotFound { reference: String, rotated: bool },
    /// Anything else: no integration link, or another SQLSTATE.
    Failed {
        reference: Option<String>,
        sqlstate: String,
    },
}

/// Reads the integration's current reference, as a sync service would, and retrieves it, until
/// `stop` is set.
async fn reader(
    mut connection: PgConnection,
    integration: Uuid,
    stop: Arc<AtomicBool>,
) -> Vec<Read> {
    let mut reads = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let reference = credential_link(&mut connection, integration).await;
        let Some(reference) = reference.map(|id| id.to_string()) else {
            reads.push(Read::Failed {
                reference: None,
                sqlstate: "no reference".into(),
            });
            continue;
        };
        let result = call_as(
            &mut connection,
            &Caller::ServiceRole,
            api::RETRIEVE,
            &[&reference],
        )
        .await;
        reads.push(match sqlstate(&result).as_str() {
            "ok" => Read::Value {
                json: result.unwrap().remove(0),
                reference,
            },
            "PT404" => {
                let rotated = sqlx::query_scalar(
                    "select exists (select 1 from credential_vault.audit_log
                                    where action = 'rotate' and previous_vault_secret_id = $1::uuid)",
                )
                .bind(&reference)
                .fetch_one(&mut connection)
                .await
                .expect("look the rotation up");
                Read::NotFound { reference, rotated }
            }
            other => Read::Failed {
                reference: Some(reference),
                sqlstate: other.to_owned(),
            },
        });
    }
    reads
}

/// One contender of a round: lines up with the others inside its transaction, then rotates
/// `current`. Returns the connection and the new reference with its value, or the SQLSTATE.
async fn contend(
    mut connection: PgConnection,
    current: String,
    barrier: Arc<Barrier>,
) -> (PgConnection, Result<(String, String), String>) {
    let json = credentials_json(&canary("rotation"));
    let mut tx = connection.begin().await.expect("begin");
    impersonate(&mut tx, &Caller::ServiceRole)
        .await
        .expect("switch to service_role");
    barrier.wait().await;
    let result = sqlx::query_scalar::<_, String>(api::ROTATE)
        .bind(&current)
        .bind(&json)
        .fetch_one(&mut *tx)
        .await;
    let outcome = match result {
        Ok(reference) => {
            tx.commit().await.expect("commit the rotation");
            Ok((reference, json))
        }
        Err(_) => {
            let state = sqlstate(&result);
            tx.rollback().await.expect("roll back");
            Err(state)
        }
    };
    (connection, outcome)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_writers_rotate_one_credential_while_four_readers_retrieve_it() {
    let db = TestDatabase::new().await;
    let integration = Tenants::create(&db.pool).await.integration;
    let options = db.options();
    let connect = || PgConnection::connect_with(&options);

    let first_json = credentials_json(&canary("first"));
    let first = db.store(integration, &first_json).await;
    // Every value committed, by its reference.
    let mut written = HashMap::from([(first.clone(), first_json)]);

    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..READERS {
        let connection = connect().await.expect("connect a reader");
        readers.push(tokio::spawn(reader(connection, integration, stop.clone())));
    }
    let mut writers = Vec::new();
    for _ in 0..WRITERS {
        writers.push(connect().await.expect("connect a writer"));
    }

    let mut current = first;
    let (mut attempts, mut not_locked, mut gone) = (0, 0, 0);
    for round in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(WRITERS));
        let tasks: Vec<_> = writers
            .drain(..)
            .map(|connection| tokio::spawn(contend(connection, current.clone(), barrier.clone())))
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            let (connection, outcome) = task.await.expect("a writer task");
            writers.push(connection);
            attempts += 1;
            match outcome {
                Ok(won) => winners.push(won),
                Err(state) if state == "PT409" => not_locked += 1,
                Err(state) if state == "PT404" => gone += 1,
                Err(state) => panic!("round {round}: a rotation failed with {state}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one winner");
        let (reference, json) = winners.pop().unwrap();
        written.insert(reference.clone(), json);
        current = reference;
    }
    stop.store(true, Ordering::Relaxed);
    let mut reads = Vec::new();
    for task in readers {
        reads.extend(task.await.expect("a reader task"));
    }

    let same_value = |reference: &str, json: &str| {
        written.get(reference).is_some_and(|written| {
            serde_json::from_str::<Value>(written).unwrap()
                == serde_json::from_str::<Value>(json).unwrap()
        })
    };
    let invalid: Vec<String> = reads
        .iter()
        .filter_map(|read| match read {
            Read::Value { reference, json } if !same_value(reference, json) => {
                Some(format!("{reference}: not the value written under it"))
            }
            Read::NotFound { reference, rotated } if !rotated || *reference == current => {
                Some(format!("{reference}: PT404 before it was rotated"))
            }
            Read::Failed {
                reference,
                sqlstate,
            } => Some(format!("{reference:?}: {sqlstate}")),
            _ => None,
        })
        .collect();
    let values_read = reads
        .iter()
        .filter(|read| matches!(read, Read::Value { .. }))
        .count();
    let rotated_away = reads
        .iter()
        .filter(|read| matches!(read, Read::NotFound { .. }))
        .count();
    let references_read: HashSet<&str> = reads
        .iter()
        .filter_map(|read| match read {
            Read::Value { reference, .. } => Some(reference.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        invalid.is_empty(),
        "reads without a valid credential: {invalid:?}"
    );
    // Without these the checks above hold trivially: writers that never met at the lock, or
    // readers that never overlapped a rotation.
    assert!(
        not_locked > 0,
        "no loser found the reference locked (PT409): the writers never raced ({gone} PT404)"
    );
    assert!(
        references_read.len() > 1,
        "the readers read values of {} reference(s): they never saw a rotation",
        references_read.len()
    );
    assert!(
        rotated_away > 0,
        "none of {values_read} reads found its reference rotated away (PT404): they never raced a rotation"
    );

    let counts = RowCounts::of(&db.pool).await;
    let orphaned = orphans(&db.pool).await;
    // Every rotated-away secret is kept, restorable, for the recovery window.
    let versions = 1 + ROUNDS as i64;
    assert_eq!(
        (counts.vault_secrets, counts.credentials, orphaned),
        (versions, versions, 0),
        "orphaned secrets"
    );
    let remaining: String = sqlx::query_scalar(
        "select vault_secret_id::text from credential_vault.credentials where state = 'current'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        remaining, current,
        "the last winner's secret is the one left"
    );

    let audited: Vec<(String, i64)> = sqlx::query_as(
        "select action, count(*) from credential_vault.audit_log group by action order by action",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let successful = vec![
        ("rotate".to_owned(), ROUNDS as i64),
        ("store".to_owned(), 1),
    ];
    assert_eq!(audited, successful, "one audit row per successful write");
    assert_eq!(
        reads_audited(integration),
        values_read,
        "one server log record per successful read"
    );

    report_figure(&format!(
        "concurrency: {attempts} rotation attempts in {ROUNDS} rounds, {ROUNDS} winners (1 per round), \
         losers {not_locked} PT409 + {gone} PT404; {} reads ({values_read} values of {} references, \
         {rotated_away} PT404 after rotation), {} invalid; {orphaned} orphans; audit {} rows = {} writes, \
         {values_read} reads logged",
        reads.len(),
        references_read.len(),
        invalid.len(),
        counts.audit_log,
        1 + ROUNDS,
    ));
}

/// Two stores for one integration at once: the second waits for the first's row lock, then finds
/// the integration linked to the first's secret and is refused; nothing of it is left behind.
#[tokio::test]
async fn of_two_concurrent_stores_for_one_integration_the_second_is_refused_whole() {
    let db = TestDatabase::new().await;
    let integration = Tenants::create(&db.pool).await.integration;
    let store = |secret: &str| {
        sqlx::query_scalar::<_, String>(api::STORE)
            .bind(integration.to_string())
            .bind(credentials_json(&canary(secret)))
    };
    let backend_pid = "select pg_backend_pid()";
    let mut first = db.begin_as(&Caller::ServiceRole).await;
    let first_pid: i32 = sqlx::query_scalar(backend_pid)
        .fetch_one(&mut *first)
        .await
        .unwrap();
    let stored = store("first").fetch_one(&mut *first).await.unwrap();

    let mut second = db.begin_as(&Caller::ServiceRole).await;
    let second_pid: i32 = sqlx::query_scalar(backend_pid)
        .fetch_one(&mut *second)
        .await
        .unwrap();
    let waiting = tokio::spawn({
        let query = store("second");
        async move {
            let outcome = query.fetch_one(&mut *second).await;
            (sqlstate(&outcome), second.rollback().await)
        }
    });
    // The second store is blocked by a lock the first holds, until the first commits.
    wait_until(
        &db.pool,
        "select exists (select from pg_stat_activity where pid = $1
                        and wait_event_type = 'Lock' and pg_blocking_pids(pid) = array[$2])",
        &[second_pid, first_pid],
        "the second store never waited for the first's lock",
    )
    .await;
    first.commit().await.unwrap();
    let (outcome, rolled_back) = waiting.await.unwrap();
    assert_eq!(outcome, "23505", "the second store is refused");
    rolled_back.unwrap();

    assert_eq!(
        credential_link(&db.pool, integration)
            .await
            .map(|id| id.to_string()),
        Some(stored)
    );
    assert_eq!(orphans(&db.pool).await, 0, "the refused store left nothing");
}

/// Waits until the backend `pid` waits for a lock (seen in pg_locks), or `call` has finished
/// without waiting; says which.
async fn waits_for_a_lock<T>(
    db: &TestDatabase,
    pid: i32,
    call: &tokio::task::JoinHandle<T>,
) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let waiting: bool = sqlx::query_scalar(
            "select exists (select from pg_locks where pid = $1 and not granted)",
        )
        .bind(pid)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if waiting {
            return true;
        }
        if call.is_finished() {
            return false;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "neither waited nor finished"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// A new connection with `options`, and its backend's pid (for watching its lock waits).
async fn session(options: &sqlx::postgres::PgConnectOptions) -> (i32, PgConnection) {
    let mut connection = PgConnection::connect_with(options).await.unwrap();
    let pid: i32 = sqlx::query_scalar("select pg_backend_pid()")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    (pid, connection)
}

/// A call run on a connection of its own, as service_role, with one argument; its backend pid and
/// its task, which returns the call's rows (a revoke's report: `integration versions_destroyed`)
/// or the SQLSTATE.
async fn call_in_background(
    db: &TestDatabase,
    sql: &'static str,
    argument: String,
) -> (i32, tokio::task::JoinHandle<Result<Vec<String>, String>>) {
    let (pid, mut connection) = session(&db.options()).await;
    let task = tokio::spawn(async move {
        let result = call_as(&mut connection, &Caller::ServiceRole, sql, &[&argument]).await;
        let state = sqlstate(&result);
        result.map_err(|_| state)
    });
    (pid, task)
}

/// The current credentials of `integrations`, as the superuser sees them once everything has
/// committed.
async fn live_credentials(db: &TestDatabase, integrations: &[Uuid]) -> i64 {
    sqlx::query_scalar(
        "select count(*) from credential_vault.credentials where integration_id = any($1)",
    )
    .bind(integrations)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

const REVOKE_ORGANIZATION: &str = "select integration_id::pg_catalog.text || ' ' || versions_destroyed \
     from public.revoke_organization_credentials($1::uuid)";
const REVOKE_PROVIDER: &str = "select integration_id::pg_catalog.text || ' ' || versions_destroyed \
     from public.revoke_provider_credentials($1)";

/// Revoke is a fence: a store and a rotate still uncommitted when an organization's revoke starts
/// make it wait (seen in pg_locks, no sleeps), and once it commits nothing of the organization is
/// live, what they wrote included, and its report lists it. The other organization keeps its
/// credentials.
#[tokio::test]
async fn an_organization_revoke_waits_for_writes_in_flight_and_revokes_them_too() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let more = t.add_integrations(&db.pool, 1).await;
    let (rotated, stored_in_flight) = (t.integration, more[0]);
    let other = Tenants::create(&db.pool).await;
    db.store(other.integration, &credentials_json(&canary("other-org")))
        .await;
    let old = db.store(rotated, &credentials_json(&canary("old"))).await;
    let organization = t.organization.to_string();

    // In flight: a rotate of one integration's credentials, a store for the other.
    let mut rotate = db.begin_as(&Caller::ServiceRole).await;
    sqlx::query_scalar::<_, String>(api::ROTATE)
        .bind(&old)
        .bind(credentials_json(&canary("rotated-in-flight")))
        .fetch_one(&mut *rotate)
        .await
        .unwrap();
    let mut store = db.begin_as(&Caller::ServiceRole).await;
    sqlx::query_scalar::<_, String>(api::STORE)
        .bind(stored_in_flight.to_string())
        .bind(credentials_json(&canary("stored-in-flight")))
        .fetch_one(&mut *store)
        .await
        .unwrap();

    let (pid, revoke) = call_in_background(&db, REVOKE_ORGANIZATION, organization).await;
    let waited = waits_for_a_lock(&db, pid, &revoke).await;
    rotate.commit().await.unwrap();
    store.commit().await.unwrap();
    let mut report = revoke.await.unwrap().expect("the revoke succeeds");
    report.sort();
    let live = live_credentials(&db, &[rotated, stored_in_flight]).await;
    assert_eq!(
        live, 0,
        "after the revoke the organization holds no credential (the revoke waited: {waited}); its report: {report:?}"
    );
    let mut expected = vec![format!("{rotated} 2"), format!("{stored_in_flight} 1")];
    expected.sort();
    assert_eq!(report, expected, "the report lists what was in flight");
    assert_eq!(
        live_credentials(&db, &[other.integration]).await,
        1,
        "the other organization's credential is untouched"
    );
    assert_eq!(orphans(&db.pool).await, 0);
}

/// The provider revoke fences the same way, spares other providers, and a rotate that starts
/// while a revoke holds the fence waits for it and then fails with a clear error.
#[tokio::test]
async fn a_provider_revoke_waits_for_a_store_in_flight_and_spares_other_providers() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let crm = t.add_integrations(&db.pool, 1).await[0];
    let erp: Uuid = sqlx::query_scalar(
        "insert into public.organization_integrations (organization_id, provider, display_name)
         select organization_id, 'erp', 'Acme ERP' from public.organization_integrations
         where id = $1 returning id",
    )
    .bind(t.integration)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let crm_stored = db
        .store(t.integration, &credentials_json(&canary("crm")))
        .await;
    db.store(erp, &credentials_json(&canary("erp"))).await;

    let mut store = db.begin_as(&Caller::ServiceRole).await;
    sqlx::query_scalar::<_, String>(api::STORE)
        .bind(crm.to_string())
        .bind(credentials_json(&canary("crm-in-flight")))
        .fetch_one(&mut *store)
        .await
        .unwrap();
    let (pid, revoke) = call_in_background(&db, REVOKE_PROVIDER, "crm".to_owned()).await;
    let waited = waits_for_a_lock(&db, pid, &revoke).await;
    store.commit().await.unwrap();
    let report = revoke.await.unwrap().expect("the revoke succeeds");
    assert_eq!(
        live_credentials(&db, &[t.integration, crm]).await,
        0,
        "no crm credential is live after the revoke (it waited: {waited}); its report: {report:?}"
    );
    assert_eq!(live_credentials(&db, &[erp]).await, 1, "erp is spared");

    // A revoke holding the fence: a rotate of the erp credential waits for it, and fails after.
    let erp_reference = credential_link(&db.pool, erp).await.unwrap().to_string();
    let mut fence = db.begin_as(&Caller::ServiceRole).await;
    sqlx::query(REVOKE_PROVIDER)
        .bind("erp")
        .fetch_all(&mut *fence)
        .await
        .unwrap();
    let (writer_pid, mut writer) = session(&db.options()).await;
    let rotate = tokio::spawn(async move {
        let body = credentials_json(&canary("erp-after"));
        let result = call_as(
            &mut writer,
            &Caller::ServiceRole,
            api::ROTATE,
            &[&erp_reference, &body],
        )
        .await;
        sqlstate(&result)
    });
    assert!(
        waits_for_a_lock(&db, writer_pid, &rotate).await,
        "the rotate waits for the revoke"
    );
    fence.commit().await.unwrap();
    let outcome = rotate.await.unwrap();
    assert!(
        ["PT404", "PT409"].contains(&outcome.as_str()),
        "the rotate fails after the revoke: {outcome}"
    );
    assert_eq!(live_credentials(&db, &[erp]).await, 0);
    assert_eq!(
        sqlstate(
            &db.call(&Caller::ServiceRole, api::RETRIEVE, &[&crm_stored])
                .await
        ),
        "PT404"
    );
    assert_eq!(orphans(&db.pool).await, 0);
}

/// A revoke and a deletion of one of its integrations, each waiting for the other: the deletion
/// holds the integration's row and waits for the fence, the revoke holds the fence and its link
/// hook waits for the row. PostgreSQL aborts one of them. When it is the revoke, the revoke
/// starts again once the deletion is through and revokes the deleted integration's kept
/// credentials too; before, the responder's call failed with 40P01. Vault's secrets table, held
/// in EXCLUSIVE mode meanwhile, stops the revoke between taking the fence and writing.
#[tokio::test]
async fn a_revoke_that_loses_a_deadlock_to_a_deletion_starts_again() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    db.store(
        t.integration,
        &credentials_json(&canary("deleted-meanwhile")),
    )
    .await;

    let mut vault = db.pool.begin().await.unwrap();
    sqlx::query("lock table vault.secrets in exclusive mode")
        .execute(&mut *vault)
        .await
        .unwrap();
    let (revoker, revoke) =
        call_in_background(&db, REVOKE_ORGANIZATION, t.organization.to_string()).await;
    assert!(
        waits_for_a_lock(&db, revoker, &revoke).await,
        "the revoke holds the fence and waits for Vault's table"
    );
    let (deleter_pid, mut deleter) = session(&db.options()).await;
    // The deletion checks for a deadlock 10 ms into its wait, before there is one, and never
    // again: the revoke's check, a second into its own wait, is the one that finds it.
    sqlx::query("set deadlock_timeout = '10ms'")
        .execute(&mut deleter)
        .await
        .unwrap();
    let integration = t.integration;
    let delete = tokio::spawn(async move {
        sqlx::query("delete from public.organization_integrations where id = $1")
            .bind(integration)
            .execute(&mut deleter)
            .await
            .map(|done| done.rows_affected())
    });
    assert!(
        waits_for_a_lock(&db, deleter_pid, &delete).await,
        "the deletion holds the row and waits for the fence"
    );
    // Only a timer has to run out here, the deletion's deadlock check.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    vault.commit().await.unwrap();

    let report = revoke.await.unwrap();
    let deleted = delete.await.unwrap();
    assert_eq!(
        report,
        Ok(vec![format!("{} 1", t.integration)]),
        "the revoke succeeds and reports the deleted integration (the deletion: {deleted:?})"
    );
    assert_eq!(deleted.ok(), Some(1), "the deletion went through");
    assert_eq!(live_credentials(&db, &[t.integration]).await, 0);
    assert_eq!(orphans(&db.pool).await, 0);
}

/// Only READ COMMITTED gives a revoke's statement a snapshot taken after the fence's lock. In a
/// session whose transactions are REPEATABLE READ (a role's `default_transaction_isolation`, say)
/// the revoke would wait for a store in flight and then leave what it stored live while
/// reporting success (0.5.0 as first merged did); it is refused before it takes the fence.
#[tokio::test]
async fn a_revoke_outside_read_committed_is_refused() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let organization = t.organization.to_string();
    let mut store = db.begin_as(&Caller::ServiceRole).await;
    sqlx::query_scalar::<_, String>(api::STORE)
        .bind(t.integration.to_string())
        .bind(credentials_json(&canary("stored-in-flight")))
        .fetch_one(&mut *store)
        .await
        .unwrap();

    let options = db
        .options()
        .options([("default_transaction_isolation", "repeatable read")]);
    let (pid, mut revoker) = session(&options).await;
    let revoke = tokio::spawn(async move {
        let result = call_as(
            &mut revoker,
            &Caller::ServiceRole,
            REVOKE_ORGANIZATION,
            &[&organization],
        )
        .await;
        (sqlstate(&result), error_text(&result))
    });
    let waited = waits_for_a_lock(&db, pid, &revoke).await;
    store.commit().await.unwrap();
    let (outcome, text) = revoke.await.unwrap();
    let live = live_credentials(&db, &[t.integration]).await;
    let refusal = Error::RevokeNeedsReadCommitted;
    assert_eq!(
        outcome,
        refusal.sqlstate(),
        "a revoke in REPEATABLE READ is refused (it waited: {waited}; {live} credential live after it)"
    );
    assert!(
        text.starts_with(&format!(
            "{refusal} {:?} {:?}",
            Some(refusal.code()),
            refusal.hint()
        )),
        "{text}"
    );
    assert!(!waited, "refused before it takes the fence");
    assert_eq!(live, 1, "nothing was revoked, and the caller was told");
}

/// A destroy whose kept version a restore makes current while the destroy is under way: the
/// destroy sees the restore's outcome (it unlinks the now current version) and never leaves the
/// integration linked to a destroyed secret. The restoring transaction first holds the
/// credentials table in EXCLUSIVE mode, which lets a plain read through and stops any statement
/// that locks rows, so the destroy is stopped exactly at its row lock, after any read of the state
/// taken before it. 0.4.1 fails here: it read "not current" first and destroyed the version the
/// restore had just linked.
#[tokio::test]
async fn a_destroy_decides_on_the_state_under_its_lock() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let kept = db
        .store(t.integration, &credentials_json(&canary("kept")))
        .await;
    db.call(
        &Caller::ServiceRole,
        api::ROTATE,
        &[&kept, &credentials_json(&canary("current"))],
    )
    .await
    .unwrap();

    let mut restore = db.pool.begin().await.unwrap();
    sqlx::query("lock table credential_vault.credentials in exclusive mode")
        .execute(&mut *restore)
        .await
        .unwrap();
    let (pid, destroy) = call_in_background(&db, api::DESTROY, kept.clone()).await;
    assert!(
        waits_for_a_lock(&db, pid, &destroy).await,
        "the destroy waits for the table lock"
    );
    impersonate(&mut restore, &Caller::ServiceRole)
        .await
        .unwrap();
    sqlx::query_scalar::<_, String>(api::RESTORE)
        .bind(&kept)
        .fetch_one(&mut *restore)
        .await
        .unwrap();
    restore.commit().await.unwrap();
    let outcome = destroy.await.unwrap();

    assert_eq!(outcome.map(drop), Ok(()), "the destroy goes ahead");
    assert_eq!(
        credential_link(&db.pool, t.integration).await,
        None,
        "the integration no longer links to the destroyed version"
    );
    assert_eq!(orphans(&db.pool).await, 0);
}
