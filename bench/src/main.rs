//! Benchmark of credential_vault's retrieve and store against raw Vault and the plpgsql wrapper a
//! user would write (bench/baseline.sql), with `select 1` as the floor. Runs inside
//! tests/harness/with-cluster; pgbench (`-M prepared`, unix socket) does the measuring, this
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

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Retrieve,
    Store,
}

/// (operation, implementation, pgbench script). Retrieves pick a key uniformly in 1..N.
const SCRIPTS: [(Op, &str, &str); 7] = [
    (Op::Retrieve, "floor", "select 1;\n"),
    (
        Op::Retrieve,
        "raw",
        "\\set k random(1, :n)\nselect decrypted_secret from vault.decrypted_secrets \
         where id = (select id from bench.raw_ids where n = :k);\n",
    ),
    (
        Op::Retrieve,
        "wrapper",
        "\\set k random(1, :n)\nselect bench.retrieve_integration_credentials(\
         (select id::text from bench.raw_ids where n = :k));\n",
    ),
    (
        Op::Retrieve,
        "ours",
        "\\set k random(1, :n)\nselect public.vault_retrieve_integration_credentials(\
         (select id::text from bench.our_ids where n = :k));\n",
    ),
    (Op::Store, "raw", "select vault.create_secret(:payload);\n"),
    (
        Op::Store,
        "wrapper",
        "\\set i :i + 1\nselect bench.store_integration_credentials(\
         (select id::text from bench.spare where n = :client_id * 1000000 + :i), :payload);\n",
    ),
    (
        Op::Store,
        "ours",
        "\\set i :i + 1\nselect public.vault_store_integration_credentials(\
         (select id::text from bench.spare where n = :client_id * 1000000 + :i), :payload);\n",
    ),
];

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

fn main() {
    if let Err(error) = run(&Args::parse()) {
        eprintln!("bench: {error}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<()> {
    let started = Instant::now();
    let vault = std::env::var("CV_VAULT_KIND")
        .map_err(|_| "CV_VAULT_KIND is not set: run inside tests/harness/with-cluster")?;
    let superuser = std::env::var("CV_SUPERUSER")?;
    let pkglibdir = Command::new(PG_BIN.to_owned() + "pg_config")
        .arg("--pkglibdir")
        .output()?;
    let library =
        PathBuf::from(String::from_utf8(pkglibdir.stdout)?.trim()).join("credential_vault.so");
    let build = if has_debug_info(&library)? {
        "debug"
    } else {
        "release"
    };
    println!(
        "bench: Vault {vault}, {build} build ({})",
        library.display()
    );
    if build == "debug" && !args.smoke {
        return Err("debug build: refusing to report (install a release build, or --smoke)".into());
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
    if sizes.first() == Some(&0) || args.clients.contains(&0) || args.seconds == 0 {
        return Err("sizes, clients and seconds must be positive".into());
    }
    if args.warmup >= f64::from(args.seconds) {
        return Err("--warmup must be shorter than --seconds".into());
    }

    // fsync: the harness starts clusters with it off, which would make synchronous_commit moot.
    let fsync_on = "alter system set fsync = on";
    psql(&superuser, "", fsync_on, &[])?;
    psql(&superuser, "", "select pg_reload_conf()", &[])?;
    while psql("postgres", "", "show fsync", &[])? != "on" {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    psql("postgres", "", include_str!("../setup.sql"), &[])?;
    psql("postgres", "", include_str!("../baseline.sql"), &[])?;
    let migrations = psql(
        "postgres",
        "",
        "select to_regclass('public.organization_integrations') is not null",
        &[],
    )? == "t";
    let server_version = psql("postgres", "", "show server_version", &[])?;

    let tmp = std::env::temp_dir().join(format!("cv-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    for (i, (_, _, script)) in SCRIPTS.iter().enumerate() {
        std::fs::write(tmp.join(format!("{i}.sql")), script)?;
    }
    let mut samples: BTreeMap<Key, Sample> = BTreeMap::new();
    let mut population = Vec::new();
    // Stores per second and client, per clients, to size the spare integrations; raised as measured.
    let mut store_rates: BTreeMap<u32, f64> = BTreeMap::new();
    for &size in &sizes {
        let grow = Instant::now();
        let size_var = [("size", size.to_string())];
        let raw = spawn_psql(
            "postgres",
            AS_SERVICE,
            "call bench.grow_raw(:size)",
            &size_var,
        )?;
        let ours = spawn_psql(
            "postgres",
            AS_SERVICE,
            "call bench.grow_ours(:size)",
            &size_var,
        )?;
        finish(raw)?;
        finish(ours)?;
        psql(&superuser, "", "vacuum analyze", &[])?;
        psql(&superuser, "", "checkpoint", &[])?;
        let seconds = grow.elapsed().as_secs_f64();
        println!("bench: populated {size} secrets of each kind in {seconds:.1} s");
        population.push(json!({"size": size, "seconds": seconds}));
        for sync in &args.synchronous_commit {
            for &clients in &args.clients {
                println!(
                    "bench: measuring {size} secrets, {clients} clients, synchronous_commit {sync}"
                );
                let store_rate = store_rates
                    .entry(clients)
                    .or_insert(6000.0 / f64::from(clients));
                for round in 0..args.rounds {
                    for op in [Op::Retrieve, Op::Store] {
                        let mut order: Vec<usize> =
                            (0..SCRIPTS.len()).filter(|&i| SCRIPTS[i].0 == op).collect();
                        if round % 2 == 1 {
                            order.reverse();
                        }
                        let cap = (*store_rate * f64::from(args.seconds) * 1.5) as u32 + 200;
                        let since = psql("postgres", "", "select now()", &[])?;
                        if op == Op::Store {
                            let vars = [("clients", clients.to_string()), ("cap", cap.to_string())];
                            psql(
                                "postgres",
                                "",
                                "call bench.prepare_spare(:clients, :cap)",
                                &vars,
                            )?;
                        }
                        let mut counts = vec![0u64; clients as usize];
                        for i in order {
                            let run = pgbench(args, &tmp, i, size, clients, sync)?;
                            let (op_, implementation, _) = SCRIPTS[i];
                            if op_ == Op::Store && implementation == "ours" {
                                *store_rate = store_rate.max(run.1 / f64::from(clients));
                                counts = run.2.clone();
                                if run.2.iter().any(|&c| c >= u64::from(cap)) {
                                    return Err("ran out of spare integrations".into());
                                }
                            }
                            let key = (size, clients, sync.clone(), name(op_), implementation);
                            let sample = samples.entry(key).or_default();
                            sample.transactions += run.0.transactions;
                            sample.seconds += run.0.seconds;
                            sample.latencies_us.extend(run.0.latencies_us);
                            sample.errors += run.0.errors;
                        }
                        if op == Op::Store {
                            let counts: Vec<String> = counts.iter().map(u64::to_string).collect();
                            let vars = [
                                ("since", since),
                                ("counts", format!("{{{}}}", counts.join(","))),
                            ];
                            psql(
                                "postgres",
                                "",
                                "call bench.cleanup(:'since', :'counts')",
                                &vars,
                            )?;
                        }
                    }
                }
            }
        }
    }
    std::fs::remove_dir_all(&tmp)?;

    let facts = json!({
        "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "smoke": args.smoke, "vault": vault, "build": build, "migrations": migrations,
        "postgresql": server_version, "machine": machine(),
        "library": {"path": library, "bytes": std::fs::metadata(&library)?.len()},
        "config": {"sizes": sizes, "clients": args.clients, "synchronous_commit": args.synchronous_commit,
                   "seconds": args.seconds, "rounds": args.rounds, "warmup": args.warmup,
                   "pgbench": "-M prepared, unix socket, -l (every transaction's latency)",
                   "session": "postgres with startup options role=service_role, synchronous_commit"},
        "population": population, "total_seconds": started.elapsed().as_secs_f64(),
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
    std::fs::write(
        out.join("latest.json"),
        serde_json::to_string_pretty(&results)? + "\n",
    )?;
    std::fs::write(out.join("latest.md"), markdown)?;
    chart::draw(&samples, &out.join("latest.png"))?;
    println!("bench: wrote {}/latest.{{md,json,png}}", out.display());
    Ok(())
}

const AS_SERVICE: &str = "-c role=service_role";
const PG_BIN: &str = "/usr/lib/postgresql/15/bin/";

fn name(op: Op) -> &'static str {
    match op {
        Op::Retrieve => "retrieve",
        Op::Store => "store",
    }
}

/// One pgbench run of SCRIPTS[i]: what it measured after the warm-up, its throughput per
/// second, and how many transactions each client ran (warm-up included).
fn pgbench(
    args: &Args,
    tmp: &Path,
    i: usize,
    size: u32,
    clients: u32,
    sync: &str,
) -> Result<(Sample, f64, Vec<u64>)> {
    let logs = tmp.join("logs");
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs)?;
    let threads = clients.min(std::thread::available_parallelism()?.get() as u32);
    let output = Command::new(PG_BIN.to_owned() + "pgbench")
        .args(["-n", "-M", "prepared", "-l"])
        .arg("-f")
        .arg(tmp.join(format!("{i}.sql")))
        .arg(format!("--log-prefix={}", logs.join("tx").display()))
        .args(["-c", &clients.to_string(), "-j", &threads.to_string()])
        .args(["-T", &args.seconds.to_string()])
        .args(["-D", &format!("n={size}"), "-D", "i=0", "-D"])
        .arg(format!("payload={PAYLOAD}"))
        .env("PGUSER", "postgres")
        .env(
            "PGOPTIONS",
            format!("{AS_SERVICE} -c synchronous_commit={sync}"),
        )
        .output()?;
    let mut sample = Sample::default();
    if !output.status.success() {
        let (op, implementation, _) = SCRIPTS[i];
        eprintln!(
            "bench: pgbench {} {implementation} failed: {}",
            name(op),
            String::from_utf8_lossy(&output.stderr).trim()
        );
        sample.errors += 1;
    }
    // Each line: client_id transaction_no latency_us script_no epoch_s epoch_us (completion).
    let mut rows: Vec<(usize, u64, Option<u64>, f64)> = Vec::new();
    for entry in std::fs::read_dir(&logs)? {
        for line in std::fs::read_to_string(entry?.path())?.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(c), Some(t), Some(s), Some(us)) = (f.first(), f.get(1), f.get(4), f.get(5))
            else {
                continue;
            };
            let done = s.parse::<f64>()? + us.parse::<f64>()? / 1e6;
            rows.push((c.parse()?, t.parse()?, f[2].parse().ok(), done));
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
    let rate = sample.throughput();
    Ok((sample, rate, counts))
}

fn report(
    samples: &BTreeMap<Key, Sample>,
    sizes: &[u32],
    args: &Args,
    migrations: bool,
) -> (String, Vec<Value>) {
    let mut table = String::from(
        "| secrets | clients | sync | operation | floor/s | raw/s | wrapper/s | ours/s \
         | ours/raw | ours/wrapper | ours/floor | p50 ms raw / wrapper / ours \
         | p99 ms raw / wrapper / ours | errors |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut targets = Vec::new();
    let mut target = |name: &str, setting: String, value: f64, goal: f64, at_most: bool| {
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
                    let errors =
                        raw.errors + wrapper.errors + ours.errors + floor.map_or(0, |f| f.errors);
                    let ms = |p| {
                        [raw, wrapper, ours]
                            .map(|s: &Sample| format!("{:.3}", s.percentile(p)))
                            .join(" / ")
                    };
                    table += &format!(
                        "| {size} | {clients} | {sync} | {op} | {floor_rate:.0} | {:.0} | {:.0} | {:.0} \
                         | {vs_raw:.2}x | {vs_wrapper:.2}x | {:.2}x | {} | {} | {errors} |\n",
                        raw.throughput(),
                        wrapper.throughput(),
                        ours.throughput(),
                        ours.throughput() / floor_rate,
                        ms(50.0),
                        ms(99.0),
                    );
                    let setting =
                        format!("{size} secrets, {clients} clients, synchronous_commit {sync}");
                    if op == "retrieve" {
                        target(
                            "retrieve >= 0.9x raw lookup",
                            setting.clone(),
                            vs_raw,
                            0.9,
                            false,
                        );
                        target(
                            "retrieve >= 1.5x plpgsql wrapper",
                            setting.clone(),
                            vs_wrapper,
                            1.5,
                            false,
                        );
                    } else if migrations {
                        target(
                            "store >= 1.0x raw create_secret",
                            setting.clone(),
                            vs_raw,
                            1.0,
                            false,
                        );
                    }
                    if clients == max_clients && clients > 1 {
                        let name = format!("{op}: 0 errors at {clients} clients");
                        target(&name, setting.clone(), errors as f64, 0.0, true);
                        let tail = ours.percentile(99.0) / ours.percentile(50.0);
                        target(
                            &format!("{op}: p99 <= 3x p50 at {clients} clients"),
                            setting,
                            tail,
                            3.0,
                            true,
                        );
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
                    let setting = format!(
                        "{small} -> {large} secrets, {clients} clients, synchronous_commit {sync}"
                    );
                    target("retrieve cost flat within 15%", setting, a / b, 1.15, true);
                }
            }
        }
    }
    (table, targets)
}

fn targets_markdown(targets: &[Value]) -> String {
    let mut text =
        String::from("| target | setting | measured | pass | margin |\n|---|---|---|---|---|\n");
    for t in targets {
        let pass = if t["pass"].as_bool() == Some(true) {
            "pass"
        } else {
            "MISS"
        };
        text += &format!(
            "| {} | {} | {:.2} | {pass} | {:+.2} |\n",
            t["target"].as_str().unwrap_or(""),
            t["setting"].as_str().unwrap_or(""),
            t["value"].as_f64().unwrap_or(f64::NAN),
            t["margin"].as_f64().unwrap_or(f64::NAN),
        );
    }
    text
}

fn markdown(facts: &Value, table: &str, targets: &[Value]) -> String {
    let m = &facts["machine"];
    let smoke = if facts["smoke"] == true {
        "**SMOKE RUN: NOT A RESULT.**\n\n"
    } else {
        ""
    };
    format!(
        "# Benchmark results\n\n{smoke}- Date: {}\n- Machine: {}, {} cores, {:.1} GiB, load before {}\n\
         - Vault: {}\n- Build: {}\n- PostgreSQL: {}\n- App migrations applied: {}\n- Config: {}\n\n\
         Throughput in calls per second (pgbench `-M prepared`); ratios are of throughput; ours/floor \
         is against `select 1`.\n\n{table}\n## Targets\n\n{}",
        facts["date"].as_str().unwrap_or(""),
        m["cpu"].as_str().unwrap_or(""),
        m["cores"],
        m["memory_gib"].as_f64().unwrap_or(f64::NAN),
        m["load_before"].as_str().unwrap_or(""),
        facts["vault"].as_str().unwrap_or(""),
        facts["build"].as_str().unwrap_or(""),
        facts["postgresql"].as_str().unwrap_or(""),
        facts["migrations"],
        facts["config"],
        targets_markdown(targets),
    )
}

fn machine() -> Value {
    let read = |path| std::fs::read_to_string(path).unwrap_or_default();
    let field = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.trim() == key)
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_default()
    };
    let kib: f64 = field(&read("/proc/meminfo"), "MemTotal")
        .trim_end_matches(" kB")
        .parse()
        .unwrap_or(f64::NAN);
    json!({"cpu": field(&read("/proc/cpuinfo"), "model name"),
           "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
           "memory_gib": kib / 1024.0 / 1024.0, "load_before": read("/proc/loadavg").trim()})
}

/// Whether an ELF64 file has a `.debug_info` section (a debug build; the release profile has none).
fn has_debug_info(path: &Path) -> Result<bool> {
    let b = std::fs::read(path)?;
    let int = |at: usize, len: usize| -> Option<usize> {
        let bytes = b.get(at..at + len)?;
        Some(bytes.iter().rev().fold(0, |n, &x| n << 8 | usize::from(x)))
    };
    let parse = || -> Option<bool> {
        (b.get(..6)? == b"\x7fELF\x02\x01").then_some(())?;
        let (offset, size, count) = (int(0x28, 8)?, int(0x3a, 2)?, int(0x3c, 2)?);
        let names = int(offset + int(0x3e, 2)? * size + 0x18, 8)?;
        Some((0..count).any(|i| {
            let start = int(offset + i * size, 4).map_or(usize::MAX, |n| names + n);
            b.get(start..)
                .is_some_and(|s| s.starts_with(b".debug_info\0"))
        }))
    };
    parse().ok_or_else(|| format!("{}: not a little-endian ELF64 file", path.display()).into())
}

fn spawn_psql(user: &str, options: &str, sql: &str, vars: &[(&str, String)]) -> Result<Child> {
    let mut command = Command::new(PG_BIN.to_owned() + "psql");
    command.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-U", user]);
    for (name, value) in vars {
        command.arg("-v").arg(format!("{name}={value}"));
    }
    let mut child = command
        .env(
            "PGOPTIONS",
            format!("{options} -c client_min_messages=warning"),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(sql.as_bytes())?;
    Ok(child)
}

fn finish(child: Child) -> Result<String> {
    let output = child.wait_with_output()?;
    if !output.status.success() {
        return Err(format!("psql: {}", String::from_utf8_lossy(&output.stderr).trim()).into());
    }
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

fn psql(user: &str, options: &str, sql: &str, vars: &[(&str, String)]) -> Result<String> {
    finish(spawn_psql(user, options, sql, vars)?)
}
