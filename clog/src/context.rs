//! [`Context`]: the trace, deadline and cancellation that travel with every I/O call.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::trace_id::{SpanId, TraceId, TraceParent};
use crate::{Error, Result};

/// The first argument of every I/O method in keel.
///
/// A `Context` carries
/// - the **trace**: a W3C-compatible trace id and the span id of the current hop, so that
///   every log line and exported span of one request can be found together;
/// - an optional **deadline**, which derived contexts can only shorten;
/// - **cancellation**: cancelling a context cancels every context derived from it.
///
/// Cloning is cheap (an `Arc`). Derive, don't mutate: [`Context::with_timeout`],
/// [`Context::child`] and friends return new contexts.
///
/// ```
/// use std::time::Duration;
/// use keel_clog::Context;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let request = Context::new();
/// let db_call = request.with_timeout(Duration::from_millis(50));
/// assert_eq!(db_call.trace_id(), request.trace_id());
/// let out = db_call.run(async { 42 }).await;
/// assert_eq!(out.unwrap(), 42);
/// request.cancel();
/// assert!(db_call.is_done());
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Context {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    trace_id: TraceId,
    span_id: SpanId,
    sampled: bool,
    deadline: Option<Instant>,
    cancel: CancellationToken,
}

impl Default for Context {
    fn default() -> Self {
        Self::new()
    }
}

impl Context {
    /// A new root context: a fresh trace, no deadline, not cancelled.
    pub fn new() -> Self {
        Self::from_parts(
            TraceId::random(),
            SpanId::random(),
            true,
            None,
            CancellationToken::new(),
        )
    }

    /// A root context continuing a trace started elsewhere (for example a parsed `traceparent`).
    pub fn from_trace_parent(parent: TraceParent) -> Self {
        Self::from_parts(
            parent.trace_id,
            parent.span_id,
            parent.sampled,
            None,
            CancellationToken::new(),
        )
    }

    fn from_parts(
        trace_id: TraceId,
        span_id: SpanId,
        sampled: bool,
        deadline: Option<Instant>,
        cancel: CancellationToken,
    ) -> Self {
        Context {
            inner: Arc::new(Inner {
                trace_id,
                span_id,
                sampled,
                deadline,
                cancel,
            }),
        }
    }

    fn derive(&self, span_id: SpanId, deadline: Option<Instant>) -> Self {
        let deadline = match (self.inner.deadline, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Self::from_parts(
            self.inner.trace_id,
            span_id,
            self.inner.sampled,
            deadline,
            self.inner.cancel.child_token(),
        )
    }

    /// A derived context for a new hop of the same trace (a new span id). It is cancelled
    /// with its parent and keeps the parent's deadline.
    pub fn child(&self) -> Self {
        self.derive(SpanId::random(), None)
    }

    /// A derived context that must finish within `timeout` (or the parent's deadline, if sooner).
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        self.with_deadline(Instant::now() + timeout)
    }

    /// A derived context that must finish by `deadline` (or the parent's deadline, if sooner).
    pub fn with_deadline(&self, deadline: Instant) -> Self {
        self.derive(self.inner.span_id, Some(deadline))
    }

    /// A derived context that can be cancelled on its own (its parent stays live).
    pub fn with_cancel(&self) -> Self {
        self.derive(self.inner.span_id, None)
    }

    /// The trace this context belongs to.
    pub fn trace_id(&self) -> TraceId {
        self.inner.trace_id
    }

    /// The span id of the current hop.
    pub fn span_id(&self) -> SpanId {
        self.inner.span_id
    }

    /// Whether the trace is sampled (exported to OpenTelemetry).
    pub fn is_sampled(&self) -> bool {
        self.inner.sampled
    }

    /// The `traceparent` describing this hop, to send downstream.
    pub fn trace_parent(&self) -> TraceParent {
        TraceParent {
            trace_id: self.inner.trace_id,
            span_id: self.inner.span_id,
            sampled: self.inner.sampled,
        }
    }

    /// The deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.deadline
    }

    /// Time left until the deadline (zero once passed); `None` without a deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.inner
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Cancels this context and every context derived from it.
    pub fn cancel(&self) {
        self.inner.cancel.cancel();
    }

    /// Why this context is finished: `Some(Error::Cancelled)` or `Some(Error::DeadlineExceeded)`;
    /// `None` while it is still live.
    pub fn err(&self) -> Option<Error> {
        if self.inner.cancel.is_cancelled() {
            Some(Error::Cancelled)
        } else if self.inner.deadline.is_some_and(|d| Instant::now() >= d) {
            Some(Error::DeadlineExceeded)
        } else {
            None
        }
    }

    /// True once cancelled or past the deadline.
    pub fn is_done(&self) -> bool {
        self.err().is_some()
    }

    /// Resolves when the context is cancelled or its deadline passes, with the reason.
    pub async fn done(&self) -> Error {
        match self.inner.deadline {
            Some(deadline) => tokio::select! {
                _ = self.inner.cancel.cancelled() => Error::Cancelled,
                _ = tokio::time::sleep_until(deadline.into()) => Error::DeadlineExceeded,
            },
            None => {
                self.inner.cancel.cancelled().await;
                Error::Cancelled
            }
        }
    }

    /// Runs `fut` until it finishes or the context is done, whichever is first.
    /// A context that is already done does not poll `fut` at all.
    pub async fn run<F: Future>(&self, fut: F) -> Result<F::Output> {
        if let Some(err) = self.err() {
            return Err(err);
        }
        tokio::select! {
            biased;
            out = fut => Ok(out),
            err = self.done() => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deadline_only_shrinks() {
        let root = Context::new().with_timeout(Duration::from_secs(1));
        let longer = root.with_timeout(Duration::from_secs(10));
        assert!(longer.remaining().unwrap() <= Duration::from_secs(1));
        let shorter = root.with_timeout(Duration::from_millis(10));
        assert!(shorter.remaining().unwrap() <= Duration::from_millis(10));
    }

    #[tokio::test]
    async fn cancel_propagates_down_not_up() {
        let root = Context::new();
        let child = root.with_cancel();
        let grandchild = child.child();
        child.cancel();
        assert!(matches!(grandchild.err(), Some(Error::Cancelled)));
        assert!(root.err().is_none());
        root.cancel();
        assert!(root.is_done());
    }

    #[tokio::test]
    async fn run_stops_at_deadline() {
        let ctx = Context::new().with_timeout(Duration::from_millis(20));
        let out = ctx.run(std::future::pending::<()>()).await;
        assert!(matches!(out, Err(Error::DeadlineExceeded)));
        // An expired context does not even start the work.
        let out = ctx.run(async { 1 }).await;
        assert!(matches!(out, Err(Error::DeadlineExceeded)));
    }

    #[tokio::test]
    async fn run_stops_on_cancel_from_another_task() {
        let ctx = Context::new();
        let canceller = ctx.clone();
        tokio::spawn(async move { canceller.cancel() });
        let out = ctx.run(std::future::pending::<()>()).await;
        assert!(matches!(out, Err(Error::Cancelled)));
    }

    #[test]
    fn child_keeps_trace_and_gets_new_span() {
        let root = Context::new();
        let child = root.child();
        assert_eq!(root.trace_id(), child.trace_id());
        assert_ne!(root.span_id(), child.span_id());
    }
}
