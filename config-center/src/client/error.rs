//! The client's error type.

/// What went wrong in the client. The message says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The [`ClientConfig`](super::ClientConfig) is invalid.
    #[error("config client settings: {0}")]
    Config(String),
    /// No server answered (each one's failure is listed).
    #[error("no config center server answered: {0}")]
    Unavailable(String),
    /// A server answered but refused the request (a namespace that does not exist or has no
    /// release yet, a bad name); retrying elsewhere would not help.
    #[error("the config center refused the request ({status}): {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// At start-up no server answered and a namespace has no snapshot to start from.
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
    /// The namespace is not one the client was configured with.
    #[error("namespace {0:?} is not one this client reads; add it to ClientConfig::namespaces")]
    UnknownNamespace(String),
    /// A namespace's configuration could not be turned into the requested type.
    #[error("namespace {namespace}: {message}")]
    Decode {
        /// The namespace.
        namespace: String,
        /// What did not fit.
        message: String,
    },
    /// The client was closed.
    #[error("the config client is closed")]
    Closed,
}

/// The shared plumbing's errors, in the config center's terms (its refusals carry no code).
impl From<keel_client_kit::Error> for Error {
    fn from(error: keel_client_kit::Error) -> Self {
        use keel_client_kit::Error as Kit;
        match error {
            Kit::Config(message) => Error::Config(message),
            Kit::Unavailable(message) => Error::Unavailable(message),
            Kit::Rejected {
                status, message, ..
            } => Error::Rejected { status, message },
            Kit::Snapshot { path, message } => Error::Snapshot { path, message },
            other => Error::Unavailable(other.to_string()),
        }
    }
}

/// `Result` with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
