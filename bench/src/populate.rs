//! The stored secrets the lookups run against, grown in bulk with set-based SQL as the superuser:
//! raw Vault secrets (as `vault.create_secret` leaves them) and credential_vault's own (a Vault
//! secret, a `credential_vault.credentials` row and a linked `organization_integrations` row),
//! encrypted the way the extension does it, in parallel statements of `chunk` rows.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

use crate::Result;
use crate::results::{CryptoProbe, PopulationStep};

/// The plaintext of a populated secret with id `secret_id`, as an SQL expression: the
/// benchmark's payload shape (see `payload` in main.rs), 32 hex digits of key.
macro_rules! plaintext_sql {
    () => {
        r#"'{"api_key":"sk-bench-' || md5(secret_id::text) || '","client_id":"client-1"}'"#
    };
}

/// Raw secrets: name NULL and description '' like `vault.create_secret(secret)`'s, ciphertext
/// as Vault computes it (additional data = the id, key 0, context 'pgsodium', the row's nonce).
const RAW_SQL: &str = concat!(
    "with new as ( \
       select gen_random_uuid() as secret_id, extensions.gen_random_bytes(16) as nonce \
       from generate_series(1, $1::int)) \
     insert into vault.secrets (id, secret, nonce) \
     select secret_id, \
            encode(vault._crypto_aead_det_encrypt(convert_to(",
    plaintext_sql!(),
    ", 'utf8'), \
                   convert_to(secret_id::text, 'utf8'), 0, 'pgsodium', nonce), 'base64'), \
            nonce \
     from new \
     returning id"
);

/// Ours: the same rows the extension's store writes (its description, its encryption with a
/// fresh 16-byte nonce), plus the integration linked to it. Runs with
/// session_replication_role = replica so that the per-row link and guard triggers do not fire;
/// the statement sets the link itself.
const OURS_SQL: &str = concat!(
    "with new as materialized ( \
       select gen_random_uuid() as secret_id, gen_random_uuid() as integration_id, \
              extensions.gen_random_bytes(16) as nonce \
       from generate_series(1, $1::int)), \
     secrets as ( \
       insert into vault.secrets (id, description, secret, nonce) \
       select secret_id, 'credential_vault: credentials of integration ' || integration_id, \
              encode(vault._crypto_aead_det_encrypt(convert_to(",
    plaintext_sql!(),
    ", 'utf8'), \
                     convert_to(secret_id::text, 'utf8'), 0, 'pgsodium', nonce), 'base64'), \
              nonce \
       from new), \
     integrations as ( \
       insert into public.organization_integrations \
         (id, organization_id, provider, display_name, credential_vault_id) \
       select integration_id, $2, 'bench', 'Benchmark integration', secret_id from new), \
     credentials as ( \
       insert into credential_vault.credentials (vault_secret_id, integration_id, created_at) \
       select secret_id, integration_id, now() from new) \
     select secret_id from new"
);

/// Encrypts `$1` payload-sized plaintexts, for the crypto probe.
const ENCRYPT_PROBE_SQL: &str = concat!(
    "select count(vault._crypto_aead_det_encrypt(convert_to(",
    plaintext_sql!(),
    ", 'utf8'), \
            convert_to(secret_id::text, 'utf8'), 0, 'pgsodium', extensions.gen_random_bytes(16))) \
     from (select gen_random_uuid() as secret_id from generate_series(1, $1::int)) s"
);

pub struct Population {
    organization: Uuid,
    /// Secret ids of credential_vault's populated credentials.
    pub ours: Vec<Uuid>,
    /// Ids of the raw Vault secrets.
    pub raw: Vec<Uuid>,
}

#[derive(Clone, Copy)]
enum Kind {
    Raw,
    Ours,
}

impl Population {
    /// Creates the organization every benchmark integration belongs to.
    pub async fn new(admin: &PgPool) -> Result<Population> {
        let organization = sqlx::query_scalar(
            "insert into public.organizations (name) values ('Benchmark') returning id",
        )
        .fetch_one(admin)
        .await?;
        Ok(Population {
            organization,
            ours: Vec::new(),
            raw: Vec::new(),
        })
    }

    /// Adds secrets of both kinds until there are `size` of each, then vacuums, analyzes and
    /// checkpoints so that the measurements do not pay for the bulk load.
    pub async fn grow(
        &mut self,
        superuser: &PgConnectOptions,
        size: u64,
        chunk: u64,
        workers: usize,
    ) -> Result<PopulationStep> {
        let add = size.saturating_sub(self.ours.len() as u64);
        let mut jobs = Vec::new();
        let mut left = add;
        while left > 0 {
            let rows = left.min(chunk.max(1));
            jobs.push((Kind::Raw, rows));
            jobs.push((Kind::Ours, rows));
            left -= rows;
        }
        let total_rows = 2 * add;
        eprintln!("bench: populating to {size} secrets of each kind ({total_rows} rows to add)");
        let started = Instant::now();
        let jobs = Arc::new(jobs);
        let next = Arc::new(AtomicUsize::new(0));
        let done_rows = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for _ in 0..workers.min(jobs.len().max(1)) {
            let (jobs, next, done_rows) = (jobs.clone(), next.clone(), done_rows.clone());
            let (superuser, organization) = (superuser.clone(), self.organization);
            handles.push(tokio::spawn(async move {
                let mut conn = PgConnection::connect_with(&superuser).await?;
                let (mut raw, mut ours) = (Vec::new(), Vec::new());
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(kind, rows)) = jobs.get(index) else {
                        break;
                    };
                    let rows_i32 = i32::try_from(rows)?;
                    let ids: Vec<Uuid> = match kind {
                        Kind::Raw => {
                            sqlx::query_scalar(RAW_SQL)
                                .bind(rows_i32)
                                .fetch_all(&mut conn)
                                .await?
                        }
                        Kind::Ours => {
                            let mut tx = conn.begin().await?;
                            tx.execute("set local session_replication_role = replica")
                                .await?;
                            let ids = sqlx::query_scalar(OURS_SQL)
                                .bind(rows_i32)
                                .bind(organization)
                                .fetch_all(&mut *tx)
                                .await?;
                            tx.commit().await?;
                            ids
                        }
                    };
                    match kind {
                        Kind::Raw => raw.extend(ids),
                        Kind::Ours => ours.extend(ids),
                    }
                    let so_far =
                        done_rows.fetch_add(rows as usize, Ordering::Relaxed) + rows as usize;
                    eprintln!(
                        "bench:   {so_far}/{total_rows} rows, {:.0} rows/s",
                        so_far as f64 / started.elapsed().as_secs_f64()
                    );
                }
                conn.close().await?;
                Ok::<_, crate::Error>((raw, ours))
            }));
        }
        for handle in handles {
            let (raw, ours) = handle.await??;
            self.raw.extend(raw);
            self.ours.extend(ours);
        }
        let insert_seconds = started.elapsed().as_secs_f64();

        let vacuum_started = Instant::now();
        let mut conn = PgConnection::connect_with(superuser).await?;
        conn.execute(
            "vacuum (analyze) vault.secrets, credential_vault.credentials, \
             public.organization_integrations",
        )
        .await?;
        conn.execute("checkpoint").await?;
        let (secrets, credentials, secrets_bytes, credentials_bytes): (i64, i64, i64, i64) =
            sqlx::query_as(
                "select (select count(*) from vault.secrets), \
                        (select count(*) from credential_vault.credentials), \
                        pg_total_relation_size('vault.secrets'), \
                        pg_total_relation_size('credential_vault.credentials')",
            )
            .fetch_one(&mut conn)
            .await?;
        conn.close().await?;
        let vacuum_seconds = vacuum_started.elapsed().as_secs_f64();
        let expected = (self.raw.len() + self.ours.len()) as i64;
        if secrets != expected || credentials != self.ours.len() as i64 {
            return Err(format!(
                "population: {secrets} Vault secrets and {credentials} credentials rows, \
                 expected {expected} and {}",
                self.ours.len()
            )
            .into());
        }
        eprintln!(
            "bench:   populated in {insert_seconds:.1} s, vacuum + analyze + checkpoint {vacuum_seconds:.1} s"
        );
        Ok(PopulationStep {
            size,
            added_per_kind: add,
            insert_seconds,
            vacuum_seconds,
            rows_per_second: if insert_seconds > 0.0 {
                total_rows as f64 / insert_seconds
            } else {
                0.0
            },
            vault_secrets_mib: secrets_bytes as f64 / 1048576.0,
            credentials_mib: credentials_bytes as f64 / 1048576.0,
        })
    }

    /// `count` integrations without credentials, one per store call to be measured.
    pub async fn create_integrations(&self, admin: &PgPool, count: usize) -> Result<Vec<Uuid>> {
        Ok(sqlx::query_scalar(
            "insert into public.organization_integrations (organization_id, provider, display_name) \
             select $1, 'bench', 'Benchmark store target' from generate_series(1, $2::int) \
             returning id",
        )
        .bind(self.organization)
        .bind(i32::try_from(count)?)
        .fetch_all(admin)
        .await?)
    }

    /// Removes what a store measurement added: the integrations used by our stores (their
    /// delete trigger purges their credentials and Vault secrets) and the raw secrets.
    pub async fn remove_stored(
        &self,
        admin: &PgPool,
        integrations: &[Uuid],
        raw_secrets: &[Uuid],
    ) -> Result<()> {
        sqlx::query("delete from public.organization_integrations where id = any($1)")
            .bind(integrations)
            .execute(admin)
            .await?;
        sqlx::query("delete from vault.secrets where id = any($1)")
            .bind(raw_secrets)
            .execute(admin)
            .await?;
        Ok(())
    }

    /// Server-side cost of one call of the Vault crypto (stand-in or real), to explain the
    /// numbers: encrypting a payload-sized plaintext, and decrypting populated raw secrets.
    pub async fn crypto_probe(&self, admin: &PgPool) -> Result<CryptoProbe> {
        let calls = self.raw.len().min(2_000);
        let ids = &self.raw[..calls];
        let started = Instant::now();
        let encrypted: i64 = sqlx::query_scalar(ENCRYPT_PROBE_SQL)
            .bind(i32::try_from(calls)?)
            .fetch_one(admin)
            .await?;
        let encrypt_us = started.elapsed().as_secs_f64() * 1e6 / encrypted.max(1) as f64;
        let started = Instant::now();
        let decrypted: i64 = sqlx::query_scalar(
            "select count(decrypted_secret) from vault.decrypted_secrets where id = any($1)",
        )
        .bind(ids)
        .fetch_one(admin)
        .await?;
        let decrypt_us = started.elapsed().as_secs_f64() * 1e6 / decrypted.max(1) as f64;
        Ok(CryptoProbe {
            calls: calls as u64,
            encrypt_us,
            decrypt_us,
        })
    }
}
