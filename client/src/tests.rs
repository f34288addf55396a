//! What the client decides without a server: the mapping of every kind of driver error, the
//! answers it refuses, deadlines, references, ids, connection options and user claims. What
//! needs a server is in `client/tests/integration.rs`.

use std::borrow::Cow;
use std::error::Error as _;
use std::fmt;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use sqlx::error::{DatabaseError, ErrorKind};
use uuid::Uuid;

use crate::api::{credentials_from_server, the_only};
use crate::vault::within;
use crate::{
    CredentialReference, IntegrationId, TlsFailure, UserClaims, VaultError, VaultSecretId,
    contract, supabase_options,
};

/// Planted in driver messages and answers; must never show up in any output.
const CANARY: &str = "canary-3b9f0c";

/// A server error whose message quotes a secret, as PostgreSQL's own messages can.
#[derive(Debug)]
struct ServerError {
    sqlstate: Option<&'static str>,
    message: String,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ServerError {}

impl DatabaseError for ServerError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        self.sqlstate.map(Cow::Borrowed)
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

fn server_error(sqlstate: Option<&'static str>) -> sqlx::Error {
    sqlx::Error::Database(Box::new(ServerError {
        sqlstate,
        message: format!("invalid input: {{\"api_key\": \"{CANARY}\"}}"),
    }))
}

fn secret_id(n: u128) -> VaultSecretId {
    Uuid::from_u128(n).into()
}

fn reference(n: u128) -> CredentialReference {
    let created_at = Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap();
    CredentialReference::new(secret_id(n), created_at)
}

fn assert_safe(error: &VaultError) {
    for output in [error.to_string(), format!("{error:?}")] {
        assert!(!output.contains(CANARY), "{output}");
        assert!(!output.contains("api_key"), "{output}");
    }
    assert!(
        error.source().is_none(),
        "no driver error is kept as a source"
    );
}

#[test]
fn every_error_of_the_catalogue_maps_back_by_its_sqlstate_and_code() {
    use contract::Error::*;
    for error in contract::Error::CATALOGUE {
        let mapped = VaultError::from_server(error.sqlstate(), Some(error.code()));
        assert_eq!(mapped, VaultError::from(error), "{}", error.code());
        assert_safe(&mapped);
    }
    let database = |sqlstate: &str| VaultError::Database {
        sqlstate: Some(sqlstate.into()),
    };
    let expectations = [
        (EmptyName, VaultError::Validation(EmptyName)),
        (NonStringValue, VaultError::Validation(NonStringValue)),
        (NoEntries, VaultError::Validation(NoEntries)),
        (InvalidLinkHook, database("22023")),
        (CredentialsNotFound, VaultError::CredentialsNotFound),
        (IntegrationNotFound, VaultError::IntegrationNotFound),
        (ConcurrentChange, VaultError::Conflict),
        (RoleNotAllowed("store"), VaultError::PermissionDenied),
        (VaultMissing, VaultError::Misconfigured),
        (NoAuthorizer, VaultError::Misconfigured),
        (ReadOnly, VaultError::Misconfigured),
        (StoredCredentialsCorrupt, database("XX001")),
        (StatementFailed, database("XX000")),
    ];
    for (error, expected) in expectations {
        assert_eq!(
            VaultError::from_server(error.sqlstate(), Some(error.code())),
            expected,
            "{}",
            error.code()
        );
    }
}

#[test]
fn other_server_errors_map_by_their_sqlstate_alone_with_a_safe_message() {
    let database = |sqlstate: &str| VaultError::Database {
        sqlstate: Some(sqlstate.into()),
    };
    let expectations = [
        // PostgreSQL's own errors (or an older server's) with the extension's SQLSTATEs but
        // without its code are not the extension's rules.
        ("22023", database("22023")),
        ("22P02", database("22P02")),
        ("55000", database("55000")),
        // The application's one reference per integration, which the README documents.
        ("23505", VaultError::AlreadyHasCredentials),
        ("PT404", VaultError::CredentialsNotFound),
        ("PT409", VaultError::Conflict),
        ("42501", VaultError::PermissionDenied),
        ("28000", VaultError::Authentication),
        ("28P01", VaultError::Authentication),
        ("57P01", VaultError::Unavailable),
        ("57P02", VaultError::Unavailable),
        ("57P03", VaultError::Unavailable),
        ("08006", VaultError::Unavailable),
        ("08001", VaultError::Unavailable),
        ("XX001", database("XX001")),
        ("40001", VaultError::Conflict),
        ("40P01", VaultError::Conflict),
        ("not a sqlstate", VaultError::UNEXPECTED_RESPONSE),
    ];
    for (sqlstate, expected) in expectations {
        let error = VaultError::from(server_error(Some(sqlstate)));
        assert_eq!(error, expected, "SQLSTATE {sqlstate}");
        assert_safe(&error);
    }
    let error = VaultError::from(server_error(None));
    assert_eq!(error, VaultError::UNEXPECTED_RESPONSE);
    assert_safe(&error);
    // A detail is only compared: one that is not a code of ours (PostgreSQL's can quote the
    // input) leaves nothing behind.
    let error = VaultError::from_server("22023", Some(CANARY));
    assert_eq!(error, database("22023"));
    assert_safe(&error);
}

#[test]
fn pgbouncer_login_refusals_are_authentication_errors_other_08p01_is_not() {
    let with_message = |message: String| {
        VaultError::from(sqlx::Error::Database(Box::new(ServerError {
            sqlstate: Some("08P01"),
            message,
        })))
    };
    for refusal in [
        "SASL authentication failed".to_owned(),
        "no such user".to_owned(),
        format!("password authentication failed for user \"{CANARY}\""),
    ] {
        let error = with_message(refusal);
        assert_eq!(error, VaultError::Authentication);
        assert_safe(&error);
    }
    for other in [
        "unsupported startup parameter: options".to_owned(),
        format!("invalid message {CANARY}; no such user"),
    ] {
        assert_eq!(with_message(other), VaultError::Unavailable);
    }
}

#[test]
fn connection_and_driver_errors_become_safe_variants() {
    let leaky = || format!("postgres://app:{CANARY}@db/app");
    type MakeError = fn(String) -> sqlx::Error;
    let tls = VaultError::Tls;
    let cases: [(MakeError, VaultError); 11] = [
        (
            |m| std::io::Error::new(std::io::ErrorKind::ConnectionRefused, m).into(),
            VaultError::Unavailable,
        ),
        // What sqlx makes of a failed handshake: the rustls error inside an I/O error.
        (
            |_| handshake_error(rustls::CertificateError::UnknownIssuer),
            tls(TlsFailure::UntrustedCertificate),
        ),
        (
            |_| handshake_error(rustls::CertificateError::NotValidForName),
            tls(TlsFailure::WrongHost),
        ),
        (
            |_| handshake_error(rustls::CertificateError::Expired),
            tls(TlsFailure::UntrustedCertificate),
        ),
        (
            |_| sqlx::Error::Tls("server does not support TLS".into()),
            tls(TlsFailure::NotOffered),
        ),
        // Anything else sqlx reports as TLS is about the sslrootcert content, and can quote it.
        (
            |m| sqlx::Error::Tls(m.into()),
            tls(TlsFailure::RootCertificate),
        ),
        (|_| sqlx::Error::PoolTimedOut, VaultError::Unavailable),
        (|_| sqlx::Error::PoolClosed, VaultError::Unavailable),
        (
            |m| sqlx::Error::Protocol(m),
            VaultError::UNEXPECTED_RESPONSE,
        ),
        (
            |m| sqlx::Error::Configuration(m.into()),
            VaultError::UNEXPECTED_RESPONSE,
        ),
        (
            |m| sqlx::Error::Decode(m.into()),
            VaultError::UNEXPECTED_RESPONSE,
        ),
    ];
    for (make, expected) in cases {
        let error = VaultError::from(make(leaky()));
        assert_eq!(error, expected);
        assert_safe(&error);
    }
}

fn handshake_error(error: rustls::CertificateError) -> sqlx::Error {
    let error = rustls::Error::InvalidCertificate(error);
    std::io::Error::new(std::io::ErrorKind::InvalidData, error).into()
}

#[tokio::test]
async fn a_call_past_its_deadline_times_out_and_one_within_it_does_not() {
    let deadline = Duration::from_millis(20);
    let hung = within(deadline, std::future::pending::<Result<(), VaultError>>()).await;
    assert_eq!(hung, Err(VaultError::Timeout { after: deadline }));
    let answered = within(deadline, async {
        Err::<(), _>(VaultError::CredentialsNotFound)
    })
    .await;
    assert_eq!(
        answered,
        Err(VaultError::CredentialsNotFound),
        "the call's own answer, not a timeout"
    );
}

#[test]
fn unexpected_answers_are_reported_without_their_content() {
    assert_eq!(the_only(vec![reference(1)]), Ok(reference(1)));
    assert_eq!(the_only(vec![]), Err(VaultError::UNEXPECTED_RESPONSE));
    assert_eq!(
        the_only(vec![reference(1), reference(2)]),
        Err(VaultError::UNEXPECTED_RESPONSE)
    );

    let garbled = format!(r#"{{"api_key": ["{CANARY}"]}}"#);
    let error = credentials_from_server(&garbled).unwrap_err();
    assert_eq!(error, VaultError::UNEXPECTED_RESPONSE);
    assert_safe(&error);
}

#[test]
fn a_reference_shows_and_serialises_its_id_and_time_only() {
    let reference = reference(0x0b6f3c1e_2f7a_4d8e_9c1b_5a6d7e8f9a0b);
    assert_eq!(
        reference.to_string(),
        "0b6f3c1e-2f7a-4d8e-9c1b-5a6d7e8f9a0b"
    );
    let json: serde_json::Value = serde_json::to_value(reference).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "vault_secret_id": "0b6f3c1e-2f7a-4d8e-9c1b-5a6d7e8f9a0b",
            "created_at": "2025-01-02T03:04:05Z",
        })
    );
    assert_eq!(
        serde_json::from_value::<CredentialReference>(json).unwrap(),
        reference
    );
}

#[test]
fn ids_must_be_uuids() {
    let not_a_uuid = |argument| VaultError::Validation(contract::Error::NotAUuid(argument));
    assert_eq!(
        "42".parse::<IntegrationId>(),
        Err(not_a_uuid("integration_id"))
    );
    assert_eq!(
        "".parse::<VaultSecretId>(),
        Err(not_a_uuid("vault_secret_id"))
    );
    // The server's own rule: another spelling is refused, either case is sent in the canonical one.
    assert_eq!(
        "{0B6F3C1E-2F7A-4D8E-9C1B-5A6D7E8F9A0B}".parse::<VaultSecretId>(),
        Err(not_a_uuid("vault_secret_id"))
    );
    let upper: VaultSecretId = "0B6F3C1E-2F7A-4D8E-9C1B-5A6D7E8F9A0B".parse().unwrap();
    assert_eq!(upper.to_string(), "0b6f3c1e-2f7a-4d8e-9c1b-5a6d7e8f9a0b");
}

#[test]
fn remote_hosts_never_get_plaintext_unless_asked() {
    use sqlx::postgres::{PgConnectOptions, PgSslMode};
    let mode = |url: &str| {
        let options: PgConnectOptions = url.parse().unwrap();
        supabase_options(options).get_ssl_mode()
    };
    for remote in [
        "postgres://u:p@db.abcd.supabase.co:5432/postgres",
        "postgres://u:p@aws-0-eu-west-1.pooler.supabase.com:6543/postgres?sslmode=prefer",
        "postgres://u:p@10.0.0.7/postgres?sslmode=allow",
        "postgres://u:p@[2001:db8::1]/postgres",
    ] {
        assert!(matches!(mode(remote), PgSslMode::Require), "{remote}");
    }
    for local in [
        "postgres://u:p@localhost/postgres",
        "postgres://u:p@127.0.0.1:5432/postgres",
        "postgres://u:p@[::1]/postgres",
        "postgres://u@%2Fvar%2Frun%2Fpostgresql/postgres",
    ] {
        assert!(matches!(mode(local), PgSslMode::Prefer), "{local}");
    }
    // What is asked for explicitly is kept, plaintext included.
    let explicit = "postgres://u:p@db.abcd.supabase.co/postgres?sslmode=";
    assert!(matches!(
        mode(&format!("{explicit}disable")),
        PgSslMode::Disable
    ));
    assert!(matches!(
        mode(&format!("{explicit}verify-full")),
        PgSslMode::VerifyFull
    ));
    assert!(matches!(
        mode(&format!("{explicit}verify-ca")),
        PgSslMode::VerifyCa
    ));
}

#[test]
fn user_claims_need_a_uuid_sub_and_the_authenticated_role() {
    let sub = "7e0b9a8c-3d2f-4c1b-9e8d-6f5a4b3c2d1e";
    let invalid = Err(VaultError::InvalidClaims);
    for claims in [
        serde_json::json!("not an object"),
        serde_json::json!({"role": "authenticated"}),
        serde_json::json!({"sub": "not-a-uuid", "role": "authenticated"}),
        serde_json::json!({"sub": sub, "role": "service_role"}),
        serde_json::json!({"sub": sub, "role": "anon"}),
        serde_json::json!({"sub": 7, "role": "authenticated"}),
    ] {
        assert_eq!(UserClaims::from_claims(&claims), invalid, "{claims}");
    }
    let user = UserClaims::from_claims(&serde_json::json!({"sub": sub, "email": "a@b.c"})).unwrap();
    assert_eq!(user.user_id().to_string(), sub);
    assert_eq!(
        user,
        UserClaims::from_claims(
            &serde_json::json!({"sub": sub, "email": "a@b.c", "role": "authenticated"})
        )
        .unwrap()
    );
    assert_ne!(
        user,
        UserClaims::authenticated(user.user_id()),
        "the other claims are kept"
    );
    let shown = format!("{user:?}");
    assert!(shown.contains(sub) && !shown.contains("a@b.c"), "{shown}");
}
