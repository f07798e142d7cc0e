//! The accept loop of `keel serve`, and its graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::net::TcpListener;

use super::{Front, connection};

/// Accepts connections until `signal` completes (it must also shut the config center down,
/// which answers the parked long polls), then waits for every connection and lot to finish.
pub(crate) async fn serve(
    listener: TcpListener,
    front: Arc<Front>,
    signal: impl Future<Output = ()>,
) {
    let mut signal = std::pin::pin!(signal);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut signal => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                front.tracker.spawn(connection::serve(
                    Arc::clone(&front),
                    stream,
                    peer,
                    BytesMut::new(),
                ));
            }
            // As axum::serve: a connection that failed before it was accepted is no error;
            // anything else (out of file descriptors) is logged and waited out.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::ConnectionReset
                ) => {}
            Err(e) => {
                tracing::error!(error = %e, "accepting a connection");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = &mut signal => break,
                }
            }
        }
    }
    drop(listener);
    front.tracker.close();
    front.tracker.wait().await;
}
