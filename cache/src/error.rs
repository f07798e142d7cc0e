//! The one error type of keel-cache.

/// What can go wrong talking to the cache. A cache **miss is not an error**: reads return
/// `Option`, and `None` means the key (or field, or member) does not exist.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is invalid; the message names the field.
    #[error("invalid cache config: {0}")]
    InvalidConfig(String),
    /// A key, field or member is empty or too long.
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given (truncated).
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A value is larger than `Config::max_value_bytes`.
    #[error("value for {key:?} is {size} bytes; the limit is {limit} (Config::max_value_bytes)")]
    ValueTooLarge {
        /// The key written.
        key: String,
        /// The value's size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// An argument is out of range (a zero TTL, a NaN score, a token-bucket rate of 0, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The key holds another type (e.g. a hash command on a string).
    #[error("{key:?} holds a {actual}, not a {expected}")]
    WrongType {
        /// The key.
        key: String,
        /// The type the command needs.
        expected: &'static str,
        /// The type the key holds.
        actual: &'static str,
    },
    /// An increment on a value that is not an integer, or that would overflow.
    #[error("{key:?} does not hold an integer (or the increment overflows)")]
    NotAnInteger {
        /// The key.
        key: String,
    },
    /// The backend could not be reached or answered with an error.
    #[error("cache backend unavailable: {0}")]
    Unavailable(String),
    /// The Context was cancelled.
    #[error("operation cancelled")]
    Cancelled,
    /// The Context's deadline (or the request timeout) passed.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// The provider was closed.
    #[error("the cache provider is closed")]
    Closed,
}

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
