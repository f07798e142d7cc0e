//! Carrying a [`Context`] across process boundaries: HTTP headers and message headers.
//!
//! Two headers travel: `traceparent` (W3C trace context) and `keel-timeout-ms`, the time
//! left until the sender's deadline, so a callee never works longer than its caller waits.

use std::collections::HashMap;
use std::time::Duration;

use crate::Context;
use crate::trace_id::TraceParent;

/// The W3C trace-context header.
pub const TRACEPARENT_HEADER: &str = "traceparent";
/// The header carrying the caller's remaining time budget in milliseconds.
pub const TIMEOUT_HEADER: &str = "keel-timeout-ms";

/// Headers a [`Context`] can be read from: HTTP header maps, Kafka record headers, plain maps.
/// Implement it for your own carrier to use [`extract`].
pub trait Extractor {
    /// The value of `key` if present and valid UTF-8 (keys are lowercase).
    fn get_header(&self, key: &str) -> Option<&str>;
}

/// Headers a [`Context`] can be written to. Implement it for your own carrier to use [`inject`].
pub trait Injector {
    /// Sets `key` to `value`, replacing any previous value.
    fn set_header(&mut self, key: &str, value: String);
}

impl Extractor for http::HeaderMap {
    fn get_header(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|v| v.to_str().ok())
    }
}

impl Injector for http::HeaderMap {
    fn set_header(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.insert(name, value);
        }
    }
}

impl Extractor for HashMap<String, String> {
    fn get_header(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl Injector for HashMap<String, String> {
    fn set_header(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
}

/// Message headers as an ordered list of byte values (the shape of Kafka record headers); the
/// last value of a repeated header wins.
impl Extractor for [(String, Vec<u8>)] {
    fn get_header(&self, key: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

impl Extractor for Vec<(String, Vec<u8>)> {
    fn get_header(&self, key: &str) -> Option<&str> {
        self.as_slice().get_header(key)
    }
}

impl Injector for Vec<(String, Vec<u8>)> {
    fn set_header(&mut self, key: &str, value: String) {
        self.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
        self.push((key.to_owned(), value.into_bytes()));
    }
}

/// Writes the context's trace and remaining time budget into `carrier`.
pub fn inject<C: Injector + ?Sized>(ctx: &Context, carrier: &mut C) {
    carrier.set_header(TRACEPARENT_HEADER, ctx.trace_parent().to_string());
    if let Some(remaining) = ctx.remaining() {
        carrier.set_header(TIMEOUT_HEADER, remaining.as_millis().to_string());
    }
}

/// Builds the context of an incoming request or message.
///
/// A valid `traceparent` continues the caller's trace; a missing or malformed one starts a
/// new trace (a bad header from a client must never fail the request) and is logged at debug.
/// A `keel-timeout-ms` header becomes the deadline.
pub fn extract<C: Extractor + ?Sized>(carrier: &C) -> Context {
    let ctx = match carrier.get_header(TRACEPARENT_HEADER) {
        Some(value) => match TraceParent::parse(value) {
            Ok(parent) => Context::from_trace_parent(parent),
            Err(err) => {
                tracing::debug!(%err, "ignoring malformed traceparent; starting a new trace");
                Context::new()
            }
        },
        None => Context::new(),
    };
    match carrier
        .get_header(TIMEOUT_HEADER)
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        Some(ms) => ctx.with_timeout(Duration::from_millis(ms)),
        None => ctx,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_round_trip_keeps_trace_and_deadline() {
        let ctx = Context::new().with_timeout(Duration::from_secs(5));
        let mut headers = http::HeaderMap::new();
        inject(&ctx, &mut headers);
        let received = extract(&headers);
        assert_eq!(received.trace_id(), ctx.trace_id());
        assert_eq!(received.span_id(), ctx.span_id());
        let left = received.remaining().unwrap();
        assert!(left <= Duration::from_secs(5) && left > Duration::from_secs(4));
    }

    #[test]
    fn message_headers_round_trip() {
        let ctx = Context::new();
        let mut headers: Vec<(String, Vec<u8>)> = vec![("other".into(), b"x".to_vec())];
        inject(&ctx, &mut headers);
        inject(&ctx, &mut headers); // idempotent: no duplicate header
        assert_eq!(headers.len(), 2);
        assert_eq!(extract(&headers).trace_id(), ctx.trace_id());
    }

    #[test]
    fn malformed_or_missing_header_starts_a_new_trace() {
        let mut headers = HashMap::new();
        let fresh = extract(&headers);
        headers.insert(TRACEPARENT_HEADER.to_owned(), "garbage".to_owned());
        let other = extract(&headers);
        assert_ne!(fresh.trace_id(), other.trace_id());
        assert!(other.deadline().is_none());
    }
}
