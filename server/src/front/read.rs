//! A config read answered here: validated and answered by the config center's own code (the
//! handler's), with the body encoded once per release; anything the handler would refuse is
//! handed to hyper as read, so the router answers it as before.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use keel_clog::Context;
use keel_config_center::{ConfigRead, ReadAnswer};
use keel_nacos::NacosReadAnswer;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::Front;
use super::answer::{self, Answer};
use super::head::{DirectHead, Kind};
use super::parked::{Parked, Watch};
use super::poll::Next;
use super::route_metrics::Metrics;

impl Front {
    /// Serves the request `head` (a long poll, a read or a heartbeat), read from `stream`.
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
            Kind::NacosBeat => self.nacos_beat(stream, peer, &head).await,
        }
    }

    /// A Nacos listener poll that waits. On one config (as most are) and up to date, it is
    /// parked in that namespace's lot, next to native long polls; otherwise (behind, several
    /// configs, or the server stopping) the handler's own code waits and answers
    /// (`keel_nacos::NacosListen`), held by this connection's task rather than by hyper.
    async fn nacos_listen(
        self: &Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        head: &DirectHead,
    ) -> Next {
        let started = Instant::now();
        let Some(listen) = keel_nacos::NacosListen::from_parts(
            self.nacos.settings(),
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
        if let Some(watch) = listen.single().filter(|_| !self.stopping.is_done()) {
            let up_to_date = self
                .center
                .document_md5_is(&Context::new(), &watch.namespace, &watch.client, &watch.md5)
                .await;
            if matches!(up_to_date, Ok(true)) {
                let deadline = tokio::time::Instant::from_std(started) + watch.hold;
                let held = Watch::Document {
                    md5: watch.md5.into_boxed_str(),
                    changed: watch.changed.into_boxed_str(),
                };
                let parked = Parked::new(
                    stream,
                    peer,
                    held,
                    watch.client,
                    head.close,
                    started,
                    deadline,
                );
                self.park((watch.namespace.clone(), watch.namespace), parked);
                return Next::Done;
            }
        }
        let close = self.closes_after(head);
        let (status, bytes) = Answer::encode_once(listen.answer(&self.center).await, close).await;
        let metrics = &self.metrics.nacos_listen;
        written(stream, &bytes, close, metrics, status, started).await
    }

    /// A Nacos config read: the handler's own answer (`keel_nacos::NacosRead`), without hyper;
    /// whatever the handler words itself (bad parameters, listings, betas, auth) goes to hyper.
    async fn nacos_read(&self, stream: TcpStream, peer: SocketAddr, head: &DirectHead) -> Next {
        let started = Instant::now();
        let Some(read) = keel_nacos::NacosRead::from_parts(
            self.nacos.settings(),
            &head.uri,
            &head.headers,
            Some(peer.ip()),
        ) else {
            return Next::Hyper(stream);
        };
        if !self.admitted(head, peer).await {
            return Next::Hyper(stream);
        }
        let close = self.closes_after(head);
        let (status, bytes) = match read.answer(&self.center).await {
            NacosReadAnswer::Found { headers, body } => (
                StatusCode::OK,
                answer::ok_with(&headers, body.as_bytes(), close),
            ),
            NacosReadAnswer::Other(response) => Answer::encode_once(response, close).await,
        };
        let metrics = &self.metrics.nacos_read;
        written(stream, &bytes, close, metrics, status, started).await
    }

    async fn read(&self, stream: TcpStream, peer: SocketAddr, head: &DirectHead) -> Next {
        let started = Instant::now();
        let Ok(read) = ConfigRead::from_parts(head.names(), &head.uri, Some(peer.ip())) else {
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
            ReadAnswer::Other(response) => Answer::encode_once(response, close).await,
        };
        written(stream, &bytes, close, &self.metrics.read, status, started).await
    }

    /// Whether the connection ends after this answer: the client asked, or (as hyper does
    /// while stopping) the server is shutting down.
    pub(super) fn closes_after(&self, head: &DirectHead) -> bool {
        head.close || self.stopping.is_done()
    }
}

/// Writes an answer, counts it under `metrics`, and says what the connection does next.
pub(super) async fn written(
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
