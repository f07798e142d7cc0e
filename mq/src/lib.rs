//! keel-mq: messaging with consumer groups and at-least-once delivery, on Kafka (feature
//! `kafka`) or on an in-process broker with the same semantics.
//!
//! - **Producer**: [`Provider::send`] waits for the broker's acknowledgement (partition +
//!   offset); [`Provider::send_with_callback`] does not, and `close` flushes it. Keyed messages
//!   keep their order. The Context's trace id travels in the headers.
//! - **Consumer groups**: [`Provider::subscribe`] runs a [`Handler`] per message; an offset is
//!   committed only after the handler succeeded (or the message was dead-lettered); failures are
//!   retried with backoff, then sent to a dead-letter topic — never dropped.
//! - **Admin**: topics are created explicitly; nothing relies on auto-creation.
//!
//! ```
//! use std::sync::Arc;
//! use keel_clog::{Context, Env};
//! use keel_mq::{Config, ConsumerOptions, Message, Options, handler_fn};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> keel_mq::Result<()> {
//! let ctx = Context::new();
//! let mq = keel_mq::new(&ctx, Config::for_env(Env::Development), Options::default()).await?;
//! mq.create_topic(&ctx, "orders", 4).await?;
//! mq.create_topic(&ctx, "orders.dlq", 1).await?;
//! let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
//! let handler = handler_fn(move |_ctx, msg| {
//!     let tx = tx.clone();
//!     async move { tx.send(msg.payload).map_err(|e| e.to_string().into()) }
//! });
//! let sub = mq.subscribe(&ctx, "billing", &["orders"], Arc::new(handler), ConsumerOptions::default()).await?;
//! mq.send(&ctx, "orders", Message::keyed("order-1", "created")).await?;
//! assert_eq!(&rx.recv().await.unwrap()[..], b"created");
//! sub.close().await;
//! mq.close().await?;
//! # Ok(()) }
//! ```
//!
//! See `docs/mq.md` for the delivery guarantees stated precisely.

mod backend;
mod config;
mod consumer;
mod error;
mod message;
mod provider;
mod trace;

pub use backend::TopicInfo;
pub use backend::standalone::StandaloneBroker;
pub use config::{Config, ConsumerOptions, Mode};
pub use consumer::{Handler, Subscription, handler_fn};
pub use error::{Error, HandlerError, Result};
pub use message::{Delivery, Message, Received, dead_letter_headers};
pub use provider::{DeliveryCallback, Options, Provider, new};
