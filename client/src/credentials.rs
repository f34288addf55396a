//! The credentials themselves: names to secret values, checked on construction, redacted when
//! printed and wiped from memory when dropped.

use std::collections::BTreeMap;
use std::fmt;
use std::io;

use secrecy::{ExposeSecret, SecretString};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, Serializer};
use zeroize::Zeroizing;

use crate::error::{InvalidInput, VaultError};

/// The most entries one set of credentials may have.
pub const MAX_ENTRIES: usize = 64;

/// The most bytes the credentials may take as compact JSON text, as sent to the server.
pub const MAX_JSON_BYTES: usize = 65_536;

/// Credentials as name → secret value, for example `{"api_key": "…", "client_secret": "…"}`.
///
/// - Validated on construction with the server's rules (1 to [`MAX_ENTRIES`] entries, non-empty
///   names and values, no NUL character, at most [`MAX_JSON_BYTES`] of JSON), so a bad map never
///   costs a round trip.
/// - Its [`Debug`] and [`Display`](fmt::Display) print `[REDACTED]`.
/// - Each value is a [`SecretString`], wiped from memory when the map is dropped. The client never
///   keeps a map beyond the call it was passed to or returned from.
///
/// Names are not secret; values are reached only through [`ExposeSecret`].
///
/// ```
/// use credential_vault_client::{CredentialMap, InvalidInput, VaultError};
/// use secrecy::ExposeSecret;
///
/// let credentials = CredentialMap::new([("api_key", "sk-live-123"), ("account", "acme")])?;
/// assert_eq!(format!("{credentials:?}"), "[REDACTED]");
/// assert_eq!(credentials.get("api_key").unwrap().expose_secret(), "sk-live-123");
///
/// let empty: [(&str, &str); 0] = [];
/// assert_eq!(
///     CredentialMap::new(empty).unwrap_err(),
///     VaultError::Validation(InvalidInput::NoEntries),
/// );
/// # Ok::<(), VaultError>(())
/// ```
pub struct CredentialMap {
    entries: BTreeMap<String, SecretString>,
    /// The length of the compact JSON text, so that [`CredentialMap::expose_json`] allocates
    /// exactly once and never leaves a moved-from copy behind.
    json_len: usize,
}

impl CredentialMap {
    /// Checks and takes the given entries.
    ///
    /// # Errors
    ///
    /// [`VaultError::Validation`] with [`InvalidInput::NoEntries`], [`InvalidInput::TooManyEntries`],
    /// [`InvalidInput::EmptyName`], [`InvalidInput::EmptyValue`], [`InvalidInput::NulCharacter`],
    /// [`InvalidInput::DuplicateName`] or [`InvalidInput::TooLarge`].
    pub fn new<I, K, V>(entries: I) -> Result<Self, VaultError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<SecretString>,
    {
        let invalid = VaultError::Validation;
        let mut checked = BTreeMap::new();
        for (name, value) in entries {
            let (name, value): (String, SecretString) = (name.into(), value.into());
            let secret = value.expose_secret();
            if name.is_empty() {
                return Err(invalid(InvalidInput::EmptyName));
            }
            if secret.is_empty() {
                return Err(invalid(InvalidInput::EmptyValue));
            }
            if name.contains('\0') || secret.contains('\0') {
                return Err(invalid(InvalidInput::NulCharacter));
            }
            if checked.insert(name, value).is_some() {
                return Err(invalid(InvalidInput::DuplicateName));
            }
            if checked.len() > MAX_ENTRIES {
                return Err(invalid(InvalidInput::TooManyEntries));
            }
        }
        if checked.is_empty() {
            return Err(invalid(InvalidInput::NoEntries));
        }
        let mut counter = ByteCounter(0);
        write_json(&checked, &mut counter);
        if counter.0 > MAX_JSON_BYTES {
            return Err(invalid(InvalidInput::TooLarge));
        }
        Ok(Self {
            entries: checked,
            json_len: counter.0,
        })
    }

    /// Parses a JSON object of string values, such as a credentials file, then checks it like
    /// [`CredentialMap::new`]. Nothing of the text is kept or echoed in an error; the caller
    /// should wipe the text itself (for example by holding it in a [`Zeroizing`] buffer).
    ///
    /// # Errors
    ///
    /// [`InvalidInput::InvalidJson`] for text that is not JSON, [`InvalidInput::NotAnObject`] for
    /// JSON that is not an object of strings, and the errors of [`CredentialMap::new`].
    pub fn from_json(json: &str) -> Result<Self, VaultError> {
        // serde's messages quote the offending value, so only the error's category is used.
        let entries: Entries = serde_json::from_str(json).map_err(|error| {
            VaultError::Validation(if error.is_data() {
                InvalidInput::NotAnObject
            } else {
                InvalidInput::InvalidJson
            })
        })?;
        Self::new(entries.0)
    }

    /// The plaintext JSON text of the credentials, as sent to the server, in a buffer that is
    /// wiped when dropped. Drop it as soon as it has been used.
    pub fn expose_json(&self) -> Zeroizing<String> {
        let mut bytes = Zeroizing::new(Vec::with_capacity(self.json_len));
        write_json(&self.entries, &mut *bytes);
        match String::from_utf8(std::mem::take(&mut *bytes)) {
            Ok(json) => Zeroizing::new(json),
            Err(error) => {
                drop(Zeroizing::new(error.into_bytes()));
                unreachable!("serde_json writes UTF-8")
            }
        }
    }

    /// The secret value stored under `name`.
    pub fn get(&self, name: &str) -> Option<&SecretString> {
        self.entries.get(name)
    }

    /// The credential names, in order. Names are not secret.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The entries, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &SecretString)> {
        self.entries
            .iter()
            .map(|(name, value)| (name.as_str(), value))
    }
}

impl fmt::Debug for CredentialMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl fmt::Display for CredentialMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Writes the compact JSON object of `entries`, values exposed.
fn write_json(entries: &BTreeMap<String, SecretString>, writer: impl io::Write) {
    struct Exposed<'a>(&'a BTreeMap<String, SecretString>);

    impl Serialize for Exposed<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_map(
                self.0
                    .iter()
                    .map(|(name, value)| (name, value.expose_secret())),
            )
        }
    }

    // Strings into memory cannot fail; the error is not shown, as it could quote a value.
    if serde_json::to_writer(writer, &Exposed(entries)).is_err() {
        unreachable!("serialising credentials into memory failed");
    }
}

/// Counts the bytes written to it, to size the JSON text without building it.
struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The entries of a JSON object, each value read straight into a [`SecretString`].
struct Entries(Vec<(String, SecretString)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;

        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object of string values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(reason: InvalidInput) -> Result<CredentialMap, VaultError> {
        Err(VaultError::Validation(reason))
    }

    fn check(
        result: Result<CredentialMap, VaultError>,
        expected: Result<CredentialMap, VaultError>,
    ) {
        assert_eq!(result.map(|_| ()), expected.map(|_| ()));
    }

    #[test]
    fn rejects_what_the_server_would_reject() {
        let none: [(&str, &str); 0] = [];
        check(CredentialMap::new(none), invalid(InvalidInput::NoEntries));
        check(
            CredentialMap::new([("", "v")]),
            invalid(InvalidInput::EmptyName),
        );
        check(
            CredentialMap::new([("k", "")]),
            invalid(InvalidInput::EmptyValue),
        );
        check(
            CredentialMap::new([("k\0", "v")]),
            invalid(InvalidInput::NulCharacter),
        );
        check(
            CredentialMap::new([("k", "v\0")]),
            invalid(InvalidInput::NulCharacter),
        );
        check(
            CredentialMap::new([("k", "a"), ("k", "b")]),
            invalid(InvalidInput::DuplicateName),
        );
        let many = (0..=MAX_ENTRIES).map(|i| (format!("k{i}"), "v"));
        check(
            CredentialMap::new(many),
            invalid(InvalidInput::TooManyEntries),
        );
        let enough = (0..MAX_ENTRIES).map(|i| (format!("k{i}"), "v"));
        assert!(CredentialMap::new(enough).is_ok());
    }

    #[test]
    fn limits_the_json_text_to_64_kib_exactly() {
        // {"k":"…"} is 8 bytes around the value.
        let fits = "x".repeat(MAX_JSON_BYTES - 8);
        let map = CredentialMap::new([("k", fits.as_str())]).unwrap();
        assert_eq!(map.expose_json().len(), MAX_JSON_BYTES);

        let too_long = "x".repeat(MAX_JSON_BYTES - 7);
        check(
            CredentialMap::new([("k", too_long)]),
            invalid(InvalidInput::TooLarge),
        );
        // Escapes count as sent: 32767 quotes become 65534 bytes.
        let quotes = "\"".repeat(MAX_JSON_BYTES / 2 - 1);
        check(
            CredentialMap::new([("k", quotes)]),
            invalid(InvalidInput::TooLarge),
        );
    }

    #[test]
    fn json_round_trips_and_is_sized_exactly() {
        let map = CredentialMap::new([("b", "two \"quoted\" é\n"), ("a", "one")]).unwrap();
        let json = map.expose_json();
        assert_eq!(*json, r#"{"a":"one","b":"two \"quoted\" é\n"}"#);
        assert_eq!(json.capacity(), json.len(), "allocated once, exactly");
        let parsed = CredentialMap::from_json(&json).unwrap();
        assert_eq!(parsed.names().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(
            parsed.get("b").unwrap().expose_secret(),
            "two \"quoted\" é\n"
        );
    }

    #[test]
    fn from_json_reports_the_kind_of_problem_only() {
        check(
            CredentialMap::from_json("{"),
            invalid(InvalidInput::InvalidJson),
        );
        check(
            CredentialMap::from_json(r#"["canary"]"#),
            invalid(InvalidInput::NotAnObject),
        );
        check(
            CredentialMap::from_json(r#"{"k": 5}"#),
            invalid(InvalidInput::NotAnObject),
        );
        check(
            CredentialMap::from_json("{}"),
            invalid(InvalidInput::NoEntries),
        );
        check(
            CredentialMap::from_json(r#"{"k":"a","k":"b"}"#),
            invalid(InvalidInput::DuplicateName),
        );
        let error = CredentialMap::from_json(r#"{"k": ["canary-secret"]}"#).unwrap_err();
        assert!(!format!("{error} {error:?}").contains("canary"));
    }

    #[test]
    fn printing_never_shows_a_value() {
        let map = CredentialMap::new([("api_key", "canary-value")]).unwrap();
        assert_eq!(format!("{map}"), "[REDACTED]");
        assert_eq!(format!("{map:?}"), "[REDACTED]");
        assert_eq!(format!("{map:#?}"), "[REDACTED]");
        assert!(!format!("{:?}", map.get("api_key").unwrap()).contains("canary"));
    }
}
