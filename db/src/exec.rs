//! Running one statement on one connection under a Context — shared by [`crate::Db`] (on a
//! pooled connection) and [`crate::Tx`] (on the transaction's connection), so both bound,
//! map errors and trace identically.

use std::future::Future;
use std::time::Duration;

use keel_clog::{Context, Logger};
use sqlx::any::{AnyQueryResult, AnyRow};
use sqlx::{AnyConnection, Row};
use tracing::Instrument;

use crate::url::Secrets;
use crate::{Dialect, Engine, Error, Query, QueryAs, Result, ReturningFor};

/// What every statement needs to know about its provider.
pub(crate) struct Shared {
    pub(crate) dialect: Dialect,
    pub(crate) secrets: Secrets,
    pub(crate) statement_timeout: Duration,
    pub(crate) logger: Logger,
    /// The database file is a private in-memory one (the pool's only connection must survive).
    pub(crate) in_memory: bool,
}

impl Shared {
    pub(crate) fn map(&self, err: sqlx::Error) -> Error {
        Error::from_sqlx(err, &self.secrets)
    }

    /// True when a connection whose statement was cut off should be closed rather than reused:
    /// PostgreSQL and MySQL would first have to wait for the abandoned statement's answer. A
    /// SQLite connection just finishes the statement on its worker thread.
    pub(crate) fn close_when_cut(&self) -> bool {
        self.dialect.engine() != Engine::Sqlite && !self.in_memory
    }

    /// Runs `fut` under `ctx`'s deadline capped by `statement_timeout`, inside a span carrying
    /// the trace id (sqlx logs each statement at debug level inside it).
    pub(crate) async fn bounded<T>(
        &self,
        ctx: &Context,
        operation: &'static str,
        fut: impl Future<Output = std::result::Result<T, sqlx::Error>>,
    ) -> Result<T> {
        let span = self.logger.span(ctx, operation);
        match ctx
            .with_timeout(self.statement_timeout)
            .run(fut)
            .instrument(span)
            .await
        {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(self.map(err)),
            Err(err) => Err(err.into()),
        }
    }

    pub(crate) async fn execute(
        &self,
        ctx: &Context,
        conn: &mut AnyConnection,
        query: Query<'_>,
    ) -> Result<AnyQueryResult> {
        self.bounded(ctx, "db.execute", query.execute(conn)).await
    }

    pub(crate) async fn execute_raw(
        &self,
        ctx: &Context,
        conn: &mut AnyConnection,
        sql: sqlx::SqlStr,
    ) -> Result<AnyQueryResult> {
        use sqlx::Executor;
        self.bounded(ctx, "db.execute_raw", conn.execute(sqlx::raw_sql(sql)))
            .await
    }

    /// Raw SQL without a time limit (migrations; session settings).
    pub(crate) async fn execute_raw_unbounded(
        &self,
        conn: &mut AnyConnection,
        sql: &str,
    ) -> Result<()> {
        use sqlx::Executor;
        conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())))
            .await
            .map(|_| ())
            .map_err(|e| self.map(e))
    }

    pub(crate) async fn fetch_all<T>(
        &self,
        ctx: &Context,
        conn: &mut AnyConnection,
        query: QueryAs<'_, T>,
    ) -> Result<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
    {
        self.bounded(ctx, "db.fetch_all", query.fetch_all(conn))
            .await
    }

    pub(crate) async fn fetch_optional<T>(
        &self,
        ctx: &Context,
        conn: &mut AnyConnection,
        query: QueryAs<'_, T>,
    ) -> Result<Option<T>>
    where
        T: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
    {
        self.bounded(ctx, "db.fetch_optional", query.fetch_optional(conn))
            .await
    }

    pub(crate) async fn insert_returning_id(
        &self,
        ctx: &Context,
        conn: &mut AnyConnection,
        query: Query<'_>,
    ) -> Result<i64> {
        if self.dialect.supports_returning(ReturningFor::Insert) {
            let row = self
                .bounded(ctx, "db.insert", query.fetch_optional(conn))
                .await?
                .ok_or_else(|| Error::Query {
                    code: None,
                    message: "the INSERT returned no row; build it with \
                              Dialect::insert(table, columns, Some(id_column))"
                        .into(),
                })?;
            row.try_get::<i64, _>(0).map_err(|e| self.map(e))
        } else {
            let done = self.bounded(ctx, "db.insert", query.execute(conn)).await?;
            done.last_insert_id().ok_or_else(|| Error::Query {
                code: None,
                message: "the database reported no generated id; does the table have an \
                          auto-increment key?"
                    .into(),
            })
        }
    }
}

/// Whether an error means the statement was abandoned while the server may still run it.
pub(crate) fn was_cut(err: &Error) -> bool {
    matches!(err, Error::DeadlineExceeded | Error::Cancelled)
}
