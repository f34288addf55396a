//! Ids and references: plain identifiers, never secret, checked as UUIDs before any call.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use credential_vault_contract::parse_id;

use crate::error::VaultError;

/// Defines a UUID newtype, so that an integration id and a secret id cannot be swapped.
macro_rules! uuid_newtype {
    ($(#[$doc:meta])* $name:ident, $argument:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// The id as a [`Uuid`].
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        /// Accepts what the server accepts, by the contract's own rule: the hyphenated
        /// 36-character form, in either case (braces, URNs and bare hex are refused). Refused
        /// with the contract's `NotAUuid`, naming the SQL argument the id is passed as.
        impl FromStr for $name {
            type Err = VaultError;

            fn from_str(text: &str) -> Result<Self, VaultError> {
                parse_id($argument, Some(text))
                    .map(Self)
                    .map_err(VaultError::Validation)
            }
        }

        /// The canonical hyphenated lower-case form, as the server expects it.
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_newtype! {
    /// The id of an integration, whose credentials the vault keeps.
    ///
    /// ```
    /// use credential_vault_client::IntegrationId;
    ///
    /// let id: IntegrationId = "3f1c2a9e-5b7d-4e21-9a0c-1d2e3f4a5b6c".parse().unwrap();
    /// assert_eq!(id.to_string(), "3f1c2a9e-5b7d-4e21-9a0c-1d2e3f4a5b6c");
    /// assert!("not-a-uuid".parse::<IntegrationId>().is_err());
    /// // Forms the server refuses, the client refuses too.
    /// assert!("{3f1c2a9e-5b7d-4e21-9a0c-1d2e3f4a5b6c}".parse::<IntegrationId>().is_err());
    /// assert!("urn:uuid:3f1c2a9e-5b7d-4e21-9a0c-1d2e3f4a5b6c".parse::<IntegrationId>().is_err());
    /// assert!("3f1c2a9e5b7d4e219a0c1d2e3f4a5b6c".parse::<IntegrationId>().is_err());
    /// ```
    IntegrationId, "integration_id"
}

uuid_newtype! {
    /// The id of one stored set of credentials (a Vault secret): what a
    /// [`CredentialReference`] points to.
    VaultSecretId, "vault_secret_id"
}

/// A reference to stored credentials: the secret's id and when it was stored. Holds no
/// credential; its [`Display`](fmt::Display) shows the id only.
///
/// It serialises as `{"vault_secret_id": "<uuid>", "created_at": "<RFC 3339, UTC>"}`.
///
/// ```
/// use credential_vault_client::CredentialReference;
///
/// let reference: CredentialReference = serde_json::from_str(
///     r#"{"vault_secret_id":"0b6f3c1e-2f7a-4d8e-9c1b-5a6d7e8f9a0b","created_at":"2025-01-02T03:04:05Z"}"#,
/// )
/// .unwrap();
/// assert_eq!(reference.to_string(), "0b6f3c1e-2f7a-4d8e-9c1b-5a6d7e8f9a0b");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CredentialReference {
    vault_secret_id: VaultSecretId,
    created_at: DateTime<Utc>,
}

impl CredentialReference {
    /// A reference as the server returned it (also useful for fakes in callers' tests).
    pub const fn new(vault_secret_id: VaultSecretId, created_at: DateTime<Utc>) -> Self {
        Self {
            vault_secret_id,
            created_at,
        }
    }

    /// The id to pass to `rotate`, `delete` or `retrieve`.
    pub const fn vault_secret_id(&self) -> VaultSecretId {
        self.vault_secret_id
    }

    /// When these credentials were stored.
    pub const fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
}

impl fmt::Display for CredentialReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.vault_secret_id.fmt(f)
    }
}
