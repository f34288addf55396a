//! Facts about the machine and the server the numbers came from.

use std::collections::BTreeMap;
use std::process::Command;

use sqlx::postgres::PgPool;

use crate::Result;
use crate::results::{Fingerprint, Machine, Server};

pub fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
}

pub fn load_average() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut fields = text
        .split_whitespace()
        .map(|f| f.parse::<f64>().unwrap_or(f64::NAN));
    [(); 3].map(|_| fields.next().unwrap_or(f64::NAN))
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

pub fn machine_facts(load_before: [f64; 3]) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == "model name").then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kib: f64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN);
    Machine {
        hostname: read_trimmed("/proc/sys/kernel/hostname"),
        cpu_model,
        cpus: cpus(),
        memory_gib: memory_kib / 1024.0 / 1024.0,
        kernel: read_trimmed("/proc/sys/kernel/osrelease"),
        load_before,
        load_after: [f64::NAN; 3],
        git_commit: git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".to_owned()),
        git_dirty: git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty()),
    }
}

/// Settings that bear on the numbers.
const SETTINGS: &[&str] = &[
    "fsync",
    "synchronous_commit",
    "wal_level",
    "shared_buffers",
    "effective_cache_size",
    "max_connections",
    "autovacuum",
    "jit",
    "max_wal_size",
];

pub async fn server_facts(admin: &PgPool, vault_kind: &str) -> Result<Server> {
    let version: String = sqlx::query_scalar("select version()")
        .fetch_one(admin)
        .await?;
    let extension_version: String = sqlx::query_scalar(
        "select extversion from pg_extension where extname = 'credential_vault'",
    )
    .fetch_one(admin)
    .await?;
    let libdir: String =
        sqlx::query_scalar("select setting from pg_config where name = 'PKGLIBDIR'")
            .fetch_one(admin)
            .await?;
    let extension_library = format!("{libdir}/credential_vault.so");
    let extension_debug_build = std::fs::read(&extension_library).ok().map(|bytes| {
        bytes
            .windows(b".debug_info".len())
            .any(|w| w == b".debug_info")
    });
    let extension_build = fingerprint(&extension_library);
    let mut settings = BTreeMap::new();
    for name in SETTINGS {
        let value: String = sqlx::query_scalar("select current_setting($1)")
            .bind(name)
            .fetch_one(admin)
            .await?;
        settings.insert((*name).to_owned(), value);
    }
    Ok(Server {
        version,
        vault_kind: vault_kind.to_owned(),
        extension_version,
        extension_library,
        extension_debug_build,
        extension_build,
        settings,
    })
}

/// Size, modification time and FNV-1a hash of a file, to tell builds apart.
pub fn fingerprint(path: &str) -> Option<Fingerprint> {
    let bytes = std::fs::read(path).ok()?;
    let modified: chrono::DateTime<chrono::Utc> =
        std::fs::metadata(path).ok()?.modified().ok()?.into();
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    Some(Fingerprint {
        bytes: bytes.len() as u64,
        modified: modified.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        fnv1a64: format!("{hash:016x}"),
    })
}
