//! The HTTP side: the config center's client endpoints, over a pooled HTTP/1 connection per
//! node, with failover between nodes.
//!
//! A node that fails (cannot connect, 5xx/429, too slow, an answer that is not the config
//! center's JSON) is skipped for `server_cooldown` while another one is left; the node that
//! answered last is asked first next time, so a healthy client sticks to one node and its warm
//! connection. A refusal (4xx) is not a node failure: every node would say the same.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::config::ClientConfig;
use super::error::{Error, Result};
use crate::{Format, Namespace, NamespaceId};

const USER_AGENT: &str = concat!("keel-config-client/", env!("CARGO_PKG_VERSION"));

/// A long poll answered "no change" this much sooner than asked is a node shutting down (it
/// answers parked polls at once), not a timeout.
const EARLY_FRACTION: u32 = 10;

/// The nodes and the connections to them.
pub(crate) struct Transport {
    http: Client<HttpConnector, Full<Bytes>>,
    servers: Vec<Server>,
    /// The node asked first: the one that answered last.
    preferred: AtomicUsize,
    cooldown: Duration,
    request_timeout: Duration,
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
    /// Down, overloaded, too slow or not a config center: try another.
    Unavailable(String),
    /// It refused the request: another node would too.
    Rejected { status: u16, message: String },
}

/// What `GET .../configs` returned.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// The release the client has is current.
    NotModified,
    /// The whole current release.
    Full {
        /// The namespace served (the client's, or the `default` cluster's).
        served: NamespaceId,
        release_key: String,
        configs: BTreeMap<String, String>,
        /// When the server says (newer servers may; today it does not).
        format: Option<Format>,
    },
    /// Only what changed since the client's release.
    Changes {
        served: NamespaceId,
        release_key: String,
        added: BTreeMap<String, String>,
        updated: BTreeMap<String, String>,
        deleted: Vec<String>,
    },
}

/// What a long poll returned.
#[derive(Debug)]
pub(crate) enum Polled {
    /// These namespaces (as the client named them) have a new release key.
    Changed(Vec<(String, String)>),
    /// Nothing changed within the timeout.
    Timeout,
    /// The node answered "no change" early: it is shutting down. It is skipped for a while
    /// and the next poll goes elsewhere.
    NodeLeaving(String),
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

#[derive(Deserialize)]
struct ConfigAnswer {
    namespace: NamespaceId,
    release_key: String,
    #[serde(default)]
    incremental: bool,
    #[serde(default)]
    configs: BTreeMap<String, String>,
    #[serde(default)]
    format: Option<Format>,
    #[serde(default)]
    added: BTreeMap<String, String>,
    #[serde(default)]
    updated: BTreeMap<String, String>,
    #[serde(default)]
    deleted: Vec<String>,
}

/// One namespace in a multi-namespace long poll.
#[derive(Serialize, Deserialize)]
struct Watch {
    env: String,
    app: String,
    cluster: String,
    namespace: String,
    #[serde(rename = "releaseKey", alias = "release_key", default)]
    release_key: String,
}

impl Transport {
    /// A transport to `config.servers` (already validated).
    pub(crate) fn new(config: &ClientConfig) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.request_timeout));
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Transport {
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
        }
    }

    /// Reads a namespace's current release: all of it, or (with `known`) 304 or only the
    /// changes since `known`.
    pub(crate) async fn fetch_configs(
        &self,
        id: &NamespaceId,
        known: Option<&str>,
    ) -> Result<Fetched> {
        let mut path = format!("{}/configs", namespace_path(id));
        if let Some(known) = known.filter(|k| !k.is_empty()) {
            path.push_str("?releaseKey=");
            path.push_str(&encode(known));
            path.push_str("&incremental=true");
        }
        let (_, answer) = self
            .call(Method::GET, &path, None, self.request_timeout)
            .await?;
        let data = match answer {
            Answer::NotModified => return Ok(Fetched::NotModified),
            Answer::Data(data) => data,
        };
        let answer: ConfigAnswer = decode(&path, data)?;
        Ok(if answer.incremental {
            Fetched::Changes {
                served: answer.namespace,
                release_key: answer.release_key,
                added: answer.added,
                updated: answer.updated,
                deleted: answer.deleted,
            }
        } else {
            Fetched::Full {
                served: answer.namespace,
                release_key: answer.release_key,
                configs: answer.configs,
                format: answer.format,
            }
        })
    }

    /// The format of a namespace (the served one: after cluster fallback).
    pub(crate) async fn fetch_format(&self, served: &NamespaceId) -> Result<Format> {
        let path = namespace_path(served);
        match self
            .call(Method::GET, &path, None, self.request_timeout)
            .await?
        {
            (_, Answer::Data(data)) => Ok(decode::<Namespace>(&path, data)?.format),
            (_, Answer::NotModified) => Err(Error::Unavailable(format!(
                "GET {path} answered 304 without being asked about a version"
            ))),
        }
    }

    /// Waits up to `timeout` for a release of any of `watches` (namespace id, release key the
    /// client has).
    pub(crate) async fn long_poll(
        &self,
        watches: &[(NamespaceId, String)],
        timeout: Duration,
    ) -> Result<Polled> {
        let body: Vec<Watch> = watches
            .iter()
            .map(|(id, key)| Watch {
                env: id.env.clone(),
                app: id.app.clone(),
                cluster: id.cluster.clone(),
                namespace: id.namespace.clone(),
                release_key: key.clone(),
            })
            .collect();
        let body = serde_json::to_vec(&body)
            .map_err(|e| Error::Config(format!("cannot encode the watch list: {e}")))?;
        let path = format!("/api/v1/notifications?timeout={}ms", timeout.as_millis());
        let started = Instant::now();
        // The server holds the request for `timeout`; give the answer time to come back.
        let (index, answer) = self
            .call(
                Method::POST,
                &path,
                Some(body),
                timeout + self.request_timeout,
            )
            .await?;
        match answer {
            Answer::NotModified if started.elapsed() < timeout - timeout / EARLY_FRACTION => {
                self.mark_down(index);
                Ok(Polled::NodeLeaving(self.servers[index].base.clone()))
            }
            Answer::NotModified => Ok(Polled::Timeout),
            Answer::Data(data) => {
                let changed: Vec<Watch> = decode(&path, data)?;
                Ok(Polled::Changed(
                    changed
                        .into_iter()
                        .map(|w| (w.namespace, w.release_key))
                        .collect(),
                ))
            }
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
                Err(Failure::Rejected { status, message }) => {
                    self.mark_up(index);
                    return Err(Error::Rejected { status, message });
                }
                Err(Failure::Unavailable(why)) => {
                    tracing::warn!(server = %server.base, %method, path, error = %why, "config center node failed; trying the next");
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
                message: envelope.message,
            }),
            Err(e) => Err(Failure::Unavailable(format!(
                "{status} with an answer that is not the config center's JSON envelope: {e}"
            ))),
        };
    }
    let message = match envelope {
        Ok(envelope) if !envelope.message.is_empty() => envelope.message,
        _ => String::from_utf8_lossy(bytes).chars().take(200).collect(),
    };
    Err(Failure::Rejected {
        status: status.as_u16(),
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

fn namespace_path(id: &NamespaceId) -> String {
    // Names are validated to [A-Za-z0-9._-] (ClientConfig::validate, or the server's answer).
    format!(
        "/api/v1/envs/{}/apps/{}/clusters/{}/namespaces/{}",
        encode(&id.env),
        encode(&id.app),
        encode(&id.cluster),
        encode(&id.namespace)
    )
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
            env: "dev".into(),
            app: "shop".into(),
            ..ClientConfig::default()
        })
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
        let missing = br#"{"code":404,"message":"namespace dev/shop/default/x not found"}"#;
        assert!(matches!(
            classify(StatusCode::NOT_FOUND, missing),
            Err(Failure::Rejected { status: 404, message }) if message.contains("not found")
        ));
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, b"oops"),
            Err(Failure::Unavailable(_))
        ));
        assert!(matches!(
            classify(StatusCode::OK, b"<html>"),
            Err(Failure::Unavailable(_))
        ));
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("abc-1.2_~"), "abc-1.2_~");
        assert_eq!(encode("a b&c/d"), "a%20b%26c%2Fd");
    }
}
