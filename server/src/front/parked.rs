//! A parked long poll — a native one or a Nacos listener poll on one config: its socket, what
//! the client holds, and its deadline — a few hundred bytes, where a poll parked inside hyper
//! held a whole HTTP connection (~24 KB).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use keel_config_center::ClientId;
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// Bytes a client may send while its poll is parked (a pipelined request) before it is
/// dropped as misbehaving.
const MAX_EARLY_BYTES: usize = 64 * 1024;

/// One parked long poll.
#[derive(Debug)]
pub(crate) struct Parked {
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    /// What the client holds, and so how it is answered.
    pub(crate) watch: Watch,
    pub(crate) client: ClientId,
    /// The client asked to close the connection after the answer.
    pub(crate) close: bool,
    /// When its request was read (for the request-duration histogram).
    pub(crate) started: Instant,
    /// Bytes the client sent while parked: replayed as its next request after the answer.
    pub(crate) early: Option<Box<[u8]>>,
    deadline: Pin<Box<Sleep>>,
}

impl Parked {
    pub(crate) fn new(
        stream: TcpStream,
        peer: SocketAddr,
        watch: Watch,
        client: ClientId,
        close: bool,
        started: Instant,
        deadline: tokio::time::Instant,
    ) -> Self {
        Parked {
            stream,
            peer,
            watch,
            client,
            close,
            started,
            early: None,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }
}

/// What a parked poll's client holds, which says how it is answered.
#[derive(Debug)]
pub(crate) enum Watch {
    /// A native long poll: the release key the client holds. Answered with the namespace's
    /// change notice, or 304 at its deadline.
    Release(Box<str>),
    /// A Nacos listener poll on one config: the MD5 of the document the client holds (`""`:
    /// none), and the body telling it that config changed. Answered with that body, or an empty
    /// 200 at its deadline.
    Document { md5: Box<str>, changed: Box<str> },
}

/// The kinds of [`Watch`], for what their answers share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum WatchKind {
    Release,
    Document,
}

impl Watch {
    pub(crate) fn kind(&self) -> WatchKind {
        match self {
            Watch::Release(_) => WatchKind::Release,
            Watch::Document { .. } => WatchKind::Document,
        }
    }
}

/// What happened to a parked poll while it waited.
#[derive(Debug)]
pub(crate) enum Event {
    /// The client closed the connection (or it failed): nothing to answer.
    Gone,
    /// Its timeout passed: answer "no change".
    Expired(Parked),
}

/// A parked poll waiting for its client to go or its deadline; a release takes it out (see
/// `lot`), so this never completes for that.
#[derive(Debug)]
pub(crate) struct Waiting(pub(crate) Option<Parked>);

impl Waiting {
    pub(crate) fn take(self) -> Option<Parked> {
        self.0
    }
}

impl Future for Waiting {
    type Output = Event;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Event> {
        let Some(parked) = self.0.as_mut() else {
            return Poll::Pending;
        };
        if parked.deadline.as_mut().poll(cx).is_ready() {
            return match self.0.take() {
                Some(parked) => Poll::Ready(Event::Expired(parked)),
                None => Poll::Pending,
            };
        }
        // Readable while parked: the client closed, reset, or sent more (kept for later).
        loop {
            match parked.stream.poll_read_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => break,
                Poll::Ready(Ok(())) => {}
            }
            let mut chunk = [0_u8; 512];
            match parked.stream.try_read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    // Rare (pipelining after a long poll): a copy per read is fine.
                    let early = parked.early.take().unwrap_or_default();
                    if early.len() + n > MAX_EARLY_BYTES {
                        break;
                    }
                    parked.early = Some([&early[..], &chunk[..n]].concat().into_boxed_slice());
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        self.0 = None;
        Poll::Ready(Event::Gone)
    }
}
