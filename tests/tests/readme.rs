//! README.md's reference tables against the database they describe: the functions it lists are
//! exactly the ones the extension installs for callers, and its role matrix is what each caller
//! gets with the shipped grants. (The SQLSTATE table is held to the contract's catalogue in
//! contract/src/error.rs; the CLI's exit codes to client/src/main.rs.)
//! Run with `scripts/harness/with-cluster -- cargo test -p credential-vault-tests --test readme`.

use std::collections::BTreeSet;

use credential_vault_tests::api::{
    DELETE, DESTROY, LIST, RESTORE, RETRIEVE, ROTATE, STORE, VERSIONS,
};
use credential_vault_tests::{
    Caller, Tenants, TestDatabase, canary, credentials_json, sqlstate, workspace_dir,
};

fn readme() -> String {
    std::fs::read_to_string(workspace_dir().join("README.md")).expect("read README.md")
}

/// The rows of the first table after the line `header` (its header row), as trimmed cells.
fn table(readme: &str, header: &str) -> Vec<Vec<String>> {
    let (_, rest) = readme
        .split_once(&format!("\n{header}\n"))
        .unwrap_or_else(|| panic!("README has a table headed {header}"));
    rest.lines()
        .skip(1)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            line.trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().to_owned())
                .collect()
        })
        .collect()
}

/// `schema.name(type, ...)` of a documented signature such as
/// `` `credential_vault.health_report(repair boolean default false)` ``: argument names and
/// defaults dropped, the result (`-> integer`) too; unqualified names are in public.
fn signature(cell: &str) -> String {
    let text = cell.split('`').nth(1).expect("a back-quoted signature");
    let text = text.split(" -> ").next().unwrap();
    let (name, arguments) = text.split_once('(').expect("name(arguments)");
    let types: Vec<&str> = arguments
        .trim_end_matches(')')
        .split(',')
        .map(|argument| argument.split(" default ").next().unwrap().trim())
        .filter(|argument| !argument.is_empty())
        .map(|argument| argument.rsplit(' ').next().unwrap())
        .collect();
    let name = if name.contains('.') {
        name.to_owned()
    } else {
        format!("public.{name}")
    };
    format!("{name}({})", types.join(","))
}

#[tokio::test]
async fn readme_lists_exactly_the_functions_the_extension_installs() {
    let db = TestDatabase::new().await;
    let readme = readme();
    let mut documented = BTreeSet::new();
    for header in ["| function | returns |", "| function | what it does |"] {
        for row in table(&readme, header) {
            // The documented name, as PostgreSQL prints it where nothing is on the search path.
            let name: Option<String> = sqlx::query_scalar(
                "select to_regprocedure($1)::text
                 from set_config('search_path', 'pg_catalog', true)",
            )
            .bind(signature(&row[0]))
            .fetch_one(&db.pool)
            .await
            .unwrap();
            documented.insert(name.unwrap_or_else(|| format!("missing: {}", row[0])));
        }
    }
    // Trigger functions are the extension's own business: nobody calls them.
    let installed: BTreeSet<String> = sqlx::query_scalar(
        "select p.oid::regprocedure::text
         from set_config('search_path', 'pg_catalog', true),
              pg_depend d join pg_proc p on p.oid = d.objid
         where d.classid = 'pg_proc'::regclass and d.deptype = 'e'
           and d.refobjid = (select oid from pg_extension where extname = 'credential_vault')
           and p.prorettype <> 'trigger'::regtype",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert!(
        installed.len() >= 10,
        "the extension is installed: {installed:?}"
    );
    assert_eq!(documented, installed, "README's function tables");
}

/// Every cell of README's role matrix, called as that caller with the shipped grants and the
/// app's authorizer: `yes` is a success, anything else the SQLSTATE it names.
#[tokio::test]
async fn readme_role_matrix_is_what_each_caller_gets() {
    let db = TestDatabase::new().await;
    let t = Tenants::create(&db.pool).await;
    let readme = readme();
    let columns = [
        "store", "rotate", "delete", "list", "retrieve", "versions", "restore", "destroy", "revoke",
    ];
    let rows = table(&readme, &format!("| caller | {} |", columns.join(" | ")));
    assert_eq!(rows.len(), 4, "README's role matrix has four rows");
    let body = credentials_json(&canary("matrix"));
    let mut cells = 0;
    for row in rows {
        let label = &row[0];
        // None: the superuser itself, no role switched.
        let callers: Vec<Option<Caller>> = if label.contains("anon") {
            vec![Some(Caller::Anon)]
        } else if label.contains("says yes") {
            vec![Some(t.admin.clone())]
        } else if label.contains("says no") {
            vec![Some(t.other_admin.clone())]
        } else if label.contains("service_role") && label.contains("superusers") {
            vec![Some(Caller::ServiceRole), None]
        } else {
            panic!("README's role matrix has an unknown caller: {label}")
        };
        for caller in &callers {
            assert_eq!(row.len(), columns.len() + 1, "{label}: a cell per column");
            for (column, expected) in columns.into_iter().zip(&row[1..]) {
                // Each cell on an integration of its own, with a current version and a kept one
                // (the restore's) where the call needs them.
                let integration = t.add_integrations(&db.pool, 1).await[0];
                let kept = db.store(integration, &body).await;
                let reference = db
                    .call(&Caller::ServiceRole, ROTATE, &[&kept, &body])
                    .await
                    .unwrap()
                    .remove(0);
                let fresh = t.add_integrations(&db.pool, 1).await[0].to_string();
                let integration = integration.to_string();
                let (sql, args) = match column {
                    "store" => (STORE, vec![fresh.as_str(), body.as_str()]),
                    "rotate" => (ROTATE, vec![reference.as_str(), body.as_str()]),
                    "delete" => (DELETE, vec![reference.as_str()]),
                    "list" => (LIST, vec![integration.as_str()]),
                    "retrieve" => (RETRIEVE, vec![reference.as_str()]),
                    "versions" => (VERSIONS, vec![integration.as_str()]),
                    "restore" => (RESTORE, vec![kept.as_str()]),
                    "destroy" => (DESTROY, vec![reference.as_str()]),
                    _ => (
                        "select count(*)::pg_catalog.text
                         from credential_vault.revoke_integration_credentials(
                           array[$1::pg_catalog.uuid])",
                        vec![integration.as_str()],
                    ),
                };
                let answer = match caller {
                    Some(caller) => sqlstate(&db.call(caller, sql, &args).await),
                    None => {
                        let query = args.iter().fold(sqlx::query(sql), |q, arg| q.bind(*arg));
                        sqlstate(&query.fetch_all(&db.pool).await)
                    }
                };
                let expected = if expected == "yes" { "ok" } else { expected };
                assert_eq!(answer, expected, "{label} {column} ({caller:?})");
                cells += 1;
            }
        }
    }
    assert_eq!(
        cells,
        5 * columns.len(),
        "every cell, the service row also as a superuser"
    );
}
