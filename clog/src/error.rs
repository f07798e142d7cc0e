//! The one error type of keel-clog.

/// Everything that can go wrong while configuring logging or handling a [`crate::Context`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is invalid; the message names the field and what is allowed.
    #[error("invalid clog config: {0}")]
    InvalidConfig(String),
    /// A level or filter directive could not be parsed.
    #[error(
        "invalid log level or filter {directive:?}: {reason}. Use a level (trace, debug, info, warn, error, off) or directives such as \"info,keel_db=debug\""
    )]
    InvalidLevel {
        /// The directive as given.
        directive: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A `traceparent` value is not in W3C format.
    #[error(
        "invalid traceparent {value:?}: {reason}. Expected \"00-<32 hex trace id>-<16 hex span id>-<2 hex flags>\""
    )]
    InvalidTraceParent {
        /// The value as received.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The log file could not be opened, written or rotated.
    #[error("log file {path}: {source}")]
    File {
        /// The file involved.
        path: std::path::PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A global subscriber was already installed in this process.
    #[error(
        "a global tracing subscriber is already installed; call keel_clog::init once per process (or use Telemetry::build for a scoped one)"
    )]
    AlreadyInitialized,
    /// The OpenTelemetry exporter could not be built or flushed.
    #[error("opentelemetry: {0}")]
    Telemetry(String),
    /// The Context was cancelled before the operation finished.
    #[error("operation cancelled")]
    Cancelled,
    /// The Context's deadline passed before the operation finished.
    #[error("deadline exceeded")]
    DeadlineExceeded,
}

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
