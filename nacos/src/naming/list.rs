//! `GET /nacos/v1/ns/instance/list`: a service's enabled instances in Nacos 2.x's `ServiceInfo`
//! shape, filtered by clusters and `healthyOnly`, with the protect threshold applied.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use keel_clog::Context;
use keel_registry::{InstanceFilter, InstanceStatus, InstanceView, now_millis};
use serde::Serialize;

use super::Naming;
use super::host::{self, Host};
use crate::error::{NacosError, NacosResult};
use crate::names::{self, NacosService, Required};
use crate::params::Params;

/// How long the Java 1.x client waits before polling again when it has no UDP push
/// (`defaultPushCacheMillis`).
const CACHE_MILLIS: u64 = 10_000;

/// Nacos's `ServiceInfo`, in its field order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceInfo {
    /// `group@@service` (Nacos 2.x sets it so "for the v1.x SDK").
    name: String,
    group_name: String,
    /// The `clusters` parameter as given.
    clusters: String,
    cache_millis: u64,
    hosts: Vec<Host>,
    last_ref_time: i64,
    /// Nacos 2.x always answers it empty.
    checksum: String,
    #[serde(rename = "allIPs")]
    all_ips: bool,
    reach_protection_threshold: bool,
    valid: bool,
}

/// `GET /nacos/v1/ns/instance/list`. A service nobody registered answers no hosts, not an
/// error. UDP push parameters (`clientIP`, `udpPort`, `app`) are ignored.
pub(crate) async fn list(State(naming): State<Arc<Naming>>, params: Params) -> NacosResult {
    let service = names::service(&naming.settings, &params, Required::WebUtils)?;
    let clusters_param = params.optional("clusters").unwrap_or_default().to_owned();
    let clusters: Vec<&str> = clusters_param
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    let healthy_only = params.boolean("healthyOnly", false);
    // Read before the instances: an answer is kept under a revision no newer than its data.
    let revision = naming.registry.revision_of(&service.id)?;
    let query = format!(
        "{}\0{}\0{}\0{clusters_param}\0{healthy_only}",
        service.id.tenant, service.id.group, service.id.service
    );
    if let Some(answer) = naming.answers.get(&query, revision) {
        return Ok(json(answer));
    }

    // Disabled instances are never listed; health is decided below.
    let enabled = InstanceFilter {
        statuses: vec![InstanceStatus::Up],
        healthy: None,
        ..InstanceFilter::default()
    };
    let mut instances: Vec<InstanceView> = naming
        .registry
        .discover(&service.id, &enabled)?
        .instances
        .into_iter()
        .filter(|v| clusters.is_empty() || clusters.contains(&host::cluster(&v.instance)))
        .collect();
    let protected = protected(&naming, &service, &instances, clusters.is_empty()).await?;
    if protected {
        // Nacos marks every instance healthy so that clients that keep only healthy ones
        // (the Java client does) spread the load over all of them.
        for v in &mut instances {
            v.healthy = true;
        }
    } else if healthy_only {
        instances.retain(|v| v.healthy);
    }
    let answer = ServiceInfo {
        name: service.grouped(),
        group_name: service.id.group.clone(),
        clusters: clusters_param.clone(),
        cache_millis: CACHE_MILLIS,
        hosts: instances.iter().map(Host::of).collect(),
        // When this answer was made: it is kept (and `lastRefTime` with it) until the service
        // changes.
        last_ref_time: now_millis(),
        checksum: String::new(),
        all_ips: false,
        reach_protection_threshold: protected,
        valid: true,
    };
    let encoded = Bytes::from(
        serde_json::to_vec(&answer).map_err(|e| NacosError::internal(format!("encoding: {e}")))?,
    );
    naming.answers.put(query, revision, encoded.clone());
    Ok(json(encoded))
}

/// A JSON answer of already encoded bytes.
fn json(body: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// Whether keel's protect threshold holds for these instances: their healthy share is below
/// the service's threshold (0 turns it off). keel decides that itself over a whole service;
/// over a subset of clusters it is computed here with the service's threshold.
async fn protected(
    naming: &Naming,
    service: &NacosService,
    instances: &[InstanceView],
    whole_service: bool,
) -> NacosResult<bool> {
    let healthy = instances.iter().filter(|v| v.healthy).count();
    if healthy == instances.len() {
        // Nothing unhealthy (or nothing at all): no threshold can be reached. This is the
        // common case, and it needs no further read.
        return Ok(false);
    }
    if whole_service {
        let keel_view = InstanceFilter {
            statuses: vec![InstanceStatus::Up],
            healthy: Some(true),
            ..InstanceFilter::default()
        };
        return Ok(naming
            .registry
            .discover(&service.id, &keel_view)?
            .protect_threshold_triggered);
    }
    let threshold = match naming
        .registry
        .get_service(&Context::new(), &service.id)
        .await
    {
        Ok(s) => s.protect_threshold,
        Err(keel_registry::Error::NotFound(_)) => 0.0,
        Err(e) => return Err(e.into()),
    };
    Ok((healthy as f64) < threshold * instances.len() as f64)
}
