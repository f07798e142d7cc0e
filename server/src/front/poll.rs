//! A long poll answered here: validated as the router's handler validates it, answered at once
//! when the client is behind (or the server is stopping), else parked in its namespace's lot.
//!
//! Anything the handler would refuse — a bad name or query, an unknown namespace, the rate
//! limit — is handed to hyper with the request as read, so the router answers it exactly as
//! before (same status, message, metrics).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::ConnectInfo;
use axum::http::{Extensions, StatusCode};
use keel_clog::Context;
use keel_config_center::{LongPoll, long_poll_changed, long_poll_unchanged};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::answer::Answer;
use super::head::DirectHead;
use super::parked::{Parked, Watch, WatchKind};
use super::{Front, LotKey, connection, lot};

/// What the connection does after a long poll.
pub(super) enum Next {
    /// Not for this path: hyper serves the request as read.
    Hyper(TcpStream),
    /// Answered; the connection stays open for the next request.
    Answered(TcpStream),
    /// Parked, or answered and closed.
    Done,
}

impl Front {
    /// Serves the long poll `head`, read from `stream`.
    pub(super) async fn long_poll(
        self: &Arc<Self>,
        mut stream: TcpStream,
        peer: SocketAddr,
        head: Box<DirectHead>,
    ) -> Next {
        let started = Instant::now();
        let Ok(poll) = LongPoll::from_parts(head.names(), &head.uri, Some(peer.ip())) else {
            return Next::Hyper(stream);
        };
        if !self.admitted(&head, peer).await {
            return Next::Hyper(stream);
        }
        let ctx = Context::new();
        let Ok(served_id) = self.center.resolve(&ctx, &poll.namespace).await else {
            return Next::Hyper(stream);
        };
        let Ok(serving) = self.center.serving(&ctx, &served_id).await else {
            return Next::Hyper(stream);
        };
        let current = serving.release_key_for(&poll.client);
        let (answer, close) = if self.stopping.is_done() {
            // As the handler at shutdown: "no change", and the connection ends.
            (Answer::encode(long_poll_unchanged()).await, true)
        } else if current != poll.release_key {
            let answer = Answer::encode(long_poll_changed(&poll.namespace, current)).await;
            (answer, head.close)
        } else {
            let deadline = tokio::time::Instant::from_std(started) + poll.timeout;
            let parked = Parked::new(
                stream,
                peer,
                Watch::Release(poll.release_key.into_boxed_str()),
                poll.client,
                head.close,
                started,
                deadline,
            );
            self.park((poll.namespace, served_id), parked);
            return Next::Done;
        };
        if stream.write_all(answer.bytes(close)).await.is_err() {
            return Next::Done;
        }
        self.metrics.long_poll.record(answer.status, started);
        if close {
            Next::Done
        } else {
            Next::Answered(stream)
        }
    }

    /// Whether the `api` rate-limit rule lets the request through (a refusal is left to the
    /// router's layer to answer).
    pub(super) async fn admitted(&self, head: &DirectHead, peer: SocketAddr) -> bool {
        let mut extensions = Extensions::new();
        extensions.insert(ConnectInfo(peer));
        let key = self.key.key(&head.headers, &head.uri, &extensions);
        let ctx = keel_clog::extract(&head.headers);
        matches!(self.limiter.allow(&ctx, "api", &key).await, Ok(d) if d.allowed)
    }

    /// Hands `parked` to the lot of `key`, starting one if there is none.
    pub(super) fn park(self: &Arc<Self>, key: LotKey, parked: Parked) {
        self.counts.parked.fetch_add(1, Ordering::Relaxed);
        let mut lots = self.lots();
        // Lots leave the map under this lock when empty, so a sender found here is live.
        let parked = match lots.get(&key) {
            Some(sender) => match sender.send(parked) {
                Ok(()) => return,
                Err(mpsc::error::SendError(parked)) => parked,
            },
            None => parked,
        };
        let (sender, incoming) = mpsc::unbounded_channel();
        let _ = sender.send(parked);
        lots.insert(key.clone(), sender);
        drop(lots);
        // Subscribed before the lot reads what the namespace serves: no release is missed.
        self.counts.receivers.fetch_add(1, Ordering::Relaxed);
        let receiver = self.center.notifier().subscribe(&key.1);
        self.tracker
            .spawn(lot::run(Arc::clone(self), key, incoming, receiver));
    }

    /// After an answer to `parked` was written: metrics, then the connection goes on (its next
    /// request read here) or ends.
    pub(super) fn resume(self: &Arc<Self>, parked: Parked, status: StatusCode) {
        let metrics = match parked.watch.kind() {
            WatchKind::Release => &self.metrics.long_poll,
            WatchKind::Document => &self.metrics.nacos_listen,
        };
        metrics.record(status, parked.started);
        if parked.close {
            return;
        }
        let early = parked
            .early
            .map(|bytes| bytes::BytesMut::from(&*bytes))
            .unwrap_or_default();
        self.tracker.spawn(connection::serve(
            Arc::clone(self),
            parked.stream,
            parked.peer,
            early,
        ));
    }
}
