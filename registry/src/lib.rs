//! keel-registry: the service registry as a library — instances (ephemeral ones on coord
//! leases, persistent ones in the database), heartbeats, HTTP/TCP health checks, services,
//! groups, tenants, per-service revisions, watches and change events — composed from keel's
//! providers.
//!
//! See `docs/registry.md`.

mod api;
#[cfg(feature = "client")]
pub mod client;
mod error;
mod health;
mod keys;
mod model;
mod service;
mod store;
mod view;

pub use api::{CODE_REGISTER_AGAIN, openapi, router};
pub use error::{Error, Result};
pub use health::{
    CheckerConfig, HealthChecker, HealthFlip, ProbeOutcome, ProbeTarget, owner as check_owner,
    probe,
};
pub use model::{
    CheckKind, DEFAULT_GROUP, DEFAULT_TENANT, Group, GroupSettings, HealthCheck, HealthStatus,
    Instance, InstanceStatus, InstanceView, LoadBalance, MAX_METADATA_BYTES, MAX_METADATA_ENTRIES,
    MAX_NAME_LEN, MAX_TAGS, MAX_WEIGHT, NewInstance, Page, Service, ServiceId, ServiceSettings,
    defaults, instance_id, now_millis, validate_host, validate_metadata, validate_name,
    validate_port, validate_tags, validate_weight,
};
pub use service::{
    CHANGE_TOPIC, Dependencies, Discovery, InstanceFilter, Registered, Registry, RegistryConfig,
    Stats,
};
pub use store::RegistryStore;
pub use view::ChangeEvent;
