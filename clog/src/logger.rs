//! [`Logger`]: hierarchical namespaces (`order` → `order.db`) and the spans that put a
//! namespace and a trace id on every line logged inside them.

use std::sync::Arc;

use tracing::Span;

use crate::Context;

/// The `target` of the spans created by [`Logger::span`] and [`Context::span`]. The level
/// filter always lets these spans through, so that a warning logged under a request still
/// carries its trace id when the level is `warn`.
pub const SPAN_TARGET: &str = "keel";

/// A named place in the program's log hierarchy.
///
/// Every keel provider takes a `Logger` in its `Options` and names its own child
/// (`logger.named("db")`), so a line says both which service and which component wrote it.
///
/// ```
/// use keel_clog::{Context, Logger};
///
/// let logger = Logger::new("order").named("db");
/// assert_eq!(logger.namespace(), "order.db");
/// let ctx = Context::new();
/// let _guard = logger.span(&ctx, "insert").entered();
/// tracing::info!(rows = 1, "inserted"); // carries ns=order.db and ctx's trace id
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logger {
    namespace: Arc<str>,
}

impl Logger {
    /// A root logger. Characters other than letters, digits, `_`, `-` and `.` are replaced
    /// by `_`, and empty segments are dropped, so any input gives a usable namespace.
    pub fn new(namespace: &str) -> Self {
        Logger {
            namespace: sanitize(namespace).into(),
        }
    }

    /// A child logger: `Logger::new("order").named("db")` is `order.db`.
    pub fn named(&self, child: &str) -> Self {
        let child = sanitize(child);
        let namespace = match (self.namespace.is_empty(), child.is_empty()) {
            (_, true) => self.namespace.to_string(),
            (true, false) => child,
            (false, false) => format!("{}.{}", self.namespace, child),
        };
        Logger {
            namespace: namespace.into(),
        }
    }

    /// The dotted namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// A span for one operation under `ctx`: log lines inside it carry this namespace and
    /// the context's trace and span ids; with OpenTelemetry on, it is exported as a span named
    /// `operation` in the context's trace.
    pub fn span(&self, ctx: &Context, operation: &str) -> Span {
        make_span(ctx, Some(&self.namespace), operation)
    }
}

impl Default for Logger {
    fn default() -> Self {
        Logger::new("keel")
    }
}

impl Context {
    /// A span for one operation under this context, without a namespace (see [`Logger::span`]).
    pub fn span(&self, operation: &str) -> Span {
        make_span(self, None, operation)
    }
}

fn sanitize(raw: &str) -> String {
    raw.split('.')
        .map(|segment| {
            segment
                .trim()
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        })
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(".")
}

fn make_span(ctx: &Context, namespace: Option<&str>, operation: &str) -> Span {
    let span = tracing::info_span!(
        target: SPAN_TARGET,
        "keel",
        otel.name = operation,
        ns = tracing::field::Empty,
        trace_id = %ctx.trace_id(),
        span_id = %ctx.span_id(),
    );
    if let Some(ns) = namespace {
        span.record("ns", ns);
    }
    #[cfg(feature = "otlp")]
    crate::otel::attach_parent(&span, ctx);
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_nest_and_are_sanitized() {
        let root = Logger::new(" order ");
        assert_eq!(root.namespace(), "order");
        assert_eq!(root.named("db").named("pool").namespace(), "order.db.pool");
        assert_eq!(root.named("a b/c").namespace(), "order.a_b_c");
        assert_eq!(root.named("").namespace(), "order");
        assert_eq!(Logger::new("").named("x").namespace(), "x");
        assert_eq!(Logger::new("a..b.").namespace(), "a.b");
    }
}
