//! Benchmark: `credential_vault`'s store and retrieve, through the Rust client, against the raw
//! Supabase Vault calls a user would otherwise make (`vault.create_secret`, a
//! `vault.decrypted_secrets` lookup by id), with `select 1` as the round-trip floor.
//!
//! Runs inside `tests/harness/with-cluster` (it reads the PG* and CV_* variables the harness
//! exports); `bench/run` is the documented command and `bench/README.md` says what is measured
//! and how. Writes `latest.json`, `latest.md` and `latest.png` into `--out`.

mod chart;
mod machine;
mod measure;
mod populate;
mod probe;
mod report;
mod results;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use credential_vault_client::{
    CredentialMap, CredentialVault, IntegrationId, ServiceRoleCredentialVault,
    ServiceRolePgCredentialVault, VaultSecretId,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

use crate::measure::{Outcome, Rng, Timings};
use crate::populate::Population;
use crate::results::{Config, Implementation, Measurement, Operation, Results};

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OnOff {
    On,
    Off,
}

impl OnOff {
    fn as_str(self) -> &'static str {
        match self {
            OnOff::On => "on",
            OnOff::Off => "off",
        }
    }
}

/// Compares credential_vault's store and retrieve with the raw Vault calls.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Where latest.json, latest.md and latest.png are written.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
    /// Numbers of stored secrets of each kind (ours and raw) to measure at, grown in this order.
    #[arg(long, value_delimiter = ',', default_value = "1000,100000,1000000")]
    sizes: Vec<u64>,
    /// Client connections (one worker each) to measure with.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    connections: Vec<u32>,
    /// synchronous_commit values to measure with, set per connection at login.
    #[arg(long, value_delimiter = ',', default_value = "on,off")]
    synchronous_commit: Vec<OnOff>,
    /// Measured seconds per operation and setting, in all.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// The measured seconds are split into this many rounds of the five operations, so that
    /// ours and raw run interleaved, under the same conditions.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Warm-up seconds before an operation's first window in each setting (not counted).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Warm-up seconds before each later window (not counted).
    #[arg(long, default_value_t = 0.2)]
    settle: f64,
    /// The server's fsync for the measurements (the harness starts its clusters with fsync off,
    /// which would make synchronous_commit meaningless).
    #[arg(long, value_enum, default_value = "on")]
    fsync: OnOff,
    /// Rows per population statement.
    #[arg(long, default_value_t = 20_000)]
    chunk: u64,
    /// Parallel connections encrypting the population (default: the number of CPUs).
    #[arg(long)]
    populate_workers: Option<usize>,
    /// Re-render latest.md and latest.png from this latest.json without measuring.
    #[arg(long)]
    report_only: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let outcome = match &args.report_only {
        Some(json) => report_only(json, &args.out),
        None => benchmark(&args).await,
    };
    if let Err(error) = outcome {
        eprintln!("bench: {error}");
        std::process::exit(1);
    }
}

fn report_only(json: &Path, out: &Path) -> Result<()> {
    let text = std::fs::read_to_string(json)?;
    let results: Results = serde_json::from_str(&text)?;
    report::write_all(&results, out)
}

fn env(name: &str) -> Result<String> {
    std::env::var(name).map_err(|_| {
        format!("{name} is not set: run through tests/harness/with-cluster (see bench/README.md)")
            .into()
    })
}

async fn benchmark(args: &Args) -> Result<()> {
    let started = Instant::now();
    let mut sizes = args.sizes.clone();
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.is_empty() || sizes[0] == 0 || args.connections.contains(&0) {
        return Err("sizes and connections must be positive".into());
    }
    if args.seconds <= 0.0 || args.warmup < 0.0 || args.settle < 0.0 {
        return Err("--seconds must be positive, --warmup and --settle not negative".into());
    }
    let database = env("PGDATABASE")?;
    let vault_kind = env("CV_VAULT_KIND")?;
    std::fs::create_dir_all(&args.out)?;
    let load_before = machine::load_average();

    let superuser = credential_vault_tests::superuser_options(&database);
    let admin = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(superuser.clone())
        .await?;

    set_fsync(&superuser, args.fsync).await?;
    let server = machine::server_facts(&admin, &vault_kind).await?;
    let login = create_login(&admin).await?;
    let mut population = Population::new(&admin).await?;

    let workers = args.populate_workers.unwrap_or_else(machine::cpus).max(1);
    let warmup = Duration::from_secs_f64(args.warmup);
    let window = Duration::from_secs_f64(args.seconds);
    let mut results = Results {
        format: 1,
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        machine: machine::machine_facts(load_before),
        server,
        config: Config {
            command: std::env::args().collect::<Vec<_>>().join(" "),
            sizes: sizes.clone(),
            connections: args.connections.clone(),
            synchronous_commit: args
                .synchronous_commit
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            warmup_seconds: args.warmup,
            seconds: args.seconds,
            rounds: args.rounds.max(1),
            settle_seconds: args.settle,
            fsync: args.fsync.as_str().to_owned(),
            populate_workers: workers,
            payload_bytes: payload(&mut Rng::new(1)).expose_json().len(),
        },
        crypto_probe: None,
        crypto_calls: Vec::new(),
        extension_build_at_end: None,
        population: Vec::new(),
        measurements: Vec::new(),
        total_seconds: 0.0,
    };

    let settle = Duration::from_secs_f64(args.settle);
    let rounds = args.rounds.max(1);
    let slice = window / rounds;
    let mut spare_integrations: Vec<Uuid> = Vec::new();
    // Stores per second, to size the pre-created integrations; updated as stores are measured.
    let mut store_rate = 2_000.0f64;
    for &size in &sizes {
        let step = population
            .grow(&superuser, size, args.chunk, workers)
            .await?;
        results.population.push(step);
        if results.crypto_probe.is_none() {
            results.crypto_probe = Some(population.crypto_probe(&admin).await?);
            results.crypto_calls =
                probe::crypto_calls(&admin, &superuser, &population, &vault_kind).await?;
        }
        let ours_ids = Arc::new(population.ours.clone());
        let raw_ids = Arc::new(population.raw.clone());

        for &sync in &args.synchronous_commit {
            for &connections in &args.connections {
                let cell = Cell {
                    size,
                    sync,
                    connections,
                };
                eprintln!(
                    "bench: {size} secrets, synchronous_commit={}, {connections} connection(s)",
                    sync.as_str()
                );
                let pool = service_role_pool(&database, &login, sync, connections).await?;
                let ctx = Ctx {
                    vault: ServiceRolePgCredentialVault::new(pool.clone()),
                    pool,
                    connections,
                    ours_ids: ours_ids.clone(),
                    raw_ids: raw_ids.clone(),
                };
                let mut timings: [Timings; 5] = Default::default();
                for round in 0..rounds {
                    let warm = if round == 0 { warmup } else { settle };
                    // One fresh integration per store (an integration holds at most one
                    // reference), created beforehand so that no measurement includes it.
                    let needed = (store_rate * (warm + slice).as_secs_f64() * 3.0) as usize + 1_000;
                    if spare_integrations.len() < needed {
                        let more = needed - spare_integrations.len();
                        spare_integrations
                            .extend(population.create_integrations(&admin, more).await?);
                    }
                    let targets = Arc::new(std::mem::take(&mut spare_integrations));
                    let next = Arc::new(AtomicUsize::new(0));
                    let (mut ours_created, mut raw_created) = (Vec::new(), Vec::new());
                    for op in Op::order(round) {
                        let (t, created) =
                            measure_op(op, &ctx, &targets, &next, warm, slice).await?;
                        match op {
                            Op::OursStore => ours_created = created,
                            Op::RawStore => raw_created = created,
                            _ => {}
                        }
                        if matches!(op, Op::OursStore | Op::RawStore) {
                            store_rate = store_rate.max(t.rate());
                        }
                        timings[op as usize].merge(t);
                    }
                    // Back to `size` secrets of each kind before the next round.
                    let used = next.load(Ordering::Relaxed);
                    spare_integrations.extend(targets.iter().skip(used).copied());
                    population
                        .remove_stored(&admin, &ours_created, &raw_created)
                        .await?;
                }
                for (op, t) in Op::ALL.into_iter().zip(timings) {
                    let (operation, implementation) = op.kind();
                    results.push(cell.record(operation, implementation, t.sample()?));
                }
                ctx.pool.close().await;
            }
        }
    }

    results.machine.load_after = machine::load_average();
    results.extension_build_at_end = machine::fingerprint(&results.server.extension_library);
    results.total_seconds = started.elapsed().as_secs_f64();
    report::write_all(&results, &args.out)?;
    eprintln!(
        "bench: done in {:.0} s; results in {}",
        results.total_seconds,
        args.out.display()
    );
    Ok(())
}

/// The five things measured in every setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Floor,
    RawRetrieve,
    OursRetrieve,
    RawStore,
    OursStore,
}

impl Op {
    /// In `timings` order.
    const ALL: [Op; 5] = [
        Op::Floor,
        Op::RawRetrieve,
        Op::OursRetrieve,
        Op::RawStore,
        Op::OursStore,
    ];

    /// The round's order: raw first in even rounds, ours first in odd ones, so that neither
    /// side always follows the other.
    fn order(round: u32) -> [Op; 5] {
        if round.is_multiple_of(2) {
            Op::ALL
        } else {
            [
                Op::Floor,
                Op::OursRetrieve,
                Op::RawRetrieve,
                Op::OursStore,
                Op::RawStore,
            ]
        }
    }

    fn kind(self) -> (Operation, Implementation) {
        match self {
            Op::Floor => (Operation::RoundTrip, Implementation::Floor),
            Op::RawRetrieve => (Operation::Retrieve, Implementation::Raw),
            Op::OursRetrieve => (Operation::Retrieve, Implementation::Ours),
            Op::RawStore => (Operation::Store, Implementation::Raw),
            Op::OursStore => (Operation::Store, Implementation::Ours),
        }
    }
}

/// What the measurements of one setting share.
struct Ctx {
    pool: PgPool,
    vault: ServiceRolePgCredentialVault,
    connections: u32,
    ours_ids: Arc<Vec<Uuid>>,
    raw_ids: Arc<Vec<Uuid>>,
}

/// One window of `op`. Ours goes through the client; raw through sqlx prepared statements on the
/// same pool. Stores of ours take the next of `targets`, a fresh integration each.
async fn measure_op(
    op: Op,
    ctx: &Ctx,
    targets: &Arc<Vec<Uuid>>,
    next: &Arc<AtomicUsize>,
    warmup: Duration,
    window: Duration,
) -> Result<(Timings, Vec<Uuid>)> {
    let connections = ctx.connections;
    match op {
        Op::Floor => {
            let pool = ctx.pool.clone();
            measure::run(connections, warmup, window, move |_| {
                let pool = pool.clone();
                async move {
                    sqlx::query_scalar::<_, i32>("select 1")
                        .fetch_one(&pool)
                        .await
                        .map_err(|e| format!("select 1: {e}"))?;
                    Ok(Outcome::Done)
                }
            })
            .await
        }
        Op::RawRetrieve => {
            let (pool, ids) = (ctx.pool.clone(), ctx.raw_ids.clone());
            measure::run(connections, warmup, window, move |rng| {
                let (pool, id) = (pool.clone(), ids[rng.below(ids.len())]);
                async move {
                    let secret: Option<String> = sqlx::query_scalar(
                        "select decrypted_secret from vault.decrypted_secrets where id = $1",
                    )
                    .bind(id)
                    .fetch_one(&pool)
                    .await
                    .map_err(|e| format!("raw lookup: {e}"))?;
                    secret
                        .filter(|s| !s.is_empty())
                        .ok_or("raw lookup returned no secret")?;
                    Ok(Outcome::Done)
                }
            })
            .await
        }
        Op::OursRetrieve => {
            let (vault, ids) = (ctx.vault.clone(), ctx.ours_ids.clone());
            measure::run(connections, warmup, window, move |rng| {
                let (vault, id) = (vault.clone(), ids[rng.below(ids.len())]);
                async move {
                    let credentials = vault
                        .retrieve(VaultSecretId::from(id))
                        .await
                        .map_err(|e| format!("retrieve: {e}"))?;
                    credentials.get("api_key").ok_or("retrieve: no api_key")?;
                    Ok(Outcome::Done)
                }
            })
            .await
        }
        Op::RawStore => {
            let pool = ctx.pool.clone();
            measure::run(connections, warmup, window, move |rng| {
                let (pool, credentials) = (pool.clone(), payload(rng));
                async move {
                    let json = credentials.expose_json();
                    let id: Uuid = sqlx::query_scalar("select vault.create_secret($1)")
                        .bind(json.as_str())
                        .fetch_one(&pool)
                        .await
                        .map_err(|e| format!("create_secret: {e}"))?;
                    Ok(Outcome::Created(id))
                }
            })
            .await
        }
        Op::OursStore => {
            let (vault, targets, next) = (ctx.vault.clone(), targets.clone(), next.clone());
            measure::run(connections, warmup, window, move |rng| {
                let vault = vault.clone();
                let target = targets.get(next.fetch_add(1, Ordering::Relaxed)).copied();
                let credentials = payload(rng);
                async move {
                    let Some(integration) = target else {
                        return Ok(Outcome::Exhausted);
                    };
                    vault
                        .store(IntegrationId::from(integration), &credentials)
                        .await
                        .map_err(|e| format!("store: {e}"))?;
                    Ok(Outcome::Created(integration))
                }
            })
            .await
        }
    }
}

/// Where one measurement was taken.
#[derive(Debug, Clone, Copy)]
struct Cell {
    size: u64,
    sync: OnOff,
    connections: u32,
}

impl Cell {
    fn record(
        &self,
        operation: Operation,
        implementation: Implementation,
        sample: measure::Sample,
    ) -> Measurement {
        eprintln!(
            "bench:   {:<8} {:<5} {:>9.1} ops/s  p50 {:>8.3} ms  p99 {:>8.3} ms{}",
            operation.label(),
            implementation.label(),
            sample.ops_per_sec,
            sample.p50_ms,
            sample.p99_ms,
            if sample.exhausted {
                "  (ran out of integrations)"
            } else {
                ""
            }
        );
        Measurement {
            size: self.size,
            synchronous_commit: self.sync.as_str().to_owned(),
            connections: self.connections,
            operation,
            implementation,
            sample,
        }
    }
}

/// Credentials of the same shape and size as the population's: an API key of 32 random hex
/// digits and a client id.
fn payload(rng: &mut Rng) -> CredentialMap {
    let key = format!("sk-bench-{:016x}{:016x}", rng.next(), rng.next());
    CredentialMap::new([("api_key", key), ("client_id", "client-1".to_owned())])
        .expect("valid benchmark credentials")
}

/// The harness starts clusters with fsync off; `alter system` + reload changes it for this one
/// throwaway cluster only.
async fn set_fsync(superuser: &PgConnectOptions, fsync: OnOff) -> Result<()> {
    let mut conn = PgConnection::connect_with(superuser).await?;
    let statement = match fsync {
        OnOff::On => "alter system set fsync = on",
        OnOff::Off => "alter system set fsync = off",
    };
    conn.execute(statement).await?;
    conn.execute("select pg_reload_conf()").await?;
    conn.close().await?;
    // The postmaster rereads its configuration asynchronously: wait until new backends see it.
    for _ in 0..100 {
        let mut conn = PgConnection::connect_with(superuser).await?;
        let now: String = sqlx::query_scalar("select current_setting('fsync')")
            .fetch_one(&mut conn)
            .await?;
        conn.close().await?;
        if now == fsync.as_str() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("the server did not take fsync = {}", fsync.as_str()).into())
}

/// A login role that is a member of `service_role`, as the back end of a Supabase project would
/// connect (the API gateway's `authenticator` does the same), with a random password.
struct Login {
    user: String,
    password: String,
}

async fn create_login(admin: &PgPool) -> Result<Login> {
    let login = Login {
        user: "cv_bench".to_owned(),
        password: format!("{}", Uuid::new_v4().simple()),
    };
    // CREATE ROLE takes no bind parameters: quote with format('%I', '%L') in SQL.
    let statement: String = sqlx::query_scalar(
        "select format('create role %I login password %L in role service_role', $1::text, $2::text)",
    )
    .bind(&login.user)
    .bind(&login.password)
    .fetch_one(admin)
    .await?;
    admin.execute(statement.as_str()).await?;
    Ok(login)
}

/// `connections` TCP connections as the login role, switched to `service_role` at login, with
/// `synchronous_commit` set at login too. Ours and raw share it, so they share every setting.
/// The pool does not ping a connection before handing it out (sqlx's default does, which would
/// add a round trip to every call).
async fn service_role_pool(
    database: &str,
    login: &Login,
    sync: OnOff,
    connections: u32,
) -> Result<PgPool> {
    let options = credential_vault_tests::tcp_options(database, &login.user, &login.password)
        .options([
            ("role", "service_role"),
            ("synchronous_commit", sync.as_str()),
        ]);
    let pool = PgPoolOptions::new()
        .max_connections(connections)
        .min_connections(0)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await?;
    // Open every connection now, and check what each one runs as.
    let mut open = Vec::new();
    for _ in 0..connections {
        open.push(pool.acquire().await?);
    }
    for conn in &mut open {
        let (role, setting): (String, String) =
            sqlx::query_as("select current_user::text, current_setting('synchronous_commit')")
                .fetch_one(&mut **conn)
                .await?;
        if role != "service_role" || setting != sync.as_str() {
            return Err(format!(
                "a pooled connection runs as {role} with synchronous_commit={setting}"
            )
            .into());
        }
    }
    drop(open);
    Ok(pool)
}
