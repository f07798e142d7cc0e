//! [`Config`] of the database provider, with per-environment defaults.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use keel_clog::Env;
use serde::{Deserialize, Serialize};

use crate::url::{Target, parse, redact_url};
use crate::{Engine, Error, Result};

/// When SQLite makes a commit durable (`PRAGMA synchronous`, in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// Every commit waits for an fsync of the WAL: an acknowledged write survives a killed
    /// process, an OS crash and a power cut. The default.
    Full,
    /// Commits are written to the WAL (the OS page cache) without an fsync; the WAL is synced
    /// at checkpoints. An acknowledged write survives a killed process (`kill -9`), but the last
    /// transactions can be lost on an OS crash or power cut. Faster on slow disks.
    Normal,
}

impl Synchronous {
    pub(crate) fn pragma_value(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// SQLite settings (standalone mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteConfig {
    /// Durability of commits; see [`Synchronous`].
    pub synchronous: Synchronous,
    /// How long a statement waits for another connection's write lock before failing with
    /// "database is locked".
    #[serde(with = "humantime_serde")]
    pub busy_timeout: Duration,
}

/// Connection pool settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Most connections open at once.
    pub max_connections: u32,
    /// Connections kept open even when idle (opened at start, so `new` proves they work).
    pub min_connections: u32,
    /// How long a caller waits for a free connection before `Unavailable`.
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
    /// Idle connections above `min_connections` are closed after this long.
    #[serde(with = "humantime_serde", default)]
    pub idle_timeout: Option<Duration>,
    /// Connections are replaced after this long (lets a load balancer or failover move them).
    #[serde(with = "humantime_serde", default)]
    pub max_lifetime: Option<Duration>,
}

/// Static settings of the database provider.
///
/// The engine follows from the URL's scheme: `sqlite://` is standalone, `postgres://` and
/// `mysql://`/`mariadb://` are distributed (cargo features `postgres`, `mysql`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `postgres://user:password@host:5432/db?sslmode=require`, `mysql://user:password@host:3306/db`,
    /// `sqlite://keel.db` (relative to `data_dir`), `sqlite:///abs/path.db` or `sqlite::memory:`
    /// (tests; one connection, gone when the provider closes).
    pub url: String,
    /// Directory of relative SQLite files; created by `new` when missing.
    pub data_dir: PathBuf,
    /// Connection pool.
    pub pool: PoolConfig,
    /// How long `new` may take to reach the server.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Upper bound of one statement (and of a whole transaction) when the Context has no
    /// earlier deadline. Also set on the server (PostgreSQL `statement_timeout`, MariaDB
    /// `max_statement_time`, MySQL `max_execution_time`), so abandoned statements stop there too.
    #[serde(with = "humantime_serde")]
    pub statement_timeout: Duration,
    /// SQLite settings (ignored by other engines).
    pub sqlite: SqliteConfig,
    /// PostgreSQL `application_name`, shown in `pg_stat_activity`.
    pub application_name: String,
}

impl fmt::Debug for Config {
    // By hand so that the password in `url` never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("url", &redact_url(&self.url))
            .field("data_dir", &self.data_dir)
            .field("pool", &self.pool)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("sqlite", &self.sqlite)
            .field("application_name", &self.application_name)
            .finish()
    }
}

impl Config {
    /// Development: a SQLite file `data/keel.db` in WAL mode with `synchronous = FULL`, four
    /// connections. Production: PostgreSQL at `postgres://keel@127.0.0.1:5432/keel` (set `url`
    /// with the real host and password), 20 connections.
    pub fn for_env(env: Env) -> Self {
        let sqlite = SqliteConfig {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
        };
        match env {
            Env::Development => Config {
                url: "sqlite://keel.db".into(),
                data_dir: PathBuf::from("data"),
                pool: PoolConfig {
                    // SQLite has one writer at a time; a few connections let readers run
                    // beside it (WAL) without piling up writers on the lock.
                    max_connections: 4,
                    min_connections: 1,
                    acquire_timeout: Duration::from_secs(5),
                    idle_timeout: None,
                    max_lifetime: None,
                },
                connect_timeout: Duration::from_secs(5),
                statement_timeout: Duration::from_secs(30),
                sqlite,
                application_name: "keel".into(),
            },
            Env::Production => Config {
                url: "postgres://keel@127.0.0.1:5432/keel".into(),
                data_dir: PathBuf::from("data"),
                pool: PoolConfig {
                    max_connections: 20,
                    min_connections: 2,
                    acquire_timeout: Duration::from_secs(5),
                    idle_timeout: Some(Duration::from_secs(600)),
                    max_lifetime: Some(Duration::from_secs(1800)),
                },
                connect_timeout: Duration::from_secs(5),
                statement_timeout: Duration::from_secs(30),
                sqlite,
                application_name: "keel".into(),
            },
        }
    }

    /// The same config with another URL.
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// The engine named by `url`.
    pub fn engine(&self) -> Result<Engine> {
        crate::url::engine_of(self.url.trim())
    }

    /// `url` with its password replaced by `***`.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    /// Checks every field without side effects.
    pub fn validate(&self) -> Result<()> {
        self.target().map(|_| ())
    }

    /// Validates and resolves the URL (pure).
    pub(crate) fn target(&self) -> Result<Target> {
        let invalid = |msg: String| Err(Error::InvalidConfig(msg));
        let p = &self.pool;
        if p.max_connections == 0 {
            return invalid("pool.max_connections must be at least 1".into());
        }
        if p.min_connections > p.max_connections {
            return invalid(format!(
                "pool.min_connections ({}) is above pool.max_connections ({})",
                p.min_connections, p.max_connections
            ));
        }
        if p.acquire_timeout.is_zero() {
            return invalid("pool.acquire_timeout must be positive".into());
        }
        if p.idle_timeout.is_some_and(|d| d.is_zero())
            || p.max_lifetime.is_some_and(|d| d.is_zero())
        {
            return invalid(
                "pool.idle_timeout and pool.max_lifetime must be positive (or absent)".into(),
            );
        }
        if self.connect_timeout.is_zero() || self.statement_timeout.is_zero() {
            return invalid("connect_timeout and statement_timeout must be positive".into());
        }
        if self.sqlite.busy_timeout.is_zero() {
            return invalid("sqlite.busy_timeout must be positive".into());
        }
        if self.application_name.len() > 63
            || !self
                .application_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return invalid(format!(
                "application_name {:?} must be at most 63 of [A-Za-z0-9._-]",
                self.application_name
            ));
        }
        parse(&self.url, &self.data_dir, &self.application_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "sqlite")]
    #[test]
    fn defaults_validate() {
        let dev = Config::for_env(Env::Development);
        dev.validate().unwrap();
        assert_eq!(dev.engine().unwrap(), Engine::Sqlite);
        let file = dev.target().unwrap().sqlite_file.unwrap();
        assert!(
            file.is_absolute() && file.ends_with("data/keel.db"),
            "{file:?}"
        );
        let prod = Config::for_env(Env::Production);
        assert_eq!(prod.engine().unwrap(), Engine::Postgres);
        if cfg!(feature = "postgres") {
            prod.validate().unwrap();
        } else {
            assert!(matches!(
                prod.validate(),
                Err(Error::EngineNotCompiled {
                    feature: "postgres",
                    ..
                })
            ));
        }
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn bad_fields_are_named() {
        let base = Config::for_env(Env::Development);
        let mut c = base.clone();
        c.pool.max_connections = 0;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("max_connections")
        );
        let mut c = base.clone();
        c.pool.min_connections = 9;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("min_connections")
        );
        let mut c = base.clone();
        c.statement_timeout = Duration::ZERO;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("statement_timeout")
        );
        let mut c = base.clone();
        c.application_name = "x'; DROP".into();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("application_name")
        );
        let c = base.with_url("");
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("url is empty")
        );
    }

    #[test]
    fn debug_hides_the_password() {
        let c = Config::for_env(Env::Production).with_url("postgres://keel:hunter22@db/keel");
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter22"), "{shown}");
        assert!(shown.contains("keel:***@db"), "{shown}");
    }

    #[test]
    fn serde_round_trip_with_humantime() {
        let c = Config::for_env(Env::Production);
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"statement_timeout\":\"30s\""), "{json}");
        let back: Config = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }
}
