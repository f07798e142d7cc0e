//! The one error type of keel-once.

use std::time::Duration;

/// What the work itself returned as its failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What can go wrong running work once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is invalid; the message names the field.
    #[error("invalid once config: {0}")]
    InvalidConfig(String),
    /// The idempotency key is empty or longer than `Config::max_key_bytes`.
    #[error("invalid idempotency key {key:?}: {reason}")]
    InvalidKey {
        /// The key (truncated).
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The TTL is out of range.
    #[error("invalid TTL {0:?}: use between 1ms and 10 years")]
    InvalidTtl(Duration),
    /// The work ran but its result is larger than `Config::max_result_bytes`; it was not
    /// cached, so a later call runs the work again.
    #[error(
        "the result for {key:?} is {size} bytes; the limit is {limit} (Config::max_result_bytes); it was not cached"
    )]
    ResultTooLarge {
        /// The key.
        key: String,
        /// The result's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The work returned an error; nothing was cached, so it can be retried.
    #[error("the work for {key:?} failed: {source}")]
    Failed {
        /// The key.
        key: String,
        /// The work's error.
        #[source]
        source: BoxError,
    },
    /// Another caller is running the work and did not finish within `Config::wait_timeout`.
    #[error("waited {waited:?} for another caller to finish {key:?}; try again later")]
    WaitTimeout {
        /// The key.
        key: String,
        /// How long this caller waited.
        waited: Duration,
    },
    /// A cached result could not be decoded as the requested type.
    #[error("the cached result for {key:?} does not decode: {source}")]
    Decode {
        /// The key.
        key: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The cache failed.
    #[error(transparent)]
    Cache(#[from] keel_cache::Error),
    /// The Context was cancelled.
    #[error("operation cancelled")]
    Cancelled,
    /// The Context's deadline passed.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// The provider was closed.
    #[error("the once provider is closed")]
    Closed,
}

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
