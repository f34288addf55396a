//! What one run measured, as written to `latest.json` (and read back by `--report-only`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::measure::Sample;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub format: u32,
    /// When the run started, UTC.
    pub date: String,
    pub machine: Machine,
    pub server: Server,
    pub config: Config,
    pub crypto_probe: Option<CryptoProbe>,
    /// What each operation costs in Vault crypto calls, in the build measured.
    #[serde(default)]
    pub crypto_calls: Vec<CryptoCalls>,
    /// The installed extension library when the run ended; differs from
    /// `server.extension_build` if it was reinstalled during the run.
    #[serde(default)]
    pub extension_build_at_end: Option<Fingerprint>,
    pub population: Vec<PopulationStep>,
    pub measurements: Vec<Measurement>,
    /// Wall time of the whole run, population included.
    pub total_seconds: f64,
}

impl Results {
    pub fn push(&mut self, measurement: Measurement) {
        self.measurements.push(measurement);
    }

    pub fn find(
        &self,
        size: u64,
        sync: &str,
        connections: u32,
        operation: Operation,
        implementation: Implementation,
    ) -> Option<&Sample> {
        self.measurements
            .iter()
            .find(|m| {
                m.size == size
                    && m.synchronous_commit == sync
                    && m.connections == connections
                    && m.operation == operation
                    && m.implementation == implementation
            })
            .map(|m| &m.sample)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub hostname: String,
    pub cpu_model: String,
    pub cpus: usize,
    pub memory_gib: f64,
    pub kernel: String,
    /// 1, 5 and 15 minute load averages when the run started and ended.
    pub load_before: [f64; 3],
    pub load_after: [f64; 3],
    pub git_commit: String,
    /// Whether the work tree had uncommitted changes.
    pub git_dirty: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Server {
    pub version: String,
    /// `standin` (tests/support/vault_standin.sql, SQL + pgcrypto) or `real` (supabase_vault).
    pub vault_kind: String,
    pub extension_version: String,
    pub extension_library: String,
    /// Whether the installed extension library carries DWARF debug info, as `cargo pgrx
    /// install` without `--release` (the dev profile, unoptimized) leaves it.
    pub extension_debug_build: Option<bool>,
    /// The installed library when the run started (other sessions may reinstall it).
    #[serde(default)]
    pub extension_build: Option<Fingerprint>,
    pub settings: BTreeMap<String, String>,
}

/// Which file was measured: size, modification time and an FNV-1a hash of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub bytes: u64,
    pub modified: String,
    pub fnv1a64: String,
}

/// Vault crypto calls per operation, counted with track_functions on a fresh connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CryptoCalls {
    pub operation: Operation,
    pub implementation: Implementation,
    pub calls: u64,
    pub encrypts: i64,
    pub decrypts: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    pub command: String,
    pub sizes: Vec<u64>,
    pub connections: Vec<u32>,
    pub synchronous_commit: Vec<String>,
    pub warmup_seconds: f64,
    /// Measured seconds per operation and setting, split into `rounds` windows.
    pub seconds: f64,
    pub rounds: u32,
    /// Warm-up before each window after the first.
    pub settle_seconds: f64,
    pub fsync: String,
    pub populate_workers: usize,
    /// Bytes of the credentials JSON stored and retrieved.
    pub payload_bytes: usize,
}

/// Server-side time of one Vault crypto call, measured in bulk on the cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CryptoProbe {
    pub calls: u64,
    pub encrypt_us: f64,
    pub decrypt_us: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PopulationStep {
    pub size: u64,
    pub added_per_kind: u64,
    pub insert_seconds: f64,
    pub vacuum_seconds: f64,
    pub rows_per_second: f64,
    /// pg_total_relation_size (table, indexes, TOAST) after the step, in MiB.
    #[serde(default)]
    pub vault_secrets_mib: f64,
    #[serde(default)]
    pub credentials_mib: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Store,
    Retrieve,
    /// `select 1`.
    RoundTrip,
}

impl Operation {
    pub fn label(self) -> &'static str {
        match self {
            Operation::Store => "store",
            Operation::Retrieve => "retrieve",
            Operation::RoundTrip => "select 1",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Implementation {
    /// credential_vault through credential-vault-client.
    Ours,
    /// The raw Vault call through sqlx.
    Raw,
    /// `select 1` through sqlx.
    Floor,
}

impl Implementation {
    pub fn label(self) -> &'static str {
        match self {
            Implementation::Ours => "ours",
            Implementation::Raw => "raw",
            Implementation::Floor => "floor",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measurement {
    pub size: u64,
    pub synchronous_commit: String,
    pub connections: u32,
    pub operation: Operation,
    pub implementation: Implementation,
    #[serde(flatten)]
    pub sample: Sample,
}
