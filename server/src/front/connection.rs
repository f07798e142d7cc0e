//! One connection at a request boundary: its next request head is read here; a long poll or a
//! config read is served by this module's siblings, anything else by hyper from then on.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use bytes::{Bytes, BytesMut};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::Front;
use super::head::{self, Head};
use super::poll::Next;
use super::rewind::Rewind;

/// Bytes read at a time while looking at a head (a long-poll head is ~200–300 bytes).
const READ_CHUNK: usize = 1024;

/// Serves `stream` from a request boundary; `buf` holds bytes of its next request already
/// read (none for a new connection).
pub(super) async fn serve(
    front: Arc<Front>,
    mut stream: TcpStream,
    peer: SocketAddr,
    mut buf: BytesMut,
) {
    loop {
        let head = loop {
            if !buf.is_empty() {
                match head::classify(&buf) {
                    Head::Incomplete => {}
                    head => break head,
                }
            }
            // An idle connection holds no buffer: it is allocated when bytes arrive.
            tokio::select! {
                biased;
                ready = stream.readable() => {
                    if ready.is_err() {
                        return;
                    }
                }
                // At shutdown an idle connection is closed, as hyper closes its idle ones.
                _ = front.stopping.done(), if buf.is_empty() => return,
            }
            if buf.capacity() - buf.len() < READ_CHUNK / 4 {
                buf.reserve(READ_CHUNK);
            }
            match stream.try_read_buf(&mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        };
        match head {
            // Boxed: an idle connection's task then stays small.
            Head::Direct(head) => match Box::pin(front.direct(stream, peer, head)).await {
                Next::Answered(next) => {
                    stream = next;
                    buf.clear();
                }
                Next::Hyper(stream) => return to_hyper(&front, stream, peer, buf.freeze()).await,
                Next::Done => return,
            },
            Head::Other | Head::Incomplete => {
                return to_hyper(&front, stream, peer, buf.freeze()).await;
            }
        }
    }
}

/// Serves the rest of the connection with hyper, `read` (what was read of it so far) first —
/// as `axum::serve` would have served it from the start, graceful shutdown included.
async fn to_hyper(front: &Front, stream: TcpStream, peer: SocketAddr, read: Bytes) {
    let router = front.router.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let mut router = router.clone();
        tower_service::Service::call(&mut router, request.map(axum::body::Body::new))
    });
    let io = TokioIo::new(Rewind::new(read, stream));
    let connection = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .with_upgrades();
    let mut connection = std::pin::pin!(connection);
    let mut stopping = std::pin::pin!(front.stopping.done());
    let mut graceful = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!(error = %e, "serving a connection");
                }
                return;
            }
            _ = &mut stopping, if !graceful => {
                graceful = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}
