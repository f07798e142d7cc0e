//! The registry's resources — tenants, groups, services, instances — and the rules their names
//! and fields follow. Times are Unix milliseconds; durations travel as humantime strings
//! (`"5s"`, `"1m30s"`) or as integer milliseconds.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The tenant of a request without an `X-Tenant-Id` header.
pub const DEFAULT_TENANT: &str = "default";
/// The group of a service registered without `groupName`.
pub const DEFAULT_GROUP: &str = "DEFAULT_GROUP";
/// Longest tenant, group or service name.
pub const MAX_NAME_LEN: usize = 128;
/// Most metadata entries on an instance or a service.
pub const MAX_METADATA_ENTRIES: usize = 64;
/// Largest metadata (keys and values together) on an instance or a service, in bytes.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// Most tags on an instance.
pub const MAX_TAGS: usize = 32;
/// Largest weight an instance may have (0 takes it out of weighted choices).
pub const MAX_WEIGHT: f64 = 10_000.0;

/// Checks a tenant, group or service name against `[A-Za-z0-9._:-]{1,128}`; `what` names it.
///
/// `/` is excluded because names are segments of coord keys and URLs; `:` is allowed because
/// service names such as `providers:com.example.Api:1.0` are common in the Dubbo world.
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{what} {name:?} must be 1 to {MAX_NAME_LEN} characters of A-Z, a-z, 0-9, '.', '_', '-' or ':' (and not . or ..)"
        )))
    }
}

/// Where a service is: tenant, group and name.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct ServiceId {
    /// The tenant (from `X-Tenant-Id`).
    pub tenant: String,
    /// The group.
    pub group: String,
    /// The service name.
    pub service: String,
}

impl ServiceId {
    /// A service id; not validated (see [`ServiceId::validate`]).
    pub fn new(
        tenant: impl Into<String>,
        group: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        ServiceId {
            tenant: tenant.into(),
            group: group.into(),
            service: service.into(),
        }
    }

    /// Checks the three names.
    pub fn validate(&self) -> Result<()> {
        validate_name("tenant", &self.tenant)?;
        validate_name("groupName", &self.group)?;
        validate_name("serviceName", &self.service)
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.tenant, self.group, self.service)
    }
}

/// How the registry decides whether an instance is healthy.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// The instance sends heartbeats; missing them makes it unhealthy, then removes it
    /// (ephemeral instances only).
    #[default]
    Ttl,
    /// The registry GETs `http://host:port{path}`; a 2xx answer is healthy.
    Http,
    /// The registry opens a TCP connection to `host:port`; connecting is healthy.
    Tcp,
    /// Nothing checks it; health changes only through `PUT /instances/{id}/health`.
    None,
}

impl CheckKind {
    /// The name used in the API and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Ttl => "ttl",
            CheckKind::Http => "http",
            CheckKind::Tcp => "tcp",
            CheckKind::None => "none",
        }
    }

    /// Whether the registry probes the instance itself.
    pub fn is_active(self) -> bool {
        matches!(self, CheckKind::Http | CheckKind::Tcp)
    }
}

/// Defaults of [`HealthCheck`].
pub mod defaults {
    use std::time::Duration;

    /// Heartbeat interval told to ephemeral instances.
    pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
    /// No heartbeat for this long → UNHEALTHY.
    pub const UNHEALTHY_TIMEOUT: Duration = Duration::from_secs(15);
    /// No heartbeat for this long → removed.
    pub const DELETE_TIMEOUT: Duration = Duration::from_secs(30);
    /// Interval between active probes.
    pub const PROBE_INTERVAL: Duration = Duration::from_secs(5);
    /// How long one active probe may take.
    pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
    /// Path an HTTP probe GETs.
    pub const PROBE_PATH: &str = "/health";
}

/// How an instance's health is decided, with its timings.
///
/// For `ttl`, `interval` is the heartbeat interval told to the client, and
/// `unhealthyTimeout`/`deleteTimeout` say when missed heartbeats make it UNHEALTHY and then
/// remove it. For `http`/`tcp`, `interval` and `timeout` pace the probes and `path` is what an
/// HTTP probe GETs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheck {
    /// `ttl` (default for ephemeral instances), `http`, `tcp` or `none` (default for
    /// persistent ones).
    #[serde(rename = "type")]
    pub kind: CheckKind,
    /// HTTP probe path (default `/health`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Heartbeat or probe interval.
    #[serde(
        default,
        with = "duration_field",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, example = "5s")]
    pub interval: Option<Duration>,
    /// Probe timeout.
    #[serde(
        default,
        with = "duration_field",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, example = "2s")]
    pub timeout: Option<Duration>,
    /// Missed heartbeats for this long → UNHEALTHY (ttl only).
    #[serde(
        default,
        with = "duration_field",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, example = "15s")]
    pub unhealthy_timeout: Option<Duration>,
    /// Missed heartbeats for this long → removed (ttl only).
    #[serde(
        default,
        with = "duration_field",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, example = "30s")]
    pub delete_timeout: Option<Duration>,
}

impl HealthCheck {
    /// A check of this kind with every timing at its default.
    pub fn of(kind: CheckKind) -> Self {
        HealthCheck {
            kind,
            path: None,
            interval: None,
            timeout: None,
            unhealthy_timeout: None,
            delete_timeout: None,
        }
    }

    /// The heartbeat or probe interval in force.
    pub fn interval(&self) -> Duration {
        self.interval.unwrap_or(match self.kind {
            CheckKind::Ttl => defaults::HEARTBEAT_INTERVAL,
            _ => defaults::PROBE_INTERVAL,
        })
    }

    /// The probe timeout in force.
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(defaults::PROBE_TIMEOUT)
    }

    /// The HTTP probe path in force.
    pub fn path(&self) -> &str {
        self.path.as_deref().unwrap_or(defaults::PROBE_PATH)
    }

    /// The unhealthy timeout in force.
    pub fn unhealthy_timeout(&self) -> Duration {
        self.unhealthy_timeout
            .unwrap_or(defaults::UNHEALTHY_TIMEOUT)
    }

    /// The delete timeout in force.
    pub fn delete_timeout(&self) -> Duration {
        self.delete_timeout.unwrap_or(defaults::DELETE_TIMEOUT)
    }

    /// Checks the timings and the path; `ephemeral` says what the instance is.
    pub fn validate(&self, ephemeral: bool) -> Result<()> {
        let bad = |m: String| Err(Error::Invalid(m));
        if self.kind == CheckKind::Ttl && !ephemeral {
            return bad("healthCheck.type \"ttl\" needs an ephemeral instance: a persistent one is never expired, use http, tcp or none".into());
        }
        let within = |name: &str, d: Duration, min: Duration, max: Duration| {
            if d < min || d > max {
                Err(Error::Invalid(format!(
                    "healthCheck.{name} {} must be between {} and {}",
                    humantime::format_duration(d),
                    humantime::format_duration(min),
                    humantime::format_duration(max)
                )))
            } else {
                Ok(())
            }
        };
        let second = Duration::from_secs(1);
        let hour = Duration::from_secs(3600);
        within(
            "interval",
            self.interval(),
            Duration::from_millis(500),
            hour,
        )?;
        within(
            "timeout",
            self.timeout(),
            Duration::from_millis(10),
            Duration::from_secs(60),
        )?;
        // Leases are granted in whole seconds.
        within("unhealthyTimeout", self.unhealthy_timeout(), second, hour)?;
        within("deleteTimeout", self.delete_timeout(), second, 24 * hour)?;
        if self.kind == CheckKind::Ttl && self.delete_timeout() < self.unhealthy_timeout() {
            return bad(format!(
                "healthCheck.deleteTimeout {} must not be shorter than unhealthyTimeout {}",
                humantime::format_duration(self.delete_timeout()),
                humantime::format_duration(self.unhealthy_timeout())
            ));
        }
        if let Some(path) = &self.path
            && (!path.starts_with('/') || path.len() > 512 || path.bytes().any(|b| b <= b' '))
        {
            return bad(format!(
                "healthCheck.path {path:?} must start with '/', have no spaces and be at most 512 bytes"
            ));
        }
        Ok(())
    }
}

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

/// What the last health decision was.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum HealthStatus {
    /// Healthy.
    #[default]
    Healthy,
    /// Unhealthy.
    Unhealthy,
}

impl HealthStatus {
    /// `Healthy` when `healthy`.
    pub fn from_bool(healthy: bool) -> Self {
        if healthy {
            HealthStatus::Healthy
        } else {
            HealthStatus::Unhealthy
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
    let name = format!(
        "{}\n{}\n{}\n{}\n{}",
        service.tenant, service.group, service.service, host, port
    );
    uuid::Uuid::new_v5(&NAMESPACE, name.as_bytes())
        .as_simple()
        .to_string()
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

/// How a client SDK picks an instance when the call does not say.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LoadBalance {
    /// Each instance in turn.
    #[default]
    RoundRobin,
    /// At random, in proportion to weight.
    WeightedRandom,
    /// The instance with the fewest requests in flight from this client.
    LeastOutstanding,
    /// The same key always goes to the same instance while it lives.
    ConsistentHash,
}

impl LoadBalance {
    /// The name used in the API and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadBalance::RoundRobin => "round_robin",
            LoadBalance::WeightedRandom => "weighted_random",
            LoadBalance::LeastOutstanding => "least_outstanding",
            LoadBalance::ConsistentHash => "consistent_hash",
        }
    }
}

/// A service's settings (`POST /api/v1/services`, `PUT /api/v1/services/{name}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// Tenant, group and name.
    #[serde(flatten)]
    pub id: ServiceId,
    /// Labels.
    pub metadata: BTreeMap<String, String>,
    /// 0 to 1: when the healthy share of the instances falls below it, discovery answers every
    /// instance (marked) rather than pile the load on the few healthy ones. 0 disables it.
    pub protect_threshold: f64,
    /// The health check of instances that register without one.
    pub default_health_check: Option<HealthCheck>,
    /// The default load-balancing strategy of client SDKs.
    pub load_balance: LoadBalance,
    /// When it was created.
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
}

/// The writable fields of a service; `None` keeps the current value (on create, the default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSettings {
    /// Labels.
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// 0 to 1.
    #[serde(default)]
    pub protect_threshold: Option<f64>,
    /// The default health check.
    #[serde(default)]
    pub default_health_check: Option<HealthCheck>,
    /// The default load-balancing strategy.
    #[serde(default)]
    pub load_balance: Option<LoadBalance>,
}

impl ServiceSettings {
    /// Checks the fields that are set.
    pub fn validate(&self) -> Result<()> {
        if let Some(m) = &self.metadata {
            validate_metadata(m)?;
        }
        if let Some(t) = self.protect_threshold
            && !(t.is_finite() && (0.0..=1.0).contains(&t))
        {
            return Err(Error::Invalid(format!(
                "protectThreshold {t} must be between 0 and 1"
            )));
        }
        if let Some(h) = &self.default_health_check {
            // A service default may serve ephemeral and persistent instances alike; the ttl
            // rule is enforced when an instance picks it up.
            h.validate(true)?;
        }
        Ok(())
    }
}

/// A group of services in a tenant; it may restrict who registers into it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// The tenant.
    pub tenant: String,
    /// The group name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Tokens allowed to register into the group (`Authorization: Bearer <token>`); empty
    /// lets anyone register. Never returned by the API, only counted.
    #[serde(skip_serializing, default)]
    pub register_tokens: Vec<String>,
    /// How many register tokens the group has.
    #[serde(default)]
    pub register_token_count: usize,
    /// When it was created.
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
}

/// The writable fields of a group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupSettings {
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Tokens allowed to register; `[]` opens the group to anyone.
    #[serde(default)]
    pub register_tokens: Option<Vec<String>>,
}

impl GroupSettings {
    /// Checks the fields that are set.
    pub fn validate(&self) -> Result<()> {
        if let Some(d) = &self.description
            && d.len() > 1024
        {
            return Err(Error::Invalid(
                "description must be at most 1024 bytes".into(),
            ));
        }
        if let Some(tokens) = &self.register_tokens {
            if tokens.len() > 64 {
                return Err(Error::Invalid(
                    "at most 64 registerTokens are allowed".into(),
                ));
            }
            if tokens
                .iter()
                .any(|t| t.len() < 8 || t.len() > 256 || t.bytes().any(|b| b <= b' '))
            {
                return Err(Error::Invalid(
                    "each register token must be 8 to 256 bytes without spaces".into(),
                ));
            }
        }
        Ok(())
    }
}

/// A page of a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The entries of this page.
    pub items: Vec<T>,
    /// How many entries there are in all.
    pub total: u64,
    /// The page number, from 1.
    pub page: u32,
    /// The page size.
    pub size: u32,
}

/// Now, in Unix milliseconds.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Serde for `Option<Duration>` as a humantime string, accepting integer milliseconds too.
pub(crate) mod duration_field {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Millis(u64),
        Text(String),
    }

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::Millis(ms)) => Ok(Some(Duration::from_millis(ms))),
            Some(Raw::Text(text)) => humantime::parse_duration(&text).map(Some).map_err(|e| {
                serde::de::Error::custom(format!(
                    "duration {text:?} is not valid ({e}); write it like \"5s\", \"1m30s\" or as milliseconds"
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_are_stable_and_distinct() {
        let s = ServiceId::new("t", "g", "orders");
        assert_eq!(
            instance_id(&s, "10.0.0.1", 80),
            instance_id(&s, "10.0.0.1", 80)
        );
        assert_ne!(
            instance_id(&s, "10.0.0.1", 80),
            instance_id(&s, "10.0.0.1", 81)
        );
        let other_tenant = ServiceId::new("u", "g", "orders");
        assert_ne!(
            instance_id(&s, "10.0.0.1", 80),
            instance_id(&other_tenant, "10.0.0.1", 80)
        );
        assert_eq!(instance_id(&s, "h", 1).len(), 32);
    }

    #[test]
    fn durations_accept_text_and_millis() {
        let h: HealthCheck =
            serde_json::from_str(r#"{"type":"ttl","interval":"2s","deleteTimeout":40000}"#)
                .unwrap();
        assert_eq!(h.interval(), Duration::from_secs(2));
        assert_eq!(h.delete_timeout(), Duration::from_secs(40));
        assert_eq!(h.unhealthy_timeout(), defaults::UNHEALTHY_TIMEOUT);
        let err =
            serde_json::from_str::<HealthCheck>(r#"{"type":"ttl","interval":"soon"}"#).unwrap_err();
        assert!(err.to_string().contains("\"soon\""), "{err}");
    }

    #[test]
    fn bad_fields_say_what_to_fix() {
        assert!(validate_port(0).is_err());
        assert!(validate_port(65536).is_err());
        assert_eq!(validate_port(8080).unwrap(), 8080);
        assert!(validate_weight(-1.0).is_err());
        assert!(validate_weight(f64::NAN).is_err());
        assert!(validate_host("a b").is_err());
        assert!(validate_host("10.0.0.1").is_ok());
        assert!(validate_host("fe80::1").is_ok());
        assert!(validate_name("serviceName", "a/b").is_err());
        assert!(validate_name("serviceName", "providers:com.x.Api:1.0").is_ok());
        let big: BTreeMap<String, String> =
            (0..65).map(|i| (i.to_string(), String::new())).collect();
        assert!(validate_metadata(&big).is_err());
        assert!(HealthCheck::of(CheckKind::Ttl).validate(false).is_err());
        let mut h = HealthCheck::of(CheckKind::Ttl);
        h.delete_timeout = Some(Duration::from_secs(5));
        assert!(
            h.validate(true)
                .unwrap_err()
                .to_string()
                .contains("deleteTimeout")
        );
    }
}
