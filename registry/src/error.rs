//! The crate's error type.

/// What went wrong. Each variant maps to one HTTP status in the API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The service, group or instance does not exist; the message names it.
    #[error("{0}")]
    NotFound(String),
    /// A heartbeat or update for an instance the registry does not know (it expired or was
    /// never registered): the client must register again.
    #[error("instance {0} is not registered (it expired or was removed); register it again")]
    UnknownInstance(String),
    /// The write conflicts with the current state (it already exists, or it is in use).
    #[error("{0}")]
    Conflict(String),
    /// The request is invalid; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// The caller may not do this (a group's register tokens); the message says why.
    #[error("{0}")]
    Forbidden(String),
    /// A service the registry depends on (coord, the database) is unreachable; retry later.
    #[error("{0}")]
    Unavailable(String),
    /// The database failed.
    #[error("storage: {0}")]
    Storage(#[from] keel_db::Error),
}

impl From<keel_coord::Error> for Error {
    fn from(e: keel_coord::Error) -> Self {
        Error::Unavailable(format!("coordination store: {e}"))
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
