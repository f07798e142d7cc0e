//! keel-client-kit: the plumbing keel's client SDKs share, so the config center's SDK
//! (`keel_config_center::client`) and the registry's (`keel_registry::client`) fail over,
//! read answers, check settings and keep snapshots in exactly the same way.
//!
//! - [`Transport`]: one pooled HTTP/1 client to all the nodes of a service. A request goes
//!   to the node that answered last; a node that fails (cannot connect, 5xx/429, too slow, not
//!   keel's JSON envelope) is skipped for a cooldown and the next one is asked; a refusal
//!   (4xx, a non-zero envelope code) comes back at once as [`Error::Rejected`]. Long polls
//!   recognise a node that is shutting down.
//! - [`decode`]: the envelope's `data` as the type the SDK expects.
//! - [`check_servers`], [`check_long_poll`], [`check_not_zero`], [`check_retry_intervals`]:
//!   the settings checks every SDK's `ClientConfig::validate` shares.
//! - [`percent_encode`]: the names put into paths and queries.
//! - [`SnapshotDir`] / [`SnapshotFile`]: JSON snapshots replaced atomically (temp file, fsync,
//!   rename), read back when no server answers.
//!
//! What each SDK asks its service (config reads and long polls; registrations, heartbeats and
//! instance lists) stays in the SDK, written on top of this crate; the SDKs turn [`Error`] into
//! their own error type. It depends on no other keel crate.
//!
//! ```
//! use std::time::Duration;
//! use keel_client_kit::{Method, SnapshotDir, Transport, check_servers, decode, percent_encode};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> keel_client_kit::Result<()> {
//! let servers = vec!["http://127.0.0.1:8848".to_owned(), "http://10.0.0.2:8848/".to_owned()];
//! check_servers(&servers, "registry")?;
//! let transport = Transport::builder("registry", &servers)
//!     .user_agent("my-sdk/1.0")
//!     .request_timeout(Duration::from_secs(2))
//!     .server_cooldown(Duration::from_secs(10))
//!     .build();
//! let path = format!("/api/v1/services/{}/instances", percent_encode("orders"));
//! # async fn ask(transport: &Transport, path: &str) -> keel_client_kit::Result<serde_json::Value> {
//! let data = transport.data(Method::GET, path, None).await?;
//! # Ok(data) }
//! # let _ = ask;
//! let ids: Vec<String> = decode(&path, serde_json::json!(["a", "b"]))?;
//! assert_eq!(ids.len(), 2);
//!
//! let dir = std::env::temp_dir().join(format!("keel-client-kit-doc-{}", std::process::id()));
//! let snapshot = SnapshotDir::new(dir.clone()).file(&["default", "orders"]);
//! snapshot.save(ids.clone()).await?;
//! assert_eq!(snapshot.load::<Vec<String>>().await?, Some(ids));
//! # let _ = std::fs::remove_dir_all(dir);
//! # Ok(()) }
//! ```

mod envelope;
mod error;
mod path;
mod settings;
mod snapshot;
mod transport;

pub use envelope::{Answer, decode};
pub use error::{Error, Result};
/// The HTTP types of [`Transport`]'s API, so SDKs need no `hyper` of their own.
pub use hyper::Method;
/// Header names and values for [`TransportBuilder::header`].
pub use hyper::header::{HeaderName, HeaderValue};
pub use path::percent_encode;
pub use settings::{
    MAX_LONG_POLL, check_long_poll, check_not_zero, check_retry_intervals, check_servers,
};
pub use snapshot::{SnapshotDir, SnapshotFile};
pub use transport::{Polled, Transport, TransportBuilder};
