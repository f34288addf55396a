//! The input rules, the one implementation of them: the extension runs them before any SQL (its
//! arguments arrive as text because PostgreSQL's own uuid and jsonb parsers echo bad input in
//! their messages), and the client runs them on the JSON text it is about to send, so that one
//! input gets one verdict wherever it is refused.
//!
//! The JSON check walks the document once and hands back its entries, borrowed from the text
//! where they are spelled without escapes, so that the extension builds its `jsonb` from them
//! instead of parsing the text again. A value copied to unescape it is wiped when dropped.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use uuid::Uuid;
use zeroize::Zeroize;

use crate::error::{Error, Result};
use crate::{
    MAX_CREDENTIALS_BYTES, MAX_ENTRIES, MAX_KEPT_VERSIONS, MAX_RECOVERY_WINDOW_DAYS,
    MAX_REPORT_INTERVAL_DAYS,
};

/// A UUID in its hyphenated 36-character form, in either case; the other spellings `Uuid`
/// accepts (braces, URNs, bare hex) are refused. Case is accepted because RFC 9562 makes UUID
/// input case-insensitive and PostgreSQL's `uuid` type reads both: a reference is compared as a
/// value, never as text, so the two cases name one reference (every id the extension and the
/// client print is lower-case). Refusing upper case now would also break callers of released
/// versions that send it.
pub fn parse_id(argument: &'static str, text: Option<&str>) -> Result<Uuid> {
    let text = text.ok_or(Error::NullArgument(argument))?;
    if text.len() != 36 {
        return Err(Error::NotAUuid(argument));
    }
    Uuid::try_parse(text).map_err(|_| Error::NotAUuid(argument))
}

/// An optional expiry: NULL is none, anything else an RFC 3339 timestamp with an offset
/// (`2027-01-31T00:00:00Z`) that falls in the years 1 to 9999 in UTC, which PostgreSQL's
/// timestamptz reads back exactly (it has no year 0, and RFC 3339 has no year 10000). A leap
/// second (`:60`) is refused: PostgreSQL reads it as the next minute, so
/// `9999-12-31T23:59:60Z` would be stored as year 10000.
pub fn parse_expires_at(text: Option<&str>) -> Result<Option<DateTime<Utc>>> {
    text.map(|text| {
        DateTime::parse_from_rfc3339(text)
            .map(|at| at.with_timezone(&Utc))
            .ok()
            // chrono keeps a leap second as a nanosecond count of one second or more.
            .filter(|at| (1..=9999).contains(&at.year()) && at.nanosecond() < 1_000_000_000)
            .ok_or(Error::InvalidExpiresAt)
    })
    .transpose()
}

/// A PostgreSQL interval as the server holds it: months, days and microseconds, each with its
/// own sign. PostgreSQL 17's infinite intervals have every field at its maximum (or minimum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

const MICROS_PER_DAY: i128 = 86_400_000_000;

impl Interval {
    /// The length PostgreSQL compares intervals by (a month 30 days, a day 24 hours), which
    /// `extract(epoch from ...)` gives too; exact for an infinite one's sign.
    fn length_micros(self) -> i128 {
        (i128::from(self.months) * 30 + i128::from(self.days)) * MICROS_PER_DAY
            + i128::from(self.micros)
    }
}

/// A recovery window: a duration from 0 to [`MAX_RECOVERY_WINDOW_DAYS`], in days or smaller
/// units (months and years are refused, not converted), whose days count as 24 hours each when
/// the window is applied. Returns its length in microseconds.
pub fn check_recovery_window(window: Option<Interval>) -> Result<i64> {
    let window = window.ok_or(Error::NullArgument("recovery_window"))?;
    let length = window.length_micros();
    if length < 0 {
        return Err(Error::InvalidRecoveryWindow);
    }
    if length > i128::from(MAX_RECOVERY_WINDOW_DAYS) * MICROS_PER_DAY {
        return Err(Error::RecoveryWindowTooLong);
    }
    if window.months != 0 {
        return Err(Error::RecoveryWindowInMonths);
    }
    Ok(length as i64)
}

/// `older_than` or `expiring_within` of a rotation report: from 0 to
/// [`MAX_REPORT_INTERVAL_DAYS`] (months count as 30 days here, as PostgreSQL compares them).
pub fn check_report_interval(argument: &'static str, interval: Option<Interval>) -> Result<()> {
    let length = interval
        .ok_or(Error::NullArgument(argument))?
        .length_micros();
    if (0..=i128::from(MAX_REPORT_INTERVAL_DAYS) * MICROS_PER_DAY).contains(&length) {
        Ok(())
    } else {
        Err(Error::InvalidReportInterval)
    }
}

/// How many kept versions an integration may have: 1 to [`MAX_KEPT_VERSIONS`].
pub fn check_max_kept_versions(most: Option<i32>) -> Result<i32> {
    let most = most.ok_or(Error::NullArgument("max_kept_versions"))?;
    if (1..=MAX_KEPT_VERSIONS).contains(&most) {
        Ok(most)
    } else {
        Err(Error::InvalidMaxKeptVersions)
    }
}

/// Checks that `text` is a JSON object of 1 to [`MAX_ENTRIES`] distinct, non-empty names, each
/// with a non-empty string value, no NUL characters, at most [`MAX_CREDENTIALS_BYTES`] in all.
/// Of several broken rules the first of: size, JSON syntax, object, entry count, then the first
/// entry in document order that breaks one, decides.
pub fn check_credentials(text: Option<&str>) -> Result<()> {
    checked_credentials(text).map(drop)
}

/// [`check_credentials`], handing back the entries of a document that passes.
pub fn checked_credentials(text: Option<&str>) -> Result<Credentials<'_>> {
    let text = text.ok_or(Error::NullArgument("credentials_json"))?;
    if text.len() > MAX_CREDENTIALS_BYTES {
        return Err(Error::CredentialsTooLarge);
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let verdict = deserializer
        .deserialize_any(DocumentCheck)
        .map_err(|_| Error::InvalidJson)?;
    deserializer.end().map_err(|_| Error::InvalidJson)?;
    verdict
}

/// The entries of a document that passed [`check_credentials`], names and values unescaped, in
/// document order (names are distinct, so the order does not change what the object is).
pub struct Credentials<'a>(Vec<(Cow<'a, str>, Value<'a>)>);

impl Credentials<'_> {
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(name, value)| (&**name, &*value.0))
    }
}

/// A value borrowed from the document, or, when the document spells it with escapes, unescaped
/// into a copy that is wiped when dropped.
struct Value<'a>(Cow<'a, str>);

impl Drop for Value<'_> {
    fn drop(&mut self) {
        if let Cow::Owned(copy) = &mut self.0 {
            copy.zeroize();
        }
    }
}

/// Visits the whole document (so that every syntax error is found) and returns the first rule it
/// breaks, as a value rather than a serde error, to keep the two kinds of failure apart.
struct DocumentCheck;

impl<'de> Visitor<'de> for DocumentCheck {
    type Value = Result<Credentials<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut names = HashSet::new();
        let mut entries = Vec::new();
        let mut count = 0;
        let mut first_violation = None;
        while let Some(name) = map.next_key_seed(NameSeed)? {
            count += 1;
            let value = map.next_value_seed(ValueCheck)?;
            let violation = if name.is_empty() {
                Some(Error::EmptyName)
            } else if name.contains('\0') {
                Some(Error::NulCharacter)
            } else if !names.insert(name.clone()) {
                Some(Error::DuplicateName)
            } else {
                match value {
                    Ok(value) => {
                        entries.push((name, value));
                        None
                    }
                    Err(violation) => Some(violation),
                }
            };
            first_violation = first_violation.or(violation);
        }
        let credentials = Credentials(entries);
        Ok(match count {
            0 => Err(Error::NoEntries),
            n if n > MAX_ENTRIES => Err(Error::TooManyEntries),
            _ => first_violation.map_or(Ok(credentials), Err),
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err(Error::NotAnObject))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<Self::Value, E> {
        Ok(Err(Error::NotAnObject))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Self::Value, E> {
        Ok(Err(Error::NotAnObject))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<Self::Value, E> {
        Ok(Err(Error::NotAnObject))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<Self::Value, E> {
        Ok(Err(Error::NotAnObject))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Self::Value, E> {
        Ok(Err(Error::NotAnObject))
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(Err(Error::NotAnObject))
    }
}

fn check_value(value: &str) -> Result<()> {
    if value.is_empty() {
        Err(Error::EmptyValue)
    } else if value.contains('\0') {
        Err(Error::NulCharacter)
    } else {
        Ok(())
    }
}

/// An entry's name, kept (names are not secret).
struct NameSeed;

impl<'de> DeserializeSeed<'de> for NameSeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for NameSeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a name")
    }

    fn visit_borrowed_str<E: de::Error>(
        self,
        name: &'de str,
    ) -> std::result::Result<Self::Value, E> {
        Ok(Cow::Borrowed(name))
    }

    fn visit_str<E: de::Error>(self, name: &str) -> std::result::Result<Self::Value, E> {
        Ok(Cow::Owned(name.to_owned()))
    }
}

/// Checks one value; keeps it when it is a valid one.
struct ValueCheck;

impl<'de> DeserializeSeed<'de> for ValueCheck {
    type Value = Result<Value<'de>>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueCheck {
    type Value = Result<Value<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(
        self,
        value: &'de str,
    ) -> std::result::Result<Self::Value, E> {
        Ok(check_value(value).map(|()| Value(Cow::Borrowed(value))))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> std::result::Result<Self::Value, E> {
        Ok(check_value(value).map(|()| Value(Cow::Owned(value.to_owned()))))
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Err(Error::NonStringValue))
    }

    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err(Error::NonStringValue))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Self::Value, E> {
        Ok(Err(Error::NonStringValue))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<Self::Value, E> {
        Ok(Err(Error::NonStringValue))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<Self::Value, E> {
        Ok(Err(Error::NonStringValue))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Self::Value, E> {
        Ok(Err(Error::NonStringValue))
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(Err(Error::NonStringValue))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn recovery_windows_are_durations_within_a_year() {
        let window = |months, days, micros| {
            check_recovery_window(Some(Interval {
                months,
                days,
                micros,
            }))
        };
        const HOUR: i64 = 3_600_000_000;
        assert_eq!(window(0, 7, 0), Ok(7 * 24 * HOUR));
        assert_eq!(window(0, 0, 0), Ok(0));
        assert_eq!(window(0, 2, -HOUR), Ok(47 * HOUR), "days count 24 hours");
        assert_eq!(window(0, 365, 0), Ok(365 * 24 * HOUR));
        assert_eq!(window(0, 365, 1), Err(Error::RecoveryWindowTooLong));
        assert_eq!(window(0, -1, 0), Err(Error::InvalidRecoveryWindow));
        assert_eq!(window(0, 1, -25 * HOUR), Err(Error::InvalidRecoveryWindow));
        assert_eq!(
            window(1, -29, 0),
            Err(Error::RecoveryWindowInMonths),
            "'1 mon -29 days'"
        );
        assert_eq!(window(1, 0, 0), Err(Error::RecoveryWindowInMonths));
        assert_eq!(
            window(300_000 * 12, 0, 0),
            Err(Error::RecoveryWindowTooLong)
        );
        assert_eq!(
            window(i32::MAX, i32::MAX, i64::MAX),
            Err(Error::RecoveryWindowTooLong),
            "infinity"
        );
        assert_eq!(
            window(i32::MIN, i32::MIN, i64::MIN),
            Err(Error::InvalidRecoveryWindow),
            "-infinity"
        );
        assert_eq!(
            check_recovery_window(None),
            Err(Error::NullArgument("recovery_window"))
        );
    }

    #[test]
    fn report_intervals_and_the_kept_versions_bound_have_ranges() {
        let interval = |months, days| {
            Some(Interval {
                months,
                days,
                micros: 0,
            })
        };
        assert_eq!(check_report_interval("older_than", interval(3, 0)), Ok(()));
        assert_eq!(check_report_interval("older_than", interval(0, 0)), Ok(()));
        assert_eq!(
            check_report_interval("older_than", interval(0, -1)),
            Err(Error::InvalidReportInterval)
        );
        assert_eq!(
            check_report_interval("older_than", interval(300_000 * 12, 0)),
            Err(Error::InvalidReportInterval)
        );
        assert_eq!(
            check_report_interval("older_than", interval(i32::MAX, i32::MAX)),
            Err(Error::InvalidReportInterval)
        );
        assert_eq!(
            check_report_interval("older_than", None),
            Err(Error::NullArgument("older_than"))
        );
        assert_eq!(check_max_kept_versions(Some(1)), Ok(1));
        assert_eq!(
            check_max_kept_versions(Some(MAX_KEPT_VERSIONS)),
            Ok(MAX_KEPT_VERSIONS)
        );
        assert_eq!(
            check_max_kept_versions(Some(0)),
            Err(Error::InvalidMaxKeptVersions)
        );
        assert_eq!(
            check_max_kept_versions(Some(MAX_KEPT_VERSIONS + 1)),
            Err(Error::InvalidMaxKeptVersions)
        );
        assert_eq!(
            check_max_kept_versions(None),
            Err(Error::NullArgument("max_kept_versions"))
        );
    }

    use super::*;

    #[test]
    fn an_expiry_is_rfc_3339_within_postgresqls_years() {
        assert!(
            parse_expires_at(Some("2027-01-31T00:00:00Z"))
                .unwrap()
                .is_some()
        );
        assert!(
            parse_expires_at(Some("2027-01-31T01:00:00+01:00"))
                .unwrap()
                .is_some()
        );
        assert_eq!(parse_expires_at(None), Ok(None));
        for refused in [
            "tomorrow",
            "2027-01-31",
            "0000-06-01T00:00:00Z",
            "9999-12-31T23:59:59-05:00",
        ] {
            assert_eq!(
                parse_expires_at(Some(refused)),
                Err(Error::InvalidExpiresAt),
                "{refused}"
            );
        }
    }

    #[test]
    fn an_expiry_refuses_a_leap_second_which_postgresql_rolls_over() {
        // PostgreSQL reads :60 as the next minute: 9999-12-31T23:59:60Z would be year 10000.
        for leap in [
            "9999-12-31T23:59:60Z",
            "2016-12-31T23:59:60Z",
            "2027-01-31T12:30:60+01:00",
            "2027-01-31T12:30:60.5Z",
        ] {
            assert_eq!(
                parse_expires_at(Some(leap)),
                Err(Error::InvalidExpiresAt),
                "{leap}"
            );
        }
        assert!(parse_expires_at(Some("9999-12-31T23:59:59.999999Z")).is_ok());
    }

    #[test]
    fn accepts_a_flat_object_of_strings() {
        assert_eq!(
            check_credentials(Some(r#"{"api_key":"k-1","secret":"s \u00e9 \"q\""}"#)),
            Ok(())
        );
    }

    #[test]
    fn each_rule_has_its_own_error() {
        let cases: &[(&str, Error)] = &[
            ("{", Error::InvalidJson),
            (r#"{"a":"b"} x"#, Error::InvalidJson),
            (r#"{"a":"\ud800"}"#, Error::InvalidJson),
            ("[]", Error::NotAnObject),
            (r#""text""#, Error::NotAnObject),
            ("42", Error::NotAnObject),
            ("null", Error::NotAnObject),
            ("{}", Error::NoEntries),
            (r#"{"a":"1","a":"2"}"#, Error::DuplicateName),
            (r#"{"":"v"}"#, Error::EmptyName),
            (r#"{"a":1}"#, Error::NonStringValue),
            (r#"{"a":{"b":"c"}}"#, Error::NonStringValue),
            (r#"{"a":null}"#, Error::NonStringValue),
            (r#"{"a":""}"#, Error::EmptyValue),
            (r#"{"a":"x\u0000y"}"#, Error::NulCharacter),
            (r#"{"a\u0000":"v"}"#, Error::NulCharacter),
        ];
        for (input, expected) in cases {
            assert_eq!(
                check_credentials(Some(input)),
                Err(*expected),
                "input {input}"
            );
        }
        assert_eq!(
            check_credentials(None),
            Err(Error::NullArgument("credentials_json"))
        );
    }

    #[test]
    fn bounds_entries_and_size() {
        let entries = |n: usize| {
            let body: Vec<String> = (0..n).map(|i| format!(r#""k{i}":"v""#)).collect();
            format!("{{{}}}", body.join(","))
        };
        assert_eq!(check_credentials(Some(&entries(MAX_ENTRIES))), Ok(()));
        assert_eq!(
            check_credentials(Some(&entries(MAX_ENTRIES + 1))),
            Err(Error::TooManyEntries)
        );
        let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_CREDENTIALS_BYTES));
        assert_eq!(
            check_credentials(Some(&big)),
            Err(Error::CredentialsTooLarge)
        );
    }

    #[test]
    fn ids_must_be_canonical_uuids() {
        let id = "0b5a4bd5-37c3-4a52-9d25-9bb3c1f0a0f1";
        assert_eq!(parse_id("x", Some(id)).unwrap().to_string(), id);
        // Either case, one reference (RFC 9562: case-insensitive on input).
        let upper = id.to_uppercase();
        assert_eq!(parse_id("x", Some(&upper)), parse_id("x", Some(id)));
        for bad in [
            "",
            "not-a-uuid",
            "0b5a4bd537c34a529d259bb3c1f0a0f1",
            "{0b5a4bd5-37c3-4a52-9d25-9bb3c1f0a0f1}",
            "0b5a4bd5-37c3-4a52-9d25-9bb3c1f0a0fZ",
        ] {
            assert_eq!(
                parse_id("x", Some(bad)),
                Err(Error::NotAUuid("x")),
                "input {bad}"
            );
        }
        assert_eq!(parse_id("x", None), Err(Error::NullArgument("x")));
    }

    mod properties {
        use proptest::prelude::*;
        use serde_json::{Map, Value};

        use super::*;

        /// What `check_credentials` must answer for a document that serde_json can represent
        /// (so without duplicate names), written from the README's rules rather than the code.
        fn expected(document: &Value, text: &str) -> Result<()> {
            if text.len() > MAX_CREDENTIALS_BYTES {
                return Err(Error::CredentialsTooLarge);
            }
            let Value::Object(entries) = document else {
                return Err(Error::NotAnObject);
            };
            match entries.len() {
                0 => return Err(Error::NoEntries),
                n if n > MAX_ENTRIES => return Err(Error::TooManyEntries),
                _ => {}
            }
            // The first entry in document order that breaks a rule decides.
            entries.iter().try_for_each(|(name, value)| match value {
                _ if name.is_empty() => Err(Error::EmptyName),
                _ if name.contains('\0') => Err(Error::NulCharacter),
                Value::String(value) if value.is_empty() => Err(Error::EmptyValue),
                Value::String(value) if value.contains('\0') => Err(Error::NulCharacter),
                Value::String(_) => Ok(()),
                _ => Err(Error::NonStringValue),
            })
        }

        /// Short strings that favour the edge cases: empty, NUL, escapes, non-ASCII.
        fn text() -> impl Strategy<Value = String> {
            prop_oneof![
                Just(String::new()),
                "[a-z\\x00\"\\\\]{0,4}",
                any::<String>().prop_map(|s| s.chars().take(12).collect()),
            ]
        }

        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(Value::from),
                text().prop_map(Value::from),
            ];
            leaf.prop_recursive(4, 48, 8, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                    prop::collection::vec((text(), inner), 0..8)
                        .prop_map(|entries| Value::Object(entries.into_iter().collect())),
                ]
            })
        }

        /// A valid credentials object: 1 to 64 non-empty names and values without NUL.
        fn valid_credentials() -> impl Strategy<Value = Map<String, Value>> {
            let non_empty = "[^\\x00]{1,40}";
            prop::collection::btree_map(non_empty, non_empty.prop_map(Value::from), 1..=MAX_ENTRIES)
                .prop_map(|entries| entries.into_iter().collect())
        }

        proptest! {
            // A failure prints its shrunk input; no regression files in the source tree.
            #![proptest_config(ProptestConfig {
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            #[test]
            fn any_text_gets_a_verdict_and_invalid_json_is_exactly_what_serde_rejects(
                input in prop_oneof![any::<String>(), "[{}\\[\\]\":,a \\\\u0-9tfnl]{0,24}"]
            ) {
                let verdict = check_credentials(Some(&input));
                let is_json = serde_json::from_str::<IgnoredAny>(&input).is_ok();
                prop_assert_eq!(verdict == Err(Error::InvalidJson), !is_json, "input {:?}", input);
            }

            #[test]
            fn every_json_document_gets_the_verdict_of_the_rules(document in json()) {
                let text = document.to_string();
                prop_assert_eq!(check_credentials(Some(&text)), expected(&document, &text));
            }

            #[test]
            fn valid_credentials_pass_and_a_repeated_name_does_not(
                entries in valid_credentials(),
                pretty in any::<bool>(),
            ) {
                let document = Value::Object(entries);
                let text = if pretty {
                    serde_json::to_string_pretty(&document).unwrap()
                } else {
                    document.to_string()
                };
                prop_assume!(text.len() <= MAX_CREDENTIALS_BYTES);
                prop_assert_eq!(check_credentials(Some(&text)), Ok(()));
                // Its entries, unescaped, are the document's.
                let credentials = checked_credentials(Some(&text)).unwrap();
                let read: Map<String, Value> = credentials
                    .entries()
                    .map(|(name, value)| (name.to_owned(), Value::from(value)))
                    .collect();
                prop_assert_eq!(&Value::Object(read), &document);

                // The same object with its first entry written twice, which a JSON object type
                // would silently accept; the repeat counts as an entry.
                let entries = document.as_object().unwrap();
                let (name, value) = entries.iter().next().unwrap();
                let first = serde_json::json!({ name.clone(): value }).to_string();
                let repeated = format!("{},{}", &first[..first.len() - 1], &text[1..]);
                prop_assume!(repeated.len() <= MAX_CREDENTIALS_BYTES);
                let verdict = if entries.len() == MAX_ENTRIES {
                    Error::TooManyEntries
                } else {
                    Error::DuplicateName
                };
                prop_assert_eq!(check_credentials(Some(&repeated)), Err(verdict));
            }
        }
    }
}
