//! Benchmark of credential_vault's retrieve and store against raw Vault and the plpgsql wrapper a
//! user would write (bench/baseline.sql), with `select 1` as the floor. Runs inside
//! scripts/harness/with-cluster; pgbench (`-M prepared`, unix socket) does the measuring, this
//! program populates, interleaves the rounds, computes the ratios and writes the results.
//! bench/README.md says what is measured and how.

mod chart;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use clap::Parser;
use serde_json::{Value, json};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Compares credential_vault with raw Vault and a plpgsql wrapper, through pgbench.
#[derive(Debug, Parser)]
struct Args {
    /// Secrets of each kind (raw and ours), grown in this order.
    #[arg(long, value_delimiter = ',', default_value = "1000,100000,1000000")]
    sizes: Vec<u32>,
    /// pgbench clients (one connection each).
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    clients: Vec<u32>,
    /// synchronous_commit values, set per connection.
    #[arg(long, value_delimiter = ',', default_value = "on,off")]
    synchronous_commit: Vec<String>,
    /// Seconds per pgbench run (one operation, one round).
    #[arg(long, default_value_t = 2)]
    seconds: u32,
    /// Interleaved rounds per setting: every operation runs once per round.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Seconds dropped at the start of each pgbench run (new connections warming up).
    #[arg(long, default_value_t = 0.25)]
    warmup: f64,
    /// Run even on a debug build, and write nowhere in bench/results: not a result.
    #[arg(long)]
    smoke: bool,
    /// Where latest.{md,json,png} go (a smoke run writes to a temporary directory instead).
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
}

/// (operation, implementation, pgbench script), from bench/scripts.sql.
fn scripts() -> Vec<(&'static str, &'static str, &'static str)> {
    let text = include_str!("../scripts.sql");
    let parts = text.split("\n--- ").skip(1);
    parts
        .filter_map(|part| {
            let (header, script) = part.split_once('\n')?;
            let (op, implementation) = header.split_once(' ')?;
            Some((op, implementation, script))
        })
        .collect()
}

/// The measured stores' credentials: synthetic, the population's shape (bench.payload).
const PAYLOAD: &str =
    r#"{"api_key": "sk-bench-00000000000000000000000000000000", "client_id": "client-1"}"#;

/// Everything one (size, clients, synchronous_commit, operation, implementation) measured.
#[derive(Default)]
struct Sample {
    transactions: u64,
    seconds: f64,
    latencies_us: Vec<u64>,
    errors: u64,
}

impl Sample {
    fn throughput(&self) -> f64 {
        self.transactions as f64 / self.seconds.max(1e-9)
    }
    /// Nearest rank, in milliseconds.
    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0 * sorted.len() as f64).ceil() as usize).max(1);
        sorted
            .get(rank - 1)
            .map_or(f64::NAN, |&us| us as f64 / 1000.0)
    }
}

type Key = (u32, u32, String, &'static str, &'static str);

type Samples = BTreeMap<Key, Sample>;

/// A server the benchmark talks to, by its socket directory and port: the harness's (PGHOST,
/// PGPORT), and with `bench/run --baseline` the baseline build's, whose cluster its own harness
/// started around this one (CV_BASELINE_PGHOST, CV_BASELINE_PGPORT, CV_BASELINE_PG_CONFIG).
struct Server {
    host: String,
    port: String,
    pg_config: PathBuf,
}

impl Server {
    fn from_env(prefix: &str) -> Result<Self> {
        let var = |name: &str| std::env::var(format!("{prefix}{name}"));
        Ok(Self {
            host: var("PGHOST")?,
            port: var("PGPORT")?,
            pg_config: var("PG_CONFIG").map_or_else(|_| pg_bin("pg_config"), PathBuf::from),
        })
    }

    /// The credential_vault library this server loads, and whether it is a release or a debug
    /// build: a debug build carries DWARF sections, the release profile (workspace Cargo.toml)
    /// none.
    fn build(&self) -> Result<(PathBuf, &'static str)> {
        let pkglibdir = Command::new(&self.pg_config).arg("--pkglibdir").output()?;
        let library =
            Path::new(String::from_utf8(pkglibdir.stdout)?.trim()).join("credential_vault.so");
        let sections = Command::new("readelf").arg("-SW").arg(&library).output()?;
        if !sections.status.success() {
            return Err(format!(
                "readelf -S {}: {}",
                library.display(),
                String::from_utf8_lossy(&sections.stderr)
            )
            .into());
        }
        let debug = String::from_utf8_lossy(&sections.stdout).contains(".debug_info");
        Ok((library, ["release", "debug"][usize::from(debug)]))
    }
}

fn main() {
    if let Err(error) = run(&Args::parse()) {
        eprintln!("bench: {error}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<()> {
    let (started, machine) = (Instant::now(), machine());
    let vault = std::env::var("CV_VAULT_KIND")
        .map_err(|_| "CV_VAULT_KIND is not set: run inside scripts/harness/with-cluster")?;
    let superuser = std::env::var("CV_SUPERUSER")?;
    let ours = Server::from_env("")?;
    let baseline = Server::from_env("CV_BASELINE_").ok();
    // Every server measured, ours first.
    let servers: Vec<&Server> = std::iter::once(&ours).chain(&baseline).collect();
    let mut builds = Vec::new();
    for server in &servers {
        let (library, build) = server.build()?;
        let version = pg(
            server,
            "select extversion from pg_extension where extname = 'credential_vault'",
            &[],
        )?;
        println!(
            "bench: Vault {vault}, credential_vault {version}, {build} build ({})",
            library.display()
        );
        if build == "debug" && !args.smoke {
            return Err(
                "debug build: refusing to report (install a release build, or --smoke)".into(),
            );
        }
        builds.push(
            json!({"version": version, "build": build, "library": library,
                           "bytes": std::fs::metadata(&library)?.len()}),
        );
    }
    let out = if args.smoke {
        println!("bench: SMOKE RUN, NOT A RESULT: writing nowhere in bench/results");
        std::env::temp_dir().join("credential-vault-bench-smoke")
    } else {
        args.out.clone()
    };
    let mut sizes = args.sizes.clone();
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.first() == Some(&0)
        || args.clients.contains(&0)
        || args.warmup >= f64::from(args.seconds)
    {
        return Err("sizes and clients must be positive, --warmup shorter than --seconds".into());
    }
    let mut migrations = Vec::new();
    for server in &servers {
        // The harness starts clusters with fsync off, which would make synchronous_commit moot.
        psql(
            server,
            &superuser,
            "",
            "alter system set fsync = on; select pg_reload_conf();",
            &[],
        )?;
        while pg(server, "show fsync", &[])? != "on" {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        pg(
            server,
            concat!(
                include_str!("../setup.sql"),
                include_str!("../baseline.sql")
            ),
            &[],
        )?;
        migrations.push(
            pg(
                server,
                "select to_regclass('public.organization_integrations') is not null",
                &[],
            )? == "t",
        );
    }
    if migrations.iter().any(|&m| m != migrations[0]) {
        return Err("the baseline's cluster and ours differ in the app's migrations".into());
    }
    let migrations = migrations[0];
    let scripts = scripts();
    let tmp = std::env::temp_dir().join(format!("cv-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    for (i, (_, _, script)) in scripts.iter().enumerate() {
        std::fs::write(tmp.join(format!("{i}.sql")), script)?;
    }
    let mut samples = Samples::new();
    let mut population = Vec::new();
    // Stores per second and client, per clients, raised as measured; 3x that in spare integrations.
    let mut store_rates: BTreeMap<u32, f64> = BTreeMap::new();
    for &size in &sizes {
        let growing = Instant::now();
        // Raw in one connection; ours, the slower, in one per CPU, each the keys k % parts = part.
        // The baseline's server holds only its own ours.
        let parts = std::thread::available_parallelism()?.get();
        let mut children = vec![grow(&ours, true, size, 0, 1)?];
        for (server, part) in servers.iter().flat_map(|s| (0..parts).map(move |p| (s, p))) {
            children.push(grow(server, false, size, part, parts)?);
        }
        children.into_iter().try_for_each(|c| finish(c).map(drop))?;
        for server in &servers {
            psql(server, &superuser, "", "vacuum analyze; checkpoint;", &[])?;
        }
        let seconds = growing.elapsed().as_secs_f64();
        println!("bench: populated {size} secrets of each kind in {seconds:.1} s");
        population.push(json!({"size": size, "seconds": seconds}));
        for (sync, &clients) in args
            .synchronous_commit
            .iter()
            .flat_map(|s| args.clients.iter().map(move |c| (s, c)))
        {
            println!(
                "bench: measuring {size} secrets, {clients} clients, synchronous_commit {sync}"
            );
            let rate = store_rates
                .entry(clients)
                .or_insert(12000.0 / f64::from(clients));
            for round in 0..args.rounds {
                for op in ["retrieve", "store"] {
                    // (script, server, implementation): ours' script runs on the baseline's
                    // server too, as "baseline".
                    let mut order: Vec<(usize, usize, &'static str)> = (0..scripts.len())
                        .filter(|&i| scripts[i].0 == op)
                        .map(|i| (i, 0, scripts[i].1))
                        .collect();
                    if let Some(&(i, _, _)) = order.iter().find(|o| o.2 == "ours") {
                        order.extend((1..servers.len()).map(|server| (i, server, "baseline")));
                    }
                    if round % 2 == 1 {
                        order.reverse();
                    }
                    let cap = (*rate * f64::from(args.seconds) * 3.0) as u32 + 500;
                    let mut since = Vec::new();
                    for server in &servers {
                        since.push(pg(server, "select now()", &[])?);
                        if op == "store" {
                            let vars = [("clients", clients.to_string()), ("cap", cap.to_string())];
                            pg(server, "call bench.prepare_spare(:clients, :cap)", &vars)?;
                        }
                    }
                    // Per server: the stores each client made, as an array literal.
                    let mut counts = vec![String::from("{}"); servers.len()];
                    for (i, server, implementation) in order {
                        let (run, per_client) = pgbench(
                            args,
                            servers[server],
                            &tmp.join(format!("{i}.sql")),
                            (size, clients, sync),
                        )?;
                        if op == "store" && scripts[i].1 == "ours" {
                            *rate = rate.max(run.throughput() / f64::from(clients));
                            if per_client.iter().any(|&c| c >= u64::from(cap)) {
                                return Err("ran out of spare integrations".into());
                            }
                            counts[server] = format!("{per_client:?}")
                                .replace('[', "{")
                                .replace(']', "}");
                        }
                        let key = (size, clients, sync.clone(), op, implementation);
                        let sample = samples.entry(key).or_default();
                        sample.transactions += run.transactions;
                        sample.seconds += run.seconds;
                        sample.latencies_us.extend(run.latencies_us);
                        sample.errors += run.errors;
                    }
                    if op == "store" {
                        for ((server, since), counts) in servers.iter().zip(since).zip(counts) {
                            let vars = [("since", since), ("counts", counts)];
                            pg(server, "call bench.cleanup(:'since', :'counts')", &vars)?;
                        }
                    }
                }
            }
        }
    }
    std::fs::remove_dir_all(&tmp)?;
    let mut revokes = Vec::new();
    for (server, build) in servers.iter().zip(&builds) {
        let version = build["version"].as_str().unwrap_or_default();
        revokes.extend(revoke(
            server,
            &superuser,
            version,
            sizes.last().copied().unwrap_or(0),
        )?);
    }

    let facts = json!({
        "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "smoke": args.smoke, "vault": vault, "build": builds[0]["build"], "migrations": migrations,
        "postgresql": pg(&ours, "show server_version", &[])?, "machine": machine,
        "ours": builds[0], "baseline": builds.get(1),
        "config": {"sizes": sizes, "clients": args.clients, "synchronous_commit": args.synchronous_commit,
                   "seconds": args.seconds, "rounds": args.rounds, "warmup": args.warmup,
                   "pgbench": "-M prepared, unix socket, -l (every transaction's latency)",
                   "session": "postgres with startup options role=service_role, synchronous_commit"},
        "population": population, "revoke": revokes, "total_seconds": started.elapsed().as_secs_f64(),
    });
    let measurements: Vec<Value> = samples
        .iter()
        .map(|((size, clients, sync, op, implementation), s)| {
            json!({"size": size, "clients": clients, "synchronous_commit": sync, "operation": op,
                   "implementation": implementation, "transactions": s.transactions,
                   "seconds": s.seconds, "throughput": s.throughput(), "p50_ms": s.percentile(50.0),
                   "p99_ms": s.percentile(99.0), "errors": s.errors})
        })
        .collect();
    let (table, targets) = report(&samples, &sizes, args, migrations);
    let markdown = markdown(&facts, &table, &targets);
    println!("\n{table}\n{}", targets_markdown(&targets));
    std::fs::create_dir_all(&out)?;
    let mut results = facts;
    results["measurements"] = Value::Array(measurements);
    results["targets"] = Value::Array(targets);
    let json = serde_json::to_string_pretty(&results)? + "\n";
    std::fs::write(out.join("latest.json"), json)?;
    std::fs::write(out.join("latest.md"), markdown)?;
    chart::draw(&samples, &out.join("latest.png"))?;
    println!("bench: wrote {}/latest.{{md,json,png}}", out.display());
    Ok(())
}

/// Incident response: revoking 10 and 100 thousand of the populated credentials in one call each
/// (disjoint sets, the app's link hook told of each), as far as the population reaches. The
/// cost is meant to be linear: seconds per credential are reported beside the seconds.
fn revoke(server: &Server, superuser: &str, version: &str, population: u32) -> Result<Vec<Value>> {
    let mut revokes = Vec::new();
    let mut first = 1;
    for count in [10_000u32, 100_000] {
        if first + count - 1 > population {
            break;
        }
        let vars = [
            ("first", first.to_string()),
            ("last", (first + count - 1).to_string()),
        ];
        let timing = Instant::now();
        let destroyed = psql(
            server,
            superuser,
            "",
            "select count(*) from credential_vault.revoke_integration_credentials(array(
               select c.integration_id from bench.our_ids o
               join credential_vault.credentials c on c.vault_secret_id = o.id
               where o.n between :first and :last))",
            &vars,
        )?;
        let seconds = timing.elapsed().as_secs_f64();
        if destroyed != count.to_string() {
            return Err(format!("revoke destroyed {destroyed} of {count}").into());
        }
        println!("bench: {version} revoked {count} credentials in one call in {seconds:.2} s");
        revokes.push(
            json!({"version": version, "credentials": count, "seconds": seconds,
                            "microseconds_each": seconds * 1e6 / f64::from(count)}),
        );
        first += count;
    }
    Ok(revokes)
}

const AS_SERVICE: &str = "-c role=service_role";
/// The server's programs: those of scripts/harness/with-cluster's CV_PG_CONFIG (Debian's
/// PostgreSQL 15 unless told otherwise), whose library directory holds the build measured.
fn pg_bin(program: &str) -> std::path::PathBuf {
    let config = std::env::var("CV_PG_CONFIG")
        .unwrap_or_else(|_| "/usr/lib/postgresql/15/bin/pg_config".to_owned());
    Path::new(&config).with_file_name(program)
}

/// One pgbench run of script i: what it measured after the warm-up, and how many transactions
/// each client ran (warm-up included).
fn pgbench(
    args: &Args,
    server: &Server,
    script: &Path,
    (size, clients, sync): (u32, u32, &str),
) -> Result<(Sample, Vec<u64>)> {
    let tmp = script.parent().ok_or("no directory")?;
    let logs = tmp.join("logs");
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs)?;
    let threads = clients.min(std::thread::available_parallelism()?.get() as u32);
    let output = Command::new(pg_bin("pgbench"))
        .args([
            "-n",
            "-M",
            "prepared",
            "-l",
            "-c",
            &clients.to_string(),
            "-j",
            &threads.to_string(),
        ])
        .args([
            "-T",
            &args.seconds.to_string(),
            "-D",
            &format!("n={size}"),
            "-D",
            "i=0",
            "-D",
        ])
        .args([
            format!("payload={PAYLOAD}"),
            format!("--log-prefix={}/tx", logs.display()),
        ])
        .arg("-f")
        .arg(script)
        .env("PGUSER", "postgres")
        .env("PGHOST", &server.host)
        .env("PGPORT", &server.port)
        .env(
            "PGOPTIONS",
            format!("{AS_SERVICE} -c synchronous_commit={sync}"),
        )
        .output()?;
    let mut sample = Sample::default();
    if !output.status.success() {
        eprintln!(
            "bench: pgbench failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        sample.errors += 1;
    }
    // Each line: client_id transaction_no latency_us script_no epoch_s epoch_us (completion).
    let mut rows: Vec<(usize, u64, Option<u64>, f64)> = Vec::new();
    for entry in std::fs::read_dir(&logs)? {
        for line in std::fs::read_to_string(entry?.path())?.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if let [c, t, latency, _, s, us, ..] = f[..] {
                let done = s.parse::<f64>()? + us.parse::<f64>()? / 1e6;
                rows.push((c.parse()?, t.parse()?, latency.parse().ok(), done));
            }
        }
    }
    let mut counts = vec![0u64; clients as usize];
    for &(c, t, _, _) in &rows {
        counts[c] = counts[c].max(t + 1);
    }
    let first = rows.iter().map(|r| r.3).fold(f64::INFINITY, f64::min);
    let last = rows.iter().map(|r| r.3).fold(f64::NEG_INFINITY, f64::max);
    let cut = first + args.warmup;
    for &(_, _, latency, _) in rows.iter().filter(|r| r.3 > cut) {
        match latency {
            Some(us) => sample.latencies_us.push(us),
            None => sample.errors += 1,
        }
    }
    sample.transactions = sample.latencies_us.len() as u64;
    sample.seconds = (last - cut).max(0.0);
    Ok((sample, counts))
}

/// The table, and the targets judged. With a baseline build measured in the same run, two more
/// columns: its throughput and ours/baseline.
fn report(samples: &Samples, sizes: &[u32], args: &Args, migrations: bool) -> (String, Vec<Value>) {
    let with_baseline = samples.keys().any(|key| key.4 == "baseline");
    let mut table = String::from(
        "| secrets | clients | sync | operation | floor/s | raw/s | wrapper/s | ours/s \
         | ours/raw | ours/wrapper | ours/floor | p50 ms raw / wrapper / ours \
         | p99 ms raw / wrapper / ours | errors |",
    );
    table += ["\n", " baseline/s | ours/baseline |\n"][usize::from(with_baseline)];
    table += &"|---".repeat(14 + 2 * usize::from(with_baseline));
    table += "|\n";
    let mut targets = Vec::new();
    let mut target = |name: &str, setting: &str, value: f64, goal: f64, at_most: bool| {
        let pass = if at_most {
            value <= goal
        } else {
            value >= goal
        };
        let margin = if at_most { goal - value } else { value - goal };
        targets.push(json!({"target": name, "setting": setting, "value": value,
                            "goal": goal, "pass": pass, "margin": margin}));
    };
    let get = |size: u32, clients: u32, sync: &str, op: &'static str, implementation| {
        samples.get(&(size, clients, sync.to_owned(), op, implementation))
    };
    let max_clients = args.clients.iter().copied().max().unwrap_or(1);
    for &size in sizes {
        for sync in &args.synchronous_commit {
            for &clients in &args.clients {
                for op in ["retrieve", "store"] {
                    let s = |implementation| get(size, clients, sync, op, implementation);
                    let (Some(raw), Some(wrapper), Some(ours)) =
                        (s("raw"), s("wrapper"), s("ours"))
                    else {
                        continue;
                    };
                    let floor = get(size, clients, sync, "retrieve", "floor");
                    let floor_rate = floor.map_or(f64::NAN, Sample::throughput);
                    let vs_raw = ours.throughput() / raw.throughput();
                    let vs_wrapper = ours.throughput() / wrapper.throughput();
                    let baseline = s("baseline");
                    let errors = raw.errors
                        + wrapper.errors
                        + ours.errors
                        + floor.map_or(0, |f| f.errors)
                        + baseline.map_or(0, |b| b.errors);
                    let ms = |p| {
                        [raw, wrapper, ours]
                            .map(|s: &Sample| format!("{:.3}", s.percentile(p)))
                            .join(" / ")
                    };
                    table += &format!(
                        "| {size} | {clients} | {sync} | {op} | {floor_rate:.0} | {:.0} | {:.0} | {:.0} \
                         | {vs_raw:.2}x | {vs_wrapper:.2}x | {:.2}x | {} | {} | {errors} |",
                        raw.throughput(),
                        wrapper.throughput(),
                        ours.throughput(),
                        ours.throughput() / floor_rate,
                        ms(50.0),
                        ms(99.0),
                    );
                    let set =
                        format!("{size} secrets, {clients} clients, synchronous_commit {sync}");
                    if let Some(baseline) = baseline {
                        let vs_baseline = ours.throughput() / baseline.throughput();
                        table += &format!(" {:.0} | {vs_baseline:.2}x |", baseline.throughput());
                        target(
                            &format!("{op} >= 1.0x the baseline build"),
                            &set,
                            vs_baseline,
                            1.0,
                            false,
                        );
                    }
                    table += "\n";
                    if op == "retrieve" {
                        target("retrieve >= 1.0x raw lookup", &set, vs_raw, 1.0, false);
                        target(
                            "retrieve >= 1.5x plpgsql wrapper",
                            &set,
                            vs_wrapper,
                            1.5,
                            false,
                        );
                    } else {
                        target(
                            "store >= 1.0x plpgsql wrapper",
                            &set,
                            vs_wrapper,
                            1.0,
                            false,
                        );
                        if migrations {
                            target("store >= 1.0x raw create_secret", &set, vs_raw, 1.0, false);
                        }
                    }
                    if clients == max_clients && clients > 1 {
                        let tail = ours.percentile(99.0) / ours.percentile(50.0);
                        target(&format!("{op}: 0 errors"), &set, errors as f64, 0.0, true);
                        target(&format!("{op}: ours' p99 <= 3x p50"), &set, tail, 3.0, true);
                    }
                }
            }
        }
    }
    if let (Some(&small), Some(&large), true) = (sizes.first(), sizes.last(), sizes.len() > 1) {
        for sync in &args.synchronous_commit {
            for &clients in &args.clients {
                let rate =
                    |size| get(size, clients, sync, "retrieve", "ours").map(Sample::throughput);
                if let (Some(a), Some(b)) = (rate(small), rate(large)) {
                    let set = format!("{small} -> {large} secrets, {clients} clients, sync {sync}");
                    target("retrieve cost flat within 15%", &set, a / b, 1.15, true);
                }
            }
        }
    }
    (table, targets)
}

/// A JSON value as Markdown text: strings without their quotes.
fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

fn targets_markdown(targets: &[Value]) -> String {
    let mut md =
        String::from("| target | setting | measured | pass | margin |\n|---|---|---|---|---|\n");
    for t in targets {
        let (value, margin) = (
            t["value"].as_f64().unwrap_or(f64::NAN),
            t["margin"].as_f64().unwrap_or(f64::NAN),
        );
        let pass = ["MISS", "pass"][usize::from(t["pass"] == true)];
        md += &format!(
            "| {} | {} | {value:.2} | {pass} | {margin:+.2} |\n",
            text(&t["target"]),
            text(&t["setting"])
        );
    }
    md
}

fn markdown(facts: &Value, table: &str, targets: &[Value]) -> String {
    let mut md = String::from("# Benchmark results\n\n");
    if facts["smoke"] == true {
        md += "**SMOKE RUN: NOT A RESULT.**\n\n";
    }
    for (label, key) in [("Date", "date"), ("Vault", "vault"), ("Build", "build")] {
        md += &format!("- {label}: {}\n", text(&facts[key]));
    }
    for (label, key) in [("Ours", "ours"), ("Baseline, same run", "baseline")] {
        let build = &facts[key];
        if !build.is_null() {
            md += &format!(
                "- {label}: credential_vault {}, {} build, {} bytes\n",
                text(&build["version"]),
                text(&build["build"]),
                build["bytes"]
            );
        }
    }
    let m = &facts["machine"];
    md += &format!(
        "- PostgreSQL: {}\n- Machine: {}, {} cores, {:.1} GiB, load average before: {}\n\
         - App migrations applied: {}\n- Config: `{}`\n\n",
        text(&facts["postgresql"]),
        text(&m["cpu"]),
        m["cores"],
        m["memory_gib"].as_f64().unwrap_or(f64::NAN),
        text(&m["load_before"]),
        facts["migrations"],
        facts["config"],
    );
    md += "Throughput in calls per second; ratios are of throughput; ours/floor is against `select 1`.\n\n";
    md += &(table.to_owned() + "\n## Targets\n\n" + &targets_markdown(targets));
    md += "\n## Revoking in one call\n\n| build | credentials | seconds | microseconds each |\n|---|---|---|---|\n";
    for revoke in facts["revoke"].as_array().into_iter().flatten() {
        md += &format!(
            "| {} | {} | {:.2} | {:.0} |\n",
            text(&revoke["version"]),
            revoke["credentials"],
            revoke["seconds"].as_f64().unwrap_or(f64::NAN),
            revoke["microseconds_each"].as_f64().unwrap_or(f64::NAN)
        );
    }
    md
}

fn machine() -> Value {
    let read = |path| std::fs::read_to_string(path).unwrap_or_default();
    let field = |file, key| {
        let text = read(file);
        let line = text
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_default();
        line.split_once(':')
            .map_or(String::new(), |(_, v)| v.trim().to_owned())
    };
    let kib: f64 = field("/proc/meminfo", "MemTotal")
        .trim_end_matches(" kB")
        .parse()
        .unwrap_or(f64::NAN);
    json!({"cpu": field("/proc/cpuinfo", "model name"),
           "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
           "memory_gib": kib / 1024.0 / 1024.0, "load_before": read("/proc/loadavg").trim()})
}

/// A psql running bench.grow (setup.sql) as service_role.
fn grow(server: &Server, raw: bool, size: u32, part: usize, parts: usize) -> Result<Child> {
    let vars = [("raw", raw.to_string()), ("size", size.to_string())];
    let more = [("part", part.to_string()), ("parts", parts.to_string())];
    let sql = "call bench.grow(:raw, :size, :part, :parts)";
    spawn_psql(server, "postgres", AS_SERVICE, sql, &[vars, more].concat())
}

fn spawn_psql(
    server: &Server,
    user: &str,
    options: &str,
    sql: &str,
    vars: &[(&str, String)],
) -> Result<Child> {
    let mut command = Command::new(pg_bin("psql"));
    command.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-U", user]);
    command
        .env("PGHOST", &server.host)
        .env("PGPORT", &server.port);
    for (name, value) in vars {
        command.arg("-v").arg(format!("{name}={value}"));
    }
    command.env(
        "PGOPTIONS",
        format!("{options} -c client_min_messages=warning"),
    );
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    stdin.write_all(sql.as_bytes())?;
    Ok(child)
}

fn finish(child: Child) -> Result<String> {
    let output = child.wait_with_output()?;
    if !output.status.success() {
        return Err(format!("psql: {}", String::from_utf8_lossy(&output.stderr).trim()).into());
    }
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

fn psql(
    server: &Server,
    user: &str,
    options: &str,
    sql: &str,
    vars: &[(&str, String)],
) -> Result<String> {
    finish(spawn_psql(server, user, options, sql, vars)?)
}

/// As postgres, the app's owner role (the harness's PGUSER).
fn pg(server: &Server, sql: &str, vars: &[(&str, String)]) -> Result<String> {
    psql(server, "postgres", "", sql, vars)
}
