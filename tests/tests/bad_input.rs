//! The server's answer to bad input, owned here: families of malformed, hostile and oversized
//! input (a table of families times functions, generated here), each case with a unique canary
//! inside it, sent through SQL as `service_role`. Every case must get its error of the contract's
//! catalogue (SQLSTATE, code and message, as README's table shows them), no error text and no
//! server log line may contain its canary, and the row counts of every table the extension and
//! Vault own must be the same afterwards. Then property tests of the same functions with
//! generated input, most of it holding a canary of the run: no error may quote any 6
//! characters of it in a row. The rules' own verdicts and messages are the contract crate's tests
//! (contract/src/validate.rs).
//!
//! The CLI's own share, end to end: that each error class the corpus meets (usage, invalid
//! input, not found) reaches its exit code (`EXIT_CODES` in client/src/main.rs) with nothing
//! echoed, in a handful of cases; the CLI without a database is client/tests/cli.rs's. They run
//! `target/<profile>/credential-vault`: build it first (`cargo build -p credential-vault-client`;
//! `cargo test -p credential-vault-client` does too).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use credential_vault_contract::{Error, MAX_CREDENTIALS_BYTES, MAX_ENTRIES};
use credential_vault_tests::{
    Caller, RowCounts, Tenants, TestDatabase, api, cli_binary, credential_link, credentials_json,
    database_url, error_text, report_figure, run_as, run_cli, server_log, sqlstate,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value};
use sqlx::Postgres;
use sqlx::encode::IsNull;
use sqlx::postgres::{PgArgumentBuffer, PgDatabaseError, PgTypeInfo};
use uuid::Uuid;

/// The SQL arguments, which the catalogue's parameterised messages name.
const ARGUMENTS: [&str; 3] = ["integration_id", "vault_secret_id", "credentials_json"];

/// The catalogue's error that a server error is, by its SQLSTATE, its code (the DETAIL) and its
/// message, which must be the entry's own (naming one of the arguments, if parameterised).
fn in_catalogue(error: &PgDatabaseError) -> Option<Error> {
    let entry = Error::from_server(error.code(), error.detail())?;
    let instances = match entry {
        Error::NullArgument(_) => ARGUMENTS.map(Error::NullArgument).to_vec(),
        Error::NotAUuid(_) => ARGUMENTS.map(Error::NotAUuid).to_vec(),
        entry => vec![entry],
    };
    instances
        .into_iter()
        .find(|instance| instance.to_string() == error.message())
}

/// Text that is not UTF-8 (a NUL byte included) never reaches the functions: PostgreSQL refuses
/// the bind parameter itself with 22021 `invalid byte sequence for encoding "UTF8": 0x..`,
/// quoting only the offending bytes. It is not in the catalogue (it is not the extension's), so
/// the corpus pins it here.
const NOT_UTF8: &str = "22021";

/// The CLI's exit codes used here (client/src/main.rs, `EXIT_CODES`).
const EXIT_USAGE: i32 = 2;
const EXIT_INVALID_INPUT: i32 = 3;
const EXIT_NOT_FOUND: i32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Store,
    Retrieve,
    Rotate,
    Delete,
    List,
    Versions,
    Restore,
    Destroy,
    /// Store with an expiry: its own cases only (the expiry families).
    StoreExpiring,
}

impl Function {
    /// The functions every id family is tried on.
    const ALL: [Function; 8] = [
        Function::Store,
        Function::Retrieve,
        Function::Rotate,
        Function::Delete,
        Function::List,
        Function::Versions,
        Function::Restore,
        Function::Destroy,
    ];

    fn sql(self) -> &'static str {
        match self {
            Function::Store => api::STORE,
            Function::Retrieve => api::RETRIEVE,
            Function::Rotate => api::ROTATE,
            Function::Delete => api::DELETE,
            Function::List => api::LIST,
            Function::Versions => api::VERSIONS,
            Function::Restore => api::RESTORE,
            Function::Destroy => api::DESTROY,
            Function::StoreExpiring => api::STORE_EXPIRING,
        }
    }

    fn takes_credentials(self) -> bool {
        matches!(
            self,
            Function::Store | Function::Rotate | Function::StoreExpiring
        )
    }

    /// Whether the id argument is an integration (else a vault_secret_id).
    fn takes_integration(self) -> bool {
        matches!(
            self,
            Function::Store | Function::List | Function::Versions | Function::StoreExpiring
        )
    }

    /// Whether it returns rows rather than failing for an id of nothing.
    fn lists(self) -> bool {
        matches!(self, Function::List | Function::Versions)
    }

    /// The name of the id argument.
    fn id_argument(self) -> &'static str {
        if self.takes_integration() {
            "integration_id"
        } else {
            "vault_secret_id"
        }
    }

    /// The error for an id of nothing the function can act on.
    fn not_found(self) -> Error {
        if self.takes_integration() {
            Error::IntegrationNotFound
        } else {
            Error::CredentialsNotFound
        }
    }
}

/// One argument as it goes over the wire: SQL NULL, text, or raw bytes sent as text.
#[derive(Debug, Clone)]
enum Arg {
    Null,
    Text(String),
    Bytes(Vec<u8>),
}

/// Raw bytes bound as a `text` parameter, to send what a `&str` cannot hold.
struct RawText(Vec<u8>);

impl sqlx::Type<Postgres> for RawText {
    fn type_info() -> PgTypeInfo {
        <&str as sqlx::Type<Postgres>>::type_info()
    }
}

impl sqlx::Encode<'_, Postgres> for RawText {
    fn encode_by_ref(
        &self,
        buf: &mut PgArgumentBuffer,
    ) -> Result<IsNull, Box<dyn std::error::Error + Send + Sync>> {
        buf.extend_from_slice(&self.0);
        Ok(IsNull::No)
    }
}

/// A fresh canary, 12 random decimal digits (so that it also fits inside a number or a UUID),
/// and a random UUID text that ends with it.
struct Fresh {
    canary: String,
    id: String,
}

impl Fresh {
    fn new() -> Fresh {
        let random = Uuid::new_v4();
        let canary = format!("{:012}", random.as_u128() % 1_000_000_000_000);
        let id = format!("{}{canary}", &random.to_string()[..24]);
        Fresh { canary, id }
    }

    /// The canary as a word, for places where any text goes.
    fn word(&self) -> String {
        format!("canary-{}", self.canary)
    }
}

struct IdFamily {
    name: &'static str,
    make: fn(&Fresh) -> Arg,
    /// The error, given the id argument's name; `None` for PostgreSQL's 22021.
    error: Option<fn(&'static str) -> Error>,
}

fn text(value: impl Into<String>) -> Arg {
    Arg::Text(value.into())
}

fn bytes(parts: &[&[u8]]) -> Arg {
    Arg::Bytes(parts.concat())
}

/// Malformed and hostile spellings of an id; each is tried on every function.
fn id_families() -> Vec<IdFamily> {
    let family = |name, error, make| IdFamily { name, make, error };
    let not_a_uuid = Some(Error::NotAUuid as fn(&'static str) -> Error);
    let malformed = |name, make| family(name, not_a_uuid, make);
    vec![
        family("null", Some(Error::NullArgument), |_| Arg::Null),
        malformed("empty", |_| text("")),
        malformed("word", |f| text(f.word())),
        malformed("non-hex digit", |f| text(format!("g{}", &f.id[1..]))),
        family("braced", not_a_uuid, |f| text(format!("{{{}}}", f.id))),
        family("no hyphens", not_a_uuid, |f| text(f.id.replace('-', ""))),
        family("urn", not_a_uuid, |f| text(format!("urn:uuid:{}", f.id))),
        malformed("first digit missing", |f| text(&f.id[1..])),
        malformed("one digit extra", |f| text(format!("{}0", f.id))),
        malformed("leading space", |f| text(format!(" {}", f.id))),
        malformed("trailing newline", |f| text(format!("{}\n", f.id))),
        malformed("hyphens misplaced", |f| {
            let hex = f.id.replace('-', "");
            let groups = [
                &hex[..9],
                &hex[9..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..],
            ];
            text(groups.join("-"))
        }),
        malformed("cyrillic a", |f| text(format!("\u{430}{}", &f.id[1..]))),
        malformed("en dash", |f| text(f.id.replacen('-', "\u{2013}", 1))),
        family("huge", not_a_uuid, |f| text(f.word().repeat(80_000))),
        malformed("sql: drop table", |f| {
            text(format!("'; drop table vault.secrets; -- {}", f.word()))
        }),
        malformed("sql: or true", |f| text(format!("{}' or '1'='1", f.id))),
        malformed("sql: cast and delete", |f| {
            text(format!(
                "{}'::uuid); delete from credential_vault.credentials; --",
                f.id
            ))
        }),
        malformed("sql: dollar quote", |f| text(format!("$$ {} $$", f.word()))),
        malformed("json", |f| text(format!(r#"{{"id": "{}"}}"#, f.id))),
        family("NUL byte", None, |f| {
            bytes(&[&f.id.as_bytes()[..8], b"\0", &f.id.as_bytes()[8..]])
        }),
        family("not UTF-8", None, |f| {
            bytes(&[b"\xff", &f.id.as_bytes()[1..]])
        }),
    ]
}

/// Credentials that break one rule each, as (error, family, text): `CANARY` stands for the
/// case's canary as a word, `DIGITS` for its digits.
const CREDENTIALS_TEMPLATES: &[(Error, &str, &str)] = &[
    // Not JSON.
    (Error::InvalidJson, "empty", ""),
    (Error::InvalidJson, "whitespace", " \n\t "),
    (Error::InvalidJson, "plain word", "CANARY"),
    (
        Error::InvalidJson,
        "unquoted value",
        r#"{"api_key": CANARY}"#,
    ),
    (Error::InvalidJson, "single quotes", "{'api_key': 'CANARY'}"),
    (
        Error::InvalidJson,
        "trailing comma",
        r#"{"api_key": "CANARY",}"#,
    ),
    (
        Error::InvalidJson,
        "trailing garbage",
        r#"{"api_key": "CANARY"} x"#,
    ),
    (
        Error::InvalidJson,
        "two objects",
        r#"{"a": "CANARY"}{"b": "CANARY"}"#,
    ),
    (
        Error::InvalidJson,
        "comment",
        r#"{"api_key": "CANARY" /* note */}"#,
    ),
    (
        Error::InvalidJson,
        "lone surrogate",
        r#"{"api_key": "\ud800CANARY"}"#,
    ),
    (
        Error::InvalidJson,
        "invalid escape",
        r#"{"api_key": "\qCANARY"}"#,
    ),
    (
        Error::InvalidJson,
        "raw newline in a string",
        "{\"api_key\": \"CANARY\n\"}",
    ),
    (
        Error::InvalidJson,
        "NaN",
        r#"{"n": NaN, "api_key": "CANARY"}"#,
    ),
    (
        Error::InvalidJson,
        "Infinity",
        r#"{"n": Infinity, "api_key": "CANARY"}"#,
    ),
    (
        Error::InvalidJson,
        "hex number",
        r#"{"n": 0x1F, "api_key": "CANARY"}"#,
    ),
    (
        Error::InvalidJson,
        "leading zero",
        r#"{"n": 01, "api_key": "CANARY"}"#,
    ),
    (
        Error::InvalidJson,
        "byte order mark",
        "\u{feff}{\"api_key\": \"CANARY\"}",
    ),
    (
        Error::InvalidJson,
        "sql: delete",
        "'); delete from vault.secrets; -- CANARY",
    ),
    (
        Error::InvalidJson,
        "sql: after an object",
        r#"{"k": "CANARY"}'; drop table vault.secrets; --"#,
    ),
    (Error::InvalidJson, "sql: dollar quote", "$$ CANARY $$"),
    // JSON, not an object.
    (Error::NotAnObject, "array", r#"["CANARY"]"#),
    (Error::NotAnObject, "string", r#""CANARY""#),
    (
        Error::NotAnObject,
        "array of objects",
        r#"[[{"api_key": "CANARY"}]]"#,
    ),
    (Error::NotAnObject, "integer", "9DIGITS"),
    (Error::NotAnObject, "negative fraction", "-9DIGITS.5"),
    (Error::NotAnObject, "exponent", "9DIGITSe-3"),
    (Error::NotAnObject, "true", "true"),
    (Error::NotAnObject, "false", "false"),
    (Error::NotAnObject, "null", "null"),
    // An object with an entry that breaks a rule.
    (Error::NoEntries, "empty object", "{ }"),
    (
        Error::NonStringValue,
        "nested object",
        r#"{"api_key": {"nested": "CANARY"}}"#,
    ),
    (
        Error::NonStringValue,
        "nested array",
        r#"{"api_key": ["CANARY"]}"#,
    ),
    (Error::NonStringValue, "integer value", r#"{"CANARY": 42}"#),
    (
        Error::NonStringValue,
        "float value",
        r#"{"CANARY": -1.5e10}"#,
    ),
    (Error::NonStringValue, "true value", r#"{"CANARY": true}"#),
    (Error::NonStringValue, "null value", r#"{"CANARY": null}"#),
    (
        Error::NonStringValue,
        "number after a valid entry",
        r#"{"api_key": "CANARY", "port": 443}"#,
    ),
    (Error::EmptyName, "empty name", r#"{"": "CANARY"}"#),
    (Error::EmptyValue, "empty value", r#"{"CANARY": ""}"#),
    (
        Error::DuplicateName,
        "duplicate name",
        r#"{"api_key": "CANARY", "api_key": "x"}"#,
    ),
    (
        Error::DuplicateName,
        "duplicate by escape",
        r#"{"k": "CANARY", "\u006b": "x"}"#,
    ),
    (
        Error::NulCharacter,
        "NUL escape in a value",
        r#"{"api_key": "CANARY\u0000"}"#,
    ),
    (
        Error::NulCharacter,
        "NUL escape in a name",
        r#"{"CANARY\u0000": "v"}"#,
    ),
    (
        Error::NulCharacter,
        "NUL escape first",
        r#"{"api_key": "\u0000CANARY"}"#,
    ),
];

/// Bytes that are not UTF-8 (or a raw NUL), each put inside a credential value.
const NOT_UTF8_BYTES: &[(&str, &[u8])] = &[
    ("raw NUL byte", b"\0"),
    ("byte 0xff", b"\xff"),
    ("byte 0xfe", b"\xfe"),
    ("truncated sequence", b"\xe2\x82"),
    ("overlong sequence", b"\xc0\xaf"),
    ("encoded surrogate", b"\xed\xa0\x80"),
];

struct CredentialsFamily {
    name: String,
    /// `None` for PostgreSQL's 22021.
    error: Option<Error>,
    make: Box<dyn Fn(&Fresh) -> Arg>,
}

/// An object of `count` entries named `k0`, `k1`, ... with the given JSON values.
fn entries(count: usize, value: impl Fn(usize) -> String) -> String {
    let body: Vec<String> = (0..count)
        .map(|i| format!(r#""k{i}":{}"#, value(i)))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// Malformed, wrongly shaped and oversized credentials; each is tried on store and rotate.
fn credentials_families() -> Vec<CredentialsFamily> {
    let mut families = vec![CredentialsFamily {
        name: "null".into(),
        error: Some(Error::NullArgument("credentials_json")),
        make: Box::new(|_| Arg::Null),
    }];
    let mut add = |name: &str, error, make: fn(&str) -> String| {
        families.push(CredentialsFamily {
            name: name.into(),
            error: Some(error),
            make: Box::new(move |fresh| text(make(&fresh.word()))),
        })
    };
    add("unclosed deep nesting", Error::InvalidJson, |c| {
        format!(r#"{}"{c}""#, "[".repeat(60_000))
    });
    add("deep array", Error::NotAnObject, |c| {
        let (open, close) = ("[".repeat(30_000), "]".repeat(30_000));
        format!(r#"{open}"{c}"{close}"#)
    });
    add("deeply nested value", Error::NonStringValue, |c| {
        let (open, close) = ("[".repeat(30_000), "]".repeat(30_000));
        format!(r#"{{"api_key": {open}"{c}"{close}}}"#)
    });
    add("64 entries, one name twice", Error::DuplicateName, |c| {
        let last = format!(r#""k{}""#, MAX_ENTRIES - 1);
        entries(MAX_ENTRIES, |_| format!(r#""{c}""#)).replace(&last, r#""k0""#)
    });
    add("65 entries", Error::TooManyEntries, |c| {
        entries(MAX_ENTRIES + 1, |_| format!(r#""{c}""#))
    });
    add("1000 entries", Error::TooManyEntries, |c| {
        entries(1000, |_| format!(r#""{c}""#))
    });
    add(
        "65 entries, 64 of them numbers",
        Error::TooManyEntries,
        |c| {
            entries(MAX_ENTRIES + 1, |i| match i {
                0 => format!(r#""{c}""#),
                _ => i.to_string(),
            })
        },
    );
    add("65537 bytes", Error::CredentialsTooLarge, |c| {
        let filler = MAX_CREDENTIALS_BYTES + 1 - credentials_json(c).len();
        credentials_json(&format!("{c}{}", "x".repeat(filler)))
    });
    add("1 MiB", Error::CredentialsTooLarge, |c| {
        credentials_json(&c.repeat((1 << 20) / c.len()))
    });
    add("8 MiB, not JSON", Error::CredentialsTooLarge, |c| {
        format!("{c} {}", "{[".repeat(4 << 20))
    });
    // Every truncation of a valid document that still holds the whole canary.
    let sample = Fresh::new().word();
    let document = credentials_json(&sample);
    for cut in document.find(&sample).unwrap() + sample.len()..document.len() {
        families.push(CredentialsFamily {
            name: format!("truncated to {cut} bytes"),
            error: Some(Error::InvalidJson),
            make: Box::new(move |fresh| text(&credentials_json(&fresh.word())[..cut])),
        });
    }
    for &(error, name, template) in CREDENTIALS_TEMPLATES {
        families.push(CredentialsFamily {
            name: name.into(),
            error: Some(error),
            make: Box::new(move |fresh| {
                text(
                    template
                        .replace("CANARY", &fresh.word())
                        .replace("DIGITS", &fresh.canary),
                )
            }),
        });
    }
    for &(name, raw) in NOT_UTF8_BYTES {
        families.push(CredentialsFamily {
            name: name.into(),
            error: None,
            make: Box::new(move |fresh| {
                bytes(&[br#"{"api_key": ""#, fresh.word().as_bytes(), raw, br#""}"#])
            }),
        });
    }
    families
}

/// One case of the corpus.
struct Case {
    label: String,
    function: Function,
    args: Vec<Arg>,
    canary: String,
    /// The catalogue's error it must get; `None` for PostgreSQL's 22021.
    error: Option<Error>,
}

/// What the corpus runs against: one integration with stored credentials, and one Vault secret
/// not stored through the extension.
struct Fixture {
    integration: String,
    reference: String,
    foreign_secret: String,
}

fn corpus(fixture: &Fixture) -> Vec<Case> {
    let mut cases = Vec::new();
    for function in Function::ALL {
        for family in id_families() {
            let fresh = Fresh::new();
            let mut args = vec![(family.make)(&fresh)];
            if function.takes_credentials() {
                args.push(text(credentials_json(&fresh.word())));
            }
            cases.push(Case {
                label: format!("{function:?}: id {}", family.name),
                function,
                args,
                canary: fresh.canary,
                error: family.error.map(|error| error(function.id_argument())),
            });
        }
        // Well-formed ids of nothing there (listing one returns no rows, so the lists are left
        // out).
        if function.lists() {
            continue;
        }
        let mut absent = vec![
            ("random", None),
            ("nil", Some(Uuid::nil().to_string())),
            ("max", Some(Uuid::max().to_string())),
        ];
        if function.takes_integration() {
            absent.push(("a credential reference", Some(fixture.reference.clone())));
        } else {
            absent.push(("an integration", Some(fixture.integration.clone())));
            absent.push((
                "a Vault secret stored around the extension",
                Some(fixture.foreign_secret.clone()),
            ));
        }
        for (name, id) in absent {
            let fresh = Fresh::new();
            let mut args = vec![text(id.unwrap_or_else(|| fresh.id.clone()))];
            if function.takes_credentials() {
                args.push(text(credentials_json(&fresh.word())));
            }
            cases.push(Case {
                label: format!("{function:?}: id of {name}"),
                function,
                args,
                canary: fresh.canary,
                error: Some(function.not_found()),
            });
        }
    }
    for family in expiry_families() {
        let fresh = Fresh::new();
        cases.push(Case {
            label: format!("StoreExpiring: expires_at {}", family.0),
            function: Function::StoreExpiring,
            args: vec![
                text(&fixture.integration),
                text(credentials_json(&fresh.word())),
                text((family.1)(&fresh)),
            ],
            canary: fresh.canary,
            error: Some(Error::InvalidExpiresAt),
        });
    }
    for function in [Function::Store, Function::Rotate] {
        let id = match function {
            Function::Store => &fixture.integration,
            _ => &fixture.reference,
        };
        for family in credentials_families() {
            let fresh = Fresh::new();
            let credentials = (family.make)(&fresh);
            cases.push(Case {
                label: format!("{function:?}: credentials {}", family.name),
                function,
                args: vec![text(id), credentials],
                canary: fresh.canary,
                error: family.error,
            });
        }
    }
    cases
}

/// A named way to make a bad input around a canary.
type Family = (&'static str, fn(&Fresh) -> String);

/// Expiries that are not an RFC 3339 timestamp within PostgreSQL's years, each with the canary.
fn expiry_families() -> Vec<Family> {
    vec![
        ("a word", |f| f.word()),
        ("a date only", |f| format!("2027-01-{}", &f.canary[..2])),
        ("no time zone", |f| {
            format!("2027-01-31T00:00:00.{}", f.canary)
        }),
        ("year 0", |f| format!("0000-01-31T00:00:00.{}Z", f.canary)),
        ("year 10000 in UTC", |f| {
            format!("9999-12-31T23:59:59.{}-05:00", f.canary)
        }),
        // PostgreSQL would read :60 as the next minute, here year 10000.
        ("a leap second", |f| {
            format!("9999-12-31T23:59:60.{}Z", f.canary)
        }),
        ("trailing text", |f| {
            format!("2027-01-31T00:00:00Z {}", f.word())
        }),
    ]
}

fn bind<'q>(
    query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    arg: &Arg,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    match arg {
        Arg::Null => query.bind(None::<String>),
        Arg::Text(text) => query.bind(text.clone()),
        Arg::Bytes(bytes) => query.bind(RawText(bytes.clone())),
    }
}

impl Case {
    fn sqlstate(&self) -> &'static str {
        self.error.map_or(NOT_UTF8, Error::sqlstate)
    }
}

/// Sends the case through SQL as service_role; panics unless it fails with its catalogue error
/// (SQLSTATE, code and message), without the canary anywhere in the error.
async fn check_sql(db: &TestDatabase, case: &Case) {
    let query = case
        .args
        .iter()
        .fold(sqlx::query(case.function.sql()), bind);
    let mut connection = db.pool.acquire().await.expect("a connection");
    let result = run_as(&mut connection, &Caller::ServiceRole, query).await;
    let label = &case.label;
    assert_eq!(sqlstate(&result), case.sqlstate(), "{label}");
    assert!(
        !error_text(&result).contains(&case.canary),
        "{label}: echoed its input"
    );
    if let Some(expected) = case.error {
        let error = server_error(&result);
        assert_eq!(
            in_catalogue(error),
            Some(expected),
            "{label}: {:?} {:?}",
            error.detail(),
            error.message()
        );
    }
}

/// The PostgreSQL error a failed call returned.
fn server_error<T>(result: &Result<T, sqlx::Error>) -> &PgDatabaseError {
    match result {
        Err(sqlx::Error::Database(error)) => error.downcast_ref::<PgDatabaseError>(),
        _ => panic!("expected a database error"),
    }
}

/// One end-to-end case of the CLI's own property: its error class reaches its exit code.
struct CliCase {
    label: &'static str,
    args: Vec<OsString>,
    stdin: Vec<u8>,
    canary: String,
    exit: i32,
}

/// One case of each error class the corpus meets, in the forms only a command line and a pipe
/// carry (bytes that are not UTF-8), for ids the server refuses as not found (one in a spelling
/// only the client accepts, which it sends in canonical form), and for misplaced arguments.
fn cli_cases(fixture: &Fixture) -> Vec<CliCase> {
    type Make = fn(&Fixture, &Fresh) -> (Vec<OsString>, Vec<u8>);
    let cases: [(&'static str, i32, Make); 8] = [
        (
            "store: credentials not JSON",
            EXIT_INVALID_INPUT,
            |fixture, f| {
                let stdin = format!(r#"{{"api_key": "{}""#, f.word());
                (
                    vec!["store".into(), (&fixture.integration).into()],
                    stdin.into_bytes(),
                )
            },
        ),
        (
            "rotate: credentials not UTF-8",
            EXIT_INVALID_INPUT,
            |fixture, f| {
                let stdin = [br#"{"api_key": ""#, f.word().as_bytes(), b"\xff", br#""}"#].concat();
                (vec!["rotate".into(), (&fixture.reference).into()], stdin)
            },
        ),
        ("delete: id not UTF-8", EXIT_USAGE, |_, f| {
            let id = [b"\xff", &f.id.as_bytes()[1..]].concat();
            (vec!["delete".into(), OsString::from_vec(id)], Vec::new())
        }),
        // The client refuses the id spellings the server refuses: a usage error, as clap says.
        ("retrieve: braced id", EXIT_USAGE, |_, f| {
            (
                vec!["retrieve".into(), format!("{{{}}}", f.id).into()],
                Vec::new(),
            )
        }),
        ("rotate: id of nothing", EXIT_NOT_FOUND, |_, f| {
            let stdin = credentials_json(&f.word()).into_bytes();
            (vec!["rotate".into(), (&f.id).into()], stdin)
        }),
        ("unknown flag", EXIT_USAGE, |fixture, f| {
            let flag = format!("--{}", f.word());
            (
                vec!["list".into(), (&fixture.integration).into(), flag.into()],
                Vec::new(),
            )
        }),
        ("unknown subcommand", EXIT_USAGE, |_, f| {
            (vec![f.word().into()], Vec::new())
        }),
        ("timeout not a number", EXIT_USAGE, |fixture, f| {
            let args = [
                "--timeout".into(),
                f.word().into(),
                "list".into(),
                (&fixture.integration).into(),
            ];
            (args.to_vec(), Vec::new())
        }),
    ];
    cases
        .into_iter()
        .map(|(label, exit, make)| {
            let fresh = Fresh::new();
            let (args, stdin) = make(fixture, &fresh);
            CliCase {
                label,
                args,
                stdin,
                canary: fresh.canary,
                exit,
            }
        })
        .collect()
}

/// Runs the CLI case; panics unless it exits with its code, prints nothing on stdout, one line
/// on stderr, and the canary nowhere.
fn check_cli(binary: &PathBuf, url: &str, case: &CliCase) {
    let CliCase {
        label,
        canary,
        exit,
        ..
    } = case;
    let run = run_cli(binary, &case.args, Some(url), &case.stdin);
    let stderr = &run.stderr;
    assert!(
        !run.stdout.contains(canary.as_str()) && !stderr.contains(canary.as_str()),
        "{label}: echoed its input"
    );
    assert_eq!(run.code, Some(*exit), "{label}: {stderr}");
    assert!(run.stdout.is_empty(), "{label}: printed a result");
    assert!(
        stderr.starts_with("credential-vault: ") && stderr.lines().count() == 1,
        "{label}: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_its_documented_answer_and_changes_nothing() {
    let db = TestDatabase::new().await;
    let tenants = Tenants::create(&db.pool).await;
    let valid = Fresh::new().word();
    let reference = db
        .store(tenants.integration, &credentials_json(&valid))
        .await;
    let foreign_secret: String =
        sqlx::query_scalar("select vault.create_secret('not stored here')::text")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let fixture = Fixture {
        integration: tenants.integration.to_string(),
        reference,
        foreign_secret,
    };
    let before = RowCounts::of(&db.pool).await;

    let cases = corpus(&fixture);
    for case in &cases {
        check_sql(&db, case).await;
    }
    let cli_cases = cli_cases(&fixture);
    let url = database_url(&db.name);
    tokio::task::block_in_place(|| {
        let binary = cli_binary();
        for case in &cli_cases {
            check_cli(&binary, &url, case);
        }
    });

    assert_eq!(
        RowCounts::of(&db.pool).await,
        before,
        "a bad input changed a table"
    );
    assert_eq!(
        credential_link(&db.pool, tenants.integration)
            .await
            .map(|id| id.to_string()),
        Some(fixture.reference.clone())
    );
    let intact = db
        .call(&Caller::ServiceRole, api::RETRIEVE, &[&fixture.reference])
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&intact[0]).unwrap(),
        serde_json::from_str::<Value>(&credentials_json(&valid)).unwrap()
    );
    let log = server_log();
    let canaries = cases
        .iter()
        .map(|case| &case.canary)
        .chain(cli_cases.iter().map(|case| &case.canary));
    let logged = canaries
        .filter(|canary| log.contains(canary.as_str()))
        .count();
    assert_eq!(logged, 0, "canaries in the server log");

    let (sql_cases, cli_cases) = (cases.len(), cli_cases.len());
    let sqlstates: BTreeSet<&str> = cases.iter().map(Case::sqlstate).collect();
    report_figure(&format!(
        "bad input: {} cases ({sql_cases} SQL, {cli_cases} CLI), SQLSTATEs {sqlstates:?}, 0 echoed, \
         row counts unchanged",
        sql_cases + cli_cases,
    ));
    assert!(sql_cases >= 300, "only {sql_cases} SQL cases");
}

/// A canary for generated input, unique to the run: 24 characters of an alphabet without
/// vowels, `y` or hex digits, so that no word, number, UUID or hex dump in an error can hold
/// [`ECHO_WINDOW`] of them in a row by chance.
fn generation_canary() -> String {
    const LETTERS: &[u8] = b"ghjkmnpqrsvwxz";
    let mut random = Uuid::new_v4().as_u128();
    (0..24)
        .map(|_| {
            let letter = LETTERS[(random % LETTERS.len() as u128) as usize];
            random /= LETTERS.len() as u128;
            char::from(letter)
        })
        .collect()
}

/// How many characters of a canary in a row count as an echo of it: an error that quotes a
/// token, a line or a truncated fragment of its input quotes at least this much of a canary
/// inside it.
const ECHO_WINDOW: usize = 6;

/// Whether `text` holds the canary or any [`ECHO_WINDOW`] characters of it in a row.
fn echoes(text: &str, canary: &str) -> bool {
    canary
        .as_bytes()
        .windows(ECHO_WINDOW)
        .any(|part| text.contains(std::str::from_utf8(part).expect("the canary is ASCII")))
}

/// `text` with `canary` put in at a generated character boundary.
fn with_canary(
    text: impl Strategy<Value = String> + 'static,
    canary: &str,
) -> BoxedStrategy<String> {
    let canary = canary.to_owned();
    (text, any::<prop::sample::Index>())
        .prop_map(move |(text, at)| {
            let boundaries: Vec<usize> = text
                .char_indices()
                .map(|(i, _)| i)
                .chain([text.len()])
                .collect();
            let cut = boundaries[at.index(boundaries.len())];
            format!("{}{canary}{}", &text[..cut], &text[cut..])
        })
        .boxed()
}

/// Strings that favour JSON's syntax, plus arbitrary ones, each holding the canary.
fn arbitrary_text(canary: &str) -> impl Strategy<Value = String> {
    let text = prop_oneof![
        any::<String>(),
        "[{}\\[\\]\":, a-f0-9\\\\u\\x00tnrl.eE+-]{0,40}",
    ];
    with_canary(text, canary)
}

/// Any JSON value, printed compactly; its strings and names hold the canary half of the time.
fn arbitrary_json(canary: &str) -> impl Strategy<Value = String> {
    let string = prop_oneof![any::<String>(), with_canary(any::<String>(), canary)];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        string.clone().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::vec((string.clone(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
    .prop_map(|value| value.to_string())
}

/// Objects written entry by entry, so that names can repeat. The small alphabets make empty,
/// repeated and NUL-holding names and values likely; up to 70 entries crosses the limit. Some
/// values are the canary.
fn arbitrary_object(canary: &str) -> impl Strategy<Value = String> {
    let name = prop_oneof![4 => "[ab]{1,2}", 1 => "[ab\\x00]{0,2}"];
    let value = prop_oneof![
        6 => "[ab]{1,2}".prop_map(Value::from),
        1 => "[ab\\x00]{0,2}".prop_map(Value::from),
        2 => Just(Value::from(canary)),
        1 => Just(Value::Null),
        1 => any::<i64>().prop_map(Value::from),
    ];
    let entry = (name, value);
    prop_oneof![
        prop::collection::vec(entry.clone(), 0..4),
        prop::collection::vec(entry, 0..70),
    ]
    .prop_map(|entries| {
        let body: Vec<String> = entries
            .iter()
            .map(|(name, value)| format!("{}:{value}", Value::from(name.as_str())))
            .collect();
        format!("{{{}}}", body.join(","))
    })
}

/// Valid credentials: 1 to 64 non-empty names and values without NUL, any other characters.
fn valid_credentials() -> impl Strategy<Value = Map<String, Value>> {
    let non_empty = "[^\\x00]{1,64}";
    prop::collection::btree_map(non_empty, non_empty.prop_map(Value::from), 1..=MAX_ENTRIES)
        .prop_map(|entries| entries.into_iter().collect())
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        // A failure prints its shrunk input; no regression files in the source tree.
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn generated_text_gets_only_documented_answers_and_valid_maps_round_trip() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDatabase::new());
    let integration = runtime
        .block_on(Tenants::create(&db.pool))
        .integration
        .to_string();
    let before = runtime.block_on(RowCounts::of(&db.pool));

    // Anything at all: an error of the catalogue, never any part of the input's canary. Each
    // call is rolled back, so that an input that happens to be valid does not fill the
    // integration.
    let canary = generation_canary();
    let answers = RefCell::new(BTreeMap::<String, usize>::new());
    // Refused inputs that held the canary.
    let with_canary = Cell::new(0);
    let strategy = prop_oneof![
        arbitrary_text(&canary),
        arbitrary_json(&canary),
        arbitrary_object(&canary)
    ];
    runner(400)
        .run(&strategy, |input| {
            let result = runtime.block_on(async {
                let mut tx = db.begin_as(&Caller::ServiceRole).await;
                sqlx::query(api::STORE)
                    .bind(&integration)
                    .bind(&input)
                    .fetch_all(&mut *tx)
                    .await
            });
            let state = sqlstate(&result);
            *answers.borrow_mut().entry(state.clone()).or_default() += 1;
            if result.is_err() && input.contains(&canary) {
                with_canary.set(with_canary.get() + 1);
            }
            prop_assert!(
                !echoes(&error_text(&result), &canary),
                "{} echoed part of its input",
                state
            );
            if input.contains('\0') {
                prop_assert_eq!(&state, NOT_UTF8);
            } else if result.is_err() {
                let error = server_error(&result);
                let answer = in_catalogue(error);
                prop_assert!(
                    answer.is_some_and(|answer| answer.http_status(false) == 400),
                    "{} {:?} {:?}",
                    state,
                    error.detail(),
                    error.message()
                );
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(runtime.block_on(RowCounts::of(&db.pool)), before);
    let (generated, with_canary) = (answers.borrow().values().sum::<usize>(), with_canary.get());
    assert!(
        with_canary * 2 >= generated,
        "only {with_canary} of {generated} refused inputs held the canary"
    );

    // Valid maps: stored, read back equal, deleted.
    let round_trips = Cell::new(0);
    runner(64)
        .run(&valid_credentials(), |entries| {
            let document = Value::Object(entries);
            let json = document.to_string();
            prop_assume!(json.len() <= MAX_CREDENTIALS_BYTES);
            let read = runtime.block_on(async {
                let service = &Caller::ServiceRole;
                let reference = db
                    .call(service, api::STORE, &[&integration, &json])
                    .await
                    .unwrap()
                    .remove(0);
                let read = db.call(service, api::RETRIEVE, &[&reference]).await;
                // Destroyed, not deleted: a deleted one would be kept for the recovery window.
                db.call(service, api::DESTROY, &[&reference]).await.unwrap();
                read.unwrap().remove(0)
            });
            prop_assert_eq!(serde_json::from_str::<Value>(&read).unwrap(), document);
            round_trips.set(round_trips.get() + 1);
            Ok(())
        })
        .unwrap();
    let (answers, round_trips) = (answers.into_inner(), round_trips.get());
    let after = runtime.block_on(RowCounts::of(&db.pool));
    assert_eq!(
        (after.vault_secrets, after.credentials, after.audit_log),
        (
            before.vault_secrets,
            before.credentials,
            before.audit_log + 2 * round_trips as i64
        ),
        "every store and destroy audited (reads are audited in the server log), nothing left behind"
    );
    report_figure(&format!(
        "bad input property: {generated} generated inputs answered {answers:?}, {with_canary} of them \
         refused with a canary inside, no {ECHO_WINDOW} characters of it echoed; {round_trips} valid maps round-tripped"
    ));
}
