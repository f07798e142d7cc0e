//! The one error type of keel-coord.

use std::time::Duration;

/// What can go wrong talking to the coordination store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is invalid; the message names the field.
    #[error("invalid coord config: {0}")]
    InvalidConfig(String),
    /// A key or prefix is empty, too long or has characters keel does not allow.
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given.
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
    /// An argument is out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A TTL is zero, negative or out of range.
    #[error("invalid TTL {0:?}: use between 1s and 1 day")]
    InvalidTtl(Duration),
    /// A compare-and-set found another revision than expected.
    #[error("conflict on {key:?}: expected revision {expected}, found {actual} (0 = absent)")]
    Conflict {
        /// The key.
        key: String,
        /// The revision the caller expected (0 = absent).
        expected: i64,
        /// The key's current modification revision (0 = absent).
        actual: i64,
    },
    /// The requested revision was compacted away; re-list and watch from the listing's revision.
    #[error(
        "revision {requested} is compacted (history starts after {compact_revision}); list again and watch from the listing's revision"
    )]
    Compacted {
        /// The revision asked for.
        requested: i64,
        /// The store's compaction point.
        compact_revision: i64,
    },
    /// The lease does not exist (expired or revoked).
    #[error("lease {0:x} not found: it expired or was revoked")]
    LeaseNotFound(i64),
    /// A lease this operation depends on was lost.
    #[error("lease {0:x} was lost")]
    LeaseLost(i64),
    /// A stored value is not valid JSON for the requested type.
    #[error("value of {key:?} is not valid JSON for the requested type: {source}")]
    Decode {
        /// The key read.
        key: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A configuration under watch failed validation.
    #[error("invalid configuration at {prefix:?}: {reason}")]
    InvalidValue {
        /// The watched prefix.
        prefix: String,
        /// What the validator said.
        reason: String,
    },
    /// The instance-id space `0..max` is fully taken.
    #[error("no free instance id in 0..{max} for {service:?}")]
    NoFreeId {
        /// The service whose ids are exhausted.
        service: String,
        /// The size of the id space.
        max: u32,
    },
    /// The backend could not be reached or answered with an error.
    #[error("coordination backend unavailable: {0}")]
    Unavailable(String),
    /// The Context was cancelled.
    #[error("operation cancelled")]
    Cancelled,
    /// The Context's deadline (or the request timeout) passed.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// The provider was closed.
    #[error("the coord provider is closed")]
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
