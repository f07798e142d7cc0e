//! `/nacos/v1/ns/service` (create, update, delete, read) and `/nacos/v1/ns/service/list`.
//!
//! A Nacos service is a keel service: protect threshold and metadata are its settings, and
//! its clusters are the distinct clusters of its instances. Selectors are accepted and not
//! stored (always shown as `{"type":"none"}`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use keel_clog::Context;
use keel_registry::{Error, InstanceFilter, ServiceSettings};
use serde::Serialize;
use serde_json::json;

use super::{Naming, host, ok};
use crate::error::{NacosError, NacosResult};
use crate::names::{self, NacosService, Required};
use crate::params::{Params, parse_double, parse_int, parse_metadata};

/// keel's largest page of services; bigger Nacos pages are assembled from several.
const KEEL_PAGE: u32 = 1000;

/// `POST /nacos/v1/ns/service`.
pub(crate) async fn create(State(naming): State<Arc<Naming>>, params: Params) -> NacosResult {
    let service = names::service(&naming.settings, &params, Required::RequestParam)?;
    let threshold = params.optional("protectThreshold").unwrap_or("0");
    let settings = ServiceSettings {
        protect_threshold: Some(threshold_of(parse_double(threshold)?)),
        metadata: Some(parse_metadata(params.optional("metadata"))?),
        ..ServiceSettings::default()
    };
    match naming
        .registry
        .create_service(&Context::new(), &service.id, &settings)
        .await
    {
        Ok(_) => Ok(ok()),
        Err(Error::Conflict(_)) => Err(NacosError::bad_request(format!(
            "specified service {} already exists!",
            service.grouped()
        ))),
        Err(e) => Err(e.into()),
    }
}

/// `PUT /nacos/v1/ns/service`: `protectThreshold` is required; metadata is replaced (by
/// nothing when the request has none), as Nacos does.
pub(crate) async fn update(State(naming): State<Arc<Naming>>, params: Params) -> NacosResult {
    let service = names::service(&naming.settings, &params, Required::WebUtils)?;
    let metadata = parse_metadata(params.optional("metadata"))?;
    let threshold = parse_double(params.required("protectThreshold")?)?;
    let settings = ServiceSettings {
        protect_threshold: Some(threshold_of(threshold)),
        metadata: Some(metadata),
        ..ServiceSettings::default()
    };
    match naming
        .registry
        .update_service(&Context::new(), &service.id, &settings)
        .await
    {
        Ok(_) => Ok(ok()),
        Err(Error::NotFound(_)) => Err(not_found(&service)),
        Err(e) => Err(e.into()),
    }
}

/// `DELETE /nacos/v1/ns/service`: only a service without instances.
pub(crate) async fn delete(State(naming): State<Arc<Naming>>, params: Params) -> NacosResult {
    let service = names::service(&naming.settings, &params, Required::RequestParam)?;
    match naming
        .registry
        .delete_service(&Context::new(), &service.id)
        .await
    {
        Ok(()) => Ok(ok()),
        Err(Error::NotFound(_)) => Err(not_found(&service)),
        Err(Error::Conflict(_)) => Err(NacosError::bad_request(format!(
            "Service {} is not empty, can't be delete. Please unregister instance first",
            service.grouped()
        ))),
        Err(e) => Err(e.into()),
    }
}

/// `GET /nacos/v1/ns/service`, in Nacos's `ObjectNode` order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    namespace_id: String,
    group_name: String,
    /// Without the group.
    name: String,
    protect_threshold: f64,
    metadata: BTreeMap<String, String>,
    selector: serde_json::Value,
    clusters: Vec<serde_json::Value>,
}

/// `GET /nacos/v1/ns/service`.
pub(crate) async fn detail(State(naming): State<Arc<Naming>>, params: Params) -> NacosResult {
    let service = names::service(&naming.settings, &params, Required::RequestParam)?;
    let settings = match naming
        .registry
        .get_service(&Context::new(), &service.id)
        .await
    {
        Ok(s) => s,
        Err(Error::NotFound(_)) => {
            return Err(NacosError::bad_request(format!(
                "service not found, namespace: {}, serviceName: {}",
                service.namespace,
                service.grouped()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let every = InstanceFilter {
        statuses: Vec::new(),
        healthy: None,
        ..InstanceFilter::default()
    };
    let clusters: BTreeSet<String> = naming
        .registry
        .discover(&service.id, &every)?
        .instances
        .iter()
        .map(|v| host::cluster(&v.instance).to_owned())
        .collect();
    Ok(axum::Json(Detail {
        namespace_id: service.namespace.clone(),
        group_name: service.id.group.clone(),
        name: service.id.service.clone(),
        protect_threshold: settings.protect_threshold,
        metadata: settings.metadata,
        selector: json!({"type": "none", "contextType": "NONE"}),
        clusters: clusters
            .into_iter()
            // keel keeps no per-cluster settings; TCP is what Nacos shows for a bare cluster.
            .map(|name| json!({"name": name, "healthChecker": {"type": "TCP"}, "metadata": {}}))
            .collect(),
    })
    .into_response())
}

/// `GET /nacos/v1/ns/service/list`: `{"count":N,"doms":[names without the group]}`, sorted by
/// name; `pageNo` and `pageSize` are required.
pub(crate) async fn list(State(naming): State<Arc<Naming>>, params: Params) -> NacosResult {
    let page_no = parse_int(params.required("pageNo")?)?;
    let page_size = parse_int(params.required("pageSize")?)?;
    let (tenant, _) = names::namespace(&naming.settings, &params)?;
    let group = names::group(&params)?;
    let registry = &naming.registry;
    let ctx = Context::new();
    // As Nacos's `pageServiceName`: a start before the first entry starts at it.
    let start = u64::try_from(page_no.saturating_sub(1).saturating_mul(page_size)).unwrap_or(0);
    let size = u64::try_from(page_size).unwrap_or(0);
    let doms: Vec<String>;
    let count: u64;
    if let Ok(keel_size @ 1..=KEEL_PAGE) = u32::try_from(size) {
        // Pages of the same size line up: one keel page is exactly the Nacos page.
        let page = u32::try_from(start / size + 1).unwrap_or(u32::MAX);
        let answer = registry
            .list_services(&ctx, &tenant, Some(&group), page, keel_size)
            .await?;
        count = answer.total;
        doms = answer.items.into_iter().map(|s| s.id.service).collect();
    } else {
        let mut names = Vec::new();
        let mut page = 1;
        loop {
            let answer = registry
                .list_services(&ctx, &tenant, Some(&group), page, KEEL_PAGE)
                .await?;
            let last = answer.items.len() < KEEL_PAGE as usize;
            names.extend(answer.items.into_iter().map(|s| s.id.service));
            if last {
                break;
            }
            page += 1;
        }
        count = names.len() as u64;
        doms = names
            .into_iter()
            .skip(usize::try_from(start).unwrap_or(usize::MAX))
            .take(usize::try_from(size).unwrap_or(0))
            .collect();
    }
    Ok(axum::Json(json!({"count": count, "doms": doms})).into_response())
}

/// keel takes a threshold between 0 and 1. Nacos treats a negative one as 0, and one above 1
/// as "always protect", which 1 does in keel whenever an instance is unhealthy.
fn threshold_of(value: f64) -> f64 {
    if value.is_nan() {
        0.0
    } else {
        value.clamp(0.0, 1.0)
    }
}

fn not_found(service: &NacosService) -> NacosError {
    NacosError::bad_request(format!("service {} not found!", service.grouped()))
}
