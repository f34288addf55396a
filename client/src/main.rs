//! `credential-vault`: store, rotate, delete, list, retrieve, list the versions of, restore and
//! destroy integration credentials from the command line. Output is JSON on stdout; errors are one safe line on stderr and an exit code
//! per kind of error (see `EXIT_CODES`).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::error::{ContextKind, ErrorKind};
use clap::{Args, Parser, Subcommand};
use credential_vault_client::{
    CredentialMap, Deadlines, IntegrationId, ServiceVault, VaultError, VaultSecretId, contract,
};
use sqlx::postgres::PgConnectOptions;
use zeroize::Zeroizing;

/// What each exit code means, indexed by the code: [`Failure::exit_code`] is the one place that
/// gives a failure its code, and `--help` and README.md show this table.
const EXIT_CODES: [&str; 15] = [
    "success",
    "the output could not be written",
    "usage: bad arguments (an id that is not a UUID too), no or invalid database URL, unreadable credentials input",
    "invalid input (credentials refused by the client or the server)",
    "not found or not accessible",
    "conflict: changed concurrently; re-read the reference and retry",
    "permission denied",
    "authentication failed or session expired",
    "timed out",
    "vault unavailable (worth retrying later)",
    "unexpected database error",
    "no secure connection (TLS refused by the server, or its certificate failed sslmode)",
    "vault not configured for this call (Vault missing or too old, no authorizer, link hook unusable, read-only server)",
    "invalid user claims",
    "the integration already has credentials: rotate or delete them",
];

fn exit_codes_help() -> String {
    let rows = EXIT_CODES
        .iter()
        .enumerate()
        .map(|(code, meaning)| format!("\n  {code:<3} {meaning}"));
    std::iter::once("Exit codes:".to_owned())
        .chain(rows)
        .collect()
}

/// Manage integration credentials kept in Supabase Vault by the credential_vault extension.
///
/// Every call acts as service_role (SET LOCAL ROLE inside the call's own transaction), so the
/// login role only needs to be a member of it; this works through Supabase's transaction pooler.
/// The connection URL comes from $DATABASE_URL or --database-url-file, never from the command
/// line. Credentials are read as a JSON object of string values from standard input or
/// --credentials-file, never from the command line. Results are JSON on standard output.
#[derive(Debug, Parser)]
#[command(name = "credential-vault", version, after_help = exit_codes_help())]
struct Cli {
    /// Read the PostgreSQL connection URL from this file (first line) instead of $DATABASE_URL
    #[arg(long, global = true, value_name = "PATH")]
    database_url_file: Option<PathBuf>,

    /// Seconds each call may take, connecting included
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: u64,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Store credentials for an integration; prints the new reference
    Store {
        /// The integration's id (a UUID)
        integration_id: IntegrationId,
        #[command(flatten)]
        input: CredentialsInput,
        #[command(flatten)]
        expiry: Expiry,
    },
    /// Replace the credentials behind a reference; prints the new reference. The old version is
    /// kept for the database's recovery window
    Rotate {
        /// The current reference's vault_secret_id (a UUID)
        vault_secret_id: VaultSecretId,
        #[command(flatten)]
        input: CredentialsInput,
        #[command(flatten)]
        expiry: Expiry,
    },
    /// Delete the credentials behind a reference; they are kept for the database's recovery
    /// window
    Delete {
        /// The reference's vault_secret_id (a UUID)
        vault_secret_id: VaultSecretId,
    },
    /// List an integration's references, newest first
    List {
        /// The integration's id (a UUID)
        integration_id: IntegrationId,
    },
    /// List every version of an integration's credentials, current and kept, newest first, as
    /// a JSON array; never a value
    Versions {
        /// The integration's id (a UUID)
        integration_id: IntegrationId,
    },
    /// Make a kept version current again; prints its reference
    Restore {
        /// The kept version's vault_secret_id (a UUID)
        vault_secret_id: VaultSecretId,
    },
    /// Destroy a version, current or kept, now: it cannot be restored
    Destroy {
        /// The version's vault_secret_id (a UUID)
        vault_secret_id: VaultSecretId,
    },
    /// Read credentials back (needs a service-role login); prints only the names unless
    /// --show-secrets
    Retrieve {
        /// The reference's vault_secret_id (a UUID)
        vault_secret_id: VaultSecretId,
        /// Print the secret values too, as a JSON object
        #[arg(long)]
        show_secrets: bool,
    },
}

#[derive(Debug, Args)]
struct CredentialsInput {
    /// Read the credentials JSON from this file instead of standard input
    #[arg(long, value_name = "PATH")]
    credentials_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct Expiry {
    /// When the credentials are due for rotation, an RFC 3339 timestamp with an offset
    /// (2027-01-31T00:00:00Z); the database's rotation_report() lists them from then on
    #[arg(long, value_name = "TIMESTAMP", value_parser = expiry)]
    expires_at: Option<DateTime<Utc>>,
}

/// An `--expires-at` by the contract's own rule, as the server would read it.
fn expiry(text: &str) -> Result<DateTime<Utc>, contract::Error> {
    contract::parse_expires_at(Some(text))?.ok_or(contract::Error::InvalidExpiresAt)
}

/// More than any valid credentials JSON could take, even pretty-printed.
const MAX_INPUT_BYTES: usize = 1 << 20;

impl CredentialsInput {
    fn read(&self) -> Result<CredentialMap, Failure> {
        let reader: Box<dyn Read> = match &self.credentials_file {
            Some(path) => Box::new(File::open(path).map_err(|_| Failure::unreadable(path))?),
            None => Box::new(io::stdin().lock()),
        };
        // Sized once so that reading never moves the text and leaves an unwiped copy behind.
        let mut text = Zeroizing::new(Vec::with_capacity(MAX_INPUT_BYTES + 1));
        reader
            .take(MAX_INPUT_BYTES as u64 + 1)
            .read_to_end(&mut text)
            .map_err(|_| match &self.credentials_file {
                Some(path) => Failure::unreadable(path),
                None => Failure::Usage("cannot read the credentials from standard input".into()),
            })?;
        if text.len() > MAX_INPUT_BYTES {
            return Err(VaultError::Validation(contract::Error::CredentialsTooLarge).into());
        }
        let json = std::str::from_utf8(&text)
            .map_err(|_| VaultError::Validation(contract::Error::InvalidJson))?;
        Ok(CredentialMap::from_json(json)?)
    }
}

/// Why the command failed; each kind has its own exit code.
#[derive(Debug)]
enum Failure {
    Output,
    Usage(String),
    Vault(VaultError),
}

impl Failure {
    fn unreadable(path: &Path) -> Failure {
        Failure::Usage(format!(
            "cannot read the credentials file {}",
            path.display()
        ))
    }

    /// The failure's code, whose meaning is `EXIT_CODES[code]`.
    fn exit_code(&self) -> u8 {
        match self {
            Failure::Output => 1,
            Failure::Usage(_) => 2,
            Failure::Vault(error) => match error {
                VaultError::Validation(_) => 3,
                VaultError::IntegrationNotFound | VaultError::CredentialsNotFound => 4,
                VaultError::Conflict => 5,
                VaultError::PermissionDenied => 6,
                VaultError::Authentication => 7,
                VaultError::Timeout { .. } => 8,
                VaultError::Unavailable => 9,
                VaultError::Database { .. } => 10,
                VaultError::Tls(_) => 11,
                VaultError::Misconfigured => 12,
                VaultError::InvalidClaims => 13,
                VaultError::AlreadyHasCredentials => 14,
            },
        }
    }

    fn message(&self) -> String {
        match self {
            Failure::Output => "cannot write the output".into(),
            Failure::Usage(message) => message.clone(),
            Failure::Vault(error) => error.to_string(),
        }
    }
}

impl From<VaultError> for Failure {
    fn from(error: VaultError) -> Failure {
        Failure::Vault(error)
    }
}

/// The connection options, from the file or the environment. The URL holds a password, so it is
/// never echoed, not even when it does not parse.
fn connect_options(database_url_file: Option<&Path>) -> Result<PgConnectOptions, Failure> {
    let url = match database_url_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map(Zeroizing::new)
                .map_err(|_| {
                    Failure::Usage(format!(
                        "cannot read the database URL file {}",
                        path.display()
                    ))
                })?;
            Zeroizing::new(text.lines().next().unwrap_or_default().trim().to_owned())
        }
        None => std::env::var("DATABASE_URL")
            .map(Zeroizing::new)
            .map_err(|_| {
                Failure::Usage(
                    "no database URL: set DATABASE_URL or pass --database-url-file".into(),
                )
            })?,
    };
    PgConnectOptions::from_str(&url)
        .map_err(|_| Failure::Usage("the database URL is not valid".into()))
}

fn to_json(value: &impl serde::Serialize) -> Zeroizing<String> {
    // References, ids and names always serialise.
    Zeroizing::new(serde_json::to_string(value).expect("plain data serialises"))
}

/// Runs the command, returning what to print.
async fn execute(command: Command, vault: &ServiceVault) -> Result<Zeroizing<String>, Failure> {
    Ok(match command {
        Command::Store {
            integration_id,
            input,
            expiry,
        } => {
            let credentials = input.read()?;
            to_json(&match expiry.expires_at {
                None => vault.store(integration_id, &credentials).await?,
                Some(at) => {
                    vault
                        .store_expiring(integration_id, &credentials, at)
                        .await?
                }
            })
        }
        Command::Rotate {
            vault_secret_id,
            input,
            expiry,
        } => {
            let credentials = input.read()?;
            to_json(&match expiry.expires_at {
                None => vault.rotate(vault_secret_id, &credentials).await?,
                Some(at) => {
                    vault
                        .rotate_expiring(vault_secret_id, &credentials, at)
                        .await?
                }
            })
        }
        Command::Delete { vault_secret_id } => {
            vault.delete(vault_secret_id).await?;
            to_json(&serde_json::json!({ "vault_secret_id": vault_secret_id, "deleted": true }))
        }
        Command::List { integration_id } => to_json(&vault.list(integration_id).await?),
        Command::Versions { integration_id } => to_json(&vault.versions(integration_id).await?),
        Command::Restore { vault_secret_id } => to_json(&vault.restore(vault_secret_id).await?),
        Command::Destroy { vault_secret_id } => {
            vault.destroy(vault_secret_id).await?;
            to_json(&serde_json::json!({ "vault_secret_id": vault_secret_id, "destroyed": true }))
        }
        Command::Retrieve {
            vault_secret_id,
            show_secrets,
        } => {
            let credentials = vault.retrieve(vault_secret_id).await?;
            if show_secrets {
                credentials.expose_json()
            } else {
                let names: Vec<&str> = credentials.names().collect();
                to_json(&serde_json::json!({ "vault_secret_id": vault_secret_id, "names": names }))
            }
        }
    })
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let options = connect_options(cli.database_url_file.as_deref())?;
    let deadlines = Deadlines::all(Duration::from_secs(cli.timeout));
    let vault = ServiceVault::connect_lazy(options).with_deadlines(deadlines);
    let output = execute(cli.command, &vault).await;
    vault.pool().close().await;
    let output = output?;
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{}", output.as_str())
        .and_then(|()| stdout.flush())
        .map_err(|_| Failure::Output)
}

/// Reports a command-line error without echoing what was typed: a misplaced secret must not
/// end up on the terminal or in a log.
fn usage_failure(error: &clap::Error) -> Failure {
    let kind = error.kind().as_str().unwrap_or("invalid command line");
    // For these kinds the argument named is one of ours, never the user's text.
    let argument = match error.kind() {
        ErrorKind::InvalidValue
        | ErrorKind::ValueValidation
        | ErrorKind::MissingRequiredArgument => error.get(ContextKind::InvalidArg),
        _ => None,
    };
    Failure::Usage(match argument {
        Some(argument) => format!("{kind}: {argument}; see --help"),
        None => format!("{kind}; see --help"),
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let result = match Cli::try_parse() {
        Ok(cli) => run(cli).await,
        // --help, --version, or no subcommand (which prints the help): nothing typed is shown.
        Err(error)
            if !error.use_stderr()
                || error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            error.exit()
        }
        Err(error) => Err(usage_failure(&error)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("credential-vault: {}", failure.message());
            ExitCode::from(failure.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use credential_vault_client::TlsFailure;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_failure_has_its_own_documented_exit_code() {
        let failures = [
            Failure::Output,
            Failure::Usage(String::new()),
            Failure::Vault(VaultError::Validation(contract::Error::NoEntries)),
            Failure::Vault(VaultError::IntegrationNotFound),
            Failure::Vault(VaultError::Conflict),
            Failure::Vault(VaultError::PermissionDenied),
            Failure::Vault(VaultError::Authentication),
            Failure::Vault(VaultError::Timeout {
                after: Duration::from_secs(1),
            }),
            Failure::Vault(VaultError::Unavailable),
            Failure::Vault(VaultError::Database { sqlstate: None }),
            Failure::Vault(VaultError::Tls(TlsFailure::WrongHost)),
            Failure::Vault(VaultError::Misconfigured),
            Failure::Vault(VaultError::InvalidClaims),
            Failure::Vault(VaultError::AlreadyHasCredentials),
        ];
        let codes: Vec<u8> = failures.iter().map(Failure::exit_code).collect();
        let documented = 1..EXIT_CODES.len() as u8;
        assert_eq!(codes, documented.collect::<Vec<u8>>(), "one code each");
        // Either not-found is "not found or not accessible".
        let credentials = Failure::Vault(VaultError::CredentialsNotFound);
        assert_eq!(credentials.exit_code(), 4);
        let help = exit_codes_help();
        let readme = include_str!("../../README.md");
        for (code, meaning) in EXIT_CODES.iter().enumerate() {
            assert!(
                help.contains(&format!("\n  {code:<3} {meaning}")),
                "{code} in --help"
            );
            assert!(
                readme.contains(&format!("| {code} | {meaning} |")),
                "{code} in README.md"
            );
        }
    }

    #[test]
    fn command_line_errors_do_not_echo_what_was_typed() {
        let typed = [
            "credential-vault",
            "store",
            "3f1c2a9e-5b7d-4e21-9a0c-1d2e3f4a5b6c",
            "sk-canary",
        ];
        let error = Cli::try_parse_from(typed).unwrap_err();
        assert!(!usage_failure(&error).message().contains("canary"));

        // There is no flag for a URL: a password never needs to be typed as an argument.
        let url = [
            "credential-vault",
            "--database-url",
            "postgres://a:canary@h/d",
            "list",
        ];
        let error = Cli::try_parse_from(url).unwrap_err();
        assert!(!usage_failure(&error).message().contains("canary"));

        let error = Cli::try_parse_from(["credential-vault", "delete", "canary"]).unwrap_err();
        let message = usage_failure(&error).message();
        assert!(
            message.contains("VAULT_SECRET_ID") && !message.contains("canary"),
            "{message}"
        );

        let typed = [
            "credential-vault",
            "rotate",
            "3f1c2a9e-5b7d-4e21-9a0c-1d2e3f4a5b6c",
            "--expires-at",
            "canary",
        ];
        let failure = usage_failure(&Cli::try_parse_from(typed).unwrap_err());
        let message = failure.message();
        assert!(
            message.contains("--expires-at") && !message.contains("canary"),
            "{message}"
        );
        assert_eq!(failure.exit_code(), 2);
    }

    #[test]
    fn an_expiry_is_read_by_the_contracts_rule() {
        let expiry_of = |text: &str| {
            let typed = [
                "credential-vault",
                "store",
                "3f1c2a9e-5b7d-4e21-9a0c-1d2e3f4a5b6c",
            ];
            let cli = Cli::try_parse_from(typed.iter().copied().chain(["--expires-at", text]));
            match cli.map_err(|error| error.kind())?.command {
                Command::Store { expiry, .. } => Ok(expiry.expires_at),
                other => panic!("parsed as {other:?}"),
            }
        };
        let at = "2027-01-31T02:00:00+02:00"
            .parse::<DateTime<Utc>>()
            .unwrap();
        assert_eq!(expiry_of("2027-01-31T02:00:00+02:00"), Ok(Some(at)));
        for refused in ["2027-01-31", "2027-01-31T00:00:00", "tomorrow", ""] {
            assert_eq!(
                expiry_of(refused),
                Err(ErrorKind::ValueValidation),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn a_bad_database_url_is_not_echoed() {
        let path = std::env::temp_dir().join(format!("cv-url-{}", std::process::id()));
        std::fs::write(&path, "postgres://app:canary@[bad\n").unwrap();
        let failure = connect_options(Some(&path)).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(failure.exit_code(), 2);
        assert!(!failure.message().contains("canary"));
    }

    #[test]
    fn the_database_url_is_read_from_the_first_line_of_its_file() {
        let path = std::env::temp_dir().join(format!("cv-url-ok-{}", std::process::id()));
        std::fs::write(
            &path,
            "postgres://app:canary@db.example.com:6543/app\nignored\n",
        )
        .unwrap();
        let options = connect_options(Some(&path)).map_err(|f| f.message());
        std::fs::remove_file(&path).unwrap();
        let options = options.unwrap();
        assert_eq!(
            (
                options.get_host(),
                options.get_port(),
                options.get_username()
            ),
            ("db.example.com", 6543, "app")
        );
        let missing = connect_options(Some(Path::new("/nonexistent/cv-url"))).unwrap_err();
        assert_eq!(missing.exit_code(), 2);
    }
}
