//! The crate's error type.

/// What went wrong. Each variant maps to one HTTP status in the API (404, 409, 400, 500/503).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The app, cluster, namespace, item or release does not exist; the message names it.
    #[error("{0}")]
    NotFound(String),
    /// The write conflicts with the current state (it already exists, or a stale `version`).
    #[error("{0}")]
    Conflict(String),
    /// The request is invalid; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// A service the center depends on (coord, the database) is unreachable; retry later.
    #[error("{0}")]
    Unavailable(String),
    /// The database failed.
    #[error("storage: {0}")]
    Storage(#[from] keel_db::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
