//! The upgrade path of `supabase/migrations`: the harness applies every migration, in name order,
//! to a fresh database on every run; here each one is applied AGAIN to that migrated database,
//! followed by every later one, and each must either change nothing or fail loudly and leave
//! nothing behind (never half-apply).
//! "Nothing" is a catalog snapshot of the schemas the migrations touch, which a test below shows
//! noticing every kind of change. Run with
//! `scripts/harness/with-cluster -- cargo test -p credential-vault-tests --test migrations`.
//! This suite owns the migrations' names and their idempotency.

use std::collections::BTreeSet;

use credential_vault_tests::{TestDatabase, workspace_dir};
use sqlx::{Connection, PgConnection, PgPool};

/// The schemas whose objects the snapshot covers: the app's, the extension's, Vault's, and the
/// Supabase ones the migrations must leave alone.
const SCHEMAS: &str = "'public', 'private', 'credential_vault', 'vault', 'auth', 'extensions'";

/// An ACL as a sorted list of grants, so that revoking and granting the same privileges again (which
/// reorders the aclitem array) reads the same. NULL (the built-in default) reads as "default".
fn acl(expression: &str) -> String {
    format!(
        "coalesce((select string_agg(g, ',' order by g) from (
             select format('%s>%s:%s%s', a.grantor::regrole,
                           case when a.grantee = 0 then 'PUBLIC' else a.grantee::regrole::text end,
                           a.privilege_type, case when a.is_grantable then '*' else '' end) as g
             from pg_catalog.aclexplode({expression}) as a) as grants), 'default')"
    )
}

/// One line per catalog object (and per table's row count), by name and definition, never by oid:
/// dropping and recreating something identical reads the same.
fn snapshot_query() -> String {
    let nsp = format!("(select oid from pg_catalog.pg_namespace where nspname in ({SCHEMAS}))");
    let schema_acl = acl("n.nspacl");
    let relation_acl = acl("c.relacl");
    let column_acl = acl("a.attacl");
    let function_acl = acl("p.proacl");
    let default_acl = acl("d.defaclacl");
    format!(
        "select line from (
           select format('schema %s owner=%s acl=%s', n.nspname, n.nspowner::regrole, {schema_acl}) as line
           from pg_catalog.pg_namespace n where n.oid in {nsp}
         union all
           select format('extension %s %s in %s', e.extname, e.extversion, e.extnamespace::regnamespace)
           from pg_catalog.pg_extension e
         union all
           select format('relation %s kind=%s owner=%s rls=%s force_rls=%s options=%s acl=%s comment=%s',
                         c.oid::regclass, c.relkind, c.relowner::regrole, c.relrowsecurity,
                         c.relforcerowsecurity, c.reloptions, {relation_acl},
                         pg_catalog.obj_description(c.oid, 'pg_class'))
           from pg_catalog.pg_class c where c.relnamespace in {nsp}
         union all
           select format('column %s.%s #%s %s notnull=%s default=%s acl=%s comment=%s',
                         c.oid::regclass, a.attname, a.attnum, pg_catalog.format_type(a.atttypid, a.atttypmod),
                         a.attnotnull, pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), {column_acl},
                         pg_catalog.col_description(c.oid, a.attnum))
           from pg_catalog.pg_class c
           join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
           left join pg_catalog.pg_attrdef ad on ad.adrelid = c.oid and ad.adnum = a.attnum
           where c.relnamespace in {nsp}
         union all
           select format('constraint %s.%s %s validated=%s', case when k.conrelid <> 0 then k.conrelid::regclass::text else k.contypid::regtype::text end,
                         k.conname, pg_catalog.pg_get_constraintdef(k.oid), k.convalidated)
           from pg_catalog.pg_constraint k where k.connamespace in {nsp}
         union all
           select format('index %s', pg_catalog.pg_get_indexdef(i.indexrelid))
           from pg_catalog.pg_index i join pg_catalog.pg_class c on c.oid = i.indexrelid
           where c.relnamespace in {nsp}
         union all
           select format('policy %s.%s cmd=%s permissive=%s roles=%s using=%s check=%s',
                         p.polrelid::regclass, p.polname, p.polcmd, p.polpermissive,
                         (select string_agg(case when r = 0 then 'PUBLIC' else r::regrole::text end, ',' order by 1)
                          from pg_catalog.unnest(p.polroles) as r),
                         pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))
           from pg_catalog.pg_policy p join pg_catalog.pg_class c on c.oid = p.polrelid
           where c.relnamespace in {nsp}
         union all
           select format('function %s owner=%s acl=%s definition=%s comment=%s',
                         p.oid::regprocedure, p.proowner::regrole, {function_acl},
                         case when p.prokind in ('f', 'p') then pg_catalog.md5(pg_catalog.pg_get_functiondef(p.oid))
                              else p.prokind::text end,
                         pg_catalog.obj_description(p.oid, 'pg_proc'))
           from pg_catalog.pg_proc p where p.pronamespace in {nsp}
         union all
           select format('trigger %s.%s enabled=%s %s', t.tgrelid::regclass, t.tgname, t.tgenabled,
                         pg_catalog.pg_get_triggerdef(t.oid))
           from pg_catalog.pg_trigger t join pg_catalog.pg_class c on c.oid = t.tgrelid
           where not t.tgisinternal and c.relnamespace in {nsp}
         union all
           select format('type %s kind=%s owner=%s', t.oid::regtype, t.typtype, t.typowner::regrole)
           from pg_catalog.pg_type t where t.typnamespace in {nsp}
         union all
           select format('default privileges of %s in %s on %s: %s', d.defaclrole::regrole,
                         coalesce(d.defaclnamespace::regnamespace::text, 'every schema'), d.defaclobjtype, {default_acl})
           from pg_catalog.pg_default_acl d
         union all
           select format('rows %s = %s', c.oid::regclass,
                         pg_temp.row_count(c.oid::regclass))
           from pg_catalog.pg_class c
           where c.relkind in ('r', 'p') and c.relnamespace in {nsp}
         union all
           select format('authorizer %s', a.authorizer) from credential_vault.authorizer a
         ) as catalog
         order by line"
    )
}

/// Must run inside a transaction that is rolled back: it pins search_path there so that every
/// name prints qualified, and counts rows with a temporary function (query_to_xml would do it in
/// plain SQL, but needs a server built with libxml, which PostgreSQL 18's wheel is not).
async fn snapshot(connection: &mut PgConnection) -> Vec<String> {
    sqlx::query("select set_config('search_path', 'pg_catalog, pg_temp', true)")
        .execute(&mut *connection)
        .await
        .expect("pin search_path");
    sqlx::raw_sql(
        "create function pg_temp.row_count(rel regclass) returns bigint language plpgsql as $$
           declare n bigint;
           begin execute format('select count(*) from %s', rel) into n; return n; end $$",
    )
    .execute(&mut *connection)
    .await
    .expect("create the row counter");
    sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(snapshot_query()))
        .fetch_all(connection)
        .await
        .expect("take the catalog snapshot")
}

async fn pool_snapshot(pool: &PgPool) -> Vec<String> {
    let mut tx = pool.begin().await.expect("begin");
    let lines = snapshot(&mut tx).await;
    tx.rollback().await.expect("rollback");
    lines
}

/// The lines only in `before` and only in `after`, for assertion messages.
fn difference(before: &[String], after: &[String]) -> String {
    let (before, after): (BTreeSet<_>, BTreeSet<_>) =
        (before.iter().collect(), after.iter().collect());
    let mut text = String::new();
    for line in before.difference(&after) {
        text.push_str(&format!("\n  - {line}"));
    }
    for line in after.difference(&before) {
        text.push_str(&format!("\n  + {line}"));
    }
    text
}

/// Panics with `what` and the lines that differ unless the snapshots are the same.
fn assert_unchanged(before: &[String], after: &[String], what: &str) {
    assert!(before == after, "{what}:{}", difference(before, after));
}

/// Every migration, in the order the harness and the Supabase CLI apply them (by name).
fn migrations() -> Vec<(String, String)> {
    let directory = workspace_dir().join("supabase/migrations");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&directory)
        .unwrap_or_else(|e| panic!("read {}: {e}", directory.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).expect("a readable migration");
            (name, text)
        })
        .collect();
    files.sort();
    files
}

/// What applying a migration again did.
#[derive(Debug, PartialEq)]
enum Rerun {
    /// It succeeded and was committed.
    Committed,
    /// It failed with this SQLSTATE and message, and was rolled back.
    Failed(String),
}

/// Applies `sql` as postgres (as the Supabase CLI does) in a transaction; commits it when it
/// succeeds, rolls it back when it fails, and returns what happened with the catalog snapshot
/// taken afterwards.
async fn apply_again(db: &TestDatabase, sql: &str) -> (Rerun, Vec<String>) {
    let mut connection = PgConnection::connect_with(&db.postgres_options())
        .await
        .expect("connect as postgres");
    let mut tx = connection.begin().await.expect("begin");
    // The repository's own migration files.
    let outcome = match sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *tx)
        .await
    {
        Ok(_) => {
            tx.commit().await.expect("commit");
            Rerun::Committed
        }
        Err(sqlx::Error::Database(error)) => {
            tx.rollback().await.expect("rollback");
            Rerun::Failed(format!(
                "{} {}",
                error.code().unwrap_or_default(),
                error.message()
            ))
        }
        Err(other) => panic!("a migration failed without a database error (not loudly): {other:?}"),
    };
    (outcome, pool_snapshot(&db.pool).await)
}

#[tokio::test]
async fn the_migrations_are_named_for_the_supabase_cli_and_unique() {
    let files = migrations();
    assert!(files.len() >= 2, "supabase/migrations holds the migrations");
    let mut versions = BTreeSet::new();
    for (name, text) in &files {
        let (version, rest) = name.split_at(14.min(name.len()));
        assert!(
            version.len() == 14 && version.bytes().all(|b| b.is_ascii_digit()),
            "{name}: starts with a 14-digit UTC timestamp"
        );
        assert!(
            rest.starts_with('_')
                && rest.ends_with(".sql")
                && rest[1..rest.len() - 4]
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{name}: <timestamp>_<snake_case_name>.sql"
        );
        assert!(
            versions.insert(version.to_owned()),
            "{name}: its timestamp is unique"
        );
        assert!(!text.trim().is_empty(), "{name} is not empty");
        // The harness and the CLI wrap each file in a transaction: a file must not manage its own.
        for line in text.lines().map(str::trim).map(str::to_ascii_lowercase) {
            assert!(
                !(line.starts_with("begin;")
                    || line.starts_with("commit")
                    || line.starts_with("rollback")
                    || line.starts_with('\\')),
                "{name}: no transaction control or psql meta-command ({line})"
            );
        }
    }
    let bodies: BTreeSet<&str> = files.iter().map(|(_, text)| text.as_str()).collect();
    assert_eq!(
        bodies.len(),
        files.len(),
        "no migration is a copy of another"
    );
}

/// Later migrations may alter what earlier ones created (the search_path fix does), so an
/// earlier one applied again is followed by every later one, as `supabase migration up` would
/// apply them if the history lost their rows.
#[tokio::test]
async fn the_migrations_applied_again_from_any_one_on_change_nothing_or_fail_loudly() {
    let db = TestDatabase::new().await;
    let before = pool_snapshot(&db.pool).await;
    assert!(
        before
            .iter()
            .any(|line| line.starts_with("policy public.organization_integrations.")),
        "the template database is migrated"
    );
    let files = migrations();
    for start in 0..files.len() {
        let mut outcomes = Vec::new();
        let mut after = Vec::new();
        for (name, text) in &files[start..] {
            let (outcome, snapshot) = apply_again(&db, text).await;
            outcomes.push(format!("{name}: {outcome:?}"));
            after = snapshot;
        }
        assert_unchanged(
            &before,
            &after,
            &format!(
                "the migrations applied again from {} on ({outcomes:?}) changed the schema",
                files[start].0
            ),
        );
        eprintln!(
            "applied again from {} on: {outcomes:?}, nothing changed",
            files[start].0
        );
    }
}

/// The checks above can fail: a migration that is not idempotent changes the snapshot, and one that
/// fails half-way is rolled back whole.
#[tokio::test]
async fn the_rerun_check_catches_a_non_idempotent_or_half_applied_migration() {
    let db = TestDatabase::new().await;
    let before = pool_snapshot(&db.pool).await;

    let (outcome, after) = apply_again(
        &db,
        "alter table public.organization_integrations add column if not exists notes text;
         grant select on public.organizations to anon;",
    )
    .await;
    assert_eq!(outcome, Rerun::Committed);
    let changes = difference(&before, &after);
    assert!(
        changes.contains("column public.organization_integrations.notes")
            && changes.contains("relation public.organizations"),
        "a non-idempotent migration is noticed:{changes}"
    );

    let db = TestDatabase::new().await;
    let before = pool_snapshot(&db.pool).await;
    let (outcome, after) = apply_again(
        &db,
        "create table public.half_applied (id int);
         alter table public.organization_integrations add column credential_vault_id uuid;",
    )
    .await;
    assert!(
        matches!(&outcome, Rerun::Failed(error) if error.starts_with("42701")),
        "the second statement fails loudly: {outcome:?}"
    );
    assert_unchanged(&before, &after, "a failed migration left something behind");
}

/// Every kind of change a migration could make shows in the snapshot (each made in a transaction
/// that is rolled back).
#[tokio::test]
async fn the_snapshot_notices_every_kind_of_change() {
    let db = TestDatabase::new().await;
    let before = pool_snapshot(&db.pool).await;
    let changes: &[(&str, &str)] = &[
        (
            "grant select on public.organization_integrations to anon",
            "relation public.organization_integrations",
        ),
        (
            "revoke update (display_name) on public.organization_integrations from authenticated",
            "column public.organization_integrations.display_name",
        ),
        (
            "alter table public.organization_integrations alter column sync_schedule set default '{}'",
            "column public.organization_integrations.sync_schedule",
        ),
        (
            "alter table public.organizations disable row level security",
            "relation public.organizations",
        ),
        (
            "alter policy organization_integrations_select_member on public.organization_integrations using (true)",
            "policy public.organization_integrations.organization_integrations_select_member",
        ),
        (
            "alter policy organization_members_update_admin on public.organization_members to authenticated, anon",
            "policy public.organization_members.organization_members_update_admin",
        ),
        (
            "create or replace function private.can_manage_integration(integration_id uuid) returns boolean
             language sql stable security definer set search_path = '' as $$ select true $$",
            "function private.can_manage_integration(uuid)",
        ),
        (
            "alter function private.is_organization_admin(uuid) security invoker",
            "function private.is_organization_admin(uuid)",
        ),
        (
            "grant execute on function public.vault_retrieve_integration_credentials(text) to authenticated",
            "function public.vault_retrieve_integration_credentials(text)",
        ),
        (
            "alter table public.organization_integrations disable trigger organization_integrations_guard_credential_vault_id",
            "trigger public.organization_integrations.organization_integrations_guard_credential_vault_id",
        ),
        (
            "drop trigger organization_integrations_purge_credentials on public.organization_integrations",
            "trigger public.organization_integrations.organization_integrations_purge_credentials",
        ),
        (
            "alter table public.organizations drop constraint organizations_name_length",
            "constraint public.organizations.organizations_name_length",
        ),
        (
            "alter table public.organizations drop constraint organizations_name_length;
             alter table public.organizations add constraint organizations_name_length
               check (pg_catalog.length(pg_catalog.btrim(name)) between 1 and 200) not valid",
            "NOT VALID validated=f",
        ),
        (
            "create index organization_integrations_provider_idx on public.organization_integrations (provider)",
            "index CREATE INDEX organization_integrations_provider_idx",
        ),
        (
            "select credential_vault.set_authorizer('private.is_organization_admin(uuid)')",
            "authorizer private.is_organization_admin(uuid)",
        ),
        (
            "insert into public.organizations (name) values ('Acme')",
            "rows public.organizations = 1",
        ),
        (
            "alter default privileges in schema private grant execute on functions to anon",
            "default privileges of postgres in private",
        ),
        (
            "create extension if not exists hstore",
            "extension hstore",
        ),
        (
            "grant create on schema private to authenticated",
            "schema private",
        ),
        (
            "comment on table public.organizations is 'changed'",
            "relation public.organizations",
        ),
    ];
    for (change, expected) in changes {
        // As postgres, who applies the migrations and so owns what they create.
        let mut connection = PgConnection::connect_with(&db.postgres_options())
            .await
            .expect("connect");
        let mut tx = connection.begin().await.expect("begin");
        sqlx::raw_sql(*change)
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{change}: {e}"));
        let after = snapshot(&mut tx).await;
        tx.rollback().await.expect("rollback");
        let seen = difference(&before, &after);
        assert!(
            seen.contains(expected),
            "the snapshot missed `{change}` (expected a line with {expected:?}); difference:{seen}"
        );
    }
    assert_eq!(
        pool_snapshot(&db.pool).await,
        before,
        "every change was rolled back"
    );
}
