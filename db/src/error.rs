//! The one error type of keel-db, and how sqlx's errors map onto it.

use std::fmt;

use crate::url::Secrets;

/// Which integrity constraint a statement violated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConstraintKind {
    /// A unique or primary key already has this value.
    Unique,
    /// A foreign key points nowhere.
    ForeignKey,
    /// A NOT NULL column got NULL.
    NotNull,
    /// A CHECK constraint failed.
    Check,
}

impl fmt::Display for ConstraintKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConstraintKind::Unique => "unique constraint",
            ConstraintKind::ForeignKey => "foreign key constraint",
            ConstraintKind::NotNull => "not-null constraint",
            ConstraintKind::Check => "check constraint",
        })
    }
}

/// What can go wrong with a database. Messages never contain a password: URLs appear in their
/// redacted form (`postgres://keel:***@db/keel`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is invalid; the message names the field.
    #[error("invalid db config: {0}")]
    InvalidConfig(String),
    /// The database URL cannot be parsed or has an unsupported scheme.
    #[error("invalid database URL {url}: {reason}")]
    InvalidUrl {
        /// The URL, password redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL names an engine whose driver this build does not have.
    #[error(
        "database URL {url} needs keel-db's `{feature}` cargo feature, which this build does not enable"
    )]
    EngineNotCompiled {
        /// The URL, password redacted.
        url: String,
        /// The cargo feature to enable.
        feature: &'static str,
    },
    /// The server could not be reached or refused the connection at start.
    #[error(
        "cannot connect to {url}: {reason}. Check that the server runs and is reachable, and the user, password and database name"
    )]
    Connect {
        /// The URL, password redacted.
        url: String,
        /// Why, as the driver said it (passwords scrubbed).
        reason: String,
    },
    /// No connection could be had or the connection broke (network, server restart, pool
    /// exhausted); retrying later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A statement violated an integrity constraint (for example a duplicate key).
    #[error("{kind} violated{}: {message}", constraint.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Constraint {
        /// Which kind.
        kind: ConstraintKind,
        /// The constraint's name, when the database reports it.
        constraint: Option<String>,
        /// The database's message.
        message: String,
    },
    /// The database rejected a statement (syntax, missing table, lock timeout, ...).
    #[error("the database rejected the statement{}: {message}", code.as_deref().map(|c| format!(" (code {c})")).unwrap_or_default())]
    Query {
        /// SQLSTATE or the engine's error code.
        code: Option<String>,
        /// The database's message.
        message: String,
    },
    /// A statement that must return a row returned none.
    #[error("no row found")]
    NotFound,
    /// A result column could not be turned into the requested Rust type.
    #[error("cannot decode a result: {0}")]
    Decode(String),
    /// An identifier given to the dialect is not a plain SQL name.
    #[error("invalid SQL identifier {ident:?}: {reason}")]
    InvalidIdentifier {
        /// The identifier as given.
        ident: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Migrations could not be applied; the message says which and why.
    #[error("migrations of {component:?}: {reason}")]
    Migration {
        /// The component whose migrations failed.
        component: String,
        /// What went wrong and what to do.
        reason: String,
    },
    /// The database was migrated by a newer release of the code: refusing to start.
    #[error(
        "the database schema of {component:?} is at migration {applied}, but this build only knows migrations up to {known} (unknown applied: {unknown:?}); a newer release migrated it. Deploy that release or a newer one: older code does not run against a newer schema"
    )]
    DatabaseNewerThanCode {
        /// The component whose migrations are ahead.
        component: String,
        /// The newest migration applied to the database.
        applied: i64,
        /// The newest migration this build knows.
        known: i64,
        /// Every applied migration this build does not know.
        unknown: Vec<i64>,
    },
    /// A COMMIT was sent but its answer was lost (connection broken or deadline reached): the
    /// transaction may or may not have been committed. Check before retrying.
    #[error("commit outcome unknown (the transaction may or may not be committed): {0}")]
    CommitUnknown(String),
    /// The Context was cancelled.
    #[error("operation cancelled")]
    Cancelled,
    /// The Context's deadline (or `statement_timeout`) passed.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// The provider was closed.
    #[error("the db provider is closed")]
    Closed,
}

impl From<keel_clog::Error> for Error {
    fn from(err: keel_clog::Error) -> Self {
        match err {
            keel_clog::Error::Cancelled => Error::Cancelled,
            keel_clog::Error::DeadlineExceeded => Error::DeadlineExceeded,
            other => Error::Unavailable(other.to_string()),
        }
    }
}

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Maps a sqlx error, scrubbing `secrets` out of every message.
    pub(crate) fn from_sqlx(err: sqlx::Error, secrets: &Secrets) -> Error {
        let scrub = |s: String| secrets.scrub(&s);
        match err {
            sqlx::Error::Database(db) => {
                let message = scrub(db.message().to_owned());
                let code = db.code().map(|c| c.into_owned());
                // The server's own statement limit (statement_timeout / max_statement_time /
                // max_execution_time) is the same event as a client-side deadline.
                if matches!(code.as_deref(), Some("57014" | "70100"))
                    || message.contains("maximum statement execution time exceeded")
                {
                    return Error::DeadlineExceeded;
                }
                let constraint = db.constraint().map(str::to_owned);
                let kind = match db.kind() {
                    sqlx::error::ErrorKind::UniqueViolation => Some(ConstraintKind::Unique),
                    sqlx::error::ErrorKind::ForeignKeyViolation => Some(ConstraintKind::ForeignKey),
                    sqlx::error::ErrorKind::NotNullViolation => Some(ConstraintKind::NotNull),
                    sqlx::error::ErrorKind::CheckViolation => Some(ConstraintKind::Check),
                    _ => None,
                };
                match kind {
                    Some(kind) => Error::Constraint {
                        kind,
                        constraint,
                        message,
                    },
                    None => Error::Query { code, message },
                }
            }
            sqlx::Error::RowNotFound => Error::NotFound,
            sqlx::Error::PoolClosed => Error::Closed,
            sqlx::Error::PoolTimedOut => Error::Unavailable(
                "no connection became free within pool.acquire_timeout: the pool is exhausted \
                 (raise pool.max_connections or find long-held connections) or the server is down"
                    .into(),
            ),
            sqlx::Error::Io(e) => Error::Unavailable(scrub(format!("I/O: {e}"))),
            sqlx::Error::Tls(e) => Error::Unavailable(scrub(format!("TLS: {e}"))),
            sqlx::Error::Protocol(e) => Error::Unavailable(scrub(format!("protocol: {e}"))),
            sqlx::Error::WorkerCrashed => {
                Error::Unavailable("the SQLite worker thread crashed".into())
            }
            e @ (sqlx::Error::TypeNotFound { .. }
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::AnyDriverError(_)) => Error::Decode(scrub(e.to_string())),
            sqlx::Error::Configuration(e) => Error::InvalidConfig(scrub(e.to_string())),
            other => Error::Query {
                code: None,
                message: scrub(other.to_string()),
            },
        }
    }

    /// True for errors after which retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Unavailable(_) | Error::Connect { .. } | Error::DeadlineExceeded
        )
    }
}
