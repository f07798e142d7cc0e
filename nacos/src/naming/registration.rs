//! A Nacos instance (from request parameters or from a beat) written as a keel registration.
//!
//! - the cluster goes into the reserved metadata key (absent for `DEFAULT`);
//! - `ephemeral=true` is a ttl-checked ephemeral instance whose timings come from the preserved
//!   metadata keys; `ephemeral=false` is a persistent instance probed over TCP (Nacos probes
//!   persistent instances with TCP by default);
//! - `enabled=false` is status `DOWN`, and `healthy=false` on a probed instance its initial
//!   health.

use std::collections::BTreeMap;
use std::time::Duration;

use keel_clog::Context;
use keel_registry::{
    CheckKind, HealthCheck, HealthStatus, Instance, InstanceStatus, NewInstance, Registered,
};

use super::Naming;
use super::host::{HEART_BEAT_INTERVAL, HEART_BEAT_TIMEOUT, IP_DELETE_TIMEOUT, preserved_millis};
use crate::error::{NacosError, NacosResult};
use crate::names::{self, CLUSTER_KEY, DEFAULT_CLUSTER, NacosService};
use crate::params::{Params, parse_double, parse_int, parse_metadata};

/// Nacos's weight range (`Constants.MIN_WEIGHT_VALUE`..`MAX_WEIGHT_VALUE`), keel's too.
const MAX_WEIGHT: f64 = 10_000.0;

/// One Nacos instance, checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Registration {
    pub(crate) service: NacosService,
    pub(crate) ip: String,
    pub(crate) port: u16,
    pub(crate) weight: f64,
    pub(crate) cluster: String,
    pub(crate) enabled: bool,
    pub(crate) healthy: bool,
    pub(crate) ephemeral: bool,
    pub(crate) metadata: BTreeMap<String, String>,
}

impl Registration {
    /// The instance a register or update request describes, in the order Nacos's
    /// `HttpRequestInstanceBuilder` reads (and refuses) its parameters.
    pub(crate) fn from_params(params: &Params, service: NacosService) -> NacosResult<Self> {
        let ip = params.required("ip")?.to_owned();
        let port = port(params.required("port")?)?;
        let healthy = params.boolean("healthy", true);
        let ephemeral = params.boolean("ephemeral", true);
        let weight = weight(params.optional("weight"))?;
        let cluster = names::cluster(params)?;
        // Nacos reads `enabled` first, then `enable` (which nacos-sdk-python sends).
        let enabled = match params.optional("enabled") {
            Some(v) => v.eq_ignore_ascii_case("true"),
            None => params.boolean("enable", true),
        };
        let metadata = parse_metadata(params.optional("metadata"))?;
        Ok(Registration {
            service,
            ip,
            port,
            weight,
            cluster,
            enabled,
            healthy,
            ephemeral,
            metadata,
        })
    }
}

/// A port parameter: Java's number parsing, then [`check_port`].
pub(crate) fn port(value: &str) -> NacosResult<u16> {
    check_port(parse_int(value)?)
}

/// keel's port range, 1 to 65535 (Nacos also takes 0).
pub(crate) fn check_port(port: i64) -> NacosResult<u16> {
    u32::try_from(port)
        .map_err(|_| NacosError::bad_request(format!("port {port} must be between 1 and 65535")))
        .and_then(|p| keel_registry::validate_port(p).map_err(NacosError::from))
}

/// A weight parameter (default 1), then [`check_weight`].
pub(crate) fn weight(value: Option<&str>) -> NacosResult<f64> {
    check_weight(value.map_or(Ok(1.0), parse_double)?)
}

/// Nacos's weight range, with its text.
pub(crate) fn check_weight(weight: f64) -> NacosResult<f64> {
    if (0.0..=MAX_WEIGHT).contains(&weight) {
        Ok(weight)
    } else {
        Err(NacosError::bad_request(
            "instance format invalid: The weights range from 0.0 to 10000.0",
        ))
    }
}

/// Why a registration is written: what to keep of the instance already there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Write<'a> {
    /// A registration (`POST /instance`, or a beat that auto-registers): the request says
    /// everything, including the initial health of a probed instance.
    Register,
    /// An update of this instance: its kind, tags and non-ttl check stay.
    Update(&'a Instance),
}

/// Writes `reg` to the registry.
pub(crate) async fn write(
    naming: &Naming,
    ctx: &Context,
    reg: &Registration,
    how: Write<'_>,
) -> NacosResult<Registered> {
    let tenant = &reg.service.id.tenant;
    let existing = match how {
        Write::Register => None,
        Write::Update(i) => Some(i),
    };
    let ephemeral = existing.map_or(reg.ephemeral, |i| i.ephemeral);
    let mut metadata = reg.metadata.clone();
    if reg.cluster == DEFAULT_CLUSTER {
        metadata.remove(CLUSTER_KEY);
    } else {
        metadata.insert(CLUSTER_KEY.to_owned(), reg.cluster.clone());
    }
    let health_check = match existing {
        Some(i) if i.health_check.kind != CheckKind::Ttl => Some(i.health_check.clone()),
        _ => check(ephemeral, &reg.metadata)?,
    };
    let request = NewInstance {
        service_name: reg.service.id.service.clone(),
        group_name: Some(reg.service.id.group.clone()),
        host: reg.ip.clone(),
        port: u32::from(reg.port),
        weight: Some(reg.weight),
        metadata,
        // Tags are keel's alone; a Nacos write must not drop the ones set natively.
        tags: existing.map(|i| i.tags.clone()).unwrap_or_default(),
        ephemeral: Some(ephemeral),
        health_check,
    };
    let probed = request
        .health_check
        .as_ref()
        .is_some_and(|c| c.kind != CheckKind::Ttl);
    // Nacos clients cannot send keel's register tokens (their Authorization header is Nacos's).
    let registered = naming.registry.register(ctx, tenant, None, request).await?;
    // A registration is always UP in keel; a disabled Nacos instance is taken down right after.
    if !reg.enabled {
        naming
            .registry
            .set_status(ctx, tenant, &registered.instance_id, InstanceStatus::Down)
            .await?;
    }
    if matches!(how, Write::Register) && probed && !reg.healthy {
        naming
            .registry
            .set_health(
                ctx,
                tenant,
                &registered.instance_id,
                HealthStatus::Unhealthy,
            )
            .await?;
    }
    Ok(registered)
}

/// The check of a Nacos instance: TCP probes for a persistent one; for an ephemeral one a ttl
/// check with the preserved timings when the metadata has any, else the service's default
/// (ttl with 5 s / 15 s / 30 s, Nacos's defaults too, unless the service says otherwise).
fn check(ephemeral: bool, metadata: &BTreeMap<String, String>) -> NacosResult<Option<HealthCheck>> {
    if !ephemeral {
        return Ok(Some(HealthCheck::of(CheckKind::Tcp)));
    }
    let interval = preserved_millis(metadata, HEART_BEAT_INTERVAL);
    let timeout = preserved_millis(metadata, HEART_BEAT_TIMEOUT);
    let delete = preserved_millis(metadata, IP_DELETE_TIMEOUT);
    if interval.is_none() && timeout.is_none() && delete.is_none() {
        return Ok(None);
    }
    let effective = interval.unwrap_or(super::host::DEFAULT_BEAT_INTERVAL_MS);
    if timeout.is_some_and(|t| t < effective) || delete.is_some_and(|d| d < effective) {
        return Err(NacosError::bad_request(
            "Instance 'heart beat interval' must less than 'heart beat timeout' and 'ip delete timeout'.",
        ));
    }
    let mut check = HealthCheck::of(CheckKind::Ttl);
    check.interval = interval.map(Duration::from_millis);
    check.unhealthy_timeout = timeout.map(Duration::from_millis);
    check.delete_timeout = delete.map(Duration::from_millis);
    Ok(Some(check))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preserved_timings_make_the_ttl_check() {
        let mut m = BTreeMap::new();
        assert_eq!(check(true, &m).unwrap(), None);
        assert_eq!(
            check(false, &m).unwrap(),
            Some(HealthCheck::of(CheckKind::Tcp))
        );
        m.insert(HEART_BEAT_INTERVAL.to_owned(), "2000".to_owned());
        m.insert(HEART_BEAT_TIMEOUT.to_owned(), "6000".to_owned());
        m.insert(IP_DELETE_TIMEOUT.to_owned(), "9000".to_owned());
        let c = check(true, &m).unwrap().unwrap();
        assert_eq!(c.kind, CheckKind::Ttl);
        assert_eq!(c.interval(), Duration::from_secs(2));
        assert_eq!(c.unhealthy_timeout(), Duration::from_secs(6));
        assert_eq!(c.delete_timeout(), Duration::from_secs(9));
        m.insert(HEART_BEAT_TIMEOUT.to_owned(), "1000".to_owned());
        assert!(check(true, &m).is_err());
        // Not digits: ignored, as Nacos ignores it.
        let mut m = BTreeMap::new();
        m.insert(HEART_BEAT_INTERVAL.to_owned(), "soon".to_owned());
        assert_eq!(check(true, &m).unwrap(), None);
    }

    #[test]
    fn ports_and_weights_are_checked() {
        assert_eq!(port("8080").unwrap(), 8080);
        assert!(port("0").is_err());
        assert!(port("-1").is_err());
        assert!(port("65536").is_err());
        assert!(port("x").is_err());
        assert_eq!(weight(None).unwrap(), 1.0);
        assert_eq!(weight(Some("8.0")).unwrap(), 8.0);
        assert!(weight(Some("10001")).is_err());
        assert!(weight(Some("NaN")).is_err());
    }
}
