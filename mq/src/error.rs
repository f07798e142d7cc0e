//! The one error type of keel-mq.

/// What can go wrong producing, consuming or administering topics.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is invalid; the message names the field.
    #[error("invalid mq config: {0}")]
    InvalidConfig(String),
    /// A topic or group name is not `[A-Za-z0-9._-]{1,249}`.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An argument is out of range (partitions, attempts, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A message is larger than `Config::max_message_bytes`.
    #[error(
        "message for {topic:?} is {size} bytes; the limit is {limit} (Config::max_message_bytes)"
    )]
    MessageTooLarge {
        /// The topic.
        topic: String,
        /// The message's size (key + payload + headers).
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The topic does not exist. keel never relies on topics being created implicitly.
    #[error(
        "topic {0:?} does not exist; create it with create_topic (brokers do not auto-create topics for keel)"
    )]
    UnknownTopic(String),
    /// The topic already exists.
    #[error("topic {0:?} already exists")]
    TopicExists(String),
    /// The broker could not be reached or refused the request.
    #[error("message broker unavailable: {0}")]
    Unavailable(String),
    /// The Context was cancelled.
    #[error("operation cancelled")]
    Cancelled,
    /// The Context's deadline (or the request timeout) passed.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// The provider was closed.
    #[error("the mq provider is closed")]
    Closed,
}

impl From<keel_clog::Error> for Error {
    fn from(err: keel_clog::Error) -> Self {
        match err {
            keel_clog::Error::Cancelled => Error::Cancelled,
            _ => Error::DeadlineExceeded,
        }
    }
}

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a handler returns when it could not process a message; the message is retried and,
/// after `max_attempts`, sent to the dead-letter topic with this text.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;
