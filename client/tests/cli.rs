//! The `credential-vault` binary without a database: input checks, exit codes, and that nothing
//! secret (credentials, the URL's password, misplaced arguments) reaches its output.

use std::net::TcpListener;

use credential_vault_tests::{CliRun, run_cli};

const CLI: &str = env!("CARGO_BIN_EXE_credential-vault");
const INTEGRATION: &str = "3f1c2a9e-5b7d-4e21-9a0c-1d2e3f4a5b6c";
const CANARY: &str = "canary-7d1e";

/// A URL whose password is the canary, on a port nothing listens on (it was free a moment ago).
fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    format!("postgres://app:{CANARY}@127.0.0.1:{port}/app")
}

/// The exit code, after checking that stderr is one line without the canary and stdout is empty.
fn failure_code(run: &CliRun) -> i32 {
    let stderr = &run.stderr;
    assert!(!stderr.contains(CANARY), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("credential-vault: "), "{stderr}");
    assert!(run.stdout.is_empty());
    run.code.unwrap()
}

#[test]
fn invalid_credentials_exit_3_before_any_connection() {
    let url = refused_url();
    for input in [
        "{}",
        "not json",
        r#"{"api_key": ""}"#,
        &format!(r#"{{"n": 5, "k": "{CANARY}"}}"#),
    ] {
        let output = run_cli(CLI, &["store", INTEGRATION], Some(&url), input);
        assert_eq!(failure_code(&output), 3, "{input}");
    }
}

#[test]
fn credentials_file_is_read_instead_of_stdin() {
    let path =
        std::env::temp_dir().join(format!("credential-vault-cli-{}.json", std::process::id()));
    std::fs::write(&path, format!(r#"{{"api_key": ["{CANARY}"]}}"#)).unwrap();
    let file = path.to_str().unwrap();
    let output = run_cli(
        CLI,
        &["rotate", INTEGRATION, "--credentials-file", file],
        Some(&refused_url()),
        "",
    );
    std::fs::remove_file(&path).unwrap();
    assert_eq!(failure_code(&output), 3);

    let output = run_cli(
        CLI,
        &["store", INTEGRATION, "--credentials-file", file],
        Some(&refused_url()),
        "",
    );
    assert_eq!(failure_code(&output), 2);
}

#[test]
fn an_unreachable_server_exits_9() {
    let url = refused_url();
    let output = run_cli(
        CLI,
        &["list", INTEGRATION, "--timeout", "10"],
        Some(&url),
        "",
    );
    assert_eq!(failure_code(&output), 9);
    let output = run_cli(
        CLI,
        &["retrieve", INTEGRATION, "--show-secrets"],
        Some(&url),
        "",
    );
    assert_eq!(failure_code(&output), 9);
    for command in ["versions", "restore", "destroy"] {
        let output = run_cli(CLI, &[command, INTEGRATION], Some(&url), "");
        assert_eq!(failure_code(&output), 9, "{command}");
    }
    let output = run_cli(
        CLI,
        &["store", INTEGRATION, "--expires-at", "2027-01-31T00:00:00Z"],
        Some(&url),
        r#"{"api_key": "k"}"#,
    );
    assert_eq!(
        failure_code(&output),
        9,
        "a valid expiry goes on to connect"
    );
}

#[test]
fn an_expiry_that_is_not_rfc_3339_exits_2_before_any_connection() {
    for expiry in ["2027-01-31", "2027-01-31T00:00:00", CANARY] {
        let output = run_cli(
            CLI,
            &["rotate", INTEGRATION, "--expires-at", expiry],
            Some(&refused_url()),
            r#"{"api_key": "k"}"#,
        );
        assert_eq!(failure_code(&output), 2, "{expiry}");
    }
}

#[test]
fn usage_errors_exit_2_without_echoing_the_input() {
    let output = run_cli(CLI, &["delete", INTEGRATION], None, "");
    assert_eq!(failure_code(&output), 2);

    let output = run_cli(
        CLI,
        &["delete", INTEGRATION],
        Some(&format!("postgres://app:{CANARY}@[")),
        "",
    );
    assert_eq!(failure_code(&output), 2);

    // Credentials are never taken from the command line, nor echoed when put there.
    let secret_argument = format!(r#"{{"api_key":"{CANARY}"}}"#);
    let output = run_cli(
        CLI,
        &["store", INTEGRATION, &secret_argument],
        Some(&refused_url()),
        "",
    );
    assert_eq!(failure_code(&output), 2);

    let output = run_cli(CLI, &["delete", CANARY], Some(&refused_url()), "");
    assert_eq!(failure_code(&output), 2);
}

#[test]
fn help_documents_the_exit_codes() {
    let output = run_cli(CLI, &["--help"], None, "");
    assert_eq!(output.code, Some(0));
    let help = output.stdout;
    assert!(
        help.contains("Exit codes:") && help.contains("9   vault unavailable"),
        "{help}"
    );
}
