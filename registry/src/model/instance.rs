//! Instances: what a registration asks for, what the registry keeps, what discovery shows,
//! and the rules their fields follow.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{MAX_METADATA_BYTES, MAX_METADATA_ENTRIES, MAX_TAGS, MAX_WEIGHT, ServiceId};
use crate::{Error, HealthCheck, HealthStatus, Result};

/// Whether an instance takes traffic, as its operator says (independent of health).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstanceStatus {
    /// Takes traffic.
    #[default]
    Up,
    /// Taken out by its operator.
    Down,
    /// Going away (graceful offline before a deploy).
    OutOfService,
}

impl InstanceStatus {
    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Up => "UP",
            InstanceStatus::Down => "DOWN",
            InstanceStatus::OutOfService => "OUT_OF_SERVICE",
        }
    }
}

/// A registration request (`POST /api/v1/instances`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewInstance {
    /// The service; created on first registration.
    pub service_name: String,
    /// The group (default `DEFAULT_GROUP`).
    #[serde(default)]
    pub group_name: Option<String>,
    /// Host name or IP address clients connect to.
    pub host: String,
    /// Port, 1 to 65535.
    pub port: u32,
    /// Relative weight for weighted choices, 0 to 10000 (default 1).
    #[serde(default)]
    pub weight: Option<f64>,
    /// Free-form labels.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Free-form tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Ephemeral (default): lives while it heartbeats. Persistent: lives until deleted.
    #[serde(default)]
    pub ephemeral: Option<bool>,
    /// How health is decided; defaults to the service's default, else ttl for ephemeral
    /// instances and none for persistent ones.
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
}

impl NewInstance {
    /// A registration of `host:port` for `service` with every other field at its default
    /// (group `DEFAULT_GROUP`, weight 1, ephemeral, the service's default health check).
    pub fn new(service: impl Into<String>, host: impl Into<String>, port: u16) -> Self {
        NewInstance {
            service_name: service.into(),
            group_name: None,
            host: host.into(),
            port: u32::from(port),
            weight: None,
            metadata: BTreeMap::new(),
            tags: Vec::new(),
            ephemeral: None,
            health_check: None,
        }
    }
}

/// A registered instance as the registry keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    /// Stable id: the same tenant, group, service, host and port always get the same id.
    pub instance_id: String,
    /// The tenant.
    pub tenant: String,
    /// The group.
    pub group_name: String,
    /// The service.
    pub service_name: String,
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Weight.
    pub weight: f64,
    /// Labels.
    pub metadata: BTreeMap<String, String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Ephemeral or persistent.
    pub ephemeral: bool,
    /// How health is decided.
    pub health_check: HealthCheck,
    /// Operator status.
    pub status: InstanceStatus,
    /// For `http`, `tcp` and `none` checks: the last decision. Ttl instances derive their
    /// health from heartbeats instead (see [`InstanceView`]).
    pub checked_health: HealthStatus,
    /// When it was first registered.
    pub registered_at: i64,
    /// When it last changed (not counting heartbeats).
    pub updated_at: i64,
}

impl Instance {
    /// The service the instance belongs to.
    pub fn service_id(&self) -> ServiceId {
        ServiceId::new(&self.tenant, &self.group_name, &self.service_name)
    }
}

/// An instance as discovery answers it: the record plus its health now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceView {
    /// The record.
    #[serde(flatten)]
    pub instance: Instance,
    /// Healthy now.
    pub healthy: bool,
    /// `HEALTHY` or `UNHEALTHY`.
    pub health_status: HealthStatus,
}

/// The id of the instance at `host:port` of a service: a UUIDv5, so registering the same
/// address again finds the same instance instead of adding one.
pub fn instance_id(service: &ServiceId, host: &str, port: u16) -> String {
    // A fixed namespace for keel instance ids (a v4 UUID chosen once).
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6b65_656c_5f72_4e67_9a1d_5c3e_7f20_b413);
    // Built by hand rather than with format!: this runs on every Nacos heartbeat, and a
    // String sized once (no regrowth) is measurably cheaper there.
    use std::fmt::Write as _;
    let parts = [&service.tenant, &service.group, &service.service];
    // Each part and its newline, the host, its newline, and at most five digits of port.
    let mut name =
        String::with_capacity(parts.iter().map(|p| p.len() + 1).sum::<usize>() + host.len() + 6);
    for part in parts {
        name.push_str(part);
        name.push('\n');
    }
    name.push_str(host);
    let _ = write!(name, "\n{port}");
    let mut id = [0u8; uuid::fmt::Simple::LENGTH];
    uuid::Uuid::new_v5(&NAMESPACE, name.as_bytes())
        .as_simple()
        .encode_lower(&mut id)
        .to_owned()
}

/// Checks a host: a DNS name or an IP address, at most 253 bytes, no spaces or slashes.
pub fn validate_host(host: &str) -> Result<()> {
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'%'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "host {host:?} must be a DNS name or an IP address (1 to 253 characters of A-Z, a-z, 0-9, '.', '-', '_', ':')"
        )))
    }
}

/// Checks a port and narrows it.
pub fn validate_port(port: u32) -> Result<u16> {
    match u16::try_from(port) {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(Error::Invalid(format!(
            "port {port} must be between 1 and 65535"
        ))),
    }
}

/// Checks a weight.
pub fn validate_weight(weight: f64) -> Result<f64> {
    if weight.is_finite() && (0.0..=MAX_WEIGHT).contains(&weight) {
        Ok(weight)
    } else {
        Err(Error::Invalid(format!(
            "weight {weight} must be between 0 and {MAX_WEIGHT}"
        )))
    }
}

/// Checks metadata size: at most [`MAX_METADATA_ENTRIES`] entries and
/// [`MAX_METADATA_BYTES`] bytes; keys are non-empty.
pub fn validate_metadata(metadata: &BTreeMap<String, String>) -> Result<()> {
    if metadata.len() > MAX_METADATA_ENTRIES {
        return Err(Error::Invalid(format!(
            "metadata has {} entries; at most {MAX_METADATA_ENTRIES} are allowed",
            metadata.len()
        )));
    }
    let bytes: usize = metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > MAX_METADATA_BYTES {
        return Err(Error::Invalid(format!(
            "metadata is {bytes} bytes; at most {MAX_METADATA_BYTES} are allowed"
        )));
    }
    if metadata.keys().any(|k| k.is_empty() || k.len() > 256) {
        return Err(Error::Invalid(
            "metadata keys must be 1 to 256 bytes".into(),
        ));
    }
    Ok(())
}

/// Checks tags: at most [`MAX_TAGS`], each 1 to 128 bytes without commas (filters list
/// tags comma-separated).
pub fn validate_tags(tags: &[String]) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(Error::Invalid(format!(
            "{} tags given; at most {MAX_TAGS} are allowed",
            tags.len()
        )));
    }
    if let Some(bad) = tags
        .iter()
        .find(|t| t.is_empty() || t.len() > 128 || t.contains(','))
    {
        return Err(Error::Invalid(format!(
            "tag {bad:?} must be 1 to 128 bytes without ','"
        )));
    }
    Ok(())
}
