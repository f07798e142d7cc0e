//! W3C trace-context identifiers: trace id, span id and the `traceparent` header value.

use std::fmt;

use crate::{Error, Result};

/// A 128-bit trace id, shared by every hop of one request. Never all zeros.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(u128);

/// A 64-bit span id identifying one hop (one operation) inside a trace. Never all zeros.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId(u64);

impl TraceId {
    /// A new random trace id.
    pub fn random() -> Self {
        loop {
            let id: u128 = rand::random();
            if id != 0 {
                return TraceId(id);
            }
        }
    }

    /// Wraps a raw value; `None` for the invalid all-zero id.
    pub fn from_u128(id: u128) -> Option<Self> {
        (id != 0).then_some(TraceId(id))
    }

    /// The raw value.
    pub fn to_u128(self) -> u128 {
        self.0
    }

    /// Parses 32 lowercase or uppercase hex digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        (hex.len() == 32).then_some(())?;
        parse_hex(hex.as_bytes()).and_then(Self::from_u128)
    }
}

impl SpanId {
    /// A new random span id.
    pub fn random() -> Self {
        loop {
            let id: u64 = rand::random();
            if id != 0 {
                return SpanId(id);
            }
        }
    }

    /// Wraps a raw value; `None` for the invalid all-zero id.
    pub fn from_u64(id: u64) -> Option<Self> {
        (id != 0).then_some(SpanId(id))
    }

    /// The raw value.
    pub fn to_u64(self) -> u64 {
        self.0
    }

    /// Parses 16 hex digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        (hex.len() == 16).then_some(())?;
        parse_hex(hex.as_bytes()).and_then(|v| Self::from_u64(v as u64))
    }
}

// Trace ids are formatted and parsed for every message and request that crosses a process
// boundary, so these avoid the general-purpose formatting machinery.
const HEX: &[u8; 16] = b"0123456789abcdef";

fn parse_hex(digits: &[u8]) -> Option<u128> {
    let mut value = 0u128;
    for &d in digits {
        let nibble = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return None,
        };
        value = (value << 4) | u128::from(nibble);
    }
    Some(value)
}

fn write_hex<const N: usize>(f: &mut fmt::Formatter<'_>, value: u128) -> fmt::Result {
    let mut buf = [0u8; N];
    for (i, slot) in buf.iter_mut().enumerate() {
        *slot = HEX[((value >> (4 * (N - 1 - i))) & 0xf) as usize];
    }
    // Only ASCII hex digits were written.
    f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex::<32>(f, self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex::<16>(f, u128::from(self.0))
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// The parsed content of a W3C `traceparent` header:
/// `00-<trace id>-<parent span id>-<flags>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace the request belongs to.
    pub trace_id: TraceId,
    /// The span of the caller.
    pub span_id: SpanId,
    /// Whether the caller sampled (recorded) the trace.
    pub sampled: bool,
}

impl TraceParent {
    /// Parses a header value. Unknown future versions are accepted as the spec requires
    /// (the first four fields are read, anything after them ignored); version `ff` is invalid.
    pub fn parse(value: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidTraceParent {
            value: value.chars().take(128).collect(),
            reason,
        };
        let value_trimmed = value.trim();
        let mut parts = value_trimmed.split('-');
        let version = parts.next().ok_or_else(|| invalid("empty value"))?;
        if version.len() != 2 || !version.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid("version is not two hex digits"));
        }
        if version.eq_ignore_ascii_case("ff") {
            return Err(invalid("version ff is forbidden"));
        }
        let trace = parts.next().ok_or_else(|| invalid("missing trace id"))?;
        let span = parts.next().ok_or_else(|| invalid("missing parent id"))?;
        let flags = parts.next().ok_or_else(|| invalid("missing flags"))?;
        if version == "00" && parts.next().is_some() {
            return Err(invalid("version 00 has exactly four fields"));
        }
        let trace_id = TraceId::from_hex(trace)
            .ok_or_else(|| invalid("trace id is not 32 hex digits or is all zeros"))?;
        let span_id = SpanId::from_hex(span)
            .ok_or_else(|| invalid("parent id is not 16 hex digits or is all zeros"))?;
        if flags.len() != 2 {
            return Err(invalid("flags are not two hex digits"));
        }
        let flags = u8::from_str_radix(flags, 16).map_err(|_| invalid("flags are not hex"))?;
        Ok(TraceParent {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
        })
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id,
            self.span_id,
            u8::from(self.sampled)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_spec_example() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceParent::parse(header).unwrap();
        assert_eq!(
            parsed.trace_id.to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(parsed.span_id.to_string(), "00f067aa0ba902b7");
        assert!(parsed.sampled);
        assert_eq!(parsed.to_string(), header);
    }

    #[test]
    fn rejects_malformed_values_with_a_reason() {
        for bad in [
            "",
            "00",
            "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            let err = TraceParent::parse(bad).unwrap_err();
            assert!(
                matches!(err, Error::InvalidTraceParent { .. }),
                "{bad:?} gave {err}"
            );
        }
    }

    #[test]
    fn accepts_future_versions_with_extra_fields() {
        let parsed =
            TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what")
                .unwrap();
        assert!(!parsed.sampled);
    }

    #[test]
    fn random_ids_are_never_zero_and_differ() {
        let a = TraceId::random();
        let b = TraceId::random();
        assert_ne!(a, b);
        assert_ne!(a.to_u128(), 0);
        assert_ne!(SpanId::random().to_u64(), 0);
    }
}
