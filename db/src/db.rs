//! [`Db`]: the provider. `new(ctx, config, opts)` → `Arc<Db>`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use keel_clog::{Context, Logger};
use sqlx::any::{AnyQueryResult, AnyRow};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, SqlSafeStr};

use crate::connect::connect;
use crate::exec::{Shared, was_cut};
use crate::{Config, Dialect, Engine, Error, Query, QueryAs, Result};

/// Dependencies of the database provider.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Parent logger; the provider logs under `<namespace>.db`.
    pub logger: Logger,
}

/// The state of the database as seen by [`Db::health`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Round trip of `SELECT 1`, including waiting for a connection.
    pub latency: Duration,
    /// Connections open now.
    pub connections: u32,
    /// Of which idle.
    pub idle_connections: usize,
    /// The pool's limit.
    pub max_connections: u32,
    /// The engine.
    pub engine: Engine,
    /// The server's version string.
    pub server_version: String,
}

/// A database: a pool of connections to one PostgreSQL, MySQL/MariaDB or SQLite database,
/// with Context-bounded statements, transactions and migrations. Create it with [`new`].
///
/// Statements are ordinary sqlx queries on the [`sqlx::Any`] driver; [`Db::dialect`] writes
/// the SQL that differs between engines.
pub struct Db {
    pub(crate) shared: Arc<Shared>,
    pub(crate) pool: AnyPool,
    pub(crate) session_sql: String,
    redacted_url: String,
    closed: AtomicBool,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("url", &self.redacted_url)
            .field("dialect", &self.shared.dialect)
            .finish_non_exhaustive()
    }
}

/// Opens the database described by `config`: validates it, connects once to prove the URL,
/// credentials and server work (within `connect_timeout`), switches a SQLite file to WAL, and
/// opens the pool. Errors name the URL with its password redacted.
pub async fn new(ctx: &Context, config: Config, opts: Options) -> Result<Arc<Db>> {
    let target = config.target()?;
    let logger = opts.logger.named("db");
    let connected = match connect(ctx, &config, &target, &logger).await {
        Ok(connected) => connected,
        Err(err) => {
            // `err` names the URL in its redacted form only.
            logger.span(ctx, "db.new").in_scope(|| {
                tracing::warn!(url = %target.redacted, error = %err, "cannot open the database");
            });
            return Err(err);
        }
    };
    let in_memory = target.in_memory();
    let db = Db {
        shared: Arc::new(Shared {
            dialect: connected.dialect,
            secrets: target.secrets.clone(),
            statement_timeout: config.statement_timeout,
            logger,
            in_memory,
        }),
        pool: connected.pool,
        session_sql: connected.session_sql,
        redacted_url: target.redacted.clone(),
        closed: AtomicBool::new(false),
    };
    db.shared.logger.span(ctx, "db.new").in_scope(|| {
        tracing::info!(
            url = %db.redacted_url,
            engine = %db.shared.dialect.engine(),
            server_version = db.shared.dialect.server_version(),
            max_connections = db.pool.options().get_max_connections(),
            "database ready"
        );
    });
    Ok(Arc::new(db))
}

impl Db {
    /// The engine behind this database.
    pub fn engine(&self) -> Engine {
        self.shared.dialect.engine()
    }

    /// The SQL dialect of the server (placeholders, upsert, `RETURNING`, ...).
    pub fn dialect(&self) -> &Dialect {
        &self.shared.dialect
    }

    /// The URL with its password redacted, for messages.
    pub fn url(&self) -> &str {
        &self.redacted_url
    }

    /// The logger of this provider.
    pub fn logger(&self) -> &Logger {
        &self.shared.logger
    }

    /// The sqlx pool, for what the methods here do not cover (streams, `QueryBuilder`,
    /// `query_scalar`). Wrap such calls in [`Db::run`] to keep the Context's deadline.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// A pooled connection, waiting at most until the Context's deadline (and
    /// `pool.acquire_timeout`).
    pub(crate) async fn acquire(&self, ctx: &Context) -> Result<PoolConnection<Any>> {
        self.check_open()?;
        match ctx.run(self.pool.acquire()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(err)) => Err(self.shared.map(err)),
            Err(err) => Err(err.into()),
        }
    }

    /// Closes a connection whose statement was cut off (see `Shared::close_when_cut`).
    fn settle<T>(&self, conn: &mut PoolConnection<Any>, out: &Result<T>) {
        if let Err(err) = out
            && was_cut(err)
            && self.shared.close_when_cut()
        {
            conn.close_on_drop();
        }
    }

    /// Runs a statement that returns no rows; the result has the affected-row count (and, on
    /// MySQL/SQLite, `last_insert_id`).
    pub async fn execute(&self, ctx: &Context, query: Query<'_>) -> Result<AnyQueryResult> {
        let mut conn = self.acquire(ctx).await?;
        let out = self.shared.execute(ctx, &mut conn, query).await;
        self.settle(&mut conn, &out);
        out
    }

    /// Runs SQL without bind parameters, possibly several `;`-separated statements (DDL,
    /// scripts). Takes a literal or a [`crate::Sql`].
    pub async fn execute_raw(&self, ctx: &Context, sql: impl SqlSafeStr) -> Result<AnyQueryResult> {
        let mut conn = self.acquire(ctx).await?;
        let out = self
            .shared
            .execute_raw(ctx, &mut conn, sql.into_sql_str())
            .await;
        self.settle(&mut conn, &out);
        out
    }

    /// Every row, decoded as `T` (`#[derive(sqlx::FromRow)]` or a tuple).
    pub async fn fetch_all<T>(&self, ctx: &Context, query: QueryAs<'_, T>) -> Result<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
    {
        let mut conn = self.acquire(ctx).await?;
        let out = self.shared.fetch_all(ctx, &mut conn, query).await;
        self.settle(&mut conn, &out);
        out
    }

    /// The first row, or `None`.
    pub async fn fetch_optional<T>(&self, ctx: &Context, query: QueryAs<'_, T>) -> Result<Option<T>>
    where
        T: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
    {
        let mut conn = self.acquire(ctx).await?;
        let out = self.shared.fetch_optional(ctx, &mut conn, query).await;
        self.settle(&mut conn, &out);
        out
    }

    /// The first row; [`Error::NotFound`] when there is none.
    pub async fn fetch_one<T>(&self, ctx: &Context, query: QueryAs<'_, T>) -> Result<T>
    where
        T: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
    {
        self.fetch_optional(ctx, query)
            .await?
            .ok_or(Error::NotFound)
    }

    /// Runs an INSERT built by [`Dialect::insert`] with `Some(id_column)` and returns the
    /// generated id: through `RETURNING` where the server has it, `last_insert_id` elsewhere.
    pub async fn insert_returning_id(&self, ctx: &Context, query: Query<'_>) -> Result<i64> {
        let mut conn = self.acquire(ctx).await?;
        let out = self.shared.insert_returning_id(ctx, &mut conn, query).await;
        self.settle(&mut conn, &out);
        out
    }

    /// Runs any sqlx future (typically on [`Db::pool`]) under the Context's deadline capped by
    /// `statement_timeout`, mapping its error.
    ///
    /// ```no_run
    /// # async fn f(db: &keel_db::Db, ctx: &keel_clog::Context) -> keel_db::Result<()> {
    /// let n: i64 = db.run(ctx, sqlx::query_scalar("SELECT COUNT(*) FROM kv").fetch_one(db.pool())).await?;
    /// # Ok(()) }
    /// ```
    pub async fn run<T>(
        &self,
        ctx: &Context,
        fut: impl Future<Output = std::result::Result<T, sqlx::Error>>,
    ) -> Result<T> {
        self.check_open()?;
        self.shared.bounded(ctx, "db.run", fut).await
    }

    /// Checks that a statement round trip works and reports the pool's state.
    pub async fn health(&self, ctx: &Context) -> Result<Health> {
        let started = Instant::now();
        // Every engine returns an integer Any decodes as i64 (int4, BIGINT, INTEGER).
        let (one,): (i64,) = self.fetch_one(ctx, sqlx::query_as("SELECT 1")).await?;
        if one != 1 {
            return Err(Error::Decode(format!("SELECT 1 returned {one}")));
        }
        Ok(Health {
            latency: started.elapsed(),
            connections: self.pool.size(),
            idle_connections: self.pool.num_idle(),
            max_connections: self.pool.options().get_max_connections(),
            engine: self.engine(),
            server_version: self.shared.dialect.server_version().to_owned(),
        })
    }

    /// Closes every connection; later calls return [`Error::Closed`]. Idempotent.
    pub async fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.pool.close().await;
        tracing::info!(ns = self.shared.logger.namespace(), url = %self.redacted_url, "database closed");
        Ok(())
    }

    /// Whether [`Db::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}
