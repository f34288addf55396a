//! latest.json, latest.md and latest.png from one run's [`Results`]: the ours/raw ratios, the
//! issue's targets with pass or miss and by how much, and the facts the numbers came from.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::Result;
use crate::chart;
use crate::measure::Sample;
use crate::results::{Implementation, Operation, Results};

/// Store must reach this share of raw `vault.create_secret`'s throughput.
pub const STORE_TARGET: f64 = 1.0;
/// Retrieve must reach this share of the raw `vault.decrypted_secrets` lookup's throughput.
pub const RETRIEVE_TARGET: f64 = 0.9;
/// Retrieve's cost per call may differ by at most this much between the smallest and the
/// largest number of secrets.
pub const FLAT_TOLERANCE: f64 = 0.15;

/// Ours against raw for one operation at one setting.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub size: u64,
    pub synchronous_commit: String,
    pub connections: u32,
    pub operation: Operation,
    pub ours: Sample,
    pub raw: Sample,
    /// Ours' throughput over raw's: above 1 is ours faster.
    pub ops_ratio: f64,
    /// Ours' median latency over raw's: above 1 is ours slower.
    pub p50_ratio: f64,
    pub p99_ratio: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetCell {
    pub setting: String,
    pub value: f64,
    pub met: bool,
    /// How far from the threshold, in the target's unit: positive is room to spare, negative is
    /// the miss.
    pub margin: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub name: String,
    pub rule: String,
    /// `None` when the run did not measure what the target needs.
    pub met: Option<bool>,
    pub cells: Vec<TargetCell>,
}

pub fn comparisons(results: &Results) -> Vec<Comparison> {
    let mut out = Vec::new();
    for operation in [Operation::Store, Operation::Retrieve] {
        for &size in &results.config.sizes {
            for sync in &results.config.synchronous_commit {
                for &connections in &results.config.connections {
                    let ours =
                        results.find(size, sync, connections, operation, Implementation::Ours);
                    let raw = results.find(size, sync, connections, operation, Implementation::Raw);
                    if let (Some(ours), Some(raw)) = (ours, raw) {
                        out.push(Comparison {
                            size,
                            synchronous_commit: sync.clone(),
                            connections,
                            operation,
                            ours: ours.clone(),
                            raw: raw.clone(),
                            ops_ratio: ours.ops_per_sec / raw.ops_per_sec,
                            p50_ratio: ours.p50_ms / raw.p50_ms,
                            p99_ratio: ours.p99_ms / raw.p99_ms,
                        });
                    }
                }
            }
        }
    }
    out
}

fn setting(size: u64, sync: &str, connections: u32) -> String {
    format!(
        "{} secrets, synchronous_commit {sync}, {connections} conn.",
        int(size)
    )
}

fn at_least(name: &str, rule: String, threshold: f64, cells: Vec<(String, f64)>) -> Target {
    let cells: Vec<TargetCell> = cells
        .into_iter()
        .map(|(setting, value)| TargetCell {
            setting,
            value,
            met: value >= threshold,
            margin: value - threshold,
        })
        .collect();
    Target {
        name: name.to_owned(),
        rule,
        met: (!cells.is_empty()).then(|| cells.iter().all(|c| c.met)),
        cells,
    }
}

pub fn targets(results: &Results, comparisons: &[Comparison]) -> Vec<Target> {
    let ratio_cells = |operation: Operation| {
        comparisons
            .iter()
            .filter(|c| c.operation == operation)
            .map(|c| {
                (
                    setting(c.size, &c.synchronous_commit, c.connections),
                    c.ops_ratio,
                )
            })
            .collect::<Vec<_>>()
    };
    let store = at_least(
        "store vs vault.create_secret",
        format!("ours/raw throughput >= {STORE_TARGET:.1}x in every setting"),
        STORE_TARGET,
        ratio_cells(Operation::Store),
    );
    let retrieve = at_least(
        "retrieve vs vault.decrypted_secrets lookup",
        format!("ours/raw throughput >= {RETRIEVE_TARGET:.1}x in every setting"),
        RETRIEVE_TARGET,
        ratio_cells(Operation::Retrieve),
    );

    // Cost per call (1 / throughput) at the largest size over the smallest.
    let (small, large) = (
        results.config.sizes.first().copied(),
        results.config.sizes.last().copied(),
    );
    let mut flat_cells = Vec::new();
    if let (Some(small), Some(large)) = (small, large)
        && small < large
    {
        for sync in &results.config.synchronous_commit {
            for &connections in &results.config.connections {
                let at = |size| {
                    results.find(
                        size,
                        sync,
                        connections,
                        Operation::Retrieve,
                        Implementation::Ours,
                    )
                };
                if let (Some(a), Some(b)) = (at(small), at(large)) {
                    let growth = a.ops_per_sec / b.ops_per_sec - 1.0;
                    flat_cells.push(TargetCell {
                        setting: format!("synchronous_commit {sync}, {connections} conn."),
                        value: growth,
                        met: growth.abs() <= FLAT_TOLERANCE,
                        margin: FLAT_TOLERANCE - growth.abs(),
                    });
                }
            }
        }
    }
    let flat = Target {
        name: "retrieve cost flat in the number of secrets".to_owned(),
        rule: format!(
            "cost per retrieve (1 / throughput) at {} secrets within {:.0}% of that at {} secrets",
            large.map(int).unwrap_or_default(),
            FLAT_TOLERANCE * 100.0,
            small.map(int).unwrap_or_default()
        ),
        met: (!flat_cells.is_empty()).then(|| flat_cells.iter().all(|c| c.met)),
        cells: flat_cells,
    };
    vec![store, retrieve, flat]
}

pub fn write_all(results: &Results, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)?;
    let comparisons = comparisons(results);
    let targets = targets(results, &comparisons);

    let mut json = serde_json::to_value(results)?;
    if let Some(object) = json.as_object_mut() {
        object.insert("comparisons".into(), serde_json::to_value(&comparisons)?);
        object.insert("targets".into(), serde_json::to_value(&targets)?);
    }
    std::fs::write(
        out.join("latest.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )?;
    std::fs::write(
        out.join("latest.md"),
        markdown(results, &comparisons, &targets),
    )?;
    chart::draw(results, &comparisons, &out.join("latest.png"))?;
    Ok(())
}

/// 1234567 as "1,234,567".
pub fn int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ops(value: f64) -> String {
    if value >= 100.0 {
        int(value.round() as u64)
    } else {
        format!("{value:.1}")
    }
}

fn ms(value: f64) -> String {
    format!("{value:.3}")
}

fn percent(value: f64) -> String {
    format!("{:+.1}%", value * 100.0)
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "**met**",
        Some(false) => "**missed**",
        None => "not measured in this run",
    }
}

fn markdown(results: &Results, comparisons: &[Comparison], targets: &[Target]) -> String {
    let mut md = String::new();
    let m = &results.machine;
    let s = &results.server;
    let c = &results.config;
    let standin = s.vault_kind == "standin";

    let _ = writeln!(
        md,
        "# credential_vault benchmark: ours vs raw Supabase Vault\n"
    );
    let _ = writeln!(
        md,
        "Generated by `credential-vault-bench` (see [bench/README.md](../README.md)); the same \
         numbers are in [latest.json](latest.json), drawn in [latest.png](latest.png).\n"
    );
    let _ = writeln!(md, "| fact | value |\n|---|---|");
    let _ = writeln!(md, "| date (UTC) | {} |", results.date);
    let _ = writeln!(
        md,
        "| machine | `{}`: {}, {} CPUs (`nproc`), {:.1} GiB RAM, Linux {} |",
        m.hostname, m.cpu_model, m.cpus, m.memory_gib, m.kernel
    );
    let _ = writeln!(md, "| PostgreSQL | {} |", s.version);
    let _ = writeln!(
        md,
        "| Vault | {} |",
        if standin {
            "**stand-in** (`tests/support/vault_standin.sql`: Vault's contract in SQL and \
             pgcrypto, not Supabase's C extension)"
        } else {
            "real `supabase_vault`"
        }
    );
    let _ = writeln!(
        md,
        "| extension | credential_vault {}, `{}`{}{} |",
        s.extension_version,
        s.extension_library,
        match s.extension_debug_build {
            Some(true) =>
                ", **dev build** (has debug info: `cargo pgrx install` without `--release`)",
            Some(false) => ", release build (no debug info)",
            None => "",
        },
        s.extension_build
            .as_ref()
            .map(|f| format!(
                ", installed {}, {} bytes, FNV-1a {}",
                f.modified,
                int(f.bytes),
                f.fnv1a64
            ))
            .unwrap_or_default()
    );
    if results.extension_build_at_end.is_some()
        && results.extension_build_at_end != s.extension_build
    {
        let _ = writeln!(
            md,
            "| **warning** | the installed extension library was **replaced during the run** (at \
             the end: {}): later connections may have measured another build |",
            results
                .extension_build_at_end
                .as_ref()
                .map(|f| format!("installed {}, FNV-1a {}", f.modified, f.fnv1a64))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(
        md,
        "| server settings | {} |",
        s.settings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        md,
        "| load average (1/5/15 min) | start {:.2} / {:.2} / {:.2}; end {:.2} / {:.2} / {:.2} (the end includes the benchmark's own load) |",
        m.load_before[0],
        m.load_before[1],
        m.load_before[2],
        m.load_after[0],
        m.load_after[1],
        m.load_after[2]
    );
    let _ = writeln!(
        md,
        "| git | `{}`{} |",
        m.git_commit,
        if m.git_dirty {
            " plus uncommitted changes"
        } else {
            ""
        }
    );
    let _ = writeln!(md, "| invocation | `{}` |", c.command);
    let _ = writeln!(
        md,
        "| wall time | {:.1} min in all, population included |",
        results.total_seconds / 60.0
    );
    if standin {
        let _ = writeln!(
            md,
            "\n**All numbers, and the ratios too, are for the Vault stand-in.** Its encryption is \
             written in SQL on pgcrypto and costs far more per call than real Vault's libsodium \
             code, and the crypto's share of each call differs between ours and raw (ours does \
             more non-crypto work per call), so neither the absolute numbers nor the ratios carry \
             over to a real Supabase Vault."
        );
    }

    let _ = writeln!(md, "\n## Method\n");
    let _ = writeln!(
        md,
        "- One cluster, one run: `tests/harness/with-cluster` (PostgreSQL 15 like Supabase). \
         The benchmark sets fsync={} with `alter system` + reload (the harness starts with \
         fsync off, which would make synchronous_commit meaningless).",
        c.fsync
    );
    let _ = writeln!(
        md,
        "- Ours goes through `credential-vault-client` (`ServiceRolePgCredentialVault`: `store`, \
         `retrieve`); raw goes through sqlx prepared statements: `select vault.create_secret($1)`, \
         `select decrypted_secret from vault.decrypted_secrets where id = $1`, and `select 1` as \
         the round-trip floor."
    );
    let _ = writeln!(
        md,
        "- Everything as the same login role (member of `service_role`, switched to it with the \
         startup option `role=service_role`), over TCP on 127.0.0.1, on one shared sqlx pool per \
         setting (one connection per worker, no ping before acquire). synchronous_commit is set \
         **per connection** by the startup option `synchronous_commit=on|off` and checked on \
         every connection."
    );
    let _ = writeln!(
        md,
        "- Each measurement: {} worker(s) (one per connection) calling back to back. Per \
         setting the five operations (select 1, raw lookup, ours retrieve, raw create_secret, \
         ours store) take turns in {} rounds of {:.2} s measured each ({} s per operation in \
         all), raw first in even rounds and ours first in odd ones, so that both see the same \
         conditions; {} s warm-up before an operation's first window, {} s before later ones. \
         Every call's latency is recorded; throughput = calls started in the windows / time to \
         the end of each window's last call; p50 and p99 by nearest rank. What the stores added \
         is deleted after every round.",
        c.connections
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(" or "),
        c.rounds,
        c.seconds / f64::from(c.rounds),
        c.seconds,
        c.warmup_seconds,
        c.settle_seconds
    );
    let _ = writeln!(
        md,
        "- Secrets: N of each kind (raw Vault secrets as create_secret leaves them, and ours: \
         Vault secret + `credential_vault.credentials` row + linked integration), grown in bulk \
         ({}) with set-based SQL encrypting exactly as the extension does, on {} parallel \
         connections; lookups pick uniformly at random among them. Each store uses a fresh, \
         pre-created integration. Payload: a {}-byte credentials JSON.",
        c.sizes
            .iter()
            .map(|&n| int(n))
            .collect::<Vec<_>>()
            .join(" → "),
        c.populate_workers,
        c.payload_bytes
    );

    let _ = writeln!(md, "\n## Targets\n");
    let _ = writeln!(
        md,
        "| target | rule | result | worst setting |\n|---|---|---|---|"
    );
    for target in targets {
        let worst = target
            .cells
            .iter()
            .min_by(|a, b| a.margin.total_cmp(&b.margin))
            .map(|cell| {
                let shown = if target.name.contains("flat") {
                    format!("cost {}", percent(cell.value))
                } else {
                    format!("{:.2}x", cell.value)
                };
                let by = if target.name.contains("flat") {
                    format!("{:.1} points", cell.margin.abs() * 100.0)
                } else {
                    format!("{:.0}%", cell.margin.abs() * 100.0)
                };
                format!(
                    "{}: {shown} ({} {by})",
                    cell.setting,
                    if cell.met { "room" } else { "**missed by**" }
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            target.name,
            target.rule,
            verdict(target.met),
            worst
        );
    }
    for target in targets.iter().filter(|t| !t.cells.is_empty()) {
        let _ = writeln!(md, "\n{} — every setting:\n", target.name);
        let flat = target.name.contains("flat");
        let _ = writeln!(
            md,
            "| setting | {} | result |\n|---|---|---|",
            if flat {
                "cost change"
            } else {
                "ours/raw throughput"
            }
        );
        for cell in &target.cells {
            let value = if flat {
                percent(cell.value)
            } else {
                format!("{:.2}x", cell.value)
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                cell.setting,
                value,
                if cell.met { "met" } else { "missed" }
            );
        }
    }

    for (operation, title) in [
        (
            Operation::Store,
            "Store: `vault_store_integration_credentials` vs `vault.create_secret`",
        ),
        (
            Operation::Retrieve,
            "Retrieve: `vault_retrieve_integration_credentials` vs `vault.decrypted_secrets` by id",
        ),
    ] {
        let _ = writeln!(md, "\n## {title}\n");
        let _ = writeln!(
            md,
            "| secrets | sync. commit | conn. | ours ops/s | ours p50 ms | ours p99 ms | raw ops/s | raw p50 ms | raw p99 ms | ours/raw ops/s | ours/raw p50 |"
        );
        let _ = writeln!(md, "|--:|:-:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        for cmp in comparisons.iter().filter(|x| x.operation == operation) {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | **{:.2}x** | {:.2}x |",
                int(cmp.size),
                cmp.synchronous_commit,
                cmp.connections,
                ops(cmp.ours.ops_per_sec),
                ms(cmp.ours.p50_ms),
                ms(cmp.ours.p99_ms),
                ops(cmp.raw.ops_per_sec),
                ms(cmp.raw.p50_ms),
                ms(cmp.raw.p99_ms),
                cmp.ops_ratio,
                cmp.p50_ratio
            );
        }
    }

    let _ = writeln!(md, "\n## Round-trip floor: `select 1`\n");
    let _ = writeln!(
        md,
        "| secrets | sync. commit | conn. | ops/s | p50 ms | p99 ms |\n|--:|:-:|--:|--:|--:|--:|"
    );
    for m in results
        .measurements
        .iter()
        .filter(|m| m.operation == Operation::RoundTrip)
    {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            int(m.size),
            m.synchronous_commit,
            m.connections,
            ops(m.sample.ops_per_sec),
            ms(m.sample.p50_ms),
            ms(m.sample.p99_ms)
        );
    }

    let _ = writeln!(md, "\n## Population\n");
    let _ = writeln!(
        md,
        "| grown to (each kind) | rows added (both kinds) | insert s | rows/s | vacuum + analyze + checkpoint s | `vault.secrets` MiB | `credential_vault.credentials` MiB |\n|--:|--:|--:|--:|--:|--:|--:|"
    );
    for step in &results.population {
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} | {} | {:.1} | {:.0} | {:.0} |",
            int(step.size),
            int(step.added_per_kind * 2),
            step.insert_seconds,
            ops(step.rows_per_second),
            step.vacuum_seconds,
            step.vault_secrets_mib,
            step.credentials_mib
        );
    }
    let _ = writeln!(
        md,
        "\nPopulation wall time in all: {:.1} min (sizes include table, indexes and TOAST; both \
         kinds share `vault.secrets`).",
        results
            .population
            .iter()
            .map(|p| p.insert_seconds + p.vacuum_seconds)
            .sum::<f64>()
            / 60.0
    );

    why(&mut md, results, comparisons, targets);
    md
}

/// "a–b", the lowest and highest of per-window throughputs.
fn range(values: &[f64]) -> String {
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if values.is_empty() {
        "?".to_owned()
    } else {
        format!("{}–{}", ops(low), ops(high))
    }
}

/// Median and largest (max − min) / mean of the per-window throughputs, over the measurements.
fn window_spread(results: &Results) -> Option<(f64, f64)> {
    let mut spreads: Vec<f64> = results
        .measurements
        .iter()
        .map(|m| &m.sample.window_ops_per_sec)
        .filter(|w| w.len() >= 2)
        .map(|w| {
            let mean = w.iter().sum::<f64>() / w.len() as f64;
            let high = w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let low = w.iter().copied().fold(f64::INFINITY, f64::min);
            (high - low) / mean
        })
        .collect();
    if spreads.is_empty() {
        return None;
    }
    spreads.sort_by(f64::total_cmp);
    Some((
        spreads[spreads.len() / 2],
        *spreads.last().expect("not empty"),
    ))
}

/// The reasons for the gaps, with the run's own numbers where they show them.
fn why(md: &mut String, results: &Results, comparisons: &[Comparison], targets: &[Target]) {
    let _ = writeln!(md, "\n## Why the numbers are what they are\n");
    let standin = results.server.vault_kind == "standin";
    if let Some(probe) = &results.crypto_probe {
        let _ = writeln!(
            md,
            "- **Vault crypto per call** (measured server-side in bulk, {} calls): encrypt {:.0} µs, \
             decrypt (through `vault.decrypted_secrets`) {:.0} µs{}.",
            probe.calls,
            probe.encrypt_us,
            probe.decrypt_us,
            if standin {
                " — the stand-in's SQL crypto"
            } else {
                ""
            }
        );
    }
    let per_call = |operation: Operation, implementation: Implementation| {
        results
            .crypto_calls
            .iter()
            .find(|c| c.operation == operation && c.implementation == implementation)
            .map(|c| {
                (
                    c.encrypts as f64 / c.calls as f64,
                    c.decrypts as f64 / c.calls as f64,
                )
            })
    };
    let ours_store = per_call(Operation::Store, Implementation::Ours);
    let readback = match ours_store {
        Some((_, d)) if d >= 0.5 => {
            "a read-back of every new secret through `vault.decrypted_secrets` (**one decrypt \
             more per store**, so that nothing unreadable is ever stored)"
                .to_owned()
        }
        Some((_, d)) => format!(
            "a read-back through `vault.decrypted_secrets` on a connection's first store only \
             ({d:.2} decrypts per store here)"
        ),
        None => "a read-back of the new secret through `vault.decrypted_secrets` (on every \
                 store or on a backend's first only, depending on the build)"
            .to_owned(),
    };
    if !results.crypto_calls.is_empty() {
        let _ = writeln!(
            md,
            "- **Vault crypto calls per call**, counted by the server (track_functions) over {} \
             calls of each on one fresh connection, in the build measured:\n\n  \
             | call | encrypts per call | decrypts per call |\n  |---|--:|--:|",
            results.crypto_calls[0].calls
        );
        for c in &results.crypto_calls {
            let name = match (c.operation, c.implementation) {
                (Operation::Store, Implementation::Ours) => "ours: store",
                (Operation::Store, _) => "raw: vault.create_secret",
                (_, Implementation::Ours) => "ours: retrieve",
                _ => "raw: vault.decrypted_secrets lookup",
            };
            let _ = writeln!(
                md,
                "  | {name} | {:.2} | {:.2} |",
                c.encrypts as f64 / c.calls as f64,
                c.decrypts as f64 / c.calls as f64
            );
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(
        md,
        "- **Store, per call.** Ours: role check and validation of the JSON in the extension, \
         one encrypting INSERT into `vault.secrets` (only ciphertext is written), {readback}, \
         INSERTs into `credential_vault.credentials` and `credential_vault.audit_log`, the link \
         trigger that locks and updates the `organization_integrations` row (whose own triggers \
         run too), and the PL/pgSQL wrapper's exception block (a subtransaction). Its SQL goes \
         through pgrx's SPI as query text, so its statements (extension owner lookup, insert, \
         audit, and any read-back) are parsed and planned on every call. Raw `create_secret`: \
         INSERT of the plaintext, then UPDATE to the ciphertext (one encrypt), in a PL/pgSQL \
         function whose plans are cached per session, nothing else. \"We write once, Vault \
         writes twice\" holds for the secret row, but ours writes three more rows and one more \
         update."
    );
    let _ = writeln!(
        md,
        "- **Retrieve, per call.** Both decrypt once (see the counts above). Ours also checks the caller's role, looks \
         up the owning integration (a join with `credential_vault.credentials`), re-validates \
         the stored JSON, builds the jsonb answer, runs in the wrapper's subtransaction, plans \
         its three SPI statements on every call, and **appends an audit row and commits it** — a write, a WAL record and (with \
         synchronous_commit on) a WAL flush per retrieve — while the raw lookup is a read-only \
         SELECT that commits nothing. The client then parses the JSON into a wiped map."
    );

    // Evidence: how much of the retrieve gap the commit flush explains.
    let cell = |size: u64, sync: &str, conns: u32, op: Operation| {
        comparisons.iter().find(|c| {
            c.size == size
                && c.synchronous_commit == sync
                && c.connections == conns
                && c.operation == op
        })
    };
    if let Some(&size) = results.config.sizes.first() {
        for &conns in &results.config.connections {
            if let (Some(on), Some(off)) = (
                cell(size, "on", conns, Operation::Retrieve),
                cell(size, "off", conns, Operation::Retrieve),
            ) {
                let _ = writeln!(
                    md,
                    "  - At {} secrets and {conns} connection(s): ours/raw retrieve is {:.2}x with \
                     synchronous_commit on and {:.2}x with it off; ours' p50 is {} ms more than \
                     raw's with it on and {} ms more with it off (the difference between the two \
                     is about what waiting for the audit row's WAL flush costs).",
                    int(size),
                    on.ops_ratio,
                    off.ops_ratio,
                    ms(on.ours.p50_ms - on.raw.p50_ms),
                    ms(off.ours.p50_ms - off.raw.p50_ms)
                );
            }
            if let (Some(on), Some(off)) = (
                cell(size, "on", conns, Operation::Store),
                cell(size, "off", conns, Operation::Store),
            ) {
                let _ = writeln!(
                    md,
                    "  - Store at {} secrets and {conns} connection(s): ours/raw is {:.2}x \
                     (synchronous_commit on) and {:.2}x (off); ours' p50 is {} ms / {} ms more \
                     than raw's.",
                    int(size),
                    on.ops_ratio,
                    off.ops_ratio,
                    ms(on.ours.p50_ms - on.raw.p50_ms),
                    ms(off.ours.p50_ms - off.raw.p50_ms)
                );
            }
        }
    }
    if let Some(probe) = &results.crypto_probe
        && let Some(size) = results.config.sizes.first()
        && let Some(store) = cell(*size, "off", 1, Operation::Store)
    {
        let extra_ms = store.ours.p50_ms - store.raw.p50_ms;
        let extra_decrypt = ours_store.is_none_or(|(_, d)| d >= 0.5);
        if extra_decrypt && extra_ms > probe.decrypt_us / 1000.0 {
            let _ = writeln!(
                md,
                "  - The extra decrypt alone is about {:.3} ms of ours' store; at 1 connection with \
             synchronous_commit off ours' p50 is {} ms above raw's, so the rest ({} ms) is the \
             extra rows, triggers, subtransaction, per-call planning and checks listed above.",
                probe.decrypt_us / 1000.0,
                ms(extra_ms),
                ms(extra_ms - probe.decrypt_us / 1000.0)
            );
        } else if !extra_decrypt && extra_ms > 0.0 {
            let _ = writeln!(
                md,
                "  - With the same Vault crypto on both sides (one encrypt per store), ours' p50 at \
                 1 connection with synchronous_commit off is {} ms above raw's: that is the extra \
                 rows, trigger, subtransaction, per-call planning and checks listed above.",
                ms(extra_ms)
            );
        }
    }
    // What one commit's WAL flush cost: raw create_secret's p50 with synchronous_commit on
    // minus off, at the fewest connections, per size.
    if let Some(&conns) = results.config.connections.iter().min() {
        let flushes: Vec<String> = results
            .config
            .sizes
            .iter()
            .filter_map(|&size| {
                let on = results.find(size, "on", conns, Operation::Store, Implementation::Raw)?;
                let off =
                    results.find(size, "off", conns, Operation::Store, Implementation::Raw)?;
                Some(format!(
                    "{} ms at {} secrets",
                    ms(on.p50_ms - off.p50_ms),
                    int(size)
                ))
            })
            .collect();
        if !flushes.is_empty() {
            let _ = writeln!(
                md,
                "- **Waiting for the WAL flush** (raw create_secret's p50 with synchronous_commit \
                 on minus off, {conns} conn.): {}. Every call that commits a write pays it with \
                 synchronous_commit on — ours' store and retrieve (its audit row) and raw \
                 create_secret — and the read-only raw lookup never does. The flush time depends \
                 on the disk and varies on this VM (other runs here saw about 4 ms per flush for \
                 minutes at a time).",
                flushes.join(", ")
            );
        }
    }
    let most = results
        .config
        .connections
        .iter()
        .copied()
        .max()
        .unwrap_or(1);
    if most as usize > results.machine.cpus {
        let _ = writeln!(
            md,
            "- **{most} connections on {} CPUs**: the server, and the benchmark's own client, \
             share the same CPUs, so {most} connections measure throughput under CPU saturation \
             (latency is mostly queueing); 1 connection measures the latency of one call.",
            results.machine.cpus
        );
    }
    if results.server.extension_debug_build == Some(true) {
        let _ = writeln!(
            md,
            "- The installed extension was an **unoptimized dev build**. Its Rust code does \
             little per call next to the SQL it runs, but a release build would be slightly \
             faster on ours' side."
        );
    }
    if let Some(flat) = targets.iter().find(|t| t.name.contains("flat"))
        && !flat.cells.is_empty()
    {
        let _ = writeln!(
            md,
            "- **Retrieve vs number of secrets**: every lookup is a primary-key probe (ours: \
             `credential_vault.credentials` then `vault.secrets`; raw: `vault.secrets`), so the \
             cost should grow only with the index depth and with how much of the tables still \
             fits in shared_buffers ({}; `vault.secrets` is {} MiB at the largest size) and the OS \
             cache. When ours and raw change alike, the change is the tables', not ours'. Ours' \
             and raw's change in cost per call (1 / throughput) from {} to {} secrets:",
            results
                .server
                .settings
                .get("shared_buffers")
                .map(String::as_str)
                .unwrap_or("?"),
            results
                .population
                .last()
                .map(|p| format!("{:.0}", p.vault_secrets_mib))
                .unwrap_or_else(|| "?".to_owned()),
            results
                .config
                .sizes
                .first()
                .map(|&n| int(n))
                .unwrap_or_default(),
            results
                .config
                .sizes
                .last()
                .map(|&n| int(n))
                .unwrap_or_default()
        );
        let (small, large) = (
            *results.config.sizes.first().expect("flat needs sizes"),
            *results.config.sizes.last().expect("flat needs sizes"),
        );
        for sync in &results.config.synchronous_commit {
            for &conns in &results.config.connections {
                let at = |size, implementation| {
                    results.find(size, sync, conns, Operation::Retrieve, implementation)
                };
                if let (Some(os), Some(ol), Some(rs), Some(rl)) = (
                    at(small, Implementation::Ours),
                    at(large, Implementation::Ours),
                    at(small, Implementation::Raw),
                    at(large, Implementation::Raw),
                ) {
                    let (ours_change, raw_change) = (
                        os.ops_per_sec / ol.ops_per_sec - 1.0,
                        rs.ops_per_sec / rl.ops_per_sec - 1.0,
                    );
                    // One commit that waits for its WAL flush: raw create_secret's p50.
                    let flush = |size| {
                        results
                            .find(size, sync, conns, Operation::Store, Implementation::Raw)
                            .map(|s| s.p50_ms)
                    };
                    let p50_change = ol.p50_ms / os.p50_ms - 1.0;
                    let reading = if ours_change.abs() <= FLAT_TOLERANCE {
                        "within the target".to_owned()
                    } else if let (true, Some(fs), Some(fl)) =
                        (sync == "on", flush(small), flush(large))
                        && fl > 1.5 * fs
                        && ol.p50_ms - os.p50_ms >= 0.5 * (fl - fs)
                        && raw_change.abs() <= FLAT_TOLERANCE
                    {
                        format!(
                            "missed: the commits got slower while the raw lookups did not — raw \
                             create_secret's p50 (one commit waiting for its WAL flush) went \
                             from {} to {} ms in the same setting, and ours' retrieve waits for \
                             such a flush on every call (its audit row) while the read-only raw \
                             lookup never does",
                            ms(fs),
                            ms(fl)
                        )
                    } else if p50_change.abs() <= FLAT_TOLERANCE {
                        format!(
                            "missed on throughput, but ours' median call moved only {}: the \
                             loss is in slow outliers (p99 {} → {} ms), stalls rather than \
                             the lookup itself",
                            percent(p50_change),
                            ms(os.p99_ms),
                            ms(ol.p99_ms)
                        )
                    } else if raw_change.abs() >= 0.5 * ours_change.abs()
                        && raw_change.signum() == ours_change.signum()
                    {
                        if raw_change.abs() >= ours_change.abs() {
                            format!(
                                "missed; the raw lookup moved {} in the same setting, as much or \
                                 more, so the change is common to both (the tables, or the \
                                 machine), not ours' own",
                                percent(raw_change)
                            )
                        } else {
                            format!(
                                "missed; the raw lookup moved {} in the same setting, so that \
                                 much of it is common to both (the tables, or the machine) \
                                 rather than ours' own",
                                percent(raw_change)
                            )
                        }
                    } else {
                        "missed, and ours moved clearly more than the raw lookup, which this \
                         run does not explain; a likely part: ours also reads \
                         `credential_vault.credentials` and writes the audit row, so it touches \
                         more pages than raw as the tables outgrow the caches"
                            .to_owned()
                    };
                    let _ = writeln!(
                        md,
                        "  - synchronous_commit {sync}, {conns} conn.: cost ours {}, raw {} \
                         (p50 ours {} → {} ms, raw {} → {} ms; ours' windows {} ops/s at {} and \
                         {} ops/s at {}): {reading}.",
                        percent(ours_change),
                        percent(raw_change),
                        ms(os.p50_ms),
                        ms(ol.p50_ms),
                        ms(rs.p50_ms),
                        ms(rl.p50_ms),
                        range(&os.window_ops_per_sec),
                        int(small),
                        range(&ol.window_ops_per_sec),
                        int(large)
                    );
                }
            }
        }
    }
    if let Some((median, worst)) = window_spread(results) {
        let _ = writeln!(
            md,
            "- **Noise within this run**: across the {} windows of one measurement, throughput \
             varied (max − min, over the mean) by {:.0}% at the median measurement and {:.0}% at \
             the worst. The tables report the windows together, which is steadier than one \
             window, but differences between settings of that order should not be read as real.",
            results.config.rounds,
            median * 100.0,
            worst * 100.0
        );
    }
    if results.machine.load_before[0] >= 1.0 {
        let _ = writeln!(
            md,
            "- **The machine was not idle when the run started** (1-minute load average {:.2}): \
             other work on it adds noise to these numbers.",
            results.machine.load_before[0]
        );
    }
}
