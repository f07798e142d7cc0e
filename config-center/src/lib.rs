//! keel-config-center: the configuration center as a library — apps, clusters, namespaces,
//! items (the working copy), releases (immutable snapshots clients read), rollback, history,
//! incremental fetch and change push — composed from keel's providers.
//!
//! See `docs/config-center.md`.

mod announce;
mod api;
#[cfg(feature = "client")]
pub mod client;
pub mod document;
mod error;
mod model;
mod notify;
mod service;
mod store;
mod validate;

pub use api::{
    CONFIG_READ_ROUTE, ConfigRead, LONG_POLL_ROUTE, LongPoll, ReadAnswer, long_poll_changed,
    long_poll_unchanged, openapi, router, routes,
};
pub use error::{Error, Result};
pub use model::{
    App, AppUpdate, CONTENT_KEY, Cluster, ClusterId, DEFAULT_CLUSTER, DEFAULT_NAMESPACE, Format,
    GrayRelease, GrayRules, HistoryEntry, Item, ItemWrite, MAX_KEY_LEN, MAX_NAME_LEN,
    MAX_VALUE_BYTES, Namespace, NamespaceId, NewApp, Page, PageRequest, Release, validate_name,
};
pub use notify::Notifier;
pub use service::{
    Changes, ClientId, ConfigAnswer, ConfigCenter, Dependencies, RELEASE_TOPIC, ReleaseEvent,
    ServedDocument, Serving,
};
pub use store::{ConfigStore, DocumentWrite, GrayDocument, NewGray, SERVING_ACTIONS};
