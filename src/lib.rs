//! credential_vault: integration credentials on Supabase Vault. See README.md for the SQL API,
//! the SQLSTATE table, the role matrix and the security model.

mod audit;
mod caller;
mod checks;
mod elog;
mod entry;
mod error;
mod hooks;
mod jsonb;
mod maintenance;
mod operations;
mod read;
mod spi;

::pgrx::pg_module_magic!(name, version);

/// Error details reach API clients: pgrx attaches a Rust backtrace to them whenever the server's
/// environment sets RUST_BACKTRACE, so turn library backtraces off before any can be captured.
#[pgrx::pg_guard]
pub extern "C-unwind" fn _PG_init() {
    // SAFETY: a backend is single-threaded, and this runs when the library is loaded.
    unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    audit::define_settings();
    // SAFETY: registers a callback that only resets this backend's caches.
    unsafe {
        pgrx::pg_sys::CacheRegisterRelcacheCallback(
            Some(forget_caches),
            pgrx::pg_sys::Datum::from(0),
        );
        pgrx::pg_sys::CacheRegisterSyscacheCallback(
            pgrx::pg_sys::SysCacheIdentifier::PROCOID as i32,
            Some(forget_functions),
            pgrx::pg_sys::Datum::from(0),
        );
    };
}

/// A function created, replaced or dropped: the direct read's entry point into Vault's decrypt
/// function is resolved again.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn forget_functions(
    _arg: pgrx::pg_sys::Datum,
    _cache: std::ffi::c_int,
    _hash: u32,
) {
    read::forget();
}

/// The per-backend caches of what the catalogs and the registrations say (the extension's owner,
/// that Vault exists, the authorizer and the link hook) are dropped on every relation cache
/// invalidation, which a drop, create, update or change of owner of either extension causes, and
/// the extension's triggers on its registration tables send, in every backend.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn forget_caches(_arg: pgrx::pg_sys::Datum, _relation: pgrx::pg_sys::Oid) {
    caller::forget_owner();
    operations::forget_vault();
    hooks::forget_registrations();
    read::forget();
}

/// Runs an operation and raises its error, if any, as a PostgreSQL ERROR.
fn raise_on_error<T>(operation: impl FnOnce() -> error::Result<T>) -> T {
    use error::Raise;
    operation().unwrap_or_else(|error| error.raise())
}

pgrx::extension_sql_file!("../sql/bootstrap.sql", name = "bootstrap", bootstrap);
pgrx::extension_sql_file!("../sql/posture.sql", name = "posture");
pgrx::extension_sql_file!("../sql/api.sql", name = "api", finalize);

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn at_risk(setting: &str) -> bool {
        Spi::get_one_with_args::<bool>(
            "select at_risk from credential_vault.logging_posture() where setting = $1",
            &[setting.into()],
        )
        .unwrap()
        .unwrap()
    }

    #[pg_extern]
    fn panic_for_test() {
        panic!("a test panic from inside the extension")
    }

    /// A real Rust panic inside the extension reaches the caller as an ERROR with its message,
    /// and no backtrace in its detail even when the server's environment asks for one.
    #[pg_test]
    fn a_panic_reaches_the_caller_as_its_message_without_a_backtrace() {
        // SAFETY: a backend is single-threaded.
        unsafe { std::env::set_var("RUST_BACKTRACE", "1") };
        let seen = PgTryBuilder::new(|| {
            Spi::run("select tests.panic_for_test()").unwrap();
            String::from("no error")
        })
        .catch_others(|caught| match caught {
            pgrx::pg_sys::panic::CaughtError::PostgresError(report)
            | pgrx::pg_sys::panic::CaughtError::ErrorReport(report)
            | pgrx::pg_sys::panic::CaughtError::RustPanic {
                ereport: report, ..
            } => format!(
                "{} | {}",
                report.message(),
                report.detail().unwrap_or_default()
            ),
        })
        .execute();
        assert!(
            seen.starts_with("a test panic from inside the extension | "),
            "{seen}"
        );
        assert!(
            !seen.contains("backtrace") && !seen.contains(".rs:"),
            "a backtrace reached the caller: {seen}"
        );
    }

    #[pg_test]
    fn logging_posture_flags_each_risky_setting_and_clears_it_when_fixed() {
        for (setting, risky, safe) in [
            ("log_parameter_max_length", "-1", "0"),
            ("log_parameter_max_length_on_error", "-1", "0"),
            ("log_statement", "all", "ddl"),
            ("log_min_duration_statement", "0", "-1"),
            ("log_min_error_statement", "error", "panic"),
        ] {
            Spi::run_with_args(
                "select set_config($1, $2, true)",
                &[setting.into(), risky.into()],
            )
            .unwrap();
            assert!(at_risk(setting), "{setting} = {risky} is risky");
            Spi::run_with_args(
                "select set_config($1, $2, true)",
                &[setting.into(), safe.into()],
            )
            .unwrap();
            assert!(!at_risk(setting), "{setting} = {safe} is safe");
        }
        assert!(!at_risk("auto_explain"), "auto_explain is not loaded here");
        assert!(
            !at_risk("pg_stat_statements.track_utility"),
            "pg_stat_statements is not loaded here"
        );
    }
}
