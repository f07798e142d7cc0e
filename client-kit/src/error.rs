//! The kit's error type. SDKs convert it into their own (`From<keel_client_kit::Error>`), so
//! the messages here are the part after the SDK's own prefix.

/// What went wrong in the plumbing. The message says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is invalid (a server URL).
    #[error("{0}")]
    Config(String),
    /// No node answered (each one's failure is listed), or the answer did not have the
    /// expected shape.
    #[error("no server answered: {0}")]
    Unavailable(String),
    /// A node answered but refused the request; retrying elsewhere would not help.
    #[error("the server refused the request ({status}, code {code}): {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The envelope's code (the HTTP status when the answer had no envelope).
        code: i64,
        /// The server's message.
        message: String,
    },
    /// A snapshot could not be read or written.
    #[error("snapshot {path}: {message}")]
    Snapshot {
        /// The snapshot file.
        path: String,
        /// What failed.
        message: String,
    },
}

/// `Result` with the kit's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
