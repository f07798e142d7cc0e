//! A Nacos heartbeat answered here: renewed (or its instance registered again) by the
//! handler's own code (`keel_nacos::NacosBeat`), without hyper, the router and its
//! middlewares — a Nacos client beats every five seconds per instance, so this is the naming
//! API's most frequent call. With auth on, or over the rate limit, it goes to hyper as read.

use std::net::SocketAddr;
use std::time::Instant;

use axum::http::StatusCode;
use keel_nacos::{NacosBeat, NacosBeatAnswer};
use tokio::net::TcpStream;

use super::Front;
use super::answer::{self, Answer};
use super::head::DirectHead;
use super::poll::Next;
use super::read::written;

impl Front {
    /// `PUT /nacos/v1/ns/instance/beat`, answered as the router's handler answers it.
    pub(super) async fn nacos_beat(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        head: &DirectHead,
    ) -> Next {
        let started = Instant::now();
        let Some(beat) = NacosBeat::from_parts(&self.nacos, &head.uri, &head.headers, &head.body)
        else {
            return Next::Hyper(stream);
        };
        if !self.admitted(head, peer).await {
            return Next::Hyper(stream);
        }
        let close = self.closes_after(head);
        let (status, bytes) = match beat.answer(&self.nacos).await {
            NacosBeatAnswer::Json(json) => {
                (StatusCode::OK, answer::json_ok(json.as_bytes(), close))
            }
            NacosBeatAnswer::Other(response) => Answer::encode_once(response, close).await,
        };
        written(
            stream,
            &bytes,
            close,
            &self.metrics.nacos_beat,
            status,
            started,
        )
        .await
    }
}
