//! The five operations behind the public RPC functions (`src/entry.rs`). Each one:
//! checks the calling role, validates every argument, refuses writes on a read-only server, asks
//! the authorizer for `authenticated` callers, then does its reads and writes as the extension
//! owner, tells the application's link hook, and audits (writes in the same transaction, reads
//! in the server log).

use std::sync::atomic::{AtomicBool, Ordering};

use credential_vault_contract::{
    VaultVersion, check_credentials, checked_credentials, parse_expires_at, parse_id,
};
use pgrx::prelude::*;
use uuid::Uuid;

use crate::caller::{Caller, as_owner, from_pg, jwt_subject, to_pg};
use crate::error::{Error, Result};
use crate::hooks::notify_link;
use crate::jsonb::Jsonb;
use crate::spi::{read_row, read_rows, run, uuid_arg, write_row};
use crate::{audit, raise_on_error, read};

/// A stored secret: its reference and when it was stored.
pub type Stored = (Uuid, TimestampWithTimeZone);

/// One version of an integration's credentials, as `vault_list_integration_credential_versions`
/// returns it: never a value.
pub struct Version {
    pub id: Uuid,
    pub created_at: TimestampWithTimeZone,
    /// `current`, `previous` or `deleted`.
    pub state: String,
    pub replaced_at: Option<TimestampWithTimeZone>,
    pub destroy_after: Option<TimestampWithTimeZone>,
}

pub fn store(
    integration_id: Option<&str>,
    credentials_json: Option<&str>,
    expires_at: Option<&str>,
) -> Result<Stored> {
    let caller = Caller::current();
    caller.require("store", true)?;
    let integration = parse_id("integration_id", integration_id)?;
    check_credentials(credentials_json)?;
    let expires_at = parse_expires_at(expires_at)?.map(|at| at.to_rfc3339());
    require_writable()?;
    caller.require_manage("store", integration, Error::IntegrationNotFound)?;
    let stored = as_owner(|| {
        require_vault()?;
        insert_secret(
            integration,
            credentials_json.unwrap_or_default(),
            expires_at.as_deref(),
        )
    })?;
    notify_link(integration, stored.0, true)?;
    audit::write("store", &caller.role, integration, stored.0, None)?;
    Ok(stored)
}

pub fn retrieve(vault_secret_id: Option<&str>) -> Result<Jsonb> {
    let caller = Caller::current();
    caller.require("retrieve", false)?;
    audit::require_read_audited()?;
    let id = parse_id("vault_secret_id", vault_secret_id)?;
    as_owner(|| {
        require_vault()?;
        let (integration, plaintext) = read::current(id)?.ok_or(Error::CredentialsNotFound)?;
        // Anything written around this extension (update_secret) is refused without echo; the
        // check's own parse builds the jsonb.
        let credentials =
            checked_credentials(Some(&plaintext)).map_err(|_| Error::StoredCredentialsCorrupt)?;
        audit::read(&caller, integration, id);
        Ok(Jsonb::from_checked(&credentials))
    })
}

pub fn rotate(
    vault_secret_id: Option<&str>,
    credentials_json: Option<&str>,
    expires_at: Option<&str>,
) -> Result<Stored> {
    let caller = Caller::current();
    caller.require("rotate", true)?;
    let old = parse_id("vault_secret_id", vault_secret_id)?;
    check_credentials(credentials_json)?;
    let expires_at = parse_expires_at(expires_at)?.map(|at| at.to_rfc3339());
    require_writable()?;
    let integration = as_owner(|| current_integration(old))?;
    caller.require_manage("rotate", integration, Error::CredentialsNotFound)?;
    as_owner(require_vault)?;
    // Old first, so that an application keeping one reference per integration sees the
    // slot free; nobody else sees either change before the commit.
    retire(&caller.role, integration, old, "previous", None)?;
    let stored = as_owner(|| {
        insert_secret(
            integration,
            credentials_json.unwrap_or_default(),
            expires_at.as_deref(),
        )
    })?;
    notify_link(integration, stored.0, true)?;
    audit::write("rotate", &caller.role, integration, stored.0, Some(old))?;
    Ok(stored)
}

pub fn delete(vault_secret_id: Option<&str>) -> Result<()> {
    let caller = Caller::current();
    caller.require("delete", true)?;
    let id = parse_id("vault_secret_id", vault_secret_id)?;
    require_writable()?;
    let integration = as_owner(|| current_integration(id))?;
    caller.require_manage("delete", integration, Error::CredentialsNotFound)?;
    as_owner(require_vault)?;
    retire(&caller.role, integration, id, "deleted", None)?;
    audit::write("delete", &caller.role, integration, id, None)
}

pub fn list(integration_id: Option<&str>) -> Result<Vec<Stored>> {
    Ok(versions_where(integration_id, true)?
        .into_iter()
        .map(|version| (version.id, version.created_at))
        .collect())
}

pub fn versions(integration_id: Option<&str>) -> Result<Vec<Version>> {
    versions_where(integration_id, false)
}

/// The integration's versions whose Vault secret still exists (one deleted around the extension
/// is reported by credential_vault.health_report() instead), newest first; only the current ones
/// with `current_only`. Same callers as list.
fn versions_where(integration_id: Option<&str>, current_only: bool) -> Result<Vec<Version>> {
    let caller = Caller::current();
    caller.require("list", true)?;
    let integration = parse_id("integration_id", integration_id)?;
    caller.require_manage("list", integration, Error::IntegrationNotFound)?;
    let rows = as_owner(|| {
        require_vault()?;
        read_rows(
            "select c.vault_secret_id, c.created_at, c.state, c.replaced_at, c.destroy_after \
             from credential_vault.credentials c \
             where c.integration_id = $1 and (c.state = 'current' or not $2) \
               and exists (select from vault.secrets s where s.id = c.vault_secret_id) \
             order by c.created_at desc, c.vault_secret_id",
            &[uuid_arg(integration), current_only.into()],
            |row| {
                Ok((
                    row.get::<pgrx::Uuid>(1)?,
                    row.get::<TimestampWithTimeZone>(2)?,
                    row.get::<String>(3)?,
                    row.get::<TimestampWithTimeZone>(4)?,
                    row.get::<TimestampWithTimeZone>(5)?,
                ))
            },
        )
    })?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, created_at, state, replaced_at, destroy_after)| {
            Some(Version {
                id: from_pg(id?),
                created_at: created_at?,
                state: state?,
                replaced_at,
                destroy_after,
            })
        })
        .collect())
}

/// Makes a kept version current again; every current version of its integration becomes a kept
/// one. Same callers as rotate.
pub fn restore(vault_secret_id: Option<&str>) -> Result<Stored> {
    let caller = Caller::current();
    caller.require("restore", true)?;
    let id = parse_id("vault_secret_id", vault_secret_id)?;
    require_writable()?;
    let integration = as_owner(|| kept_integration(id))?;
    caller.require_manage("restore", integration, Error::CredentialsNotFound)?;
    // Decided in one statement, on the row as it is under its lock (taken after the table's
    // ROW EXCLUSIVE lock, as every write takes it: see revoke_integration_credentials). Every
    // other current version is retired before it becomes current: the application's link
    // follows one current version at a time.
    let replaced = as_owner(|| {
        require_vault()?;
        run(
            "lock table credential_vault.credentials in row exclusive mode",
            &[],
        )?;
        write_row(
            "select from credential_vault.credentials \
             where vault_secret_id = $1 and state <> 'current' and destroy_after > now() \
             for update skip locked",
            &[uuid_arg(id)],
            |_| Ok(()),
        )?
        .ok_or(Error::ConcurrentChange)?;
        read_rows(
            "select vault_secret_id from credential_vault.credentials \
             where integration_id = $1 and state = 'current' \
             order by created_at, vault_secret_id",
            &[uuid_arg(integration)],
            |row| row.get::<pgrx::Uuid>(1),
        )
    })?;
    let replaced: Vec<Uuid> = replaced.into_iter().flatten().map(from_pg).collect();
    for current in &replaced {
        retire(&caller.role, integration, *current, "previous", Some(id))?;
    }
    let created_at = as_owner(|| {
        write_row(
            "update credential_vault.credentials \
             set state = 'current', replaced_at = null, destroy_after = null \
             where vault_secret_id = $1 returning created_at",
            &[uuid_arg(id)],
            |row| row.get::<TimestampWithTimeZone>(1),
        )
    })?
    .flatten()
    .ok_or(Error::StatementFailed)?;
    notify_link(integration, id, true)?;
    let previous = replaced.first().copied();
    audit::write("restore", &caller.role, integration, id, previous)?;
    Ok((id, created_at))
}

/// Destroys one version now, current or kept: no recovery. service_role only.
pub fn destroy(vault_secret_id: Option<&str>) -> Result<()> {
    let caller = Caller::current();
    caller.require("destroy", false)?;
    let id = parse_id("vault_secret_id", vault_secret_id)?;
    require_writable()?;
    // "Was it current?" is answered by the row as it is under its lock, in the statement that
    // destroys it.
    let destroyed = as_owner(|| {
        require_vault()?;
        write_row(
            "with locked as ( \
               select vault_secret_id, integration_id, state from credential_vault.credentials \
               where vault_secret_id = $1 for update skip locked), \
             gone as ( \
               delete from credential_vault.credentials c using locked \
               where c.vault_secret_id = locked.vault_secret_id \
               returning c.vault_secret_id, locked.integration_id, locked.state), \
             secrets as (delete from vault.secrets s using gone where s.id = gone.vault_secret_id) \
             select integration_id, state = 'current' from gone",
            &[uuid_arg(id)],
            |row| Ok((row.get::<pgrx::Uuid>(1)?, row.get::<bool>(2)?)),
        )
    })?;
    let Some((Some(integration), current)) = destroyed else {
        // Nothing locked: gone already, or another call holds it.
        let exists = as_owner(|| {
            read_row(
                "select from credential_vault.credentials where vault_secret_id = $1",
                &[uuid_arg(id)],
                |_| Ok(()),
            )
        })?;
        return Err(exists.map_or(Error::CredentialsNotFound, |()| Error::ConcurrentChange));
    };
    let integration = from_pg(integration);
    if current == Some(true) {
        notify_link(integration, id, false)?;
    }
    audit::write("destroy", &caller.role, integration, id, None)
}

// 0.1.0's SQL functions, which its public wrappers call. 0.2.0 declares none of them (its RPC
// functions are entry::*), but the frozen 0.1.0 install script the upgrade test runs declares
// them, so the library keeps their symbols; on a 0.1.0 schema every call is refused
// (schema_outdated) until ALTER EXTENSION UPDATE.
// pg_extern signatures spell the named columns out: pgrx reads them before aliases resolve.

#[pg_extern(sql = "")]
fn store_credentials(
    integration_id: Option<&str>,
    credentials_json: Option<&str>,
) -> TableIterator<
    'static,
    (
        name!(vault_secret_id, pgrx::Uuid),
        name!(created_at, TimestampWithTimeZone),
    ),
> {
    raise_on_error(|| store(integration_id, credentials_json, None).map(one_reference))
}

#[pg_extern(sql = "")]
fn retrieve_credentials(vault_secret_id: Option<&str>) -> Jsonb {
    raise_on_error(|| retrieve(vault_secret_id))
}

#[pg_extern(sql = "")]
fn rotate_credentials(
    vault_secret_id: Option<&str>,
    credentials_json: Option<&str>,
) -> TableIterator<
    'static,
    (
        name!(vault_secret_id, pgrx::Uuid),
        name!(created_at, TimestampWithTimeZone),
    ),
> {
    raise_on_error(|| rotate(vault_secret_id, credentials_json, None).map(one_reference))
}

#[pg_extern(sql = "")]
fn delete_credentials(vault_secret_id: Option<&str>) {
    raise_on_error(|| delete(vault_secret_id))
}

#[pg_extern(sql = "")]
fn list_credentials(
    integration_id: Option<&str>,
) -> TableIterator<
    'static,
    (
        name!(vault_secret_id, pgrx::Uuid),
        name!(created_at, TimestampWithTimeZone),
    ),
> {
    raise_on_error(|| {
        list(integration_id)
            .map(|rows| TableIterator::new(rows.into_iter().map(|(id, at)| (to_pg(id), at))))
    })
}

fn one_reference(
    (id, created_at): Stored,
) -> TableIterator<'static, (pgrx::Uuid, TimestampWithTimeZone)> {
    TableIterator::once((to_pg(id), created_at))
}

/// A hot standby (a Supabase read replica) and a read-only transaction can serve reads only;
/// writes are refused with a documented error before they are attempted.
pub fn require_writable() -> Result<()> {
    // SAFETY: reads a backend-local flag, set for every transaction on a standby.
    if unsafe { pg_sys::XactReadOnly } {
        Err(Error::ReadOnly)
    } else {
        Ok(())
    }
}

static VAULT_CHECKED: AtomicBool = AtomicBool::new(false);

/// Vault dropped or created anew invalidates its tables' relation cache entries.
pub fn forget_vault() {
    VAULT_CHECKED.store(false, Ordering::Relaxed);
}

/// Vault's objects are looked up once per backend; a missing or too old Vault is a clear error
/// instead of "relation does not exist".
pub fn require_vault() -> Result<()> {
    if VAULT_CHECKED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let (present, installed) = read_row(
        "select to_regclass('vault.secrets') is not null \
            and to_regclass('vault.decrypted_secrets') is not null \
            and to_regprocedure('vault._crypto_aead_det_encrypt(bytea,bytea,bigint,bytea,bytea)') is not null, \
         (select extversion from pg_catalog.pg_extension where extname = 'supabase_vault')",
        &[],
        |row| Ok((row.get::<bool>(1)?, row.get::<String>(2)?)),
    )?
    .ok_or(Error::StatementFailed)?;
    match (present, installed) {
        (Some(true), _) => {
            VAULT_CHECKED.store(true, Ordering::Relaxed);
            Ok(())
        }
        (_, Some(version)) => Err(Error::VaultUnsupported(VaultVersion::parse(&version))),
        _ => Err(Error::VaultMissing),
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    // SAFETY: writes exactly N bytes into the buffer.
    let filled = unsafe { pg_sys::pg_strong_random(bytes.as_mut_ptr().cast(), N) };
    if filled {
        Ok(bytes)
    } else {
        Err(Error::NoStrongRandom)
    }
}

/// Whether this backend's first store read its secret back through Vault's own view.
static ROUND_TRIP_VERIFIED: AtomicBool = AtomicBool::new(false);

/// Encrypts and inserts in one statement, so only ciphertext is ever written (Vault's
/// create_secret writes the plaintext first), with a fresh random nonce (Vault's default nonce
/// is frozen by cached plans). The first store of each backend reads its row back through
/// `vault.decrypted_secrets` before the transaction can commit: an installed Vault that cannot
/// read this format is refused before anything unreadable is stored. (Doing it on every store
/// would double the crypto cost of each one; the format cannot change within a backend.)
fn insert_secret(integration: Uuid, credentials: &str, expires_at: Option<&str>) -> Result<Stored> {
    // The id and the nonce from one call: pg_strong_random (OpenSSL's RAND_bytes) costs per call,
    // about 8,500 instructions, hardly per byte.
    let random = random_bytes::<32>()?;
    let (id, nonce) = random.split_at(16);
    let id = uuid::Builder::from_random_bytes(id.try_into().expect("16 bytes")).into_uuid();
    let description = format!("credential_vault: credentials of integration {integration}");
    let created_at = write_row(
        "with secret as ( \
           insert into vault.secrets (id, description, secret, nonce) \
           values ($1, $2, encode(vault._crypto_aead_det_encrypt( \
                     convert_to($3, 'utf8'), convert_to($1::text, 'utf8'), 0, 'pgsodium'::bytea, $4), \
                   'base64'), $4) \
           returning id, created_at) \
         insert into credential_vault.credentials (vault_secret_id, integration_id, created_at, expires_at) \
         select id, $5, created_at, $6::timestamptz from secret \
         returning created_at",
        &[uuid_arg(id), description.as_str().into(), credentials.into(), nonce.into(), uuid_arg(integration), expires_at.into()],
        |row| row.get::<TimestampWithTimeZone>(1),
    )?
    .flatten()
    .ok_or(Error::StatementFailed)?;
    if !ROUND_TRIP_VERIFIED.load(Ordering::Relaxed) {
        let readable = read_row(
            "select decrypted_secret = $2 from vault.decrypted_secrets where id = $1",
            &[uuid_arg(id), credentials.into()],
            |row| row.get::<bool>(1),
        )?
        .flatten();
        if readable != Some(true) {
            return Err(Error::VaultRoundTripFailed);
        }
        ROUND_TRIP_VERIFIED.store(true, Ordering::Relaxed);
    }
    Ok((id, created_at))
}

/// The integration of `id` while it is current; PT404 otherwise.
fn current_integration(id: Uuid) -> Result<Uuid> {
    read_row(
        "select integration_id from credential_vault.credentials \
         where vault_secret_id = $1 and state = 'current'",
        &[uuid_arg(id)],
        |row| row.get::<pgrx::Uuid>(1),
    )?
    .flatten()
    .map(from_pg)
    .ok_or(Error::CredentialsNotFound)
}

/// The integration of `id` while it is a kept version within its window whose Vault secret
/// still exists; PT404 otherwise.
fn kept_integration(id: Uuid) -> Result<Uuid> {
    read_row(
        "select c.integration_id from credential_vault.credentials c \
         where c.vault_secret_id = $1 and c.state <> 'current' and c.destroy_after > now() \
           and exists (select from vault.secrets s where s.id = c.vault_secret_id)",
        &[uuid_arg(id)],
        |row| row.get::<pgrx::Uuid>(1),
    )?
    .flatten()
    .map(from_pg)
    .ok_or(Error::CredentialsNotFound)
}

/// Secret `id` of `integration` stops being current, decided under its row lock in one
/// statement: of concurrent rotations, deletions or restores of one reference the first to lock
/// it wins, and the others fail at once with a retryable error instead of waiting to find it
/// gone. It becomes a kept version in `state` (`previous` or `deleted`) until its replacement
/// time plus the database's recovery window (each day of it 24 hours), or is destroyed at once
/// when the window is zero; beyond the integration's bound on kept versions, its oldest kept
/// ones (never a current one, nor `spare`, which a restore is making current) are destroyed and
/// audited as `expire` by `role`. Being a write
/// from its first lock on, it waits out a revoke in progress (see revoke_integration_credentials).
/// The application's link hook is told; the caller audits its own action.
pub fn retire(
    role: &str,
    integration: Uuid,
    id: Uuid,
    state: &str,
    spare: Option<Uuid>,
) -> Result<()> {
    as_owner(|| {
        write_row(
            "with settings as ( \
               select coalesce(s.recovery_window, interval '7 days') as length, \
                      coalesce(s.max_kept_versions, 100) as most \
               from (select) defaults left join credential_vault.settings s on true), \
             locked as ( \
               select vault_secret_id from credential_vault.credentials \
               where vault_secret_id = $1 and state = 'current' for update skip locked), \
             kept as ( \
               update credential_vault.credentials c \
               set state = $2, replaced_at = now(), \
                   destroy_after = now() + make_interval(secs => extract(epoch from s.length)::float8) \
               from locked, settings s \
               where c.vault_secret_id = locked.vault_secret_id and s.length > interval '0' \
               returning c.vault_secret_id), \
             beyond as ( \
               select k.vault_secret_id from credential_vault.credentials k \
               where k.integration_id = $3 and k.state <> 'current' and exists (select from kept) \
                 and k.vault_secret_id is distinct from $6 \
               order by k.created_at desc, k.vault_secret_id desc \
               offset (select most - 1 from settings)), \
             expired as ( \
               delete from credential_vault.credentials c using beyond \
               where c.vault_secret_id = beyond.vault_secret_id and c.state <> 'current' \
               returning c.vault_secret_id), \
             gone as ( \
               delete from credential_vault.credentials c using locked, settings s \
               where c.vault_secret_id = locked.vault_secret_id and s.length = interval '0' \
               returning c.vault_secret_id), \
             secrets as ( \
               delete from vault.secrets v \
               where v.id in (select vault_secret_id from gone \
                              union all select vault_secret_id from expired)), \
             audited as ( \
               insert into credential_vault.audit_log \
                 (action, actor_role, actor_uid, integration_id, vault_secret_id) \
               select 'expire', $4, $5, $3, vault_secret_id from expired) \
             select from locked",
            &[
                uuid_arg(id),
                state.into(),
                uuid_arg(integration),
                role.into(),
                jwt_subject().map(to_pg).into(),
                spare.map(to_pg).into(),
            ],
            |_| Ok(()),
        )
    })?
    .ok_or(Error::ConcurrentChange)?;
    notify_link(integration, id, false)
}

/// Destroys secret `id` of `integration` (its Vault row, when there still is one, and the
/// extension's), tells the application's link hook when it was current, and audits it as
/// `action`.
pub fn remove_secret(
    action: &str,
    role: &str,
    integration: Uuid,
    id: Uuid,
    current: bool,
) -> Result<()> {
    as_owner(|| {
        run(
            "with gone as ( \
               delete from credential_vault.credentials where vault_secret_id = $1 returning vault_secret_id) \
             delete from vault.secrets s using gone where s.id = gone.vault_secret_id",
            &[uuid_arg(id)],
        )
    })?;
    if current {
        notify_link(integration, id, false)?;
    }
    audit::write(action, role, integration, id, None)
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    // In-database tests, run by `cargo pgrx test` in pgrx's own cluster. That cluster has no
    // Vault, so the tests that need one install the project's Vault stand-in (and the Supabase
    // roles it expects) inside their own transaction, which the framework rolls back.

    use pgrx::prelude::*;

    const CREDENTIALS: &str =
        r#"{"api_key":"pgtest-canary-7f3a","client_secret":"pgtest-canary-91bc"}"#;
    const INTEGRATION: &str = "3f1c2a9e-5b7d-4e21-9a0c-1d2e3f4a5b6c";

    fn install_vault_standin() {
        Spi::run(include_str!("../scripts/harness/supabase_roles.sql")).unwrap();
        Spi::run(include_str!("../scripts/harness/supabase_bootstrap.sql")).unwrap();
        Spi::run(include_str!("../scripts/harness/vault_standin.sql")).unwrap();
        Spi::run(include_str!("../scripts/harness/vault_after_create.sql")).unwrap();
    }

    fn store(integration: &str, credentials: &str) -> String {
        Spi::get_one_with_args::<pgrx::Uuid>(
            "select vault_secret_id from public.vault_store_integration_credentials($1, $2)",
            &[integration.into(), credentials.into()],
        )
        .unwrap()
        .unwrap()
        .to_string()
    }

    fn retrieve(reference: &str) -> pgrx::JsonB {
        Spi::get_one_with_args::<pgrx::JsonB>(
            "select public.vault_retrieve_integration_credentials($1)",
            &[reference.into()],
        )
        .unwrap()
        .unwrap()
    }

    fn count(sql: &str) -> i64 {
        Spi::get_one::<i64>(sql).unwrap().unwrap()
    }

    #[pg_test(error = "Supabase Vault is not installed in this database")]
    fn store_without_vault_is_a_clear_error() {
        store(INTEGRATION, CREDENTIALS);
    }

    #[pg_test(error = "integration not found")]
    fn authenticated_needs_the_authorizer_to_agree() {
        install_vault_standin();
        Spi::run(
            "create function pg_temp.deny(uuid) returns boolean language sql set search_path = pg_catalog, pg_temp as 'select false'",
        )
        .unwrap();
        Spi::run("select credential_vault.set_authorizer('pg_temp.deny(uuid)')").unwrap();
        Spi::run("grant execute on function public.vault_store_integration_credentials(text, text) to authenticated").unwrap();
        Spi::run("set local role authenticated").unwrap();
        store(INTEGRATION, CREDENTIALS);
    }

    #[pg_test]
    fn authenticated_may_store_when_the_authorizer_agrees() {
        install_vault_standin();
        Spi::run(
            "create function public.allow_all(uuid) returns boolean language sql set search_path = pg_catalog, pg_temp as 'select true'",
        )
        .unwrap();
        Spi::run("select credential_vault.set_authorizer('public.allow_all(uuid)')").unwrap();
        Spi::run("grant execute on function public.vault_store_integration_credentials(text, text) to authenticated").unwrap();
        Spi::run("set local role authenticated").unwrap();
        store(INTEGRATION, CREDENTIALS);
        Spi::run("reset role").unwrap();
        assert_eq!(
            count(
                "select count(*) from credential_vault.audit_log where actor_role = 'authenticated'"
            ),
            1
        );
    }

    #[pg_test]
    fn store_retrieve_rotate_list_delete_round_trip() {
        install_vault_standin();
        // No recovery window: the replaced and deleted secrets go at once (kept versions are
        // tests/tests/lifecycle.rs's).
        Spi::run("select credential_vault.set_recovery_window('0')").unwrap();
        let first = store(INTEGRATION, CREDENTIALS);
        assert_eq!(
            retrieve(&first).0,
            serde_json::from_str::<serde_json::Value>(CREDENTIALS).unwrap()
        );

        let rotated = Spi::get_one_with_args::<pgrx::Uuid>(
            "select vault_secret_id from public.vault_rotate_integration_credentials($1, $2)",
            &[
                first.as_str().into(),
                r#"{"api_key":"pgtest-canary-rotated"}"#.into(),
            ],
        )
        .unwrap()
        .unwrap()
        .to_string();
        assert_ne!(rotated, first);
        assert_eq!(
            retrieve(&rotated).0,
            serde_json::json!({"api_key": "pgtest-canary-rotated"})
        );
        assert_eq!(
            count("select count(*) from vault.secrets"),
            1,
            "the old secret is gone"
        );
        assert_eq!(
            count(
                "select count(*) from public.vault_list_integration_credentials('3f1c2a9e-5b7d-4e21-9a0c-1d2e3f4a5b6c')"
            ),
            1
        );

        Spi::run_with_args(
            "select public.vault_delete_integration_credentials($1)",
            &[rotated.as_str().into()],
        )
        .unwrap();
        assert_eq!(count("select count(*) from vault.secrets"), 0);
        assert_eq!(
            count("select count(*) from credential_vault.credentials"),
            0
        );
        assert_eq!(
            Spi::get_one::<String>(
                "select string_agg(action, ',' order by id) from credential_vault.audit_log"
            )
            .unwrap()
            .unwrap(),
            "store,rotate,delete",
            "writes are audited in the table; reads in the server log"
        );
    }

    #[pg_test]
    fn the_link_hook_hears_every_change_and_runs_as_the_role_that_registered_it() {
        install_vault_standin();
        Spi::run(
            "create role link_registrar nologin;
             grant execute on function credential_vault.set_link_hook(regprocedure) to link_registrar;
             create table public.link_calls (n serial, integration uuid, id uuid, linked boolean, called_as name);
             grant insert on public.link_calls to link_registrar;
             grant usage on sequence public.link_calls_n_seq to link_registrar;
             create function public.record_link(uuid, uuid, boolean) returns void language sql set search_path = pg_catalog, pg_temp
               as 'insert into public.link_calls (integration, id, linked, called_as) values ($1, $2, $3, current_user)';
             grant service_role to link_registrar;
             set local role link_registrar;
             select credential_vault.set_link_hook('public.record_link(uuid,uuid,boolean)');
             reset role;",
        )
        .unwrap();
        let first = store(INTEGRATION, CREDENTIALS);
        let rotated = Spi::get_one_with_args::<pgrx::Uuid>(
            "select vault_secret_id from public.vault_rotate_integration_credentials($1, $2)",
            &[first.as_str().into(), CREDENTIALS.into()],
        )
        .unwrap()
        .unwrap()
        .to_string();
        Spi::run_with_args(
            "select public.vault_delete_integration_credentials($1)",
            &[rotated.as_str().into()],
        )
        .unwrap();
        let calls = Spi::get_one::<String>(
            "select string_agg(concat_ws(' ', integration, id, linked::text, called_as), ', ' order by n) from public.link_calls",
        )
        .unwrap()
        .unwrap();
        let expected = [
            (&first, true),
            (&first, false),
            (&rotated, true),
            (&rotated, false),
        ]
        .map(|(id, linked)| format!("{INTEGRATION} {id} {linked} link_registrar"))
        .join(", ");
        assert_eq!(calls, expected);
    }

    #[pg_test(
        error = "a link hook must take (integration_id uuid, vault_secret_id uuid, linked boolean) and return void"
    )]
    fn a_link_hook_of_another_shape_is_refused() {
        Spi::run("select credential_vault.set_link_hook('pg_catalog.now()')").unwrap();
    }

    /// Vault's default nonce is declared IMMUTABLE: a kept plan that falls back to it freezes it
    /// once PostgreSQL switches to a generic plan, after five executions. Twelve stores through
    /// the one kept plan must still give twelve nonces.
    #[pg_test]
    fn only_ciphertext_is_written_with_a_fresh_nonce_per_secret() {
        const STORES: i64 = 12;
        install_vault_standin();
        for _ in 0..STORES {
            store(INTEGRATION, CREDENTIALS);
        }
        assert_eq!(
            count("select count(*) from vault.secrets where secret like '%pgtest-canary%'"),
            0
        );
        assert_eq!(
            count("select count(distinct nonce) from vault.secrets"),
            STORES
        );
        assert_eq!(
            count("select count(distinct secret) from vault.secrets"),
            STORES
        );
        assert_eq!(
            count(
                "select count(*) from vault.decrypted_secrets where decrypted_secret like '%pgtest-canary-7f3a%'"
            ),
            STORES,
            "secrets stay readable through Vault's own view"
        );
    }

    #[pg_test(error = "Vault could not read back the encrypted credentials; nothing was stored")]
    fn a_vault_that_cannot_read_our_format_is_refused() {
        install_vault_standin();
        // A Vault whose view decrypts to something else than what was encrypted.
        Spi::run(
            "create or replace function vault._crypto_aead_det_decrypt(message bytea, additional bytea, \
               key_id bigint, context bytea default 'pgsodium', nonce bytea default null) \
             returns bytea language sql immutable as $$ select 'not what was stored'::bytea $$",
        )
        .unwrap();
        store(INTEGRATION, CREDENTIALS);
    }

    #[pg_test(error = "integration credentials not found")]
    fn a_vault_secret_not_stored_here_is_not_found() {
        install_vault_standin();
        let foreign = Spi::get_one::<pgrx::Uuid>("select vault.create_secret('not ours')")
            .unwrap()
            .unwrap();
        retrieve(&foreign.to_string());
    }
}
