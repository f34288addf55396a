//! The one error type of the client, and its mapping from driver errors: an error the extension
//! raised is recognised by its SQLSTATE and code (the DETAIL) in the contract's catalogue,
//! anything else by its SQLSTATE alone, with no rule of any particular application.
//!
//! Nothing of a driver error is kept but its SQLSTATE: PostgreSQL messages and details can echo
//! the arguments of the failed call, and those arguments are credentials.

use std::fmt;
use std::time::Duration;

use credential_vault_contract::Error as ContractError;
use sqlx::postgres::PgDatabaseError;

/// Why a TLS connection the `sslmode` asked for was not made: the reason inside
/// [`VaultError::Tls`]. Nothing of the driver's or the server's text is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsFailure {
    /// The server does not offer TLS, and the `sslmode` requires it.
    NotOffered,
    /// The server's certificate is not signed by a trusted CA (`sslrootcert` or the bundled
    /// roots), or is expired, revoked or malformed (`sslmode=verify-ca` or `verify-full`).
    UntrustedCertificate,
    /// The server's certificate is not issued for the host name connected to
    /// (`sslmode=verify-full`).
    WrongHost,
    /// The `sslrootcert` file holds no valid PEM certificate.
    RootCertificate,
    /// Any other failure of the TLS handshake.
    Handshake,
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsFailure::NotOffered => "the server does not offer TLS",
            TlsFailure::UntrustedCertificate => {
                "the server's certificate is not signed by a trusted CA"
            }
            TlsFailure::WrongHost => "the server's certificate is not for this host name",
            TlsFailure::RootCertificate => "the sslrootcert file holds no valid certificate",
            TlsFailure::Handshake => "the TLS handshake failed",
        })
    }
}

/// Everything a vault call can fail with. Every message is safe to log and show: none carries a
/// credential value, a driver message, a query or a connection string.
///
/// No call is retried by the client. A caller may retry what [`VaultError::is_retryable`] says:
/// - [`VaultError::Unavailable`], after a pause (a write whose commit got no answer may have
///   gone through: re-read first);
/// - [`VaultError::Conflict`], after re-reading the reference (for example with `list`);
/// - [`VaultError::Timeout`] as it is: a call of the handle's own transaction that timed out was
///   stopped by the server and rolled back, and will never commit.
///
/// Every other variant comes back the same until something changes (the input, the grants, the
/// login, the configuration, the integration's credentials), so retrying it as it is only
/// repeats the failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The input was refused, by the client before any round trip or by the server: one of the
    /// contract's input rules (SQLSTATE class 22), the same variant wherever it was caught. A
    /// refusal by the server of a parameterised rule carries the catalogue's placeholder
    /// (`<argument>`), as the server does not send the parameter.
    #[error("invalid input: {0}")]
    Validation(ContractError),
    /// A user's JWT claims are not an object with a UUID `sub` and the role `authenticated`
    /// (client only: the claims are checked before any call).
    #[error("invalid user claims: they need a UUID sub and the role authenticated")]
    InvalidClaims,
    /// The integration does not exist, or the caller may not manage it (PT404
    /// `integration_not_found`): the server deliberately does not say which. What `store`,
    /// `list` and `versions` answer for an integration they cannot reach.
    #[error("integration not found or not accessible")]
    IntegrationNotFound,
    /// The reference is not one the call can take (not current for `rotate`, `delete` and
    /// `retrieve`; not a kept version within its window for `restore`; no version at all for
    /// `destroy`), or the caller may not touch it (PT404 `credentials_not_found`): the server
    /// deliberately does not say which.
    #[error("credentials not found or not accessible")]
    CredentialsNotFound,
    /// The integration already has current credentials (23505, a unique violation, which the
    /// application's link hook raises: one reference per integration): rotate or delete them
    /// instead of storing again. Also what a retried store meets when the first one went through.
    #[error("the integration already has credentials; rotate or delete them")]
    AlreadyHasCredentials,
    /// The reference is being rotated or deleted concurrently (PT409), or PostgreSQL rolled the
    /// call back for a concurrent transaction (40001 serialization failure, 40P01 deadlock).
    #[error("conflict: changed concurrently; re-read the reference and retry")]
    Conflict,
    /// The caller's role may not make this call, or nobody is logged in (42501).
    #[error("permission denied")]
    PermissionDenied,
    /// Login failed, or the session expired or was revoked (SQLSTATE class 28).
    #[error("authentication failed or session expired")]
    Authentication,
    /// The call, including getting a connection, did not finish within its deadline.
    ///
    /// In a handle's own transaction the deadline bounds the work, not only the wait: the call's
    /// statement runs under a `statement_timeout` of what is left of the deadline, so the
    /// server stops it then, and the transaction is rolled back; `Timeout` is reported only
    /// when no commit was sent, so the call will never take effect. On the caller's own
    /// transaction (the `*_with` forms) the client cannot stop the server: roll the transaction
    /// back (and give it a `statement_timeout` of its own).
    #[error("no answer within {after:?}")]
    Timeout {
        /// The deadline that passed.
        after: Duration,
    },
    /// The server cannot be reached or is shutting down (57P01, 57P02, 57P03, class 08, pool
    /// timeout, connection and I/O errors), or the connection was lost or stopped answering
    /// after a commit was sent: such a write may have taken effect, so re-read before retrying.
    #[error("the credential vault is unavailable")]
    Unavailable,
    /// The database is not set up for the call, and retrying will not help until an operator
    /// fixes it: Supabase Vault is missing or cannot read its secrets back, no authorizer is
    /// registered, the link hook cannot be called (55000), or the server is read-only for a
    /// write (25006, a read replica).
    #[error("the credential vault is not configured for this call")]
    Misconfigured,
    /// The TLS connection that the `sslmode` requires could not be made or verified. Not retried:
    /// check `sslmode`, `sslrootcert` and the host name.
    #[error("no secure connection: {0}")]
    Tls(TlsFailure),
    /// Anything else, only the code kept: an unexpected SQLSTATE (PostgreSQL's own errors, such
    /// as a check violation from the application's triggers or hooks, and the extension's
    /// internal failures) or an unexpected response (no SQLSTATE).
    #[error("unexpected database error (SQLSTATE {})", .sqlstate.as_deref().unwrap_or("none"))]
    Database {
        /// The five-character SQLSTATE, when the server sent one.
        sqlstate: Option<String>,
    },
}

impl VaultError {
    /// Whether the same call may succeed if made again unchanged: [`VaultError::Unavailable`]
    /// (after a pause), [`VaultError::Conflict`] (with the current reference) and
    /// [`VaultError::Timeout`]. Nothing else is: see [`VaultError`].
    ///
    /// ```
    /// use credential_vault_client::VaultError;
    ///
    /// assert!(VaultError::Unavailable.is_retryable());
    /// assert!(!VaultError::AlreadyHasCredentials.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            VaultError::Unavailable | VaultError::Conflict | VaultError::Timeout { .. }
        )
    }

    /// An unexpected response, with no SQLSTATE to report.
    pub(crate) const UNEXPECTED_RESPONSE: VaultError = VaultError::Database { sqlstate: None };

    /// Maps a server error by its SQLSTATE and DETAIL. The detail is only compared with the
    /// catalogue's codes, never kept.
    pub(crate) fn from_server(sqlstate: &str, detail: Option<&str>) -> VaultError {
        if let Some(error) = ContractError::from_server(sqlstate, detail) {
            return error.into();
        }
        match sqlstate {
            // 0.1.0's SQL wrappers re-raise these without the code; no other source uses PT.
            // This client never calls them; a reference is what they mostly refuse.
            "PT404" => VaultError::CredentialsNotFound,
            // The application's one reference per integration (its link hook raises it).
            "23505" => VaultError::AlreadyHasCredentials,
            "PT409" => VaultError::Conflict,
            // PostgreSQL's own, for a function the role has no EXECUTE on.
            "42501" => VaultError::PermissionDenied,
            // PostgreSQL's own: rolled back for a concurrent transaction, so worth a retry.
            "40001" | "40P01" => VaultError::Conflict,
            "57P01" | "57P02" | "57P03" => VaultError::Unavailable,
            _ if sqlstate.starts_with("28") => VaultError::Authentication,
            _ if sqlstate.starts_with("08") => VaultError::Unavailable,
            _ => VaultError::Database {
                // A SQLSTATE is five digits or upper-case letters; keep nothing else.
                sqlstate: (sqlstate.len() == 5
                    && sqlstate
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()))
                .then(|| sqlstate.to_owned()),
            },
        }
    }
}

/// The variant an error of the contract's catalogue is to a caller, whichever side raised it.
impl From<ContractError> for VaultError {
    fn from(error: ContractError) -> VaultError {
        use ContractError::*;
        match error {
            NullArgument(_) | NotAUuid(_) | CredentialsTooLarge | InvalidJson | NotAnObject
            | NoEntries | TooManyEntries | DuplicateName | EmptyName | NonStringValue
            | EmptyValue | NulCharacter | InvalidExpiresAt => VaultError::Validation(error),
            RoleNotAllowed(_) | AuthorizerNotPermitted => VaultError::PermissionDenied,
            IntegrationNotFound => VaultError::IntegrationNotFound,
            CredentialsNotFound => VaultError::CredentialsNotFound,
            ConcurrentChange => VaultError::Conflict,
            VaultMissing | VaultUnsupported(_) | SchemaOutdated | VaultRoundTripFailed
            | NoAuthorizer | LinkHookUnusable | LinkHookNotPermitted | ReadOnly
            | ReadNotAudited => VaultError::Misconfigured,
            StoredCredentialsCorrupt
            | InvalidLinkHook
            | InvalidAuthorizer
            | CallbackWithoutSearchPath
            | InvalidRecoveryWindow
            | RecoveryWindowTooLong
            | RecoveryWindowInMonths
            | InvalidMaxKeptVersions
            | InvalidReportInterval
            | NoStrongRandom
            | RevokeNeedsReadCommitted
            | StatementFailed => VaultError::Database {
                sqlstate: Some(error.sqlstate().to_owned()),
            },
        }
    }
}

/// Maps a driver error by its SQLSTATE and kind, dropping its message, detail and query. Also
/// useful for the caller's own statements around a vault call, such as `commit`.
impl From<sqlx::Error> for VaultError {
    fn from(error: sqlx::Error) -> VaultError {
        match error {
            sqlx::Error::Database(error) => match error.code() {
                Some(code) if code == "08P01" && refused_by_the_pooler(error.message()) => {
                    VaultError::Authentication
                }
                Some(code) => {
                    let detail = error
                        .try_downcast_ref::<PgDatabaseError>()
                        .and_then(PgDatabaseError::detail);
                    VaultError::from_server(&code, detail)
                }
                None => VaultError::UNEXPECTED_RESPONSE,
            },
            sqlx::Error::Io(error) => tls_failure(&error)
                .map(VaultError::Tls)
                .unwrap_or(VaultError::Unavailable),
            // Raised before the handshake: the server's refusal (sqlx 0.9 words it so), a host
            // name no certificate can be checked against, or else the sslrootcert content.
            sqlx::Error::Tls(error) => {
                VaultError::Tls(if error.to_string() == "server does not support TLS" {
                    TlsFailure::NotOffered
                } else if error
                    .downcast_ref::<rustls::pki_types::InvalidDnsNameError>()
                    .is_some()
                {
                    TlsFailure::WrongHost
                } else {
                    TlsFailure::RootCertificate
                })
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
                VaultError::Unavailable
            }
            _ => VaultError::UNEXPECTED_RESPONSE,
        }
    }
}

/// A failed TLS handshake reaches sqlx as an I/O error around the rustls error.
fn tls_failure(error: &std::io::Error) -> Option<TlsFailure> {
    use rustls::CertificateError as Certificate;
    let error = error.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(match error {
        rustls::Error::InvalidCertificate(
            Certificate::NotValidForName | Certificate::NotValidForNameContext { .. },
        ) => TlsFailure::WrongHost,
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            TlsFailure::UntrustedCertificate
        }
        _ => TlsFailure::Handshake,
    })
}

/// PgBouncer (1.18) reports every refused login as 08P01, a protocol violation, with one of these
/// messages: its own SCRAM check, a role it cannot look up (or that may not log in), or the
/// server's refusal passed on. The message is only matched, never kept.
fn refused_by_the_pooler(message: &str) -> bool {
    [
        "SASL authentication failed",
        "no such user",
        "password authentication failed",
    ]
    .iter()
    .any(|refusal| message.starts_with(refusal))
}
