//! The CHECK constraints of the extension's tables, as C functions (api.sql adds the
//! constraints). PostgreSQL reads back and plans every CHECK expression of a table again in each
//! statement that writes a row: written in SQL, 0.4.0's lists of states and actions made a store
//! cost 16% more instructions than 0.3.1's; a call costs one function call.

use pgrx::prelude::*;

/// `credential_vault.credentials`: a known state, and the replacement times set exactly on a
/// kept version.
#[pg_extern(sql = r#"
CREATE FUNCTION credential_vault.is_credential_version(state text, replaced_at timestamptz, destroy_after timestamptz) RETURNS boolean
IMMUTABLE PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'is_credential_version_wrapper';
COMMENT ON FUNCTION credential_vault.is_credential_version(text, timestamptz, timestamptz) IS
    'The CHECK of credential_vault.credentials: state current with no replacement times, or previous or deleted with both.';
REVOKE ALL ON FUNCTION credential_vault.is_credential_version(text, timestamptz, timestamptz) FROM PUBLIC;
"#)]
fn is_credential_version(
    state: Option<&str>,
    replaced_at: Option<TimestampWithTimeZone>,
    destroy_after: Option<TimestampWithTimeZone>,
) -> bool {
    let replaced = (replaced_at.is_some(), destroy_after.is_some());
    match state {
        Some("current") => replaced == (false, false),
        Some("previous" | "deleted") => replaced == (true, true),
        _ => false,
    }
}

/// `credential_vault.audit_log`: an action the extension audits ('retrieve' rows are history
/// from 0.1.0: reads are now audited in the server log).
#[pg_extern(sql = r#"
CREATE FUNCTION credential_vault.is_audit_action(action text) RETURNS boolean
IMMUTABLE PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'is_audit_action_wrapper';
COMMENT ON FUNCTION credential_vault.is_audit_action(text) IS
    'The CHECK of credential_vault.audit_log: one of the actions the extension audits.';
REVOKE ALL ON FUNCTION credential_vault.is_audit_action(text) FROM PUBLIC;
"#)]
fn is_audit_action(action: Option<&str>) -> bool {
    matches!(
        action,
        Some(
            "store"
                | "retrieve"
                | "rotate"
                | "delete"
                | "purge"
                | "repair"
                | "restore"
                | "destroy"
                | "expire"
                | "revoke"
        )
    )
}
