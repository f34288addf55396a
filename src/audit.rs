//! The audit trail. Writes are recorded in `credential_vault.audit_log`, in the transaction that
//! makes them, so a write and its record commit or vanish together. Plaintext reads are recorded
//! in the server log: a log line survives the reader's rollback, is written on a hot standby too,
//! and costs no transaction id and no WAL flush, so a read stays a read. Neither ever holds a value.

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys;
use uuid::Uuid;

use crate::caller::{Caller, as_owner, jwt_subject, to_pg};
use crate::elog::log_server_only;
use crate::error::{Error, Result};
use crate::spi::{run, uuid_arg};

/// `credential_vault.allow_unaudited_reads`: a superuser's explicit decision to let plaintext
/// reads through when the server would drop their audit line. Off unless set.
static ALLOW_UNAUDITED_READS: GucSetting<bool> = GucSetting::<bool>::new(false);

/// Registers the extension's settings; called once, when the library is loaded.
pub fn define_settings() {
    GucRegistry::define_bool_guc(
        c"credential_vault.allow_unaudited_reads",
        c"Lets retrieve return plaintext that the server log would not record (log_min_messages above log).",
        c"Off: retrieve refuses with read_not_audited while log_min_messages is fatal or panic. Only a superuser may turn it on; logging_posture() reports it as a risk while it is on.",
        &ALLOW_UNAUDITED_READS,
        GucContext::Suset,
        GucFlags::default(),
    );
}

/// Fails when the server would drop the read audit's LOG line (`log_min_messages` is `fatal` or
/// `panic`, as Supabase's self-hosted compose sets it on the server's command line), unless a
/// superuser allowed unaudited reads. Two plain reads of globals: cheap on every retrieve.
pub fn require_read_audited() -> Result<()> {
    // SAFETY: reads a backend-local GUC variable; PostgreSQL writes LOG lines exactly when
    // log_min_messages is at most ERROR (elog.c, is_log_level_output).
    let logged = unsafe { pg_sys::log_min_messages } <= pg_sys::PGERROR as i32;
    if logged || ALLOW_UNAUDITED_READS.get() {
        Ok(())
    } else {
        Err(Error::ReadNotAudited)
    }
}

/// Appends a row for a write to `credential_vault.audit_log`, as the extension owner.
pub fn write(
    action: &str,
    actor_role: &str,
    integration: Uuid,
    id: Uuid,
    previous: Option<Uuid>,
) -> Result<()> {
    as_owner(|| {
        run(
            "insert into credential_vault.audit_log \
           (action, actor_role, actor_uid, integration_id, vault_secret_id, previous_vault_secret_id) \
         values ($1, $2, $3, $4, $5, $6)",
            &[
                action.into(),
                actor_role.into(),
                jwt_subject().map(to_pg).into(),
                uuid_arg(integration),
                uuid_arg(id),
                previous.map(to_pg).into(),
            ],
        )
    })
}

/// Writes the record of a plaintext read to the server log only (never to the client), without
/// the statement or its context, in one fixed format that README.md documents.
pub fn read(caller: &Caller, integration: Uuid, id: Uuid) {
    let uid = jwt_subject().map_or_else(|| "none".to_owned(), |uid| uid.to_string());
    // Role names and UUIDs only: nothing here comes from a credential.
    let line = format!(
        "credential_vault audit: action=retrieve role={} uid={uid} integration_id={integration} vault_secret_id={id}",
        caller.role
    );
    log_server_only(&line);
}
