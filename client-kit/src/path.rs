//! The names the SDKs put into request paths and queries.

/// Percent-encodes everything but RFC 3986's unreserved characters, for a path segment or a
/// query value.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_and_query_values_are_percent_encoded() {
        assert_eq!(percent_encode("abc-1.2_~"), "abc-1.2_~");
        assert_eq!(
            percent_encode("providers:com.x.Api:1.0"),
            "providers%3Acom.x.Api%3A1.0"
        );
        assert_eq!(percent_encode("a b&c/d"), "a%20b%26c%2Fd");
    }
}
