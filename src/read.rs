//! The plaintext read without a planner or an executor: two primary-key probes through
//! PostgreSQL's index access method (`credential_vault.credentials`, then `vault.secrets`), under
//! the same snapshot a read-only SPI statement would use, and Vault's own decrypt function called
//! with the arguments its view `vault.decrypted_secrets` passes it. A retrieve through SPI planned
//! and ran a join of the two tables and the view in every call: twice the instructions of the
//! raw view lookup.
//!
//! The first read of each backend also reads through the view and compares: only once they agree
//! does this backend use the direct read. The objects it uses are looked up once per backend and
//! forgotten on any relation cache invalidation and on any change of a function.

use std::cell::{Cell, RefCell};
use std::ffi::CStr;
use std::rc::Rc;

use pgrx::pg_sys::{self, Datum};
use pgrx::prelude::*;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::caller::{from_pg, to_pg};
use crate::elog::log_server_only;
use crate::error::{Error, Result};
use crate::spi::{read_row, uuid_arg, with_pinned_search_path};

/// A current secret's integration and plaintext.
pub type Plaintext = (Uuid, Zeroizing<String>);

/// What the direct read needs, looked up once per backend.
struct Objects {
    credentials: pg_sys::Oid,
    credentials_key: pg_sys::Oid,
    secrets: pg_sys::Oid,
    secrets_key: pg_sys::Oid,
    /// Attribute numbers: credentials' integration and state; secrets' secret and nonce.
    credential_columns: [i16; 2],
    secret_columns: [i16; 2],
    /// Whether the decrypt function is C, as Vault's is: any other runs SQL, under the pinned
    /// search_path.
    decrypt_in_c: bool,
    /// Vault's `_crypto_aead_det_decrypt`, resolved into TopMemoryContext.
    decrypt: RefCell<pg_sys::FmgrInfo>,
}

/// How this backend reads: not decided yet, through the view (the direct read disagreed, or the
/// database is not UTF8), or directly.
#[derive(Clone)]
enum Path {
    Unchecked,
    View,
    Direct(Rc<Objects>),
}

thread_local! {
    static PATH: RefCell<Path> = const { RefCell::new(Path::Unchecked) };
    /// Counts `forget` calls: a decision made across one is not kept.
    static GENERATION: Cell<u64> = const { Cell::new(0) };
}

/// Called on every relation cache invalidation and every change of a function (a replaced
/// decrypt function must not be called through a stale entry point). A read under way keeps
/// its own reference to what it uses; no borrow is held across a PostgreSQL call.
pub fn forget() {
    PATH.with(|path| path.replace(Path::Unchecked));
    GENERATION.set(GENERATION.get().wrapping_add(1));
}

/// The current secret `id` and its integration, or `None`. Run as the extension owner, after
/// `require_vault`.
pub fn current(id: Uuid) -> Result<Option<Plaintext>> {
    match PATH.with(|path| path.borrow().clone()) {
        Path::Direct(objects) => direct(&objects, id),
        Path::View => through_the_view(id),
        Path::Unchecked => decide(id),
    }
}

/// Reads through `vault.decrypted_secrets` and compares with the direct read: this backend reads
/// directly from then on only if both found the secret and agree.
fn decide(id: Uuid) -> Result<Option<Plaintext>> {
    let generation = GENERATION.get();
    let viewed = through_the_view(id)?;
    let Some(seen) = &viewed else {
        return Ok(viewed);
    };
    let path = match look_up()? {
        None => Path::View,
        Some(objects) => {
            let direct = direct(&objects, id)?;
            if direct.is_some_and(|direct| direct.0 == seen.0 && *direct.1 == *seen.1) {
                Path::Direct(Rc::new(objects))
            } else {
                log_server_only(
                    "credential_vault: the direct read disagrees with vault.decrypted_secrets; this backend reads through the view",
                );
                Path::View
            }
        }
    };
    if GENERATION.get() == generation {
        PATH.with(|cell| cell.replace(path));
    }
    Ok(viewed)
}

/// The read of every release before 0.5.0: a join with Vault's view through SPI.
fn through_the_view(id: Uuid) -> Result<Option<Plaintext>> {
    Ok(read_row(
        "select c.integration_id, d.decrypted_secret::pg_catalog.text \
         from credential_vault.credentials c \
         join vault.decrypted_secrets d on d.id operator(pg_catalog.=) c.vault_secret_id \
         where c.vault_secret_id operator(pg_catalog.=) $1 and c.state operator(pg_catalog.=) 'current'",
        &[uuid_arg(id)],
        |row| Ok((row.get::<pgrx::Uuid>(1)?, row.get::<String>(2)?)),
    )?
    .map(|(integration, plaintext)| {
        (
            integration.map(from_pg).unwrap_or_default(),
            Zeroizing::new(plaintext.unwrap_or_default()),
        )
    }))
}

/// Looks up the tables, their primary keys, the columns and Vault's decrypt function. `None`
/// when one is missing, or the database's encoding is not UTF8 (the view's convert_from would
/// then convert): the backend reads through the view.
fn look_up() -> Result<Option<Objects>> {
    // SAFETY: reads the database's encoding.
    if unsafe { pg_sys::GetDatabaseEncoding() } != pg_sys::pg_enc::PG_UTF8 as i32 {
        return Ok(None);
    }
    // Each table's primary key, when its one column is the id.
    let key = |table: &str, column: &str| -> Result<Option<(pg_sys::Oid, pg_sys::Oid)>> {
        Ok(read_row(
            "select t.oid, i.indexrelid \
             from pg_catalog.pg_class t \
             join pg_catalog.pg_attribute a on a.attrelid operator(pg_catalog.=) t.oid \
             join pg_catalog.pg_index i on i.indrelid operator(pg_catalog.=) t.oid and i.indisprimary \
                  and i.indnatts operator(pg_catalog.=) 1 and i.indkey[0] operator(pg_catalog.=) a.attnum \
             where t.oid operator(pg_catalog.=) pg_catalog.to_regclass($1) \
               and a.attname operator(pg_catalog.=) $2",
            &[table.into(), column.into()],
            |row| Ok((row.get::<pg_sys::Oid>(1)?, row.get::<pg_sys::Oid>(2)?)),
        )?
        .and_then(|(table, index)| Some((table?, index?))))
    };
    let decrypt = read_row(
        "select p.oid, p.prolang operator(pg_catalog.=) 13 from pg_catalog.pg_proc p \
         where p.oid operator(pg_catalog.=) \
               pg_catalog.to_regprocedure('vault._crypto_aead_det_decrypt(bytea,bytea,bigint,bytea,bytea)')",
        &[],
        |row| Ok((row.get::<pg_sys::Oid>(1)?, row.get::<bool>(2)?)),
    )?;
    let (
        Some((credentials, credentials_key)),
        Some((secrets, secrets_key)),
        Some((Some(decrypt), Some(decrypt_in_c))),
    ) = (
        key("credential_vault.credentials", "vault_secret_id")?,
        key("vault.secrets", "id")?,
        decrypt,
    )
    else {
        return Ok(None);
    };
    let columns = |relation, names: [&CStr; 2]| -> Option<[i16; 2]> {
        let mut numbers = [0; 2];
        for (number, name) in numbers.iter_mut().zip(names) {
            // SAFETY: a syscache lookup of a column by name.
            *number = unsafe { pg_sys::get_attnum(relation, name.as_ptr()) };
            if *number <= 0 {
                return None;
            }
        }
        Some(numbers)
    };
    let (Some(credential_columns), Some(secret_columns)) = (
        columns(credentials, [c"integration_id", c"state"]),
        columns(secrets, [c"secret", c"nonce"]),
    ) else {
        return Ok(None);
    };
    let mut info = pg_sys::FmgrInfo::default();
    // SAFETY: resolves a function that exists (regprocedure found it) into long-lived memory.
    unsafe { pg_sys::fmgr_info_cxt(decrypt, &mut info, pg_sys::TopMemoryContext) };
    Ok(Some(Objects {
        credentials,
        credentials_key,
        secrets,
        secrets_key,
        credential_columns,
        secret_columns,
        decrypt_in_c,
        decrypt: RefCell::new(info),
    }))
}

/// The direct read.
fn direct(objects: &Objects, id: Uuid) -> Result<Option<Plaintext>> {
    let snapshot = Snapshot::take();
    let key = to_pg(id).into_datum().expect("a uuid is never null");
    let [integration_column, state_column] = objects.credential_columns;
    let integration = probe(
        objects.credentials,
        objects.credentials_key,
        key,
        snapshot.0,
        |tuple, descriptor| {
            // SAFETY: attributes of a tuple of this relation, read while the scan holds it.
            unsafe {
                let current = attribute(tuple, state_column, descriptor).is_some_and(|state| {
                    pgrx::varlena::varlena_to_byte_slice(state.cast_mut_ptr()) == b"current"
                });
                let integration = attribute(tuple, integration_column, descriptor)
                    .and_then(|datum| pgrx::Uuid::from_datum(datum, false));
                Ok(integration.filter(|_| current).map(from_pg))
            }
        },
    )?
    .flatten();
    let Some(integration) = integration else {
        return Ok(None);
    };
    let [secret_column, nonce_column] = objects.secret_columns;
    let plaintext = probe(
        objects.secrets,
        objects.secrets_key,
        key,
        snapshot.0,
        |tuple, descriptor| {
            // SAFETY: as above; the decrypt function takes the view's five arguments.
            unsafe {
                let secret = attribute(tuple, secret_column, descriptor);
                let nonce = attribute(tuple, nonce_column, descriptor);
                let decrypt =
                    || decrypt_secret(&mut objects.decrypt.borrow_mut(), id, secret, nonce);
                if objects.decrypt_in_c {
                    decrypt()
                } else {
                    with_pinned_search_path(decrypt)
                }
            }
        },
    )?;
    drop(snapshot);
    Ok(plaintext.map(|plaintext| (integration, plaintext)))
}

/// The snapshot a read-only SPI statement would run under: the active one, or, once the
/// transaction has written (when pgrx runs statements as writes), a new one that sees those
/// writes, as SPI takes it.
struct Snapshot(pg_sys::Snapshot, bool);

impl Snapshot {
    fn take() -> Snapshot {
        // SAFETY: the transaction's snapshot machinery, used as SPI uses it.
        unsafe {
            let written = pg_sys::GetCurrentTransactionIdIfAny() != pg_sys::InvalidTransactionId;
            if !written && pg_sys::ActiveSnapshotSet() {
                return Snapshot(pg_sys::GetActiveSnapshot(), false);
            }
            if written {
                pg_sys::CommandCounterIncrement();
            }
            pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
            Snapshot(pg_sys::GetActiveSnapshot(), true)
        }
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        // After a PostgreSQL error the transaction's abort pops it.
        if self.1 && !std::thread::panicking() {
            // SAFETY: pops the snapshot `take` pushed.
            unsafe { pg_sys::PopActiveSnapshot() }
        }
    }
}

/// Looks `key` up in `relation` through its primary key `index` (whose one column is the key)
/// under `snapshot`, and maps the visible row. The executor's locks: access share on both,
/// held to the end of the transaction.
fn probe<T>(
    relation: pg_sys::Oid,
    index: pg_sys::Oid,
    key: Datum,
    snapshot: pg_sys::Snapshot,
    map: impl FnOnce(pg_sys::HeapTuple, pg_sys::TupleDesc) -> Result<T>,
) -> Result<Option<T>> {
    struct Scan {
        heap: pg_sys::Relation,
        index: pg_sys::Relation,
        slot: *mut pg_sys::TupleTableSlot,
        scan: pg_sys::IndexScanDesc,
    }
    impl Drop for Scan {
        fn drop(&mut self) {
            // After a PostgreSQL error the transaction's abort releases all of it.
            if !std::thread::panicking() {
                // SAFETY: ends what `probe` began; the locks stay until the transaction ends.
                unsafe {
                    pg_sys::index_endscan(self.scan);
                    pg_sys::ExecDropSingleTupleTableSlot(self.slot);
                    pg_sys::index_close(self.index, pg_sys::NoLock as pg_sys::LOCKMODE);
                    pg_sys::table_close(self.heap, pg_sys::NoLock as pg_sys::LOCKMODE);
                }
            }
        }
    }
    // SAFETY: an index scan as the executor makes it, on relations kept open until Scan drops.
    unsafe {
        let lock = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
        let heap = pg_sys::table_open(relation, lock);
        let index = pg_sys::index_open(index, lock);
        let slot = pg_sys::table_slot_create(heap, std::ptr::null_mut());
        #[cfg(not(feature = "pg18"))]
        let scan = pg_sys::index_beginscan(heap, index, snapshot, 1, 0);
        #[cfg(feature = "pg18")]
        let scan = pg_sys::index_beginscan(heap, index, snapshot, std::ptr::null_mut(), 1, 0);
        let scan = Scan {
            heap,
            index,
            slot,
            scan,
        };
        let mut scan_key = pg_sys::ScanKeyData::default();
        pg_sys::ScanKeyInit(
            &mut scan_key,
            1,
            pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
            pg_sys::RegProcedure::from(pg_sys::F_UUID_EQ),
            key,
        );
        pg_sys::index_rescan(scan.scan, &mut scan_key, 1, std::ptr::null_mut(), 0);
        if !pg_sys::index_getnext_slot(scan.scan, pg_sys::ScanDirection::ForwardScanDirection, slot)
        {
            return Ok(None);
        }
        let tuple = pg_sys::ExecFetchSlotHeapTuple(slot, false, std::ptr::null_mut());
        map(tuple, (*heap).rd_att).map(Some)
    }
}

/// Attribute `number` of `tuple`, `None` for NULL.
///
/// # Safety
/// `tuple` is a valid tuple of a relation described by `descriptor`.
unsafe fn attribute(
    tuple: pg_sys::HeapTuple,
    number: i16,
    descriptor: pg_sys::TupleDesc,
) -> Option<Datum> {
    let mut null = false;
    // SAFETY: as the caller promises.
    let value = unsafe { pg_sys::heap_getattr(tuple, number.into(), descriptor, &mut null) };
    (!null).then_some(value)
}

/// What `vault.decrypted_secrets` computes for the row: `convert_from(decrypt(decode(secret,
/// 'base64'), convert_to(id::text, 'utf8'), 0, 'pgsodium', nonce), 'utf8')`, in a UTF8 database.
/// Vault's errors (a tampered ciphertext) are raised unchanged, as through the view; a plaintext
/// that is not UTF8 is the redacted corrupt-credentials error (convert_from's quotes its bytes).
///
/// # Safety
/// `decrypt` is Vault's decrypt function; `secret` a text and `nonce` a bytea datum.
unsafe fn decrypt_secret(
    decrypt: &mut pg_sys::FmgrInfo,
    id: Uuid,
    secret: Option<Datum>,
    nonce: Option<Datum>,
) -> Result<Zeroizing<String>> {
    const ARGUMENTS: usize = 5;
    // SAFETY: fmgr calls with the argument types the functions declare; LOCAL_FCINFO's layout
    // (the base struct followed by the arguments), zeroed.
    unsafe {
        let message = secret.map(|secret| decode_base64(secret));
        let additional = id.hyphenated().to_string();
        let arguments = [
            message,
            additional.as_bytes().into_datum(),
            0i64.into_datum(),
            b"pgsodium".as_slice().into_datum(),
            nonce,
        ];
        let fcinfo = pg_sys::palloc0(
            size_of::<pg_sys::FunctionCallInfoBaseData>()
                + size_of::<pg_sys::NullableDatum>() * ARGUMENTS,
        )
        .cast::<pg_sys::FunctionCallInfoBaseData>();
        (*fcinfo).flinfo = decrypt;
        (*fcinfo).fncollation = pg_sys::InvalidOid;
        (*fcinfo).nargs = ARGUMENTS as i16;
        for (slot, value) in (*fcinfo)
            .args
            .as_mut_slice(ARGUMENTS)
            .iter_mut()
            .zip(arguments)
        {
            slot.value = value.unwrap_or(Datum::from(0));
            slot.isnull = value.is_none();
        }
        let entry = decrypt.fn_addr.expect("fmgr_info sets the entry point");
        let result = pg_sys::ffi::pg_guard_ffi_boundary(|| entry(fcinfo));
        let null = (*fcinfo).isnull;
        pg_sys::pfree(fcinfo.cast());
        if null {
            return Err(Error::StoredCredentialsCorrupt);
        }
        let bytea = pg_sys::pg_detoast_datum_packed(result.cast_mut_ptr());
        let bytes = pgrx::varlena::varlena_to_byte_slice(bytea);
        let plaintext = std::str::from_utf8(bytes)
            .map(|text| Zeroizing::new(text.to_owned()))
            .map_err(|_| Error::StoredCredentialsCorrupt);
        // The plaintext leaves the function's buffer before that is freed.
        let length = bytes.len();
        std::ptr::write_bytes(bytes.as_ptr().cast_mut(), 0, length);
        plaintext
    }
}

/// `decode(secret, 'base64')`: in Rust for the text PostgreSQL's encode() writes (lines of 76
/// characters), through PostgreSQL's own function for anything else, so that a row changed
/// around Vault fails with PostgreSQL's error, as through the view.
///
/// # Safety
/// `secret` is a text datum.
unsafe fn decode_base64(secret: Datum) -> Datum {
    use base64::Engine;
    // SAFETY: as the caller promises.
    let text = unsafe {
        pgrx::varlena::varlena_to_byte_slice(pg_sys::pg_detoast_datum_packed(secret.cast_mut_ptr()))
    };
    let mut compact = Vec::with_capacity(text.len());
    compact.extend(
        text.iter()
            .filter(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r')),
    );
    let header = pg_sys::VARHDRSZ;
    // SAFETY: a bytea of the decoded length, allocated for the decoder to fill.
    unsafe {
        let bytea = pg_sys::palloc(header + compact.len() / 4 * 3 + 3).cast::<u8>();
        let data = std::slice::from_raw_parts_mut(bytea.add(header), compact.len() / 4 * 3 + 3);
        match base64::engine::general_purpose::STANDARD.decode_slice(&compact, data) {
            Ok(length) => {
                pgrx::set_varsize_4b(bytea.cast(), (header + length) as i32);
                Some(Datum::from(bytea))
            }
            Err(_) => pgrx::fcinfo::direct_function_call_as_datum(
                pg_sys::binary_decode,
                &[Some(secret), "base64".into_datum()],
            ),
        }
    }
    .expect("decode returns a value for a value")
}
