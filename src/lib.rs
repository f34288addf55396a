//! credential_vault: integration credentials on Supabase Vault. See README.md for the SQL API,
//! the SQLSTATE table, the role matrix and the security model.

mod caller;
mod error;
mod jsonb;
mod operations;
mod validate;

::pgrx::pg_module_magic!(name, version);

pgrx::extension_sql_file!("../sql/bootstrap.sql", name = "bootstrap", bootstrap);
pgrx::extension_sql_file!("../sql/api.sql", name = "api", finalize);

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
