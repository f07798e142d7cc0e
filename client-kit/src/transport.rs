//! [`Transport`]: one pooled HTTP/1 client to all the nodes of a service, with failover.
//!
//! A node that fails (cannot connect, 5xx/429, too slow, an answer that is not the service's
//! JSON envelope) is skipped for the cooldown while another one is left; the node that
//! answered last is asked first next time, so a healthy client sticks to one node and its
//! warm connection. A refusal (4xx, or a non-zero envelope code) is not a node failure: every
//! node would say the same, so it is returned at once. The request is sent again to the next
//! node, so only idempotent requests belong here.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::envelope::{Answer, Failure, classify, describe};
use crate::error::{Error, Result};

/// A long poll answered "no change" this much sooner than asked is a node shutting down (it
/// answers parked polls at once), not the end of the wait.
const EARLY_FRACTION: u32 = 10;

/// What a long poll returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Polled {
    /// Something changed: the envelope's `data`.
    Changed(serde_json::Value),
    /// Nothing changed within the wait (304).
    Unchanged,
    /// The node (this base URL) answered "no change" early: it is shutting down. It is
    /// skipped for the cooldown, so the next poll goes elsewhere.
    NodeLeaving(String),
}

/// The nodes of one service and the connections to them. Build it with [`Transport::builder`].
pub struct Transport {
    http: Client<HttpConnector, Full<Bytes>>,
    service: String,
    user_agent: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    servers: Vec<Server>,
    /// The node asked first: the one that answered last.
    preferred: AtomicUsize,
    cooldown: Duration,
    request_timeout: Duration,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The headers may carry credentials (a bearer token): not shown.
        f.debug_struct("Transport")
            .field("service", &self.service)
            .field(
                "servers",
                &self.servers.iter().map(|s| &s.base).collect::<Vec<_>>(),
            )
            .field("cooldown", &self.cooldown)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

struct Server {
    /// Base URL without a trailing slash.
    base: String,
    /// Skipped until then (unless every node is).
    down_until: Mutex<Option<Instant>>,
}

/// Settings of a [`Transport`]; [`build`](Self::build) makes it.
#[derive(Debug, Clone)]
#[must_use]
pub struct TransportBuilder {
    service: String,
    servers: Vec<String>,
    user_agent: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    request_timeout: Duration,
    cooldown: Duration,
}

impl Transport {
    /// A builder for a transport to `servers` (base URLs, checked with
    /// [`check_servers`](crate::check_servers); a trailing `/` is dropped). `service` names
    /// what the servers are (`"config center"`, `"registry"`) in messages and logs.
    ///
    /// Defaults: a 5s request timeout (also the connect timeout), a 10s cooldown, and the
    /// user agent `keel-client-kit/{version}`.
    pub fn builder(service: impl Into<String>, servers: &[String]) -> TransportBuilder {
        TransportBuilder {
            service: service.into(),
            servers: servers.to_vec(),
            user_agent: concat!("keel-client-kit/", env!("CARGO_PKG_VERSION")).to_owned(),
            headers: Vec::new(),
            request_timeout: Duration::from_secs(5),
            cooldown: Duration::from_secs(10),
        }
    }

    /// How long a request (and connecting) may take.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// Sends the request to the nodes in failover order until one answers (data or 304) or
    /// refuses ([`Error::Rejected`]); [`Error::Unavailable`] lists why each node failed.
    /// `body` is sent as JSON.
    pub async fn call(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Answer> {
        self.call_within(method, path, body, self.request_timeout)
            .await
            .map(|(_, answer)| answer)
    }

    /// Like [`call`](Self::call), for a request whose answer must carry data: a 304 is
    /// [`Error::Unavailable`].
    pub async fn data(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<serde_json::Value> {
        match self.call(method.clone(), path, body).await? {
            Answer::Data(data) => Ok(data),
            Answer::NotModified => Err(Error::Unavailable(format!(
                "{method} {path} answered 304 without being asked about a revision"
            ))),
        }
    }

    /// A long poll: a request the server holds for up to `wait` and answers with data when
    /// something changed or 304 when nothing did. The answer is given the request timeout on
    /// top of `wait` to come back. A 304 well before `wait` is a node shutting down
    /// ([`Polled::NodeLeaving`]).
    pub async fn long_poll(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        wait: Duration,
    ) -> Result<Polled> {
        let started = Instant::now();
        let (index, answer) = self
            .call_within(method, path, body, wait + self.request_timeout)
            .await?;
        Ok(match answer {
            Answer::Data(data) => Polled::Changed(data),
            Answer::NotModified if started.elapsed() < wait - wait / EARLY_FRACTION => {
                self.mark_down(index);
                Polled::NodeLeaving(self.servers[index].base.clone())
            }
            Answer::NotModified => Polled::Unchanged,
        })
    }

    /// The failover loop: which node answered, and what.
    async fn call_within(
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
                    tracing::warn!(server = %server.base, %method, path, error = %why, "{} node failed; trying the next", self.service);
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
            .header(header::USER_AGENT, self.user_agent.as_str())
            .header(header::ACCEPT, "application/json");
        if !body.is_empty() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        for (name, value) in &self.headers {
            request = request.header(name, value);
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
        classify(&self.service, status, &bytes)
    }
}

impl TransportBuilder {
    /// The `User-Agent` header, e.g. `keel-registry-client/0.1.0`.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// A header sent with every request (a tenant, an `Authorization`); mark credentials
    /// with [`HeaderValue::set_sensitive`].
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// How long a request (and connecting) may take; a long poll gets this on top of its
    /// wait.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long a node that failed is skipped while others are left.
    pub fn server_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// The transport. Nothing is sent yet; connections are opened on first use and pooled.
    pub fn build(self) -> Transport {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(self.request_timeout));
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Transport {
            http,
            servers: self
                .servers
                .iter()
                .map(|s| Server {
                    base: s.trim_end_matches('/').to_owned(),
                    down_until: Mutex::new(None),
                })
                .collect(),
            service: self.service,
            user_agent: self.user_agent,
            headers: self.headers,
            preferred: AtomicUsize::new(0),
            cooldown: self.cooldown,
            request_timeout: self.request_timeout,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded values are plain timestamps: a panic elsewhere cannot leave them half-written.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn transport(servers: &[&str]) -> Transport {
        let servers: Vec<String> = servers.iter().map(|s| (*s).to_owned()).collect();
        Transport::builder("registry", &servers).build()
    }

    /// A node that answers every request with `status` and `body` and counts the requests
    /// it saw.
    async fn node(status: &'static str, body: &'static str) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        );
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let counter = Arc::clone(&counter);
                let response = response.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        (base, seen)
    }

    const UNAVAILABLE: &str = "503 Service Unavailable";
    const OK: (&str, &str) = ("200 OK", r#"{"code":0,"message":"success","data":[1,2]}"#);

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

    #[tokio::test]
    async fn a_failing_node_is_skipped_and_the_answering_one_is_asked_first_next_time() {
        let (down, down_seen) = node(UNAVAILABLE, "").await;
        let (up, up_seen) = node(OK.0, OK.1).await;
        let t = transport(&[&down, &format!("{up}/")]);
        let data = t.data(Method::GET, "/api/v1/x", None).await.unwrap();
        assert_eq!(data, serde_json::json!([1, 2]));
        assert_eq!(t.order(), vec![1, 0]);
        t.data(Method::GET, "/api/v1/x", None).await.unwrap();
        assert_eq!(down_seen.load(Ordering::SeqCst), 1);
        assert_eq!(up_seen.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_refusal_is_not_retried_elsewhere() {
        let (refusing, _) = node(
            "404 Not Found",
            r#"{"code":20404,"message":"not registered"}"#,
        )
        .await;
        let (other, other_seen) = node(OK.0, OK.1).await;
        let t = transport(&[&refusing, &other]);
        let err = t.call(Method::GET, "/api/v1/x", None).await.unwrap_err();
        assert!(
            matches!(&err, Error::Rejected { status: 404, code: 20404, message } if message == "not registered"),
            "{err:?}"
        );
        assert_eq!(other_seen.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn every_node_failing_lists_each_failure() {
        let (first, _) = node(UNAVAILABLE, "").await;
        let (second, _) = node(UNAVAILABLE, "").await;
        let t = transport(&[&first, &second]);
        let err = t.call(Method::GET, "/api/v1/x", None).await.unwrap_err();
        let Error::Unavailable(why) = err else {
            panic!("{err:?} should be Unavailable");
        };
        assert!(
            why.contains(&format!("{first}: 503 Service Unavailable"))
                && why.contains(&format!("{second}: 503 Service Unavailable")),
            "{why}"
        );
    }

    #[tokio::test]
    async fn an_early_304_to_a_long_poll_is_a_node_leaving() {
        let (leaving, _) = node("304 Not Modified", "").await;
        let (other, _) = node(OK.0, OK.1).await;
        let t = transport(&[&leaving, &other]);
        let polled = t
            .long_poll(Method::GET, "/api/v1/x", None, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(polled, Polled::NodeLeaving(leaving));
        assert_eq!(t.order(), vec![1, 0], "the leaving node is set aside");
    }
}
