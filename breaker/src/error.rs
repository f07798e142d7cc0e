//! The one error type of keel-breaker.

/// Why a call did not produce its own result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error<E> {
    /// The breaker is open (or half-open and at its trial limit): the call was not made.
    #[error("circuit {0:?} is open; the call was not made")]
    Open(String),
    /// The call was made and failed.
    #[error("{0}")]
    Inner(E),
}

/// Configuration problems.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A policy value is invalid; the message names it.
    #[error("invalid breaker policy: {0}")]
    InvalidPolicy(String),
    /// Loading or watching the policies in coord failed.
    #[error(transparent)]
    Coord(#[from] keel_coord::Error),
}
