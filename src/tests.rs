//! In-database tests, run by `cargo pgrx test` in pgrx's own cluster. That cluster has no
//! Vault, so the tests that need one install the project's Vault stand-in (and the Supabase
//! roles it expects) inside their own transaction, which the framework rolls back.

use pgrx::prelude::*;

const CREDENTIALS: &str = r#"{"api_key":"pgtest-canary-7f3a","client_secret":"pgtest-canary-91bc"}"#;
const INTEGRATION: &str = "3f1c2a9e-5b7d-4e21-9a0c-1d2e3f4a5b6c";

fn install_vault_standin() {
    Spi::run(include_str!("../tests/support/supabase_bootstrap.sql")).unwrap();
    Spi::run(include_str!("../tests/support/vault_standin.sql")).unwrap();
}

fn store(integration: &str, credentials: &str) -> String {
    Spi::get_one_with_args::<pgrx::Uuid>(
        "select vault_secret_id from public.vault_store_integration_credentials($1, $2)",
        &[integration.into(), credentials.into()],
    )
    .unwrap()
    .unwrap()
    .to_string()
}

fn retrieve(reference: &str) -> pgrx::JsonB {
    Spi::get_one_with_args::<pgrx::JsonB>(
        "select public.vault_retrieve_integration_credentials($1)",
        &[reference.into()],
    )
    .unwrap()
    .unwrap()
}

fn count(sql: &str) -> i64 {
    Spi::get_one::<i64>(sql).unwrap().unwrap()
}

#[pg_test(error = "integration_id must be a UUID")]
fn store_refuses_an_integration_id_that_is_not_a_uuid() {
    store("not-a-uuid", CREDENTIALS);
}

#[pg_test(error = "credentials_json is not valid JSON")]
fn store_refuses_malformed_json_without_echoing_it() {
    store(INTEGRATION, r#"{"api_key": pgtest-canary-unquoted}"#);
}

#[pg_test(error = "credentials_json must not be null")]
fn store_refuses_null_credentials() {
    Spi::run_with_args(
        "select public.vault_store_integration_credentials($1, null)",
        &[INTEGRATION.into()],
    )
    .unwrap();
}

#[pg_test(error = "Supabase Vault is not installed in this database")]
fn store_without_vault_is_a_clear_error() {
    store(INTEGRATION, CREDENTIALS);
}

#[pg_test(error = "permission denied: this role may not store integration credentials")]
fn anon_may_not_store() {
    Spi::run("create role anon nologin").unwrap();
    Spi::run("grant execute on function public.vault_store_integration_credentials(text, text) to anon").unwrap();
    Spi::run("set local role anon").unwrap();
    store(INTEGRATION, CREDENTIALS);
}

#[pg_test(error = "permission denied: this role may not retrieve integration credentials")]
fn authenticated_may_not_retrieve_even_with_execute() {
    install_vault_standin();
    let reference = store(INTEGRATION, CREDENTIALS);
    Spi::run("grant execute on function public.vault_retrieve_integration_credentials(text) to authenticated").unwrap();
    Spi::run("set local role authenticated").unwrap();
    retrieve(&reference);
}

#[pg_test(error = "integration not found")]
fn authenticated_needs_the_authorizer_to_agree() {
    install_vault_standin();
    Spi::run("create function pg_temp.deny(uuid) returns boolean language sql as 'select false'").unwrap();
    Spi::run("select credential_vault.set_authorizer('pg_temp.deny(uuid)')").unwrap();
    Spi::run("grant execute on function public.vault_store_integration_credentials(text, text) to authenticated").unwrap();
    Spi::run("set local role authenticated").unwrap();
    store(INTEGRATION, CREDENTIALS);
}

#[pg_test]
fn authenticated_may_store_when_the_authorizer_agrees() {
    install_vault_standin();
    Spi::run("create function public.allow_all(uuid) returns boolean language sql as 'select true'").unwrap();
    Spi::run("select credential_vault.set_authorizer('public.allow_all(uuid)')").unwrap();
    Spi::run("grant execute on function public.vault_store_integration_credentials(text, text) to authenticated").unwrap();
    Spi::run("set local role authenticated").unwrap();
    store(INTEGRATION, CREDENTIALS);
    Spi::run("reset role").unwrap();
    assert_eq!(count("select count(*) from credential_vault.audit_log where actor_role = 'authenticated'"), 1);
}

#[pg_test]
fn store_retrieve_rotate_list_delete_round_trip() {
    install_vault_standin();
    let first = store(INTEGRATION, CREDENTIALS);
    assert_eq!(retrieve(&first).0, serde_json::from_str::<serde_json::Value>(CREDENTIALS).unwrap());

    let rotated = Spi::get_one_with_args::<pgrx::Uuid>(
        "select vault_secret_id from public.vault_rotate_integration_credentials($1, $2)",
        &[first.as_str().into(), r#"{"api_key":"pgtest-canary-rotated"}"#.into()],
    )
    .unwrap()
    .unwrap()
    .to_string();
    assert_ne!(rotated, first);
    assert_eq!(retrieve(&rotated).0, serde_json::json!({"api_key": "pgtest-canary-rotated"}));
    assert_eq!(count("select count(*) from vault.secrets"), 1, "the old secret is gone");
    assert_eq!(
        count("select count(*) from public.vault_list_integration_credentials('3f1c2a9e-5b7d-4e21-9a0c-1d2e3f4a5b6c')"),
        1
    );

    Spi::run_with_args("select public.vault_delete_integration_credentials($1)", &[rotated.as_str().into()]).unwrap();
    assert_eq!(count("select count(*) from vault.secrets"), 0);
    assert_eq!(count("select count(*) from credential_vault.credentials"), 0);
    assert_eq!(
        Spi::get_one::<String>("select string_agg(action, ',' order by id) from credential_vault.audit_log")
            .unwrap()
            .unwrap(),
        "store,retrieve,rotate,retrieve,delete"
    );
}

#[pg_test]
fn only_ciphertext_is_written_with_a_fresh_nonce_per_secret() {
    install_vault_standin();
    store(INTEGRATION, CREDENTIALS);
    store(INTEGRATION, CREDENTIALS);
    assert_eq!(count("select count(*) from vault.secrets where secret like '%pgtest-canary%'"), 0);
    assert_eq!(count("select count(distinct nonce) from vault.secrets"), 2);
    assert_eq!(count("select count(distinct secret) from vault.secrets"), 2);
    assert_eq!(
        count("select count(*) from vault.decrypted_secrets where decrypted_secret like '%pgtest-canary-7f3a%'"),
        2,
        "secrets stay readable through Vault's own view"
    );
}

#[pg_test(error = "integration credentials not found")]
fn a_vault_secret_not_stored_here_is_not_found() {
    install_vault_standin();
    let foreign = Spi::get_one::<pgrx::Uuid>("select vault.create_secret('not ours')").unwrap().unwrap();
    retrieve(&foreign.to_string());
}
