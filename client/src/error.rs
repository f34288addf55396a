//! The one error type of the client, and its mapping from driver errors by SQLSTATE.
//!
//! Nothing of a driver error is kept but its SQLSTATE: PostgreSQL messages and details can echo
//! the arguments of the failed call, and those arguments are credentials.

use std::fmt;
use std::time::Duration;

/// Why the client or the server refused the input of a call: the reason inside
/// [`VaultError::Validation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvalidInput {
    /// A required argument was null (SQLSTATE 22004).
    Null,
    /// An id was not a UUID (SQLSTATE 22P02).
    NotAUuid,
    /// The credentials serialise to more than 65536 bytes of JSON (SQLSTATE 22001).
    TooLarge,
    /// The credentials text is not JSON (SQLSTATE 22032).
    InvalidJson,
    /// The credentials are not a JSON object of string values (SQLSTATE 2203C).
    NotAnObject,
    /// The credentials have no entry.
    NoEntries,
    /// The credentials have more than 64 entries (SQLSTATE 2203E).
    TooManyEntries,
    /// A credential name appears twice (SQLSTATE 22030).
    DuplicateName,
    /// A credential name is the empty string.
    EmptyName,
    /// A credential value is the empty string.
    EmptyValue,
    /// The server found an empty name or value, or a value that is not a string (SQLSTATE 22023).
    InvalidEntry,
    /// A credential name or value contains a NUL character (SQLSTATE 22P05).
    NulCharacter,
    /// A user's JWT claims are not an object with a UUID `sub` and the role `authenticated`.
    InvalidClaims,
}

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InvalidInput::Null => "a required argument is null",
            InvalidInput::NotAUuid => "an id is not a UUID",
            InvalidInput::TooLarge => "the credentials exceed 65536 bytes of JSON",
            InvalidInput::InvalidJson => "the credentials are not valid JSON",
            InvalidInput::NotAnObject => "the credentials are not a JSON object of string values",
            InvalidInput::NoEntries => "the credentials are empty",
            InvalidInput::TooManyEntries => "the credentials have more than 64 entries",
            InvalidInput::DuplicateName => "a credential name appears twice",
            InvalidInput::EmptyName => "a credential name is empty",
            InvalidInput::EmptyValue => "a credential value is empty",
            InvalidInput::InvalidEntry => "a credential name or value is empty or not a string",
            InvalidInput::NulCharacter => "a credential name or value contains a NUL character",
            InvalidInput::InvalidClaims => {
                "the user's claims need a UUID sub and the role authenticated"
            }
        })
    }
}

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
/// No call is retried by the client. [`VaultError::Conflict`] is the caller's signal to re-read
/// the reference (for example with `list`) and try again; [`VaultError::Authentication`] and
/// [`VaultError::PermissionDenied`] must never be retried as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The input was refused, by the client before any round trip or by the server (SQLSTATE
    /// 22004, 22P02, 22001, 22032, 2203C, 2203E, 22030, 22023, 22P05).
    #[error("invalid input: {0}")]
    Validation(InvalidInput),
    /// The reference or integration does not exist, or the caller may not see it (PT404): the
    /// server deliberately does not say which.
    #[error("credentials not found or not accessible")]
    NotFound,
    /// A concurrent rotation or change, or the integration already has credentials (PT409).
    #[error("conflict: changed concurrently or already stored; re-read the reference and retry")]
    Conflict,
    /// The caller's role may not make this call, or nobody is logged in (42501).
    #[error("permission denied")]
    PermissionDenied,
    /// Login failed, or the session expired or was revoked (SQLSTATE class 28).
    #[error("authentication failed or session expired")]
    Authentication,
    /// The call, including getting a connection, did not finish within its deadline.
    ///
    /// The server may still have carried the call out: re-read with `list` before acting again
    /// (a repeated store fails with [`VaultError::Conflict`], a repeated rotate or delete with
    /// [`VaultError::NotFound`], if the first one went through). On the caller's own
    /// transaction, roll the transaction back.
    #[error("no answer within {after:?}")]
    Timeout {
        /// The deadline that passed.
        after: Duration,
    },
    /// The server cannot be reached, is shutting down, or its Vault is missing or misconfigured
    /// (55000, 57P01, 57P02, 57P03, class 08, pool timeout, connection and I/O errors).
    #[error("the credential vault is unavailable")]
    Unavailable,
    /// The TLS connection that the `sslmode` requires could not be made or verified. Not retried:
    /// check `sslmode`, `sslrootcert` and the host name.
    #[error("no secure connection: {0}")]
    Tls(TlsFailure),
    /// Anything else: an unexpected SQLSTATE (only the code is kept) or an unexpected response.
    #[error("unexpected database error (SQLSTATE {})", .sqlstate.as_deref().unwrap_or("none"))]
    Database {
        /// The five-character SQLSTATE, when the server sent one.
        sqlstate: Option<String>,
    },
}

impl VaultError {
    /// An unexpected response, with no SQLSTATE to report.
    pub(crate) const UNEXPECTED_RESPONSE: VaultError = VaultError::Database { sqlstate: None };

    fn from_sqlstate(code: &str) -> VaultError {
        let invalid = VaultError::Validation;
        match code {
            "22004" => invalid(InvalidInput::Null),
            "22P02" => invalid(InvalidInput::NotAUuid),
            "22001" => invalid(InvalidInput::TooLarge),
            "22032" => invalid(InvalidInput::InvalidJson),
            "2203C" => invalid(InvalidInput::NotAnObject),
            "2203E" => invalid(InvalidInput::TooManyEntries),
            "22030" => invalid(InvalidInput::DuplicateName),
            "22023" => invalid(InvalidInput::InvalidEntry),
            "22P05" => invalid(InvalidInput::NulCharacter),
            "PT404" => VaultError::NotFound,
            // 23505: the application keeps one reference per integration and refuses a second.
            "PT409" | "23505" => VaultError::Conflict,
            "42501" => VaultError::PermissionDenied,
            "55000" | "57P01" | "57P02" | "57P03" => VaultError::Unavailable,
            _ if code.starts_with("28") => VaultError::Authentication,
            _ if code.starts_with("08") => VaultError::Unavailable,
            _ => VaultError::Database {
                // A SQLSTATE is five digits or upper-case letters; keep nothing else.
                sqlstate: (code.len() == 5
                    && code
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()))
                .then(|| code.to_owned()),
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
                Some(code) => VaultError::from_sqlstate(&code),
                None => VaultError::UNEXPECTED_RESPONSE,
            },
            sqlx::Error::Io(error) => tls_failure(&error)
                .map(VaultError::Tls)
                .unwrap_or(VaultError::Unavailable),
            // Raised before the handshake: the server's refusal (sqlx 0.8.6 words it so), a host
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
