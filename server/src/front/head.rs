//! Tells from the first bytes of a request whether it is one `keel serve` answers itself — a
//! single-namespace long poll, a config read or a Nacos heartbeat — without waiting for the
//! head of any other request.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri};
use bytes::Bytes;

/// Every native request handled here starts so.
const PREFIX: &[u8] = b"GET /api/v1/envs/";
/// A Nacos config read (`GET /nacos/v1/cs/configs?…`) starts so.
const NACOS_PREFIX: &[u8] = b"GET /nacos/v1/cs/configs?";
/// A Nacos listener poll (a `POST` with a form body) starts so.
const NACOS_LISTENER_PREFIX: &[u8] = b"POST /nacos/v1/cs/configs/listener";
/// A Nacos heartbeat (a `PUT`, its parameters in the query or a form body) starts so.
const NACOS_BEAT_PREFIX: &[u8] = b"PUT /nacos/v1/ns/instance/beat";
/// Every prefix of a request answered here.
const PREFIXES: [&[u8]; 4] = [
    PREFIX,
    NACOS_PREFIX,
    NACOS_LISTENER_PREFIX,
    NACOS_BEAT_PREFIX,
];
/// The prefixes of requests whose form body is read here; any other request with a body goes
/// to hyper.
const WITH_BODY: [&[u8]; 2] = [NACOS_LISTENER_PREFIX, NACOS_BEAT_PREFIX];
/// The largest body answered here (a listener's records: ~100 bytes per watched config; a
/// full beat: a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;
/// A longer head (or one with more headers) goes to hyper, which has the limits users know.
pub(crate) const MAX_HEAD: usize = 8 * 1024;
const MAX_HEADERS: usize = 32;

/// What the bytes read so far are.
#[derive(Debug)]
pub(crate) enum Head {
    /// They could still be a long poll: read more.
    Incomplete,
    /// Anything else: hyper serves it (including every malformed request, so it keeps
    /// answering those as it always has).
    Other,
    /// A complete head of a request answered here, nothing after it.
    Direct(Box<DirectHead>),
}

/// Which request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `GET .../namespaces/{ns}/notifications`.
    LongPoll,
    /// `GET .../namespaces/{ns}/configs`.
    Read,
    /// `GET /nacos/v1/cs/configs?…` (the names are in the query; the path fields are empty).
    NacosRead,
    /// `POST /nacos/v1/cs/configs/listener` (the records are in the body).
    NacosListen,
    /// `PUT /nacos/v1/ns/instance/beat` (its parameters in the query or the body).
    NacosBeat,
}

impl Kind {
    /// Whether a request of this kind may have a (form) body.
    fn has_body(self) -> bool {
        matches!(self, Kind::NacosListen | Kind::NacosBeat)
    }
}

/// A `GET .../namespaces/{ns}/notifications` or `.../configs` head.
#[derive(Debug)]
pub(crate) struct DirectHead {
    pub(crate) kind: Kind,
    pub(crate) env: String,
    pub(crate) app: String,
    pub(crate) cluster: String,
    pub(crate) namespace: String,
    /// Path and query, for the query and the rate-limit key.
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    /// The client asked to close the connection after the answer.
    pub(crate) close: bool,
    /// The request's body (only Nacos listener polls and heartbeats have one).
    pub(crate) body: Bytes,
}

impl DirectHead {
    /// The raw path segments `[env, app, cluster, namespace]` of a native request.
    pub(crate) fn names(&self) -> [&str; 4] {
        [&self.env, &self.app, &self.cluster, &self.namespace]
    }
}

/// Classifies `buf`, the bytes read so far from a connection at a request boundary.
pub(crate) fn classify(buf: &[u8]) -> Head {
    let could_be = |prefix: &[u8]| {
        let n = buf.len().min(prefix.len());
        buf[..n] == prefix[..n]
    };
    if !PREFIXES.iter().any(|p| could_be(p)) {
        return Head::Other;
    }
    if !PREFIXES.iter().any(|p| buf.starts_with(p)) {
        // Still a prefix of one of them (the first check): read more.
        return Head::Incomplete;
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            // A client that waits for `100 Continue` before sending its body: hyper answers it.
            if request
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case("expect"))
            {
                return Head::Other;
            }
            // Only listener polls and heartbeats have a body worth waiting for; any other
            // request with one goes to hyper at once.
            let length = match content_length(request.headers) {
                Some(n) if n > 0 && !WITH_BODY.iter().any(|p| buf.starts_with(p)) => None,
                length => length,
            };
            match length {
                // A body that is not all here yet.
                Some(n) if n <= MAX_BODY && buf.len() < len + n => Head::Incomplete,
                Some(n) if n <= MAX_BODY && buf.len() == len + n => {
                    direct(&request, Bytes::copy_from_slice(&buf[len..]))
                }
                // Pipelined requests after it (rare enough to leave to hyper), a body too large,
                // or a length hyper should judge.
                _ => Head::Other,
            }
        }
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => Head::Incomplete,
        _ => Head::Other,
    }
}

/// The request's `Content-Length` (0 when absent); `None` when it is not one number.
fn content_length(headers: &[httparse::Header<'_>]) -> Option<usize> {
    let mut found = None;
    for header in headers {
        if header.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(header.value)
                .ok()?
                .trim()
                .parse()
                .ok()?;
            if found.is_some_and(|f| f != n) {
                return None;
            }
            found = Some(n);
        }
    }
    Some(found.unwrap_or(0))
}

fn direct(request: &httparse::Request<'_, '_>, body: Bytes) -> Head {
    if request.version != Some(1) {
        return Head::Other;
    }
    let Some(target) = request.path else {
        return Head::Other;
    };
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    let method = request.method.unwrap_or_default();
    if method == "POST" && path == keel_nacos::NACOS_LISTENER_PATH {
        return direct_head(request, target, Kind::NacosListen, ["", "", "", ""], body);
    }
    if method == "PUT" && path == keel_nacos::NACOS_BEAT_PATH {
        return direct_head(request, target, Kind::NacosBeat, ["", "", "", ""], body);
    }
    if method != "GET" || !body.is_empty() {
        return Head::Other;
    }
    if path == keel_nacos::NACOS_READ_PATH {
        return direct_head(request, target, Kind::NacosRead, ["", "", "", ""], body);
    }
    let Some(rest) = path.strip_prefix("/api/v1/envs/") else {
        return Head::Other;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let [
        env,
        "apps",
        app,
        "clusters",
        cluster,
        "namespaces",
        namespace,
        last,
    ] = segments[..]
    else {
        return Head::Other;
    };
    let kind = match last {
        "notifications" => Kind::LongPoll,
        "configs" => Kind::Read,
        _ => return Head::Other,
    };
    // Percent-encoded names are decoded by the router; leave them to it.
    let names = [env, app, cluster, namespace];
    if names.iter().any(|n| n.is_empty() || n.contains('%')) {
        return Head::Other;
    }
    direct_head(request, target, kind, names, body)
}

/// The head of a request answered here, unless its headers send it to hyper.
fn direct_head(
    request: &httparse::Request<'_, '_>,
    target: &str,
    kind: Kind,
    [env, app, cluster, namespace]: [&str; 4],
    body: Bytes,
) -> Head {
    let Ok(uri) = Uri::try_from(target) else {
        return Head::Other;
    };
    let mut close = false;
    let mut map = HeaderMap::with_capacity(request.headers.len());
    for header in request.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            // Only listener polls and heartbeats have a body (already checked against its
            // length).
            if !kind.has_body() && header.value.trim_ascii() != b"0" {
                return Head::Other;
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("upgrade")
            || name.eq_ignore_ascii_case("expect")
        {
            return Head::Other;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    return Head::Other;
                }
            }
        }
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(header.value),
        ) else {
            return Head::Other;
        };
        map.append(name, value);
    }
    Head::Direct(Box::new(DirectHead {
        kind,
        env: env.to_owned(),
        app: app.to_owned(),
        cluster: cluster.to_owned(),
        namespace: namespace.to_owned(),
        uri,
        headers: map,
        close,
        body,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLL: &str = "GET /api/v1/envs/dev/apps/shop/clusters/default/namespaces/application/notifications?releaseKey=k&timeout=30s HTTP/1.1\r\nHost: x\r\n\r\n";

    #[test]
    fn a_long_poll_is_recognised_once_its_head_is_complete() {
        for end in 1..POLL.len() {
            assert!(
                matches!(classify(&POLL.as_bytes()[..end]), Head::Incomplete),
                "{end} bytes"
            );
        }
        let Head::Direct(head) = classify(POLL.as_bytes()) else {
            panic!("not a long poll");
        };
        assert_eq!(head.kind, Kind::LongPoll);
        assert_eq!(
            (&*head.env, &*head.app, &*head.cluster, &*head.namespace),
            ("dev", "shop", "default", "application")
        );
        assert_eq!(head.uri.query(), Some("releaseKey=k&timeout=30s"));
        assert!(!head.close);
    }

    #[test]
    fn anything_else_goes_to_hyper_at_its_first_differing_byte() {
        for other in [
            "POST /api/v1/envs/dev/apps HTTP/1.1\r\n",
            "GET /health HTTP/1.1\r\n",
            "GET /api/v1/envs/dev/apps/shop HTTP/1.1\r\n\r\n",
            "GET /api/v1/envs/dev/apps/shop/clusters/default/namespaces/application/items HTTP/1.1\r\n\r\n",
            "GET /api/v1/envs/d%65v/apps/shop/clusters/default/namespaces/application/notifications HTTP/1.1\r\n\r\n",
            "GET /api/v1/envs/dev/apps/shop/clusters/default/namespaces/application/notifications HTTP/1.0\r\n\r\n",
            "GET /api/v1/envs/dev/apps/shop/clusters/default/namespaces/application/notifications HTTP/1.1\r\nContent-Length: 3\r\n\r\n",
            "GET /api/v1/envs/dev/apps/shop/clusters/default/namespaces/application/notifications HTTP/1.1\r\nConnection: Upgrade\r\n\r\n",
        ] {
            assert!(matches!(classify(other.as_bytes()), Head::Other), "{other}");
        }
        let pipelined = format!("{POLL}{POLL}");
        assert!(matches!(classify(pipelined.as_bytes()), Head::Other));
    }

    #[test]
    fn a_nacos_config_read_is_recognised_too() {
        let read = "GET /nacos/v1/cs/configs?dataId=d&group=G HTTP/1.1\r\nHost: x\r\n\r\n";
        for end in 1..read.len() {
            assert!(
                matches!(classify(&read.as_bytes()[..end]), Head::Incomplete),
                "{end} bytes"
            );
        }
        let Head::Direct(head) = classify(read.as_bytes()) else {
            panic!("not a Nacos read");
        };
        assert_eq!(head.kind, Kind::NacosRead);
        assert_eq!(head.uri.query(), Some("dataId=d&group=G"));
        for other in [
            "GET /nacos/v1/cs/configs/listener HTTP/1.1\r\n\r\n",
            "POST /nacos/v1/cs/configs?dataId=d&group=G HTTP/1.1\r\n\r\n",
            "GET /nacos/v1/ns/instance/list?serviceName=s HTTP/1.1\r\n\r\n",
            "GET /nacos/v1/cs/configs?dataId=d&group=G HTTP/1.1\r\nContent-Length: 2\r\n\r\nab",
        ] {
            assert!(matches!(classify(other.as_bytes()), Head::Other), "{other}");
        }
    }

    #[test]
    fn a_nacos_listener_poll_is_recognised_with_its_whole_body() {
        let body = "Listening-Configs=d%02G%02m%02%01";
        let poll = format!(
            "POST /nacos/v1/cs/configs/listener HTTP/1.1\r\nHost: x\r\nLong-Pulling-Timeout: 30000\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        for end in 1..poll.len() {
            assert!(
                matches!(classify(&poll.as_bytes()[..end]), Head::Incomplete),
                "{end} bytes"
            );
        }
        let Head::Direct(head) = classify(poll.as_bytes()) else {
            panic!("not a listener poll");
        };
        assert_eq!(head.kind, Kind::NacosListen);
        assert_eq!(&head.body[..], body.as_bytes());
        let pipelined = format!("{poll}GET /health HTTP/1.1\r\n\r\n");
        assert!(matches!(classify(pipelined.as_bytes()), Head::Other));
        let huge = "POST /nacos/v1/cs/configs/listener HTTP/1.1\r\nContent-Length: 999999\r\n\r\n";
        assert!(matches!(classify(huge.as_bytes()), Head::Other));
        let chunked =
            "POST /nacos/v1/cs/configs/listener HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(matches!(classify(chunked.as_bytes()), Head::Other));
    }

    #[test]
    fn a_nacos_beat_is_recognised_with_or_without_a_form_body() {
        let light = "PUT /nacos/v1/ns/instance/beat?serviceName=s&ip=1.1.1.1&port=80 HTTP/1.1\r\nHost: x\r\n\r\n";
        for end in 1..light.len() {
            assert!(
                matches!(classify(&light.as_bytes()[..end]), Head::Incomplete),
                "{end} bytes"
            );
        }
        let Head::Direct(head) = classify(light.as_bytes()) else {
            panic!("not a beat");
        };
        assert_eq!(head.kind, Kind::NacosBeat);
        assert_eq!(head.uri.query(), Some("serviceName=s&ip=1.1.1.1&port=80"));
        assert!(head.body.is_empty());
        let body = "serviceName=s&beat=%7B%22ip%22%3A%221.1.1.1%22%7D";
        let full = format!(
            "PUT /nacos/v1/ns/instance/beat HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        assert!(matches!(
            classify(&full.as_bytes()[..full.len() - 1]),
            Head::Incomplete
        ));
        let Head::Direct(head) = classify(full.as_bytes()) else {
            panic!("not a beat");
        };
        assert_eq!(head.kind, Kind::NacosBeat);
        assert_eq!(&head.body[..], body.as_bytes());
        for other in [
            "PUT /nacos/v1/ns/instance/beats HTTP/1.1\r\n\r\n",
            "PUT /nacos/v1/ns/instance?serviceName=s HTTP/1.1\r\n\r\n",
            "POST /nacos/v1/ns/instance/beat HTTP/1.1\r\n\r\n",
            "PUT /nacos/v1/ns/instance/beat HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
        ] {
            assert!(matches!(classify(other.as_bytes()), Head::Other), "{other}");
        }
    }

    #[test]
    fn connection_close_and_an_empty_body_are_understood() {
        let head = POLL.replace(
            "Host: x\r\n",
            "Host: x\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n",
        );
        let Head::Direct(head) = classify(head.as_bytes()) else {
            panic!("not a long poll");
        };
        assert!(head.close);
    }

    #[test]
    fn a_config_read_is_recognised() {
        let read = "GET /api/v1/envs/dev/apps/shop/clusters/default/namespaces/application/configs?releaseKey=k HTTP/1.1\r\nHost: x\r\n\r\n";
        let Head::Direct(head) = classify(read.as_bytes()) else {
            panic!("not a read");
        };
        assert_eq!(head.kind, Kind::Read);
        assert_eq!(head.uri.query(), Some("releaseKey=k"));
    }
}
