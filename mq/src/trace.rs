//! The trace headers on the hot path: written into every message sent, read from every message
//! consumed.
//!
//! keel-clog's `inject` and `TraceParent::parse` are general (any carrier, any version of the
//! header) and go through `fmt` and `str::split`; at a million messages a second that was a
//! fifth of the broker's cost. Here the canonical version-00 form is written and read byte by
//! byte, anything else falls back to keel-clog, and consumers reuse the Context of the previous
//! message when it carried the very same `traceparent` (one producer Context sending a burst).

use std::cell::RefCell;
use std::sync::Arc;

use keel_clog::{Context, SpanId, TIMEOUT_HEADER, TRACEPARENT_HEADER, TraceId, TraceParent};

use crate::backend::Headers;

/// `00-` + 32 hex digits + `-` + 16 hex digits + `-` + 2 hex digits.
const CANONICAL_LEN: usize = 55;
/// Every byte as two lowercase hex digits: formatting goes a byte, not a nibble, at a time.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0; 2]; 256];
    let mut i = 0;
    while i < 256 {
        pairs[i] = [HEX[i >> 4], HEX[i & 0xf]];
        i += 1;
    }
    pairs
};

thread_local! {
    /// The headers last built on this thread for a message without headers of its own.
    static LAST_HEADERS: RefCell<Option<(TraceParent, Headers)>> = const { RefCell::new(None) };
}

/// The final headers of a message sent under `ctx`: the application's plus keel's.
///
/// A producer sending many messages under one Context without a deadline and without headers
/// of its own gives them all the same headers; those are built once and shared (headers are
/// immutable once sent), which saves four allocations per message.
pub(crate) fn headers(ctx: &Context, mut headers: Vec<(String, Vec<u8>)>) -> Headers {
    if headers.is_empty() && ctx.deadline().is_none() {
        let parent = ctx.trace_parent();
        let shared = LAST_HEADERS.with(|last| {
            // Never contended (one thread); if it ever were, build the headers afresh.
            let mut last = last.try_borrow_mut().ok()?;
            match &*last {
                Some((cached, headers)) if *cached == parent => Some(Arc::clone(headers)),
                _ => {
                    let headers: Headers =
                        Arc::new([(TRACEPARENT_HEADER.to_owned(), format(&parent))]);
                    *last = Some((parent, Arc::clone(&headers)));
                    Some(headers)
                }
            }
        });
        if let Some(shared) = shared {
            return shared;
        }
    }
    inject(ctx, &mut headers);
    headers.into()
}

/// Writes the Context's trace and remaining time budget into message headers; the same headers,
/// byte for byte, as `keel_clog::inject` (a header already present is replaced).
fn inject(ctx: &Context, headers: &mut Vec<(String, Vec<u8>)>) {
    let remaining = ctx.remaining();
    // Exactly the room needed: these headers are copied into the stored record right after.
    headers.reserve_exact(1 + usize::from(remaining.is_some()));
    set(headers, TRACEPARENT_HEADER, format(&ctx.trace_parent()));
    if let Some(remaining) = remaining {
        set(
            headers,
            TIMEOUT_HEADER,
            remaining.as_millis().to_string().into_bytes(),
        );
    }
}

fn set(headers: &mut Vec<(String, Vec<u8>)>, name: &str, value: Vec<u8>) {
    if !headers.is_empty() {
        headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }
    headers.push((name.to_owned(), value));
}

/// The `traceparent` value, as `TraceParent`'s `Display` writes it.
fn format(parent: &TraceParent) -> Vec<u8> {
    let mut out = [0u8; CANONICAL_LEN];
    let trace = parent.trace_id.to_u128();
    out[..3].copy_from_slice(b"00-");
    write_hex(&mut out[3..19], (trace >> 64) as u64);
    write_hex(&mut out[19..35], trace as u64);
    out[35] = b'-';
    write_hex(&mut out[36..52], parent.span_id.to_u64());
    out[52..].copy_from_slice(if parent.sampled { b"-01" } else { b"-00" });
    out.to_vec()
}

/// Writes `value` as 16 lowercase hex digits.
fn write_hex(out: &mut [u8], value: u64) {
    for (pair, byte) in out.chunks_exact_mut(2).zip(value.to_be_bytes()) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(byte)]);
    }
}

/// Parses a `traceparent` value: the canonical form directly, anything else (other versions,
/// surrounding whitespace, invalid values) through `TraceParent::parse`, so the outcome is
/// always the one keel-clog would give.
pub(crate) fn parse(value: &[u8]) -> Option<TraceParent> {
    parse_canonical(value).or_else(|| {
        std::str::from_utf8(value)
            .ok()
            .and_then(|v| TraceParent::parse(v).ok())
    })
}

fn parse_canonical(value: &[u8]) -> Option<TraceParent> {
    if value.len() != CANONICAL_LEN
        || !value.starts_with(b"00-")
        || value[35] != b'-'
        || value[52] != b'-'
    {
        return None;
    }
    let trace_id = TraceId::from_u128(parse_hex(&value[3..35])?)?;
    let span_id = SpanId::from_u64(u64::try_from(parse_hex(&value[36..52])?).ok()?)?;
    let flags = parse_hex(&value[53..55])?;
    Some(TraceParent {
        trace_id,
        span_id,
        sampled: flags & 1 == 1,
    })
}

fn parse_hex(digits: &[u8]) -> Option<u128> {
    // Two 64-bit halves: cheaper than shifting a u128 per digit.
    let split = digits.len().saturating_sub(16);
    let (high, low) = digits.split_at(split);
    Some((u128::from(parse_hex64(high)?) << 64) | u128::from(parse_hex64(low)?))
}

fn parse_hex64(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |value, &d| {
        let nibble = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return None,
        };
        Some((value << 4) | u64::from(nibble))
    })
}

/// The Contexts handed to one partition's handler.
///
/// A message's Context continues the producer's trace (from `traceparent`) without its
/// deadline. Messages sent under one producer Context carry the same `traceparent` (often the
/// very same shared headers); for a run of those, the Context built for the first is handed to
/// the next ones too — it is the same trace and span, and building one costs two allocations and
/// a parse. A Context that a handler cancelled is never handed on.
#[derive(Default)]
pub(crate) struct TraceContexts {
    last: Option<Cached>,
}

struct Cached {
    /// The headers the Context was last handed out for.
    headers: Headers,
    /// Their `traceparent` value.
    value: Vec<u8>,
    ctx: Context,
}

impl TraceContexts {
    /// The Context for a message with these headers: the producer's trace, or a new trace when
    /// `traceparent` is missing or malformed (as `keel_clog::extract` does, minus the deadline).
    pub(crate) fn context_for(&mut self, headers: &Headers) -> Context {
        if let Some(last) = &self.last
            && Arc::ptr_eq(&last.headers, headers)
            && !last.ctx.is_done()
        {
            return last.ctx.clone();
        }
        // The last value of a repeated header wins, as in keel-clog's Extractor.
        let Some(value) = headers
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(TRACEPARENT_HEADER))
            .map(|(_, v)| v.as_slice())
        else {
            return Context::new();
        };
        if let Some(last) = &mut self.last
            && last.value == value
            && !last.ctx.is_done()
        {
            last.headers = Arc::clone(headers);
            return last.ctx.clone();
        }
        let Some(parent) = parse(value) else {
            return Context::new();
        };
        let ctx = Context::from_trace_parent(parent);
        match &mut self.last {
            Some(last) => {
                // Reuse the buffer: no allocation when the trace changes.
                last.value.clear();
                last.value.extend_from_slice(value);
                last.headers = Arc::clone(headers);
                last.ctx = ctx.clone();
            }
            None => {
                self.last = Some(Cached {
                    headers: Arc::clone(headers),
                    value: value.to_vec(),
                    ctx: ctx.clone(),
                });
            }
        }
        ctx
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn inject_writes_what_keel_clog_writes() {
        for ctx in [
            Context::new(),
            Context::new().with_timeout(Duration::from_secs(3600)),
        ] {
            let mut ours = vec![
                ("other".to_owned(), b"x".to_vec()),
                ("TraceParent".to_owned(), b"stale".to_vec()),
            ];
            let mut theirs = ours.clone();
            inject(&ctx, &mut ours);
            keel_clog::inject(&ctx, &mut theirs);
            // The time left is read twice, a moment apart: compare it loosely.
            let timeout = |h: &mut Vec<(String, Vec<u8>)>| {
                let (_, v) = h.iter_mut().find(|(k, _)| k == TIMEOUT_HEADER)?;
                let ms: u64 = std::str::from_utf8(v).ok()?.parse().ok()?;
                v.clear();
                Some(ms)
            };
            match (timeout(&mut ours), timeout(&mut theirs)) {
                (Some(a), Some(b)) => assert!(a.abs_diff(b) < 1000, "{a} vs {b}"),
                (a, b) => assert_eq!(a, b),
            }
            assert_eq!(ours, theirs);
        }
        let unsampled = TraceParent {
            sampled: false,
            ..Context::new().trace_parent()
        };
        assert_eq!(format(&unsampled), unsampled.to_string().into_bytes());
    }

    #[test]
    fn parse_agrees_with_keel_clog() {
        let ctx = Context::new();
        let canonical = ctx.trace_parent().to_string();
        let upper = canonical.to_uppercase();
        for value in [
            canonical.as_str(),
            &upper,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-+1",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "garbage",
            "",
        ] {
            assert_eq!(
                parse(value.as_bytes()),
                TraceParent::parse(value).ok(),
                "{value:?}"
            );
        }
        assert_eq!(parse(&[0xff; CANONICAL_LEN]), None);
    }

    #[test]
    fn headers_are_shared_only_when_nothing_differs() {
        let ctx = Context::new();
        let first = headers(&ctx, Vec::new());
        assert!(Arc::ptr_eq(&first, &headers(&ctx, Vec::new())));
        let mut expected = Vec::new();
        keel_clog::inject(&ctx, &mut expected);
        assert_eq!(&*first, &expected[..]);
        // Own headers, a deadline or another trace: built for the message.
        let own = headers(&ctx, vec![("a".into(), b"1".to_vec())]);
        assert_eq!(own.len(), 2);
        let deadline = ctx.with_timeout(Duration::from_secs(60));
        assert_eq!(headers(&deadline, Vec::new()).len(), 2);
        let other = headers(&Context::new(), Vec::new());
        assert!(!Arc::ptr_eq(&first, &other));
        assert_ne!(first, other);
    }

    #[test]
    fn contexts_continue_each_message_trace() {
        let (a, b) = (Context::new(), Context::new());
        let headers = |ctx: &Context| -> Headers {
            let mut h = Vec::new();
            inject(ctx, &mut h);
            h.into()
        };
        let mut contexts = TraceContexts::default();
        let first = contexts.context_for(&headers(&a));
        assert_eq!(first.trace_id(), a.trace_id());
        assert_eq!(first.span_id(), a.span_id());
        assert!(first.deadline().is_none());
        let shared = headers(&a);
        assert_eq!(contexts.context_for(&shared).trace_id(), a.trace_id());
        assert_eq!(contexts.context_for(&shared).trace_id(), a.trace_id());
        assert_eq!(contexts.context_for(&headers(&b)).trace_id(), b.trace_id());
        // A cancelled Context is not handed to the next message.
        let shared = headers(&b);
        let cancelled = contexts.context_for(&shared);
        cancelled.cancel();
        let fresh = contexts.context_for(&shared);
        assert_eq!(fresh.trace_id(), b.trace_id());
        assert!(!fresh.is_done());
        fresh.cancel();
        let fresh = contexts.context_for(&headers(&b));
        assert_eq!(fresh.trace_id(), b.trace_id());
        assert!(!fresh.is_done());
        // No or a malformed traceparent: a new trace each time.
        let none: Headers = Arc::new([]);
        let once = contexts.context_for(&none);
        assert_ne!(once.trace_id(), contexts.context_for(&none).trace_id());
        let bad: Headers = Arc::new([(TRACEPARENT_HEADER.to_owned(), b"garbage".to_vec())]);
        let once = contexts.context_for(&bad);
        assert_ne!(once.trace_id(), contexts.context_for(&bad).trace_id());
    }
}
