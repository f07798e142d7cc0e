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

/// The shared plumbing's errors, in the registry's terms.
impl From<keel_client_kit::Error> for Error {
    fn from(error: keel_client_kit::Error) -> Self {
        use keel_client_kit::Error as Kit;
        match error {
            Kit::Config(message) => Error::Config(message),
            Kit::Unavailable(message) => Error::Unavailable(message),
            Kit::Rejected {
                status,
                code,
                message,
            } => Error::Rejected {
                status,
                code,
                message,
            },
            Kit::Snapshot { path, message } => Error::Snapshot { path, message },
            other => Error::Unavailable(other.to_string()),
        }
    }
}

/// `Result` with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_keeps_its_code_so_register_again_is_recognised() {
        let again = Error::from(keel_client_kit::Error::Rejected {
            status: 404,
            code: i64::from(CODE_REGISTER_AGAIN),
            message: "instance x is not registered".into(),
        });
        assert!(again.is_register_again() && again.is_not_found(), "{again}");
        let plain = Error::from(keel_client_kit::Error::Rejected {
            status: 404,
            code: 404,
            message: String::new(),
        });
        assert!(!plain.is_register_again() && plain.is_not_found());
        let down = Error::from(keel_client_kit::Error::Unavailable("a: refused".into()));
        assert_eq!(down.to_string(), "no registry server answered: a: refused");
    }
}
