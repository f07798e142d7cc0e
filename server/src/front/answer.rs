//! Long-poll answers as the bytes hyper would have written for them, encoded once and shared
//! by every client they go to.

use std::io::Write;

use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;

/// One answer, for clients that keep their connection and for those that asked to close it.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) keep_alive: Bytes,
    pub(crate) close: Bytes,
}

impl Answer {
    /// Encodes `response` (a complete body: the config center's answers are) for clients of
    /// both kinds: an answer shared by many.
    pub(crate) async fn encode(response: Response) -> Answer {
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        Answer {
            status: parts.status,
            keep_alive: Bytes::from(encode_with(&parts, &body, false)),
            close: Bytes::from(encode_with(&parts, &body, true)),
        }
    }

    /// Encodes `response` for one client (`close`: the connection ends after it).
    pub(crate) async fn encode_once(response: Response, close: bool) -> (StatusCode, Vec<u8>) {
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        (parts.status, encode_with(&parts, &body, close))
    }

    /// The bytes for a client that asked to close (or is closed at shutdown) or keeps it.
    pub(crate) fn bytes(&self, close: bool) -> &Bytes {
        if close { &self.close } else { &self.keep_alive }
    }
}

/// The bytes hyper would write for an answer of `parts` and `body`.
fn encode_with(parts: &axum::http::response::Parts, body: &[u8], close: bool) -> Vec<u8> {
    let status = parts.status;
    let mut out = Vec::with_capacity(256 + body.len());
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or("")
    );
    for (name, value) in &parts.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // As hyper: no length on a 304 (it has no body), and `connection: close` when the
    // connection ends after this answer.
    if status != StatusCode::NOT_MODIFIED {
        let _ = write!(out, "content-length: {}\r\n", body.len());
    }
    end_head(&mut out, close);
    out.extend_from_slice(body);
    out
}

/// Ends a head: `connection: close` when the connection ends after this answer, the `date`
/// (formatted once a second per thread, as hyper does), the blank line.
fn end_head(out: &mut Vec<u8>, close: bool) {
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"date: ");
    DATE.with_borrow_mut(|(second, text)| {
        let now = std::time::SystemTime::now();
        let this_second = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if *second != this_second || text.is_empty() {
            *second = this_second;
            *text = httpdate::fmt_http_date(now);
        }
        out.extend_from_slice(text.as_bytes());
    });
    out.extend_from_slice(b"\r\n\r\n");
}

thread_local! {
    static DATE: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((0, String::new())) };
}

/// A 200 answer with a JSON body, as the router sends it.
pub(crate) fn json_ok(body: &[u8], close: bool) -> Vec<u8> {
    ok_with(b"content-type: application/json\r\n", body, close)
}

/// A 200 answer with `headers` (whole lines) and `body`.
pub(crate) fn ok_with(headers: &[u8], body: &[u8], close: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(headers.len() + body.len() + 128);
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    out.extend_from_slice(headers);
    let _ = write!(out, "content-length: {}\r\n", body.len());
    end_head(&mut out, close);
    out.extend_from_slice(body);
    out
}

/// A 304 answer, as the router sends it.
pub(crate) fn not_modified(close: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(b"HTTP/1.1 304 Not Modified\r\n");
    end_head(&mut out, close);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;

    #[tokio::test]
    async fn answers_are_complete_http_responses() {
        let ok = Answer::encode(
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                "{\"code\":0}",
            )
                .into_response(),
        )
        .await;
        let text = String::from_utf8(ok.keep_alive.to_vec()).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(
            text.contains("content-type: application/json\r\n"),
            "{text}"
        );
        assert!(text.contains("content-length: 10\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\n{\"code\":0}"), "{text}");
        assert!(!text.contains("connection: close"));
        let closing = String::from_utf8(ok.bytes(true).to_vec()).unwrap();
        assert!(closing.contains("connection: close\r\n"), "{closing}");

        let unchanged = Answer::encode(StatusCode::NOT_MODIFIED.into_response()).await;
        let text = String::from_utf8(unchanged.keep_alive.to_vec()).unwrap();
        assert!(text.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{text}");
        assert!(!text.contains("content-length"), "{text}");
        assert!(text.ends_with("\r\n\r\n"), "{text}");
        // The same bytes but for the date (which may have just ticked).
        let undated = |bytes: &[u8]| {
            String::from_utf8_lossy(bytes)
                .lines()
                .filter(|l| !l.starts_with("date: "))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            undated(&not_modified(false)),
            undated(&unchanged.keep_alive)
        );
        assert_eq!(undated(&json_ok(b"{\"code\":0}", true)), undated(&ok.close));
    }
}
