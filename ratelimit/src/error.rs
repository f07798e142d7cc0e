//! The crate's error type.

/// What went wrong. A backend failure is not an error: it becomes a [`Decision`](crate::Decision)
/// by the rule's [`FailPolicy`](crate::FailPolicy).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A rule (or the whole rule set) is invalid; the message says which and why.
    #[error("invalid rate-limit rule: {0}")]
    InvalidRule(String),
    /// The static configuration is invalid.
    #[error("invalid rate-limit configuration: {0}")]
    InvalidConfig(String),
    /// The request itself is wrong (asks for 0 tokens, or more than the bucket holds).
    #[error("invalid rate-limit request: {0}")]
    InvalidRequest(String),
    /// The rules could not be loaded from coord.
    #[error("loading rate-limit rules from coord: {0}")]
    Coord(#[from] keel_coord::Error),
    /// The caller's Context was cancelled or its deadline passed before the decision.
    #[error("the request's context ended before the rate limiter decided")]
    Cancelled,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
