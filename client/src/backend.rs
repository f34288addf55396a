//! Where the SQL goes. The operations are written once against [`Backend`]; production runs them
//! on any sqlx executor, the unit tests on a recording fake.

use std::future::Future;
use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::{Arguments, Executor, Postgres};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::reference::CredentialReference;

/// Runs one statement with text bind parameters. Taken by value: each operation runs exactly one
/// statement, as an sqlx executor (a `&mut PgConnection` or a `&PgPool`) is used up by one.
pub(crate) trait Backend: Send {
    /// Rows of `(vault_secret_id uuid, created_at timestamptz)`.
    fn fetch_references(
        self,
        sql: &'static str,
        binds: &[&str],
    ) -> impl Future<Output = Result<Vec<CredentialReference>, sqlx::Error>> + Send;

    /// The one text column of the one row, in a buffer that is wiped when dropped.
    fn fetch_secret_text(
        self,
        sql: &'static str,
        binds: &[&str],
    ) -> impl Future<Output = Result<Zeroizing<String>, sqlx::Error>> + Send;

    /// Runs the statement, ignoring what it returns.
    fn execute(
        self,
        sql: &'static str,
        binds: &[&str],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

/// [`Backend`] over a caller's connection, transaction or pool.
pub(crate) struct SqlxBackend<'c, E> {
    executor: E,
    /// Holds the `'c` of `E: Executor<'c>`, which the `Backend` impl must name.
    lifetime: PhantomData<&'c ()>,
}

impl<'c, E: Executor<'c, Database = Postgres>> SqlxBackend<'c, E> {
    pub(crate) fn new(executor: E) -> Self {
        Self {
            executor,
            lifetime: PhantomData,
        }
    }
}

/// Every argument travels as a `text` bind parameter; none is ever spliced into SQL text.
fn text_arguments(binds: &[&str]) -> Result<PgArguments, sqlx::Error> {
    let mut arguments = PgArguments::default();
    for bind in binds {
        arguments.add(*bind).map_err(sqlx::Error::Encode)?;
    }
    Ok(arguments)
}

impl<'c, E: Executor<'c, Database = Postgres>> Backend for SqlxBackend<'c, E> {
    async fn fetch_references(
        self,
        sql: &'static str,
        binds: &[&str],
    ) -> Result<Vec<CredentialReference>, sqlx::Error> {
        let rows: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as_with(sql, text_arguments(binds)?)
            .fetch_all(self.executor)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, created_at)| CredentialReference::new(id.into(), created_at))
            .collect())
    }

    async fn fetch_secret_text(
        self,
        sql: &'static str,
        binds: &[&str],
    ) -> Result<Zeroizing<String>, sqlx::Error> {
        let text: String = sqlx::query_scalar_with(sql, text_arguments(binds)?)
            .fetch_one(self.executor)
            .await?;
        Ok(Zeroizing::new(text))
    }

    async fn execute(self, sql: &'static str, binds: &[&str]) -> Result<(), sqlx::Error> {
        sqlx::query_with(sql, text_arguments(binds)?)
            .execute(self.executor)
            .await?;
        Ok(())
    }
}
