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

/// Where a version of an integration's credentials stands.
///
/// Serialises as `"current"`, `"previous"` or `"deleted"`, the server's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionState {
    /// The credentials in use: retrieved, listed, rotated and deleted through this reference.
    Current,
    /// Replaced by a rotate or a restore; kept, restorable until its `destroy_after`.
    Previous,
    /// Deleted; kept, restorable until its `destroy_after`.
    Deleted,
}

impl VersionState {
    /// The state as the server names it.
    pub const fn as_str(self) -> &'static str {
        match self {
            VersionState::Current => "current",
            VersionState::Previous => "previous",
            VersionState::Deleted => "deleted",
        }
    }

    /// The state the server names `text`; `None` for anything else.
    pub(crate) fn from_server(text: &str) -> Option<VersionState> {
        [
            VersionState::Current,
            VersionState::Previous,
            VersionState::Deleted,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

impl fmt::Display for VersionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One version of an integration's credentials, as `versions` lists them: the current one and
/// those kept after a rotate, a restore or a delete, until their recovery window ends. Holds no
/// credential.
///
/// A kept version ([`VersionState::Previous`] or [`VersionState::Deleted`]) has a
/// `replaced_at` and a `destroy_after` (`replaced_at` plus the database's recovery window):
/// [`restore`](crate::CredentialVault::restore) makes it current again until then, and the
/// database's scheduled `credential_vault.purge_expired()` destroys it after. A current one has
/// neither.
///
/// It serialises as the server's row, times in RFC 3339 (UTC), `null` where there is none:
///
/// ```
/// use credential_vault_client::{CredentialVersion, VersionState};
///
/// let version: CredentialVersion = serde_json::from_str(
///     r#"{"vault_secret_id":"0b6f3c1e-2f7a-4d8e-9c1b-5a6d7e8f9a0b",
///         "created_at":"2025-01-02T03:04:05Z", "state":"previous",
///         "replaced_at":"2025-02-01T00:00:00Z", "destroy_after":"2025-02-08T00:00:00Z"}"#,
/// )
/// .unwrap();
/// assert_eq!(version.state(), VersionState::Previous);
/// assert_eq!(
///     version.destroy_after().unwrap() - version.replaced_at().unwrap(),
///     chrono::TimeDelta::days(7),
/// );
/// assert_eq!(version.to_string(), "0b6f3c1e-2f7a-4d8e-9c1b-5a6d7e8f9a0b (previous)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CredentialVersion {
    vault_secret_id: VaultSecretId,
    created_at: DateTime<Utc>,
    state: VersionState,
    replaced_at: Option<DateTime<Utc>>,
    destroy_after: Option<DateTime<Utc>>,
}

impl CredentialVersion {
    /// A version as the server returned it (also useful for fakes in callers' tests).
    pub const fn new(
        reference: CredentialReference,
        state: VersionState,
        replaced_at: Option<DateTime<Utc>>,
        destroy_after: Option<DateTime<Utc>>,
    ) -> Self {
        Self {
            vault_secret_id: reference.vault_secret_id,
            created_at: reference.created_at,
            state,
            replaced_at,
            destroy_after,
        }
    }

    /// The id to pass to `restore` or `destroy` (or, while current, to `rotate`, `delete` and
    /// `retrieve`).
    pub const fn vault_secret_id(&self) -> VaultSecretId {
        self.vault_secret_id
    }

    /// When these credentials were stored.
    pub const fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// The version's id and creation time, as a reference.
    pub const fn reference(&self) -> CredentialReference {
        CredentialReference::new(self.vault_secret_id, self.created_at)
    }

    /// Current, previous or deleted.
    pub const fn state(&self) -> VersionState {
        self.state
    }

    /// When a kept version stopped being current; `None` for the current one.
    pub const fn replaced_at(&self) -> Option<DateTime<Utc>> {
        self.replaced_at
    }

    /// From when a kept version can no longer be restored and is destroyed; `None` for the
    /// current one.
    pub const fn destroy_after(&self) -> Option<DateTime<Utc>> {
        self.destroy_after
    }
}

/// The id and the state, such as `0b6f3c1e-… (previous)`.
impl fmt::Display for CredentialVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.vault_secret_id, self.state)
    }
}

/// An expiry as the text the server takes for `expires_at` (RFC 3339, UTC), checked by the
/// contract's own rule first, so that a time the server would refuse (a year past 9999) is
/// refused before any round trip with the server's [`VaultError::Validation`].
pub(crate) fn expiry_text(expires_at: DateTime<Utc>) -> Result<String, VaultError> {
    let text = expires_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    credential_vault_contract::parse_expires_at(Some(&text)).map_err(VaultError::from)?;
    Ok(text)
}
