//! Transactions: [`Db::transaction`] commits when the closure returns `Ok`, rolls back when it
//! returns `Err`, panics, or outlives its Context — and never commits a transaction one of
//! whose statements was cut off.

use std::any::Any as StdAny;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use keel_clog::Context;
use sqlx::any::{AnyQueryResult, AnyRow};
use sqlx::{Any, AnyConnection, SqlSafeStr, Transaction};

use crate::exec::{Shared, was_cut};
use crate::{Db, Dialect, Engine, Error, Query, QueryAs, Result};

/// A boxed, sendable future borrowing for `'a` (what a [`Db::transaction`] closure returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How long a rollback may take once the caller's own time is up.
const ROLLBACK_TIMEOUT: Duration = Duration::from_secs(5);

/// An open transaction, lent to the closure of [`Db::transaction`]. Its statement methods
/// mirror [`Db`]'s; [`Tx::conn`] gives the raw connection for anything else (including nested
/// transactions, which sqlx turns into savepoints).
pub struct Tx<'c> {
    inner: Transaction<'static, Any>,
    shared: &'c Shared,
    /// Set when a statement was abandoned mid-flight (`Some(cancelled)`): the server may still
    /// apply it, so the transaction must never commit.
    cut: Option<bool>,
}

impl std::fmt::Debug for Tx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("engine", &self.shared.dialect.engine())
            .field("cut", &self.cut)
            .finish_non_exhaustive()
    }
}

fn cut_error(cancelled: bool) -> Error {
    if cancelled {
        Error::Cancelled
    } else {
        Error::DeadlineExceeded
    }
}

impl Tx<'_> {
    /// The SQL dialect of the server.
    pub fn dialect(&self) -> &Dialect {
        &self.shared.dialect
    }

    /// The transaction's connection, for raw sqlx use (`query.fetch(tx.conn())`,
    /// `sqlx::Connection::begin(tx.conn())` for a savepoint). Not bounded per statement: the
    /// whole transaction still ends at its Context's deadline.
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.inner
    }

    fn check(&self) -> Result<()> {
        match self.cut {
            Some(cancelled) => Err(cut_error(cancelled)),
            None => Ok(()),
        }
    }

    fn note<T>(&mut self, out: Result<T>) -> Result<T> {
        if let Err(err) = &out
            && was_cut(err)
        {
            self.cut = Some(matches!(err, Error::Cancelled));
        }
        out
    }

    /// [`Db::execute`] inside the transaction.
    pub async fn execute(&mut self, ctx: &Context, query: Query<'_>) -> Result<AnyQueryResult> {
        self.check()?;
        let out = self.shared.execute(ctx, &mut self.inner, query).await;
        self.note(out)
    }

    /// [`Db::execute_raw`] inside the transaction.
    pub async fn execute_raw(
        &mut self,
        ctx: &Context,
        sql: impl SqlSafeStr,
    ) -> Result<AnyQueryResult> {
        self.check()?;
        let out = self
            .shared
            .execute_raw(ctx, &mut self.inner, sql.into_sql_str())
            .await;
        self.note(out)
    }

    /// [`Db::fetch_all`] inside the transaction.
    pub async fn fetch_all<T>(&mut self, ctx: &Context, query: QueryAs<'_, T>) -> Result<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
    {
        self.check()?;
        let out = self.shared.fetch_all(ctx, &mut self.inner, query).await;
        self.note(out)
    }

    /// [`Db::fetch_optional`] inside the transaction.
    pub async fn fetch_optional<T>(
        &mut self,
        ctx: &Context,
        query: QueryAs<'_, T>,
    ) -> Result<Option<T>>
    where
        T: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
    {
        self.check()?;
        let out = self
            .shared
            .fetch_optional(ctx, &mut self.inner, query)
            .await;
        self.note(out)
    }

    /// [`Db::fetch_one`] inside the transaction.
    pub async fn fetch_one<T>(&mut self, ctx: &Context, query: QueryAs<'_, T>) -> Result<T>
    where
        T: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
    {
        self.fetch_optional(ctx, query)
            .await?
            .ok_or(Error::NotFound)
    }

    /// [`Db::insert_returning_id`] inside the transaction.
    pub async fn insert_returning_id(&mut self, ctx: &Context, query: Query<'_>) -> Result<i64> {
        self.check()?;
        let out = self
            .shared
            .insert_returning_id(ctx, &mut self.inner, query)
            .await;
        self.note(out)
    }
}

/// Polls a future, turning a panic into `Err(payload)` so the transaction can be rolled back
/// before the panic continues.
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        // Unwind safety: after a panic the future is never polled again and everything it did
        // in the database is rolled back; its in-memory state dies with it.
        match catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// How the closure ended.
enum Outcome<T, E> {
    Done(std::result::Result<T, E>),
    Panicked(Box<dyn StdAny + Send>),
    /// The transaction's Context ended first (`true` = cancelled).
    Cut(bool),
}

impl Db {
    /// Runs `f` in a transaction: commits when it returns `Ok`, rolls back when it returns
    /// `Err` or panics (the panic then continues), and when the Context is cancelled or its
    /// deadline passes (then `Err(Cancelled / DeadlineExceeded)`). The whole transaction is
    /// bounded by the Context's deadline, or `statement_timeout` when the Context has none;
    /// on PostgreSQL the server enforces that deadline too (`SET LOCAL statement_timeout`).
    ///
    /// SQLite transactions begin with `BEGIN IMMEDIATE` (they take the write lock at once).
    ///
    /// ```no_run
    /// # async fn f(db: &keel_db::Db, ctx: &keel_clog::Context) -> keel_db::Result<()> {
    /// let moved: u64 = db.transaction(ctx, |tx| Box::pin(async move {
    ///     let sql = tx.dialect().sql("UPDATE accounts SET balance = balance - ? WHERE id = ?");
    ///     let out = tx.execute(ctx, sqlx::query(sql).bind(10_i64).bind(1_i64)).await?;
    ///     let sql = tx.dialect().sql("UPDATE accounts SET balance = balance + ? WHERE id = ?");
    ///     tx.execute(ctx, sqlx::query(sql).bind(10_i64).bind(2_i64)).await?;
    ///     Ok::<_, keel_db::Error>(out.rows_affected())
    /// })).await?;
    /// # Ok(()) }
    /// ```
    pub async fn transaction<'c, T, E, F>(
        &'c self,
        ctx: &'c Context,
        f: F,
    ) -> std::result::Result<T, E>
    where
        // `Tx<'c>` bounds `'t` by the call, so the future may borrow what the caller has.
        F: for<'t> FnOnce(&'t mut Tx<'c>) -> BoxFuture<'t, std::result::Result<T, E>> + Send,
        T: Send,
        E: From<Error> + Send,
    {
        let tx_ctx = ctx.with_timeout(self.shared.statement_timeout);
        // Only a deadline tighter than the session's statement_timeout needs telling the server.
        let tight = ctx
            .remaining()
            .is_some_and(|r| r < self.shared.statement_timeout);
        let mut tx = self.begin(&tx_ctx, tight).await?;
        let outcome = {
            let fut = f(&mut tx);
            match tx_ctx.run(CatchUnwind(fut)).await {
                Ok(Ok(done)) => Outcome::Done(done),
                Ok(Err(panic)) => Outcome::Panicked(panic),
                Err(err) => Outcome::Cut(matches!(err, keel_clog::Error::Cancelled)),
            }
        };
        let Tx { inner, cut, .. } = tx;
        // After a cut-off statement the connection is still busy with it (on MySQL until its
        // lock wait ends): roll back in the background rather than keep the caller waiting.
        // Until the rollback lands the rows stay locked — never committed.
        let background = cut.is_some() || matches!(outcome, Outcome::Cut(_));
        match outcome {
            Outcome::Done(Ok(value)) => match cut {
                None => {
                    self.commit(&tx_ctx, inner).await?;
                    Ok(value)
                }
                // The closure swallowed a cut-off statement's error: its effect is unknown,
                // so committing could persist half of what it meant.
                Some(cancelled) => {
                    self.rollback(inner, background).await;
                    Err(cut_error(cancelled).into())
                }
            },
            Outcome::Done(Err(err)) => {
                self.rollback(inner, background).await;
                Err(err)
            }
            Outcome::Panicked(panic) => {
                self.rollback(inner, background).await;
                resume_unwind(panic)
            }
            Outcome::Cut(cancelled) => {
                self.rollback(inner, background).await;
                Err(cut_error(cancelled).into())
            }
        }
    }

    async fn begin(&self, tx_ctx: &Context, tight_deadline: bool) -> Result<Tx<'_>> {
        self.check_open()?;
        let dialect = &self.shared.dialect;
        // Waiting for a connection and BEGIN both count against the transaction's deadline.
        let inner = match dialect.begin_statement() {
            Some(stmt) => {
                self.shared
                    .bounded(tx_ctx, "db.begin", self.pool.begin_with(stmt))
                    .await?
            }
            None => {
                self.shared
                    .bounded(tx_ctx, "db.begin", self.pool.begin())
                    .await?
            }
        };
        let mut tx = Tx {
            inner,
            shared: &self.shared,
            cut: None,
        };
        if dialect.engine() == Engine::Postgres
            && tight_deadline
            && let Some(remaining) = tx_ctx.remaining()
        {
            // The server stops a statement at the caller's deadline too, so a statement
            // blocked on a lock does not outlive the transaction that gave up on it.
            let ms = remaining.as_millis().max(1);
            tx.execute_raw(
                tx_ctx,
                sqlx::AssertSqlSafe(format!("SET LOCAL statement_timeout = {ms}")),
            )
            .await?;
        }
        Ok(tx)
    }

    async fn commit(&self, tx_ctx: &Context, inner: Transaction<'static, Any>) -> Result<()> {
        if let Some(err) = tx_ctx.err() {
            // Out of time before COMMIT was sent: the outcome is known — not committed.
            self.rollback(inner, true).await;
            return Err(err.into());
        }
        match tx_ctx.run(inner.commit()).await {
            Ok(Ok(())) => Ok(()),
            // The server answered: the transaction was not committed (serialization failure,
            // deferred constraint, ...).
            Ok(Err(sqlx::Error::Database(err))) => Err(self.shared.map(sqlx::Error::Database(err))),
            Ok(Err(other)) => Err(Error::CommitUnknown(
                self.shared.secrets.scrub(&other.to_string()),
            )),
            Err(err) => Err(Error::CommitUnknown(format!(
                "{} while waiting for the COMMIT's answer",
                Error::from(err)
            ))),
        }
    }

    async fn rollback(&self, inner: Transaction<'static, Any>, background: bool) {
        if background {
            let shared = Arc::clone(&self.shared);
            tokio::spawn(async move { rollback_quietly(&shared, inner).await });
        } else {
            rollback_quietly(&self.shared, inner).await;
        }
    }
}

/// Rolls back within [`ROLLBACK_TIMEOUT`]. If that fails the connection is dropped with the
/// transaction still open, and sqlx queues a rollback for it before the pool reuses it — the
/// transaction is never committed either way.
async fn rollback_quietly(shared: &Shared, inner: Transaction<'static, Any>) {
    match tokio::time::timeout(ROLLBACK_TIMEOUT, inner.rollback()).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!(
            ns = shared.logger.namespace(),
            error = %shared.map(err),
            "rollback failed; the connection will roll back before reuse"
        ),
        Err(_) => tracing::warn!(
            ns = shared.logger.namespace(),
            "rollback took longer than {ROLLBACK_TIMEOUT:?}; the connection will roll back before reuse"
        ),
    }
}
