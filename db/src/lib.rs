//! keel-db: SQL databases for keel services — a pooled connection to PostgreSQL (feature
//! `postgres`), MySQL/MariaDB (feature `mysql`) or SQLite (feature `sqlite`, the default and
//! the standalone backend), with Context-bounded statements, transactions that commit on `Ok`
//! and roll back on `Err` or panic, per-component migrations that refuse a newer database,
//! one place for dialect differences, and a stable shard router.
//!
//! ```
//! use keel_clog::{Context, Env};
//! use keel_db::{Config, Options};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> keel_db::Result<()> {
//! let ctx = &Context::new();
//! let config = Config::for_env(Env::Development).with_url("sqlite::memory:");
//! let db = keel_db::new(ctx, config, Options::default()).await?;
//! db.execute_raw(ctx, "CREATE TABLE kv (k VARCHAR(191) PRIMARY KEY, v TEXT NOT NULL)").await?;
//!
//! // Portable SQL: `?` placeholders and an upsert, written by the dialect for this engine.
//! let upsert = db.dialect().upsert("kv", &["k", "v"], &["k"], &["v"])?;
//! db.execute(ctx, sqlx::query(upsert.clone()).bind("greeting").bind("hello")).await?;
//! db.execute(ctx, sqlx::query(upsert).bind("greeting").bind("hi")).await?;
//!
//! let renamed: u64 = db.transaction(ctx, |tx| Box::pin(async move {
//!     let sql = tx.dialect().sql("UPDATE kv SET k = ? WHERE k = ?");
//!     let done = tx.execute(ctx, sqlx::query(sql).bind("salute").bind("greeting")).await?;
//!     Ok::<_, keel_db::Error>(done.rows_affected())
//! })).await?;
//! assert_eq!(renamed, 1);
//!
//! let sql = db.dialect().sql("SELECT v FROM kv WHERE k = ?");
//! let (v,): (String,) = db.fetch_one(ctx, sqlx::query_as(sql).bind("salute")).await?;
//! assert_eq!(v, "hi");
//! db.close().await?;
//! # Ok(()) }
//! ```
//!
//! Statements run on sqlx's [`sqlx::Any`] driver, so one piece of code serves all three
//! engines; keep to the portable column types (BIGINT/INTEGER/SMALLINT, DOUBLE, TEXT/VARCHAR,
//! BLOB/BYTEA) and store times as Unix milliseconds. See `docs/db.md` for configuration, the
//! migration workflow, the sharding scheme and failure behaviour.

mod config;
mod connect;
mod db;
mod dialect;
mod error;
mod exec;
mod migrate;
mod shard;
mod tx;
mod url;

pub use config::{Config, PoolConfig, SqliteConfig, Synchronous};
pub use db::{Db, Health, Options, new};
pub use dialect::{Dialect, Engine, MAX_IDENTIFIER_LEN, ReturningFor, Sql, validate_identifier};
pub use error::{ConstraintKind, Error, Result};
pub use migrate::{MigrationReport, Migrations};
pub use shard::{MAX_SLOTS, Shard, ShardKey, ShardLayout, ShardLocation, ShardRouter, shard_hash};
pub use tx::{BoxFuture, Tx};
pub use url::redact_url;

/// The sqlx this crate is built on, so services use the same version (`keel_db::sqlx::query`).
/// `sqlx::migrate!` needs `sqlx` as a direct dependency of the crate that calls it.
pub use sqlx;

/// A statement on the [`sqlx::Any`] driver: `sqlx::query(sql).bind(..)`.
pub type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// A statement whose rows decode as `T`: `sqlx::query_as(sql).bind(..)`.
pub type QueryAs<'q, T> = sqlx::query::QueryAs<'q, sqlx::Any, T, sqlx::any::AnyArguments>;

/// The result of a statement that returns no rows (affected rows, `last_insert_id`).
pub use sqlx::any::{AnyQueryResult, AnyRow};
