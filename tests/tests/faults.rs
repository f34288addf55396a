//! Faults: a backend terminated in the middle of a rotation, 100 times (each time only once its
//! locks show it stopped where the stop point says), and the whole server stopped with
//! `pg_ctl stop -m immediate` during a store workload, 10 times. Afterwards every
//! reference a client saw committed is retrievable with its value, and nothing half-written
//! remains: Vault secrets, credentials rows, the integrations' links and the audit log match
//! one to one.
//! This suite owns what terminations and crashes leave behind.
//!
//! The crash test restarts the cluster, which every test sharing it would notice, so it is
//! ignored by default; run it alone, in a durable cluster of its own (it refuses to run with
//! fsync or synchronous commit off, which would make its verdict say nothing of durability):
//! `scripts/harness/with-cluster --durable -- cargo test -p credential-vault-tests --test faults -- --ignored --nocapture`

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use credential_vault_tests::{
    Caller, RowCounts, Tenants, TestDatabase, api, call_as, canary, credential_link,
    credentials_json, orphans, report_figure, server_log, sqlstate, wait_until,
};
use serde_json::Value;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::watch;
use uuid::Uuid;

const TERMINATIONS: usize = 100;
const CRASHES: usize = 10;
const STORERS: usize = 4;
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Where a rotation is made to wait, by a lock a second connection holds, before its backend
/// is terminated.
#[derive(Debug, Clone, Copy)]
enum StopPoint {
    /// Deleting the old Vault secret (its credentials row is already deleted): without a recovery
    /// window only, where the rotation destroys the old secret.
    DeletingOldSecret,
    /// Unlinking the integration, after both deletions.
    UnlinkingIntegration,
    /// After the new secret and its credentials row are written, before the audit and commit:
    /// a trigger added for this test takes an advisory lock there.
    AfterNewSecret,
}

/// The rounds: every stop point of the rotation that destroys the old secret (no recovery
/// window), then those of the one that keeps it as the previous version (a window).
const ROUNDS: [(StopPoint, &str); 5] = [
    (StopPoint::DeletingOldSecret, "0"),
    (StopPoint::UnlinkingIntegration, "0"),
    (StopPoint::AfterNewSecret, "0"),
    (StopPoint::UnlinkingIntegration, "7 days"),
    (StopPoint::AfterNewSecret, "7 days"),
];

/// The trigger behind [`StopPoint::AfterNewSecret`], and the lock that makes it wait.
const PAUSE_TRIGGER: &str = "
    create function public.pause_for_fault_test() returns trigger language plpgsql as $$
    begin perform pg_advisory_xact_lock(727001); return null; end $$;
    create trigger zz_pause_for_fault_test after insert on credential_vault.credentials
    for each row execute function public.pause_for_fault_test();";
const TAKE_PAUSE_LOCK: &str = "select pg_advisory_xact_lock(727001)";

impl StopPoint {
    /// Takes the lock the rotation will wait for, in the blocker's transaction.
    async fn block(self, blocker: &mut PgConnection, reference: &str, integration: Uuid) {
        let lock = match self {
            StopPoint::DeletingOldSecret => {
                sqlx::query("select 1 from vault.secrets where id = $1::uuid for update")
                    .bind(reference)
            }
            StopPoint::UnlinkingIntegration => sqlx::query(
                "select 1 from public.organization_integrations where id = $1 for update",
            )
            .bind(integration),
            StopPoint::AfterNewSecret => sqlx::query(TAKE_PAUSE_LOCK),
        };
        lock.execute(blocker).await.expect("take the blocking lock");
    }

    /// Whether the rotation's backend ($1) is where this stop point says, blocked by the
    /// blocker ($2): for a row, the tuple lock it holds while it waits for the blocker's
    /// transaction, in the mode of the statement that wants the row (DELETE and an UPDATE of the
    /// unique credential_vault_id both take AccessExclusiveLock; a foreign key check would take
    /// AccessShareLock) and on that row's ctid ($3 the old reference, $4 the integration).
    fn stopped_here(self) -> &'static str {
        match self {
            StopPoint::DeletingOldSecret => {
                "select exists (select from pg_locks l join vault.secrets s
                                  on format('(%s,%s)', l.page, l.tuple)::tid = s.ctid
                                where l.pid = $1 and l.granted and l.locktype = 'tuple'
                                  and l.relation = 'vault.secrets'::regclass
                                  and l.mode = 'AccessExclusiveLock' and s.id = $3::uuid)
                    and exists (select from pg_locks l join pg_stat_activity b on b.pid = $2
                                where l.pid = $1 and not l.granted and l.locktype = 'transactionid'
                                  and l.transactionid = b.backend_xid)"
            }
            StopPoint::UnlinkingIntegration => {
                "select exists (select from pg_locks l join public.organization_integrations i
                                  on format('(%s,%s)', l.page, l.tuple)::tid = i.ctid
                                where l.pid = $1 and l.granted and l.locktype = 'tuple'
                                  and l.relation = 'public.organization_integrations'::regclass
                                  and l.mode = 'AccessExclusiveLock' and i.id = $4)
                    and exists (select from pg_locks l join pg_stat_activity b on b.pid = $2
                                where l.pid = $1 and not l.granted and l.locktype = 'transactionid'
                                  and l.transactionid = b.backend_xid)"
            }
            // Waiting for the pause lock (a bigint key: classid holds its high 32 bits, objid
            // the low ones), with the old credentials row deleted or marked kept and the
            // integration unlinked already: both rows carry the rotation's transaction id as xmax.
            StopPoint::AfterNewSecret => {
                "select exists (select from pg_locks l
                                where l.pid = $1 and not l.granted and l.locktype = 'advisory'
                                  and l.classid = 0 and l.objid = 727001 and l.objsubid = 1)
                    and exists (select from pg_locks l
                                where l.pid = $2 and l.granted and l.locktype = 'advisory'
                                  and l.classid = 0 and l.objid = 727001 and l.objsubid = 1)
                    and exists (select from credential_vault.credentials c, pg_stat_activity v
                                where v.pid = $1 and c.vault_secret_id = $3::uuid
                                  and c.xmax = v.backend_xid)
                    and exists (select from public.organization_integrations i, pg_stat_activity v
                                where v.pid = $1 and i.id = $4 and i.xmax = v.backend_xid)"
            }
        }
    }
}

/// The row, transaction and advisory locks backend `pid` holds or waits for, for a failure
/// message.
async fn locks_of(pool: &PgPool, pid: i32) -> Vec<String> {
    sqlx::query_scalar(
        "select format('%s %s %s%s', locktype, mode, case when granted then 'held' else 'awaited' end,
                       coalesce(' on ' || relation::regclass::text, ''))
         from pg_locks where pid = $1 and locktype in ('tuple', 'transactionid', 'advisory')
         order by 1",
    )
    .bind(pid)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn retrieve(connection: &mut PgConnection, reference: &str) -> Result<Value, String> {
    let result = call_as(
        connection,
        &Caller::ServiceRole,
        api::RETRIEVE,
        &[reference],
    )
    .await;
    match result {
        Ok(mut rows) => Ok(serde_json::from_str(&rows.remove(0)).expect("credentials are JSON")),
        Err(_) => Err(sqlstate(&result)),
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_whose_backend_is_terminated_leaves_the_old_credentials_intact() {
    let db = TestDatabase::new().await;
    let integration = Tenants::create(&db.pool).await.integration;
    let original = credentials_json(&canary("original"));
    let reference = db.store(integration, &original).await;
    let mut client = db.pool.acquire().await.unwrap();
    sqlx::raw_sql(PAUSE_TRIGGER)
        .execute(&db.pool)
        .await
        .expect("add the pause trigger");
    let expected = RowCounts::of(&db.pool).await;

    let mut errors = BTreeMap::<String, usize>::new();
    for round in 0..TERMINATIONS {
        let (point, window) = ROUNDS[round % ROUNDS.len()];
        sqlx::query("select credential_vault.set_recovery_window($1::interval)")
            .bind(window)
            .execute(&db.pool)
            .await
            .unwrap();
        let mut blocker = db.pool.begin().await.unwrap();
        let blocker_pid: i32 = sqlx::query_scalar("select pg_backend_pid()")
            .fetch_one(&mut *blocker)
            .await
            .unwrap();
        point.block(&mut blocker, &reference, integration).await;

        let mut victim = PgConnection::connect_with(&db.options()).await.unwrap();
        let pid: i32 = sqlx::query_scalar("select pg_backend_pid()")
            .fetch_one(&mut victim)
            .await
            .unwrap();
        let (old, new) = (reference.clone(), credentials_json(&canary("rotated")));
        let rotation = tokio::spawn(async move {
            call_as(
                &mut victim,
                &Caller::ServiceRole,
                api::ROTATE,
                &[&old, &new],
            )
            .await
        });
        wait_until(
            &db.pool,
            "select pg_blocking_pids($1) = array[$2]",
            &[pid, blocker_pid],
            "the rotation never blocked",
        )
        .await;
        // Blocked, and stays so until the blocker rolls back: where it stopped cannot change.
        let stopped_here: bool = sqlx::query_scalar(point.stopped_here())
            .bind(pid)
            .bind(blocker_pid)
            .bind(&reference)
            .bind(integration)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert!(
            stopped_here,
            "round {round}: the rotation did not stop at {point:?} (window {window}): {:?}",
            locks_of(&db.pool, pid).await
        );
        let signalled: bool = sqlx::query_scalar("select pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert!(signalled, "round {round}: no backend to terminate");
        let result = rotation.await.unwrap();
        let error = match &result {
            Ok(_) => panic!("round {round} ({point:?}): the rotation went through"),
            Err(sqlx::Error::Database(e)) => e.code().unwrap_or_default().into_owned(),
            Err(_) => "connection lost".to_owned(),
        };
        *errors.entry(error).or_default() += 1;
        wait_until(
            &db.pool,
            "select not exists (select 1 from pg_stat_activity where pid = $1)",
            &[pid],
            "the terminated backend never exited",
        )
        .await;
        blocker.rollback().await.unwrap();

        assert_eq!(
            RowCounts::of(&db.pool).await,
            expected,
            "round {round} ({point:?}, window {window}): rows changed"
        );
        assert_eq!(orphans(&db.pool).await, 0, "round {round}");
        assert_eq!(
            credential_link(&db.pool, integration)
                .await
                .map(|id| id.to_string()),
            Some(reference.clone()),
            "round {round}: link"
        );
        assert_eq!(
            retrieve(&mut client, &reference).await,
            Ok(json(&original)),
            "round {round} ({point:?}, window {window}): the old credentials"
        );
    }
    report_figure(&format!(
        "faults: {TERMINATIONS} rotations terminated mid-way ({} stop points, with and without a \
         recovery window), errors seen {errors:?}; old reference intact {TERMINATIONS}/{TERMINATIONS}, \
         0 extra secrets or rows",
        ROUNDS.len()
    ));
}

/// Runs `pg_ctl` on the harness's cluster as the `postgres` user.
fn pg_ctl(args: &[&str]) {
    let pgdata = std::env::var("CV_PGDATA").expect("run through scripts/harness/with-cluster");
    let status = Command::new("runuser")
        .args([
            "-u",
            "postgres",
            "--",
            &format!("{PG_BIN}/pg_ctl"),
            "-D",
            &pgdata,
        ])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("run pg_ctl");
    assert!(status.success(), "pg_ctl {args:?} failed");
}

/// A store the client sent.
struct Store {
    integration: Uuid,
    json: String,
    /// The reference, when the commit was acknowledged.
    reference: Option<String>,
}

/// Stores into the next free integration until a store fails; returns every store sent.
async fn store_until_failure(
    mut connection: PgConnection,
    free: Arc<Mutex<Vec<Uuid>>>,
    acknowledged: watch::Sender<usize>,
) -> Vec<Store> {
    let mut stores = Vec::new();
    loop {
        let next = free.lock().unwrap().pop();
        let Some(integration) = next else { break };
        let json = credentials_json(&canary("crash"));
        let result = call_as(
            &mut connection,
            &Caller::ServiceRole,
            api::STORE,
            &[&integration.to_string(), &json],
        )
        .await;
        let failed = result.is_err();
        stores.push(Store {
            integration,
            json,
            reference: result.ok().map(|mut rows| rows.remove(0)),
        });
        if failed {
            break;
        }
        acknowledged.send_modify(|count| *count += 1);
    }
    stores
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "restarts the cluster: run alone"]
async fn stores_acknowledged_before_an_immediate_stop_survive_it_whole() {
    let db = TestDatabase::new().await;
    let durability: Vec<(String, String)> = sqlx::query_as(
        "select name, setting from pg_settings
         where name in ('fsync', 'full_page_writes', 'synchronous_commit') order by name",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let on = |name: &str| (name.to_owned(), "on".to_owned());
    assert_eq!(
        durability,
        [
            on("fsync"),
            on("full_page_writes"),
            on("synchronous_commit")
        ],
        "a durability test needs a durable server: scripts/harness/with-cluster --durable"
    );
    let tenants = Tenants::create(&db.pool).await;
    let mut sent: Vec<Store> = Vec::new();
    for crash in 0..CRASHES {
        let free = Arc::new(Mutex::new(tenants.add_integrations(&db.pool, 400).await));
        let (acknowledged, mut progress) = watch::channel(0);
        let mut storers = Vec::new();
        for _ in 0..STORERS {
            let connection = PgConnection::connect_with(&db.options()).await.unwrap();
            storers.push(tokio::spawn(store_until_failure(
                connection,
                free.clone(),
                acknowledged.clone(),
            )));
        }
        drop(acknowledged);
        // A different moment each time, while every storer is still busy.
        let target = 10 + 9 * crash;
        progress.wait_for(|count| *count >= target).await.unwrap();
        tokio::task::spawn_blocking(|| pg_ctl(&["stop", "-m", "immediate"]))
            .await
            .unwrap();
        for storer in storers {
            sent.extend(storer.await.unwrap());
        }
        assert!(
            !free.lock().unwrap().is_empty(),
            "the workload ended before the stop"
        );
        let log = std::env::var("CV_SERVER_LOG").unwrap();
        tokio::task::spawn_blocking(move || pg_ctl(&["start", "-w", "-t", "60", "-l", &log]))
            .await
            .unwrap();
        let recoveries = server_log()
            .matches("automatic recovery in progress")
            .count();
        assert_eq!(
            recoveries,
            crash + 1,
            "the server recovered from each immediate stop"
        );
        check_after_restart(&db, &sent).await;
    }
    let acknowledged = sent
        .iter()
        .filter(|store| store.reference.is_some())
        .count();
    let in_doubt = sent.len() - acknowledged;
    let counts = RowCounts::of(&db.pool).await;
    let committed_in_doubt = counts.credentials as usize - acknowledged;
    assert!(committed_in_doubt <= in_doubt, "rows nobody sent");
    report_figure(&format!(
        "crash: {CRASHES} immediate stops, {acknowledged} stores acknowledged and all retrievable, \
         {in_doubt} in flight ({} of them committed whole, the rest absent); {} secrets = {} credentials rows, \
         0 orphans, 0 half-written",
        committed_in_doubt, counts.vault_secrets, counts.credentials,
    ));
}

/// After a restart: every acknowledged store is retrievable with its value; a store in flight
/// at the stop either committed whole (with the value sent) or left nothing; secrets, rows,
/// links and audit rows match one to one.
async fn check_after_restart(db: &TestDatabase, sent: &[Store]) {
    let mut connection = PgConnection::connect_with(&db.options())
        .await
        .expect("reconnect after the restart");
    for store in sent {
        let linked = credential_link(&mut connection, store.integration)
            .await
            .map(|id| id.to_string());
        if let Some(reference) = &store.reference {
            assert_eq!(
                linked.as_ref(),
                Some(reference),
                "an acknowledged store lost its link"
            );
        }
        if let Some(reference) = linked {
            assert_eq!(
                retrieve(&mut connection, &reference).await,
                Ok(json(&store.json)),
                "a stored reference is not retrievable with its value"
            );
        }
    }
    assert_eq!(
        orphans(&mut connection).await,
        0,
        "secrets and credentials rows differ"
    );
    let half_written: i64 = sqlx::query_scalar(
        "select (select count(*) from credential_vault.credentials c
                 where not exists (select 1 from public.organization_integrations i
                                   where i.credential_vault_id = c.vault_secret_id and i.id = c.integration_id)
                    or not exists (select 1 from credential_vault.audit_log a
                                   where a.action = 'store' and a.vault_secret_id = c.vault_secret_id))
              + (select count(*) from public.organization_integrations i
                 where i.credential_vault_id is not null
                   and not exists (select 1 from credential_vault.credentials c
                                   where c.vault_secret_id = i.credential_vault_id))
              + (select count(*) from credential_vault.audit_log a
                 where a.action = 'store'
                   and not exists (select 1 from credential_vault.credentials c
                                   where c.vault_secret_id = a.vault_secret_id))",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap();
    assert_eq!(half_written, 0, "half-written rows");
}
