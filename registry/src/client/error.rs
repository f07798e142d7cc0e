//! The client's error type.

use crate::CODE_REGISTER_AGAIN;

/// What went wrong in the registry client. The message says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The [`ClientConfig`](super::ClientConfig) is invalid.
    #[error("registry client settings: {0}")]
    Config(String),
    /// An argument is invalid (a service or group name); the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// No server answered (each one's failure is listed).
    #[error("no registry server answered: {0}")]
    Unavailable(String),
    /// A server answered but refused the request (a bad field, a missing register token, an
    /// instance it does not know); retrying elsewhere would not help.
    #[error("the registry refused the request ({status}, code {code}): {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The envelope's code (`20404`: the instance is not registered, register again).
        code: i64,
        /// The server's message.
        message: String,
    },
    /// At start-up no server answered and the service has no snapshot to start from.
    #[error("{0}")]
    NoSource(String),
    /// A snapshot could not be read or written.
    #[error("snapshot {path}: {message}")]
    Snapshot {
        /// The snapshot file.
        path: String,
        /// What failed.
        message: String,
    },
    /// The client (or this registration) was closed.
    #[error("the registry client is closed")]
    Closed,
}

impl Error {
    /// True when the registry answered that it does not know the instance (it expired or was
    /// removed): the instance must be registered again.
    pub fn is_register_again(&self) -> bool {
        matches!(self, Error::Rejected { code, .. } if *code == i64::from(CODE_REGISTER_AGAIN))
    }

    /// True for a 404 of any kind: the instance (or service) is not there.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, Error::Rejected { status: 404, .. })
    }
}

/// `Result` with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
