//! A config read answered here: validated and answered by the config center's own code (the
//! handler's), with the body encoded once per release; anything the handler would refuse is
//! handed to hyper as read, so the router answers it as before.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use keel_config_center::{CONFIG_READ_ROUTE, ConfigRead, ReadAnswer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::Front;
use super::answer::{self, Answer};
use super::head::{DirectHead, Kind};
use super::poll::{Metrics, Next};

impl Front {
    /// Serves the request `head` (a long poll or a read), read from `stream`.
    pub(super) async fn direct(
        self: &Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        head: Box<DirectHead>,
    ) -> Next {
        match head.kind {
            Kind::LongPoll => self.long_poll(stream, peer, head).await,
            Kind::Read => self.read(stream, peer, &head).await,
            Kind::NacosRead => self.nacos_read(stream, peer, &head).await,
            Kind::NacosListen => self.nacos_listen(stream, peer, &head).await,
        }
    }

    fn nacos_listen_metrics(&self) -> &Metrics {
        self.nacos_listen_metrics
            .get_or_init(|| Metrics::new(keel_nacos::NACOS_LISTENER_PATH))
    }

    /// A Nacos listener poll that waits: held by this connection's own task — its socket, the
    /// records and a timer, a few KB — instead of a hyper connection (~28 KB), and answered by
    /// the handler's own code (`keel_nacos::NacosListen`).
    async fn nacos_listen(&self, stream: TcpStream, peer: SocketAddr, head: &DirectHead) -> Next {
        let started = Instant::now();
        let Some(listen) = keel_nacos::NacosListen::from_parts(
            &self.nacos,
            &head.uri,
            &head.headers,
            &head.body,
            Some(peer.ip()),
        ) else {
            return Next::Hyper(stream);
        };
        if !self.admitted(head, peer).await {
            return Next::Hyper(stream);
        }
        let answer = Answer::encode(listen.answer(&self.center).await).await;
        let close = self.closes_after(head);
        let metrics = self.nacos_listen_metrics();
        written(
            stream,
            answer.bytes(close),
            close,
            metrics,
            answer.status,
            started,
        )
        .await
    }

    fn nacos_read_metrics(&self) -> &Metrics {
        self.nacos_read_metrics
            .get_or_init(|| Metrics::new(keel_nacos::NACOS_READ_PATH))
    }

    /// A Nacos config read: the handler's own answer (`keel_nacos::NacosRead`), without hyper;
    /// whatever the handler words itself (bad parameters, listings, betas, auth) goes to hyper.
    async fn nacos_read(&self, stream: TcpStream, peer: SocketAddr, head: &DirectHead) -> Next {
        let started = Instant::now();
        let Some(read) = keel_nacos::NacosRead::from_parts(
            &self.nacos,
            &head.uri,
            &head.headers,
            Some(peer.ip()),
        ) else {
            return Next::Hyper(stream);
        };
        if !self.admitted(head, peer).await {
            return Next::Hyper(stream);
        }
        let answer = Answer::encode(read.answer(&self.center).await).await;
        let close = self.closes_after(head);
        let metrics = self.nacos_read_metrics();
        written(
            stream,
            answer.bytes(close),
            close,
            metrics,
            answer.status,
            started,
        )
        .await
    }

    fn read_metrics(&self) -> &Metrics {
        self.read_metrics
            .get_or_init(|| Metrics::new(CONFIG_READ_ROUTE))
    }

    async fn read(&self, stream: TcpStream, peer: SocketAddr, head: &DirectHead) -> Next {
        let started = Instant::now();
        let Ok(read) = ConfigRead::from_parts(
            &head.env,
            &head.app,
            &head.cluster,
            &head.namespace,
            &head.uri,
            Some(peer.ip()),
        ) else {
            return Next::Hyper(stream);
        };
        if !self.admitted(head, peer).await {
            return Next::Hyper(stream);
        }
        let Ok(answer) = read.answer(&self.center).await else {
            return Next::Hyper(stream);
        };
        let close = self.closes_after(head);
        let (status, bytes) = match answer {
            ReadAnswer::Full(body) => (StatusCode::OK, answer::json_ok(&body, close)),
            ReadAnswer::NotModified => (StatusCode::NOT_MODIFIED, answer::not_modified(close)),
            ReadAnswer::Other(response) => {
                let answer = Answer::encode(response).await;
                (answer.status, answer.bytes(close).to_vec())
            }
        };
        written(stream, &bytes, close, self.read_metrics(), status, started).await
    }

    /// Whether the connection ends after this answer: the client asked, or (as hyper does
    /// while stopping) the server is shutting down.
    fn closes_after(&self, head: &DirectHead) -> bool {
        head.close || self.stopping.is_done()
    }
}

/// Writes an answer, counts it under `metrics`, and says what the connection does next.
async fn written(
    mut stream: TcpStream,
    bytes: &[u8],
    close: bool,
    metrics: &Metrics,
    status: StatusCode,
    started: Instant,
) -> Next {
    if stream.write_all(bytes).await.is_err() {
        return Next::Done;
    }
    metrics.record(status, started);
    if close {
        Next::Done
    } else {
        Next::Answered(stream)
    }
}
