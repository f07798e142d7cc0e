//! Opening the pool: one probe connection first (so a bad URL, a refused login or an
//! unreachable server fails `new` with the driver's own reason instead of a pool timeout), then
//! the pool, with per-connection session settings applied by `after_connect`.

use std::str::FromStr;
use std::time::Duration;

use keel_clog::{Context, Logger};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Connection, Executor};

use crate::config::Config;
use crate::url::Target;
use crate::{Dialect, Engine, Error, Result};

/// What `new` hands to the provider.
pub(crate) struct Connected {
    pub(crate) pool: AnyPool,
    pub(crate) dialect: Dialect,
    /// Per-connection settings, re-applied after migrations changed them.
    pub(crate) session_sql: String,
}

pub(crate) async fn connect(
    ctx: &Context,
    config: &Config,
    target: &Target,
    logger: &Logger,
) -> Result<Connected> {
    install_drivers()?;
    if let Some(file) = &target.sqlite_file {
        create_parent_dir(file)?;
    }
    let connect_error = |reason: String| Error::Connect {
        url: target.redacted.clone(),
        reason: target.secrets.scrub(&reason),
    };
    let options = AnyConnectOptions::from_str(&target.connect_url)
        .map_err(|e| connect_error(e.to_string()))?;
    let within = ctx.with_timeout(config.connect_timeout);
    let timed_out = |err: keel_clog::Error| match err {
        keel_clog::Error::Cancelled => Error::Cancelled,
        _ => connect_error(format!(
            "no connection within {:?} (connect_timeout or the Context's deadline)",
            config.connect_timeout
        )),
    };

    let mut probe = within
        .run(AnyConnection::connect_with(&options))
        .await
        .map_err(timed_out)?
        .map_err(|e| connect_error(e.to_string()))?;
    let probed = within
        .run(probe_server(&mut probe, target, logger))
        .await
        .map_err(timed_out)?;
    // The probe is not needed any more; a failure to close it politely changes nothing.
    let _ = probe.close().await;
    let dialect = probed.map_err(|e| connect_error(e.to_string()))?;

    let session_sql = session_sql(&dialect, config);
    let pool_options = pool_options(config, target, session_sql.clone());
    let pool = within
        .run(pool_options.connect_with(options))
        .await
        .map_err(timed_out)?
        .map_err(|e| connect_error(e.to_string()))?;
    Ok(Connected {
        pool,
        dialect,
        session_sql,
    })
}

/// Reads the server version; on a SQLite file, switches it to WAL (a property of the file,
/// so once is enough, and doing it on every connection could fail on a busy database).
async fn probe_server(
    conn: &mut AnyConnection,
    target: &Target,
    logger: &Logger,
) -> std::result::Result<Dialect, sqlx::Error> {
    let version: String = sqlx::query_scalar(Dialect::version_query(target.engine))
        .fetch_one(&mut *conn)
        .await?;
    if target.sqlite_file.is_some() {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode = WAL")
            .fetch_one(&mut *conn)
            .await?;
        if !mode.eq_ignore_ascii_case("wal") {
            // Still durable with a rollback journal, only slower and with readers blocking
            // the writer; happens on file systems without shared memory (some network mounts).
            tracing::warn!(
                ns = logger.namespace(),
                journal_mode = mode,
                "SQLite refused WAL mode; keeping its journal mode"
            );
        }
    }
    Ok(Dialect::for_server(target.engine, &version))
}

/// Session settings every pooled connection gets.
fn session_sql(dialect: &Dialect, config: &Config) -> String {
    let ms = config.statement_timeout.as_millis();
    match dialect.engine() {
        Engine::Postgres => format!("SET statement_timeout = {ms}"),
        Engine::Mysql if dialect.is_mariadb() => {
            format!("SET SESSION max_statement_time = {:.3}", ms as f64 / 1000.0)
        }
        // MySQL can only bound read-only SELECTs on the server.
        Engine::Mysql => format!("SET SESSION max_execution_time = {ms}"),
        Engine::Sqlite => format!(
            "PRAGMA synchronous = {}; PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON",
            config.sqlite.synchronous.pragma_value(),
            config.sqlite.busy_timeout.as_millis()
        ),
    }
}

/// The session statement that lifts the server-side statement limit (for migrations).
pub(crate) fn unlimited_statement_sql(dialect: &Dialect) -> Option<&'static str> {
    match dialect.engine() {
        Engine::Postgres => Some("SET statement_timeout = 0"),
        Engine::Mysql if dialect.is_mariadb() => Some("SET SESSION max_statement_time = 0"),
        Engine::Mysql => Some("SET SESSION max_execution_time = 0"),
        Engine::Sqlite => None,
    }
}

fn pool_options(config: &Config, target: &Target, session_sql: String) -> AnyPoolOptions {
    let p = &config.pool;
    let options = AnyPoolOptions::new()
        .acquire_timeout(p.acquire_timeout)
        .after_connect(move |conn, _meta| {
            let sql = session_sql.clone();
            Box::pin(async move {
                conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql)))
                    .await?;
                Ok(())
            })
        });
    if target.in_memory() {
        // Every SQLite connection to `:memory:` is its own database: exactly one connection,
        // never recycled, so the data lives as long as the pool.
        options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None::<Duration>)
            .max_lifetime(None::<Duration>)
    } else {
        options
            .max_connections(p.max_connections)
            .min_connections(p.min_connections)
            .idle_timeout(p.idle_timeout)
            .max_lifetime(p.max_lifetime)
    }
}

/// sqlx's `Any` driver needs its drivers registered once per process.
fn install_drivers() -> Result<()> {
    // install_default_drivers is idempotent, but panics when another library registered a
    // different list through install_drivers; turn that into an error instead.
    std::panic::catch_unwind(sqlx::any::install_default_drivers).map_err(|_| {
        Error::InvalidConfig(
            "sqlx's Any drivers were already installed by other code with \
             sqlx::any::install_drivers; call sqlx::any::install_default_drivers instead"
                .into(),
        )
    })
}

fn create_parent_dir(file: &std::path::Path) -> Result<()> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir).map_err(|e| {
            Error::InvalidConfig(format!(
                "cannot create the data directory {}: {e}",
                dir.display()
            ))
        }),
        _ => Ok(()),
    }
}
