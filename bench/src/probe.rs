//! How many Vault encrypt and decrypt calls each operation makes in the build being measured,
//! counted by the server (track_functions) over a few calls on one fresh connection running as
//! `service_role`. The numbers explain the gaps without assuming what the extension does.

use std::time::Duration;

use credential_vault_client::{IntegrationId, ServiceRolePgCredentialVault, VaultSecretId};
use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

use crate::Result;
use crate::measure::Rng;
use crate::populate::Population;
use crate::results::{CryptoCalls, Implementation, Operation};

/// Calls per operation.
const CALLS: u64 = 20;

/// The functions that do the crypto: the stand-in's PL/pgSQL bodies (its SQL wrappers may be
/// inlined and then are not counted), or real Vault's C functions.
fn crypto_functions(vault_kind: &str) -> (&'static str, &'static str) {
    if vault_kind == "standin" {
        ("_standin_seal", "_standin_open")
    } else {
        ("_crypto_aead_det_encrypt", "_crypto_aead_det_decrypt")
    }
}

async fn counts(admin: &PgPool, vault_kind: &str) -> Result<(i64, i64)> {
    let (encrypt, decrypt) = crypto_functions(vault_kind);
    Ok(sqlx::query_as(
        "select coalesce(sum(calls) filter (where funcname = $1), 0)::bigint, \
                coalesce(sum(calls) filter (where funcname = $2), 0)::bigint \
         from pg_stat_user_functions where schemaname = 'vault'",
    )
    .bind(encrypt)
    .bind(decrypt)
    .fetch_one(admin)
    .await?)
}

pub async fn crypto_calls(
    admin: &PgPool,
    superuser: &PgConnectOptions,
    population: &Population,
    vault_kind: &str,
) -> Result<Vec<CryptoCalls>> {
    let vault = ServiceRolePgCredentialVault::new(admin.clone());
    let mut rng = Rng::new(7);
    let mut out = Vec::new();
    for (operation, implementation) in [
        (Operation::Store, Implementation::Ours),
        (Operation::Store, Implementation::Raw),
        (Operation::Retrieve, Implementation::Ours),
        (Operation::Retrieve, Implementation::Raw),
    ] {
        let integrations = if implementation == Implementation::Ours {
            population
                .create_integrations(admin, CALLS as usize)
                .await?
        } else {
            Vec::new()
        };
        let before = counts(admin, vault_kind).await?;
        let mut conn = PgConnection::connect_with(superuser).await?;
        conn.execute("set track_functions = 'all'").await?;
        conn.execute("set role service_role").await?;
        let mut raw_created = Vec::new();
        let mut targets = integrations.iter().copied();
        for _ in 0..CALLS {
            let credentials = crate::payload(&mut rng);
            match (operation, implementation) {
                (Operation::Store, Implementation::Ours) => {
                    vault
                        .vault()
                        .store_with(
                            &mut conn,
                            IntegrationId::from(targets.next().ok_or("no integration left")?),
                            &credentials,
                        )
                        .await?;
                }
                (Operation::Store, _) => {
                    let json = credentials.expose_json();
                    let id: Uuid = sqlx::query_scalar("select vault.create_secret($1)")
                        .bind(json.as_str())
                        .fetch_one(&mut conn)
                        .await?;
                    raw_created.push(id);
                }
                (_, Implementation::Ours) => {
                    let id = population.ours[rng.below(population.ours.len())];
                    vault
                        .retrieve_with(&mut conn, VaultSecretId::from(id))
                        .await?;
                }
                _ => {
                    let id = population.raw[rng.below(population.raw.len())];
                    let _: Option<String> = sqlx::query_scalar(
                        "select decrypted_secret from vault.decrypted_secrets where id = $1",
                    )
                    .bind(id)
                    .fetch_one(&mut conn)
                    .await?;
                }
            }
        }
        // A backend reports its function counts when it exits.
        conn.close().await?;
        let mut after = before;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            after = counts(admin, vault_kind).await?;
            if after != before {
                tokio::time::sleep(Duration::from_millis(200)).await;
                after = counts(admin, vault_kind).await?;
                break;
            }
        }
        out.push(CryptoCalls {
            operation,
            implementation,
            calls: CALLS,
            encrypts: after.0 - before.0,
            decrypts: after.1 - before.1,
        });
        population
            .remove_stored(admin, &integrations, &raw_created)
            .await?;
    }
    Ok(out)
}
