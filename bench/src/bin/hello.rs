//! `hello`: the ceiling. A minimal hyper HTTP/1.1 server that answers every request `200` with
//! `{"code":0}`, keep-alive, on a multi-threaded tokio runtime with as many workers as keel
//! uses (tokio's default: one per core). `load` against it, with the same connections and
//! seconds as a scenario, is what this machine can do for one small request at a time per
//! connection; every throughput figure in docs/benchmarks.md is also shown as a fraction of it.
//!
//! ```text
//! hello --listen 127.0.0.1:18080
//! ```
#![allow(clippy::print_stderr)] // reporting a failed bind is this program's job

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// Answer every HTTP/1.1 request with 200 `{"code":0}`.
#[derive(Debug, Parser)]
struct Args {
    /// Loopback address to listen on.
    #[arg(long, default_value = "127.0.0.1:18080")]
    listen: SocketAddr,
    /// Runtime worker threads (default: one per core, as `keel serve`).
    #[arg(long)]
    threads: Option<usize>,
}

const BODY: &[u8] = br#"{"code":0}"#;

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut answer = Response::new(Full::new(Bytes::from_static(BODY)));
    answer
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(answer)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        builder.worker_threads(threads.max(1));
    }
    builder.enable_all().build()?.block_on(serve(args.listen))
}

async fn serve(listen: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of fds and the like: keep serving the connections already open.
                eprintln!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            // A client closing its connection mid-request is not this server's concern.
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service_fn(hello))
                .await;
        });
    }
}
