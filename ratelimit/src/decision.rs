//! [`Decision`]: the limiter's answer.

use std::time::Duration;

/// Why the limiter answered the way it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The rule's bucket decided.
    Limit,
    /// No rule for the resource: the `unknown_rule` policy decided.
    UnknownRule,
    /// The backend of a distributed rule did not answer: the rule's `on_backend_error` policy
    /// decided (for `local`, the local bucket decided).
    BackendUnavailable,
}

/// Whether a request may proceed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// The request may proceed (its tokens were taken).
    pub allowed: bool,
    /// When refused: how long until the request could fit (for `Retry-After`). When the backend
    /// is down and the policy is closed: when it will be asked again. Otherwise zero.
    pub retry_after: Duration,
    /// Tokens left in the bucket after this request, when a bucket decided.
    pub remaining: Option<f64>,
    /// Why.
    pub basis: Basis,
}

impl Decision {
    pub(crate) fn by_policy(allowed: bool, basis: Basis, retry_after: Duration) -> Self {
        Decision {
            allowed,
            retry_after: if allowed { Duration::ZERO } else { retry_after },
            remaining: None,
            basis,
        }
    }
}
