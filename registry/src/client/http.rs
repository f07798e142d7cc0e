//! The HTTP side: the registry's instance and discovery endpoints, over a pooled HTTP/1
//! connection per node, with failover between nodes.
//!
//! A node that fails (cannot connect, 5xx/429, too slow, an answer that is not the registry's
//! JSON) is skipped for `server_cooldown` while another one is left; the node that answered
//! last is asked first next time, so a healthy client sticks to one node and its warm
//! connection. A refusal (4xx) is not a node failure: every node would say the same. Every
//! request the client sends is idempotent (registering the same address finds the same
//! instance), so sending it again to the next node is safe.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use hyper::{Method, Request, StatusCode, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::config::ClientConfig;
use super::error::{Error, Result};
use crate::{Discovery, InstanceStatus, NewInstance};

const USER_AGENT: &str = concat!("keel-registry-client/", env!("CARGO_PKG_VERSION"));

/// A long poll answered "no change" this much sooner than asked is a node shutting down (it
/// answers parked polls at once), not the end of the wait.
const EARLY_FRACTION: u32 = 10;

/// The nodes and the connections to them.
pub(crate) struct Transport {
    http: Client<HttpConnector, Full<Bytes>>,
    servers: Vec<Server>,
    /// The node asked first: the one that answered last.
    preferred: AtomicUsize,
    cooldown: Duration,
    request_timeout: Duration,
    tenant: Option<HeaderValue>,
    authorization: Option<HeaderValue>,
}

struct Server {
    /// Base URL without a trailing slash.
    base: String,
    /// Skipped until then (unless every node is).
    down_until: Mutex<Option<Instant>>,
}

/// A successful exchange with one node.
enum Answer {
    /// 2xx: the envelope's `data`.
    Data(serde_json::Value),
    /// 304.
    NotModified,
}

/// Why one node gave no answer.
enum Failure {
    /// Down, overloaded, too slow or not a registry: try another.
    Unavailable(String),
    /// It refused the request: another node would too.
    Rejected {
        status: u16,
        code: i64,
        message: String,
    },
}

/// What a discovery read returned.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// The service's instances (for a long poll: a revision other than the one sent).
    Changed(Discovery),
    /// Nothing changed within the wait.
    NotModified,
    /// The node answered "no change" early: it is shutting down. It is skipped for a while
    /// and the next poll goes elsewhere.
    NodeLeaving(String),
}

/// The answer to a registration (mirrors the server's `Registered`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Registered {
    pub(crate) instance_id: String,
    /// 0 for persistent instances, which send no heartbeats.
    #[serde(default)]
    pub(crate) heartbeat_interval_millis: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Beat {
    heartbeat_interval_millis: u64,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    data: serde_json::Value,
}

impl Transport {
    /// A transport to `config.servers` (already validated, so the headers are valid).
    pub(crate) fn new(config: &ClientConfig) -> Result<Self> {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.request_timeout));
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        let header = |what: &str, value: String| {
            let mut value = HeaderValue::try_from(value)
                .map_err(|e| Error::Config(format!("{what} cannot be sent as a header: {e}")))?;
            value.set_sensitive(what == "token");
            Ok::<_, Error>(value)
        };
        Ok(Transport {
            http,
            servers: config
                .servers
                .iter()
                .map(|s| Server {
                    base: s.trim_end_matches('/').to_owned(),
                    down_until: Mutex::new(None),
                })
                .collect(),
            preferred: AtomicUsize::new(0),
            cooldown: config.server_cooldown,
            request_timeout: config.request_timeout,
            tenant: config
                .tenant
                .clone()
                .map(|t| header("tenant", t))
                .transpose()?,
            authorization: config
                .token
                .as_ref()
                .map(|t| header("token", format!("Bearer {t}")))
                .transpose()?,
        })
    }

    /// `POST /api/v1/instances`.
    pub(crate) async fn register(&self, instance: &NewInstance) -> Result<Registered> {
        let path = "/api/v1/instances";
        let body = serde_json::to_vec(instance)
            .map_err(|e| Error::Invalid(format!("cannot encode the registration: {e}")))?;
        let data = self.data(Method::POST, path, Some(body)).await?;
        decode(path, data)
    }

    /// `PUT /api/v1/instances/{id}/heartbeat`: the interval to keep. An instance the registry
    /// does not know is [`Error::is_register_again`].
    pub(crate) async fn heartbeat(&self, id: &str) -> Result<Duration> {
        let path = format!("/api/v1/instances/{}/heartbeat", encode(id));
        let data = self.data(Method::PUT, &path, None).await?;
        let beat: Beat = decode(&path, data)?;
        Ok(Duration::from_millis(beat.heartbeat_interval_millis))
    }

    /// `PUT /api/v1/instances/{id}/status`.
    pub(crate) async fn set_status(&self, id: &str, status: InstanceStatus) -> Result<()> {
        let path = format!("/api/v1/instances/{}/status", encode(id));
        let body = serde_json::to_vec(&serde_json::json!({ "status": status }))
            .map_err(|e| Error::Invalid(format!("cannot encode the status: {e}")))?;
        self.data(Method::PUT, &path, Some(body)).await.map(drop)
    }

    /// `DELETE /api/v1/instances/{id}`.
    pub(crate) async fn deregister(&self, id: &str) -> Result<()> {
        let path = format!("/api/v1/instances/{}", encode(id));
        self.data(Method::DELETE, &path, None).await.map(drop)
    }

    /// `GET /api/v1/services/{name}/instances` (UP and healthy instances, as the server's
    /// default filter and protect threshold decide); with `poll`, a long poll: waits up to
    /// the duration for a revision other than the one given.
    pub(crate) async fn instances(
        &self,
        service: &str,
        group: &str,
        poll: Option<(i64, Duration)>,
    ) -> Result<Fetched> {
        let mut path = format!(
            "/api/v1/services/{}/instances?groupName={}",
            encode(service),
            encode(group)
        );
        let mut timeout = self.request_timeout;
        if let Some((revision, wait)) = poll {
            path.push_str(&format!("&revision={revision}&wait={}ms", wait.as_millis()));
            // The server holds the request for `wait`; give the answer time to come back.
            timeout += wait;
        }
        let started = Instant::now();
        let (index, answer) = self.call(Method::GET, &path, None, timeout).await?;
        match (answer, poll) {
            (Answer::Data(data), _) => Ok(Fetched::Changed(decode(&path, data)?)),
            (Answer::NotModified, Some((_, wait)))
                if started.elapsed() < wait - wait / EARLY_FRACTION =>
            {
                self.mark_down(index);
                Ok(Fetched::NodeLeaving(self.servers[index].base.clone()))
            }
            (Answer::NotModified, Some(_)) => Ok(Fetched::NotModified),
            (Answer::NotModified, None) => Err(Error::Unavailable(format!(
                "GET {path} answered 304 without being asked about a revision"
            ))),
        }
    }

    /// A request whose answer must carry data.
    async fn data(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<serde_json::Value> {
        match self
            .call(method.clone(), path, body, self.request_timeout)
            .await?
        {
            (_, Answer::Data(data)) => Ok(data),
            (_, Answer::NotModified) => Err(Error::Unavailable(format!(
                "{method} {path} answered 304 without being asked about a revision"
            ))),
        }
    }

    /// Sends the request to the nodes in failover order until one answers or refuses.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<(usize, Answer)> {
        let body = Bytes::from(body.unwrap_or_default());
        let mut failures = Vec::new();
        for index in self.order() {
            let server = &self.servers[index];
            match self
                .send(&server.base, method.clone(), path, body.clone(), timeout)
                .await
            {
                Ok(answer) => {
                    self.mark_up(index);
                    return Ok((index, answer));
                }
                Err(Failure::Rejected {
                    status,
                    code,
                    message,
                }) => {
                    self.mark_up(index);
                    return Err(Error::Rejected {
                        status,
                        code,
                        message,
                    });
                }
                Err(Failure::Unavailable(why)) => {
                    tracing::warn!(server = %server.base, %method, path, error = %why, "registry node failed; trying the next");
                    self.mark_down(index);
                    failures.push(format!("{}: {why}", server.base));
                }
            }
        }
        Err(Error::Unavailable(failures.join("; ")))
    }

    /// Every node once: the preferred one and those not cooling down first, then those
    /// cooling down, soonest back first (a last resort beats failing outright).
    fn order(&self) -> Vec<usize> {
        let now = Instant::now();
        let count = self.servers.len();
        let start = self.preferred.load(Ordering::Relaxed) % count.max(1);
        let mut up = Vec::with_capacity(count);
        let mut down = Vec::new();
        for offset in 0..count {
            let index = (start + offset) % count;
            match *lock(&self.servers[index].down_until) {
                Some(until) if until > now => down.push((until, index)),
                _ => up.push(index),
            }
        }
        down.sort();
        up.extend(down.into_iter().map(|(_, index)| index));
        up
    }

    fn mark_down(&self, index: usize) {
        *lock(&self.servers[index].down_until) = Some(Instant::now() + self.cooldown);
        if self.preferred.load(Ordering::Relaxed) == index {
            self.preferred
                .store((index + 1) % self.servers.len(), Ordering::Relaxed);
        }
    }

    fn mark_up(&self, index: usize) {
        *lock(&self.servers[index].down_until) = None;
        self.preferred.store(index, Ordering::Relaxed);
    }

    async fn send(
        &self,
        base: &str,
        method: Method,
        path: &str,
        body: Bytes,
        timeout: Duration,
    ) -> std::result::Result<Answer, Failure> {
        let url = format!("{base}{path}");
        let mut request = Request::builder()
            .method(method)
            .uri(&url)
            .header(header::USER_AGENT, USER_AGENT)
            .header(header::ACCEPT, "application/json");
        if !body.is_empty() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(tenant) = &self.tenant {
            request = request.header("x-tenant-id", tenant.clone());
        }
        if let Some(authorization) = &self.authorization {
            request = request.header(header::AUTHORIZATION, authorization.clone());
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| Failure::Unavailable(format!("cannot build a request to {url}: {e}")))?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| Failure::Unavailable(describe(&e)))?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| Failure::Unavailable(format!("reading the answer: {e}")))?
                .to_bytes();
            Ok::<_, Failure>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| Failure::Unavailable(format!("no answer within {timeout:?}")))??;
        classify(status, &bytes)
    }
}

fn classify(status: StatusCode, bytes: &[u8]) -> std::result::Result<Answer, Failure> {
    if status == StatusCode::NOT_MODIFIED {
        return Ok(Answer::NotModified);
    }
    let envelope = serde_json::from_slice::<Envelope>(bytes);
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        let message = envelope.map(|e| e.message).unwrap_or_default();
        return Err(Failure::Unavailable(
            format!("{status} {message}").trim_end().to_owned(),
        ));
    }
    if status.is_success() {
        return match envelope {
            Ok(envelope) if envelope.code == 0 => Ok(Answer::Data(envelope.data)),
            Ok(envelope) => Err(Failure::Rejected {
                status: status.as_u16(),
                code: envelope.code,
                message: envelope.message,
            }),
            Err(e) => Err(Failure::Unavailable(format!(
                "{status} with an answer that is not the registry's JSON envelope: {e}"
            ))),
        };
    }
    let (code, message) = match envelope {
        Ok(envelope) if !envelope.message.is_empty() => (envelope.code, envelope.message),
        _ => (
            i64::from(status.as_u16()),
            String::from_utf8_lossy(bytes).chars().take(200).collect(),
        ),
    };
    Err(Failure::Rejected {
        status: status.as_u16(),
        code,
        message,
    })
}

/// hyper's errors say "client error (Connect)"; the cause says what actually happened.
fn describe(error: &hyper_util::client::legacy::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn decode<T: DeserializeOwned>(path: &str, data: serde_json::Value) -> Result<T> {
    serde_json::from_value(data)
        .map_err(|e| Error::Unavailable(format!("{path}: unexpected answer: {e}")))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(text: &str) -> String {
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded values are plain timestamps: a panic elsewhere cannot leave them half-written.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(servers: &[&str]) -> Transport {
        Transport::new(&ClientConfig {
            servers: servers.iter().map(|s| (*s).to_owned()).collect(),
            ..ClientConfig::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn failed_nodes_go_last_and_the_answering_node_goes_first() {
        let t = transport(&["http://a", "http://b", "http://c"]);
        assert_eq!(t.order(), vec![0, 1, 2]);
        t.mark_down(0);
        assert_eq!(t.order(), vec![1, 2, 0]);
        t.mark_down(1);
        assert_eq!(
            t.order(),
            vec![2, 0, 1],
            "cooling nodes come last, soonest back first"
        );
        t.mark_up(0);
        assert_eq!(t.order(), vec![0, 2, 1]);
    }

    #[test]
    fn statuses_map_to_answers_and_failures() {
        let ok = br#"{"code":0,"message":"success","data":{"x":1}}"#;
        assert!(matches!(classify(StatusCode::OK, ok), Ok(Answer::Data(d)) if d["x"] == 1));
        assert!(matches!(
            classify(StatusCode::NOT_MODIFIED, b""),
            Ok(Answer::NotModified)
        ));
        let again = br#"{"code":20404,"message":"instance x is not registered","data":null}"#;
        let Err(Failure::Rejected {
            status,
            code,
            message,
        }) = classify(StatusCode::NOT_FOUND, again)
        else {
            panic!("a 404 is a refusal");
        };
        let error = Error::Rejected {
            status,
            code,
            message,
        };
        assert!(error.is_register_again() && error.is_not_found(), "{error}");
        let plain = Error::Rejected {
            status: 404,
            code: 404,
            message: String::new(),
        };
        assert!(!plain.is_register_again());
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, b"oops"),
            Err(Failure::Unavailable(_))
        ));
        assert!(matches!(
            classify(StatusCode::OK, b"<html>"),
            Err(Failure::Unavailable(_))
        ));
        assert!(matches!(
            classify(StatusCode::FORBIDDEN, b"no"),
            Err(Failure::Rejected { status: 403, code: 403, message }) if message == "no"
        ));
    }

    #[test]
    fn path_segments_and_query_values_are_percent_encoded() {
        assert_eq!(encode("abc-1.2_~"), "abc-1.2_~");
        assert_eq!(
            encode("providers:com.x.Api:1.0"),
            "providers%3Acom.x.Api%3A1.0"
        );
        assert_eq!(encode("a b&c/d"), "a%20b%26c%2Fd");
    }
}
