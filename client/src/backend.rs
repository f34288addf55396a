//! Where the SQL goes. The operations are written once against [`Backend`]; production runs them
//! on any sqlx executor ([`SqlxBackend`]) or in a transaction of their own in the handle's
//! context ([`InContext`]), the unit tests on a recording fake.
//!
//! Every statement is unnamed (`persistent(false)`): a named prepared statement does not survive
//! from one transaction to the next behind a transaction pooler.

use std::future::Future;
use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::{Arguments, Executor, PgPool, Postgres};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::context::Context;
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
            .persistent(false)
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
            .persistent(false)
            .fetch_one(self.executor)
            .await?;
        Ok(Zeroizing::new(text))
    }

    async fn execute(self, sql: &'static str, binds: &[&str]) -> Result<(), sqlx::Error> {
        sqlx::query_with(sql, text_arguments(binds)?)
            .persistent(false)
            .execute(self.executor)
            .await?;
        Ok(())
    }
}

/// [`Backend`] that runs the statement in a transaction of its own on one connection of `pool`,
/// after switching to `context` inside it, and commits: one call, one transaction, as a
/// transaction pooler needs it.
pub(crate) struct InContext<'a> {
    pub(crate) pool: &'a PgPool,
    pub(crate) context: &'a Context,
}

impl Backend for InContext<'_> {
    async fn fetch_references(
        self,
        sql: &'static str,
        binds: &[&str],
    ) -> Result<Vec<CredentialReference>, sqlx::Error> {
        let mut transaction = self.context.begin(self.pool).await?;
        let rows = SqlxBackend::new(&mut *transaction)
            .fetch_references(sql, binds)
            .await?;
        transaction.commit().await.map(|()| rows)
    }

    async fn fetch_secret_text(
        self,
        sql: &'static str,
        binds: &[&str],
    ) -> Result<Zeroizing<String>, sqlx::Error> {
        let mut transaction = self.context.begin(self.pool).await?;
        let text = SqlxBackend::new(&mut *transaction)
            .fetch_secret_text(sql, binds)
            .await?;
        transaction.commit().await.map(|()| text)
    }

    async fn execute(self, sql: &'static str, binds: &[&str]) -> Result<(), sqlx::Error> {
        let mut transaction = self.context.begin(self.pool).await?;
        SqlxBackend::new(&mut *transaction)
            .execute(sql, binds)
            .await?;
        transaction.commit().await
    }
}
