//! The credentials themselves: names to secret values, checked on construction, redacted when
//! printed and wiped from memory when dropped.

use std::collections::BTreeMap;
use std::fmt;
use std::io;

use credential_vault_contract::{Error as ContractError, check_credentials};
use secrecy::{ExposeSecret, SecretString};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, Serializer};
use zeroize::Zeroizing;

use crate::error::VaultError;

/// Credentials as name → secret value, for example `{"api_key": "…", "client_secret": "…"}`.
///
/// - Validated on construction by the server's own rules (the contract crate's
///   `check_credentials`: 1 to [`MAX_ENTRIES`](crate::MAX_ENTRIES) entries, non-empty names and
///   values, no NUL character, at most [`MAX_CREDENTIALS_BYTES`](crate::MAX_CREDENTIALS_BYTES)
///   of JSON), so a bad map never costs a round
///   trip and is refused with the same [`VaultError::Validation`] the server would give.
/// - Its [`Debug`] and [`Display`](fmt::Display) print `[REDACTED]`.
/// - Each value is a [`SecretString`], wiped from memory when the map is dropped. The client never
///   keeps a map beyond the call it was passed to or returned from.
///
/// Names are not secret; values are reached only through [`ExposeSecret`].
///
/// ```
/// use credential_vault_client::{CredentialMap, VaultError, contract};
/// use secrecy::ExposeSecret;
///
/// let credentials = CredentialMap::new([("api_key", "sk-live-123"), ("account", "acme")])?;
/// assert_eq!(format!("{credentials:?}"), "[REDACTED]");
/// assert_eq!(credentials.get("api_key").unwrap().expose_secret(), "sk-live-123");
///
/// let empty: [(&str, &str); 0] = [];
/// assert_eq!(
///     CredentialMap::new(empty).unwrap_err(),
///     VaultError::Validation(contract::Error::NoEntries),
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
    /// Checks and takes the given entries. They are checked as the JSON object the server would
    /// get if they were sent in the given order, by the server's own code, so the verdict is
    /// the server's: the same rule, the same first entry that breaks it.
    ///
    /// # Errors
    ///
    /// [`VaultError::Validation`] with the rule broken: for entries of strings, one of
    /// `NoEntries`, `TooManyEntries`, `EmptyName`, `EmptyValue`, `NulCharacter`,
    /// `DuplicateName` or `CredentialsTooLarge`.
    pub fn new<I, K, V>(entries: I) -> Result<Self, VaultError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<SecretString>,
    {
        let entries: Vec<(String, SecretString)> = entries
            .into_iter()
            .map(|(name, value)| (name.into(), value.into()))
            .collect();
        let in_order = || entries.iter().map(|(name, value)| (name.as_str(), value));
        let json_len = json_len(in_order());
        check_credentials(Some(&json_text(in_order(), json_len))).map_err(VaultError::from)?;
        // The names are distinct, so no entry is lost and the sorted text is as long.
        Ok(Self {
            entries: entries.into_iter().collect(),
            json_len,
        })
    }

    /// Parses a JSON object of string values, such as a credentials file, then checks it like
    /// [`CredentialMap::new`]. Nothing of the text is kept or echoed in an error; the caller
    /// should wipe the text itself (for example by holding it in a [`Zeroizing`] buffer).
    ///
    /// # Errors
    ///
    /// For text that is not an object of strings, the server's verdict on the text itself
    /// (`InvalidJson`, `NotAnObject`, `NonStringValue`, ...); else those of
    /// [`CredentialMap::new`], which judges the compact text that would be sent.
    pub fn from_json(json: &str) -> Result<Self, VaultError> {
        // serde's messages quote the offending value: only the contract's verdict is used.
        let entries: Entries = serde_json::from_str(json).map_err(|_| {
            // Every object of strings parses, so the rules refuse whatever did not.
            let refused = check_credentials(Some(json)).err();
            VaultError::from(refused.unwrap_or(ContractError::InvalidJson))
        })?;
        Self::new(entries.0)
    }

    /// The plaintext JSON text of the credentials, as sent to the server, in a buffer that is
    /// wiped when dropped. Drop it as soon as it has been used.
    pub fn expose_json(&self) -> Zeroizing<String> {
        let in_name_order = self
            .entries
            .iter()
            .map(|(name, value)| (name.as_str(), value));
        json_text(in_name_order, self.json_len)
    }

    /// A second map of the same credentials, for the in-memory vault to keep what it stores
    /// and hand out what it retrieves: the values are copied from secret to secret, never
    /// through a plain buffer. Not a public `Clone`, so that copies of secrets stay deliberate.
    #[cfg(feature = "fake")]
    pub(crate) fn duplicate(&self) -> CredentialMap {
        CredentialMap {
            entries: self.entries.clone(),
            json_len: self.json_len,
        }
    }

    /// The secret value stored under `name`.
    pub fn get(&self, name: &str) -> Option<&SecretString> {
        self.entries.get(name)
    }

    /// The credential names, sorted by their bytes, whatever order they were given or stored
    /// in (the map keeps its entries sorted). Names are not secret.
    ///
    /// ```
    /// use credential_vault_client::CredentialMap;
    ///
    /// let credentials = CredentialMap::new([("secret", "s"), ("api_key", "k")])?;
    /// assert_eq!(credentials.names().collect::<Vec<_>>(), ["api_key", "secret"]);
    /// # Ok::<(), credential_vault_client::VaultError>(())
    /// ```
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The entries, sorted by name as [`names`](Self::names) are.
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

/// Writes the compact JSON object of `entries`, in their order and repeats included, values
/// exposed.
fn write_json<'a, I>(entries: I, writer: impl io::Write)
where
    I: Iterator<Item = (&'a str, &'a SecretString)> + Clone,
{
    struct Exposed<I>(I);

    impl<'a, I> Serialize for Exposed<I>
    where
        I: Iterator<Item = (&'a str, &'a SecretString)> + Clone,
    {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_map(
                self.0
                    .clone()
                    .map(|(name, value)| (name, value.expose_secret())),
            )
        }
    }

    // Strings into memory cannot fail; the error is not shown, as it could quote a value.
    if serde_json::to_writer(writer, &Exposed(entries)).is_err() {
        unreachable!("serialising credentials into memory failed");
    }
}

/// The JSON text [`write_json`] writes, `len` bytes long, in a buffer allocated once (so that no
/// moved-from copy is left behind) and wiped when dropped.
fn json_text<'a, I>(entries: I, len: usize) -> Zeroizing<String>
where
    I: Iterator<Item = (&'a str, &'a SecretString)> + Clone,
{
    let mut bytes = Zeroizing::new(Vec::with_capacity(len));
    write_json(entries, &mut *bytes);
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(json) => Zeroizing::new(json),
        Err(error) => {
            drop(Zeroizing::new(error.into_bytes()));
            unreachable!("serde_json writes UTF-8")
        }
    }
}

/// The length of the JSON text [`write_json`] writes, found without building it.
fn json_len<'a, I>(entries: I) -> usize
where
    I: Iterator<Item = (&'a str, &'a SecretString)> + Clone,
{
    let mut counter = ByteCounter(0);
    write_json(entries, &mut counter);
    counter.0
}

/// Counts the bytes written to it.
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
    use crate::{MAX_CREDENTIALS_BYTES, MAX_ENTRIES};

    fn invalid(reason: ContractError) -> Result<CredentialMap, VaultError> {
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
        check(CredentialMap::new(none), invalid(ContractError::NoEntries));
        check(
            CredentialMap::new([("", "v")]),
            invalid(ContractError::EmptyName),
        );
        check(
            CredentialMap::new([("k", "")]),
            invalid(ContractError::EmptyValue),
        );
        check(
            CredentialMap::new([("k\0", "v")]),
            invalid(ContractError::NulCharacter),
        );
        check(
            CredentialMap::new([("k", "v\0")]),
            invalid(ContractError::NulCharacter),
        );
        check(
            CredentialMap::new([("k", "a"), ("k", "b")]),
            invalid(ContractError::DuplicateName),
        );
        let many = (0..=MAX_ENTRIES).map(|i| (format!("k{i}"), "v"));
        check(
            CredentialMap::new(many),
            invalid(ContractError::TooManyEntries),
        );
        let enough = (0..MAX_ENTRIES).map(|i| (format!("k{i}"), "v"));
        assert!(CredentialMap::new(enough).is_ok());
    }

    #[test]
    fn limits_the_json_text_to_64_kib_exactly() {
        // {"k":"…"} is 8 bytes around the value.
        let fits = "x".repeat(MAX_CREDENTIALS_BYTES - 8);
        let map = CredentialMap::new([("k", fits.as_str())]).unwrap();
        assert_eq!(map.expose_json().len(), MAX_CREDENTIALS_BYTES);

        let too_long = "x".repeat(MAX_CREDENTIALS_BYTES - 7);
        check(
            CredentialMap::new([("k", too_long)]),
            invalid(ContractError::CredentialsTooLarge),
        );
        // Escapes count as sent: 32767 quotes become 65534 bytes.
        let quotes = "\"".repeat(MAX_CREDENTIALS_BYTES / 2 - 1);
        check(
            CredentialMap::new([("k", quotes)]),
            invalid(ContractError::CredentialsTooLarge),
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
            invalid(ContractError::InvalidJson),
        );
        check(
            CredentialMap::from_json(r#"["canary"]"#),
            invalid(ContractError::NotAnObject),
        );
        check(
            CredentialMap::from_json(r#"{"k": 5}"#),
            invalid(ContractError::NonStringValue),
        );
        // The first entry that breaks a rule decides, as on the server.
        check(
            CredentialMap::from_json(r#"{"": "v", "k": 5}"#),
            invalid(ContractError::EmptyName),
        );
        check(
            CredentialMap::from_json("{}"),
            invalid(ContractError::NoEntries),
        );
        check(
            CredentialMap::from_json(r#"{"k":"a","k":"b"}"#),
            invalid(ContractError::DuplicateName),
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

    /// The client's verdict against the server's, on generated input: `check_credentials` on
    /// the JSON text that would reach the server, written here independently of the client.
    mod agreement {
        use proptest::prelude::*;
        use serde_json::Value;

        use super::*;

        /// Small alphabets make empty, repeated and NUL-holding names and values likely.
        fn text() -> impl Strategy<Value = String> {
            prop_oneof![4 => "[ab]{1,2}", 1 => "[ab\\x00]{0,2}", 1 => any::<String>()]
        }

        /// Entries in the order given: up to 70 crosses the entry limit, one long value the
        /// size limit (`{"k":"…"}` is 8 bytes around the value).
        fn entries() -> impl Strategy<Value = Vec<(String, String)>> {
            prop_oneof![
                prop::collection::vec((text(), text()), 0..4),
                prop::collection::vec((text(), text()), 0..70),
                (MAX_CREDENTIALS_BYTES - 10..MAX_CREDENTIALS_BYTES)
                    .prop_map(|len| vec![("k".to_owned(), "x".repeat(len))]),
            ]
        }

        fn object_text(entries: &[(String, Value)]) -> String {
            let body: Vec<String> = entries
                .iter()
                .map(|(name, value)| format!("{}:{value}", Value::from(name.as_str())))
                .collect();
            format!("{{{}}}", body.join(","))
        }

        /// Objects written entry by entry (names can repeat) with values of every JSON type,
        /// and text that is mostly JSON's punctuation.
        fn json_text() -> impl Strategy<Value = String> {
            let value = prop_oneof![
                4 => text().prop_map(Value::from),
                1 => Just(Value::Null),
                1 => any::<i64>().prop_map(Value::from),
                1 => prop::collection::vec(text().prop_map(Value::from), 0..2).prop_map(Value::from),
            ];
            prop_oneof![
                prop::collection::vec((text(), value), 0..70)
                    .prop_map(|entries| object_text(&entries)),
                "[{}\\[\\]\":,a \\\\u0-9tfnl]{0,24}",
                any::<String>(),
            ]
        }

        proptest! {
            // A failure prints its shrunk input; no regression files in the source tree.
            #![proptest_config(ProptestConfig {
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            #[test]
            fn a_map_gets_the_verdict_the_server_gives_its_json(entries in entries()) {
                let as_sent: Vec<(String, Value)> = entries
                    .iter()
                    .map(|(name, value)| (name.clone(), Value::from(value.as_str())))
                    .collect();
                let server = check_credentials(Some(&object_text(&as_sent)));
                let client = CredentialMap::new(entries).map(|_| ());
                prop_assert_eq!(client, server.map_err(VaultError::from));
            }

            #[test]
            fn a_json_text_gets_the_verdict_the_server_gives_it(text in json_text()) {
                let server = check_credentials(Some(&text));
                let client = CredentialMap::from_json(&text).map(|_| ());
                prop_assert_eq!(client, server.map_err(VaultError::from));
            }
        }
    }
}
