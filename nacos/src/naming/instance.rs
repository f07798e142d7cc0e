//! `/nacos/v1/ns/instance`: register (POST), update (PUT), patch (PATCH), deregister (DELETE),
//! read one (GET).
//!
//! Instances are keyed by ip:port within a service, whatever the cluster, as in Nacos 2.x: the
//! keel instance id is derived from tenant, group, service, host and port.

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use keel_clog::Context;
use keel_registry::{InstanceFilter, InstanceView, instance_id};
use serde::Serialize;

use super::registration::{self, Registration, Write};
use super::{Naming, host, ok};
use crate::error::{NacosError, NacosResult};
use crate::names::{self, NacosService, Required};
use crate::params::{Params, parse_int, parse_metadata};

/// `POST /nacos/v1/ns/instance`: register, or replace the instance at the same ip:port.
pub(crate) async fn register(State(naming): State<Arc<Naming>>, params: Params) -> NacosResult {
    let service = names::service(&naming.settings, &params, Required::WebUtils)?;
    let reg = Registration::from_params(&params, service)?;
    registration::write(&naming, &Context::new(), &reg, Write::Register).await?;
    Ok(ok())
}

/// `PUT /nacos/v1/ns/instance`: replaces weight, enabled and metadata with the request's values
/// or their defaults, as Nacos does (a PUT without `weight` resets it to 1).
pub(crate) async fn update(State(naming): State<Arc<Naming>>, params: Params) -> NacosResult {
    let service = names::service(&naming.settings, &params, Required::WebUtils)?;
    let cluster_given = explicit_cluster(&params)?.is_some();
    let mut reg = Registration::from_params(&params, service)?;
    let ctx = Context::new();
    let current = match current(&naming, &ctx, &reg.service, &reg.ip, reg.port).await? {
        Some(view) => view.instance,
        None if naming.registry.require_service(&reg.service.id).is_err() => {
            let s = &reg.service;
            return Err(NacosError::bad_request(format!(
                "service not found, namespace: {ns}, service: Service{{namespace='{ns}', group='{g}', name='{n}', ephemeral={e}, revision=0}}",
                ns = s.namespace,
                g = s.id.group,
                n = s.id.service,
                e = reg.ephemeral,
            )));
        }
        None => {
            return Err(NacosError::bad_request(format!(
                "instance {}:{} is not registered in service {}; register it first",
                reg.ip,
                reg.port,
                reg.service.grouped()
            )));
        }
    };
    if !cluster_given {
        // Nacos 2.x keys instances by ip:port; an update that names no cluster keeps it.
        host::cluster(&current).clone_into(&mut reg.cluster);
    }
    registration::write(&naming, &ctx, &reg, Write::Update(&current)).await?;
    Ok(ok())
}

/// `PATCH /nacos/v1/ns/instance`: changes only the given `metadata`, `weight` and `enabled`.
pub(crate) async fn patch(State(naming): State<Arc<Naming>>, params: Params) -> NacosResult {
    let service = names::service(&naming.settings, &params, Required::WebUtils)?;
    let ip = params.required("ip")?.to_owned();
    let port = registration::port(params.required("port")?)?;
    let cluster = explicit_cluster(&params)?;
    let ctx = Context::new();
    let view = find(&naming, &ctx, &service, &ip, port, cluster.as_deref()).await?;
    let i = view.instance;
    let metadata = match params.optional("metadata") {
        Some(m) => parse_metadata(Some(m))?,
        None => host::metadata(&i),
    };
    let weight = match params.optional("weight") {
        Some(w) => registration::weight(Some(w))?,
        None => i.weight,
    };
    let reg = Registration {
        service,
        ip,
        port,
        weight,
        cluster: host::cluster(&i).to_owned(),
        enabled: params
            .optional("enabled")
            .map_or(host::enabled(&i), |v| v.eq_ignore_ascii_case("true")),
        healthy: view.healthy,
        ephemeral: i.ephemeral,
        metadata,
    };
    registration::write(&naming, &ctx, &reg, Write::Update(&i)).await?;
    Ok(ok())
}

/// `DELETE /nacos/v1/ns/instance`: `ok` also when there is nothing to remove, as in Nacos.
pub(crate) async fn deregister(State(naming): State<Arc<Naming>>, params: Params) -> NacosResult {
    let service = names::service(&naming.settings, &params, Required::WebUtils)?;
    let ip = params.required("ip")?;
    let Ok(port) = u16::try_from(parse_int(params.required("port")?)?) else {
        // No instance can have it, so there is nothing to remove.
        return Ok(ok());
    };
    let id = instance_id(&service.id, ip, port);
    match naming
        .registry
        .deregister(&Context::new(), &service.id.tenant, &id)
        .await
    {
        Ok(()) | Err(keel_registry::Error::NotFound(_)) => Ok(ok()),
        Err(e) => Err(e.into()),
    }
}

/// `GET /nacos/v1/ns/instance`: one instance, in Nacos's `ObjectNode` order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    service: String,
    ip: String,
    port: u16,
    cluster_name: String,
    weight: f64,
    healthy: bool,
    instance_id: String,
    metadata: std::collections::BTreeMap<String, String>,
}

/// `GET /nacos/v1/ns/instance`.
pub(crate) async fn detail(State(naming): State<Arc<Naming>>, params: Params) -> NacosResult {
    let service = names::service(&naming.settings, &params, Required::WebUtils)?;
    let cluster = params.optional("clusterName").map(str::to_owned);
    let ip = params.required("ip")?;
    let port = registration::port(params.required("port")?)?;
    let view = find(
        &naming,
        &Context::new(),
        &service,
        ip,
        port,
        cluster.as_deref(),
    )
    .await?;
    let i = &view.instance;
    Ok(axum::Json(Detail {
        service: service.grouped(),
        ip: i.host.clone(),
        port: i.port,
        cluster_name: host::cluster(i).to_owned(),
        weight: i.weight,
        healthy: view.healthy,
        instance_id: host::instance_id(i),
        metadata: host::metadata(i),
    })
    .into_response())
}

/// The cluster the request names (`clusterName` or `cluster`), checked; `None` when it names
/// none.
fn explicit_cluster(params: &Params) -> NacosResult<Option<String>> {
    if params.optional("clusterName").is_some() || params.optional("cluster").is_some() {
        names::cluster(params).map(Some)
    } else {
        Ok(None)
    }
}

/// The instance at ip:port of the service, if registered.
async fn current(
    naming: &Naming,
    ctx: &Context,
    service: &NacosService,
    ip: &str,
    port: u16,
) -> NacosResult<Option<InstanceView>> {
    let id = instance_id(&service.id, ip, port);
    match naming.registry.get(ctx, &service.id.tenant, &id).await {
        Ok(view) => Ok(Some(view)),
        Err(keel_registry::Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The instance at ip:port, in `cluster` when one is named; a miss is Nacos's 404 and text.
async fn find(
    naming: &Naming,
    ctx: &Context,
    service: &NacosService,
    ip: &str,
    port: u16,
    cluster: Option<&str>,
) -> NacosResult<InstanceView> {
    let found = current(naming, ctx, service, ip, port)
        .await?
        .filter(|v| cluster.is_none_or(|c| host::cluster(&v.instance) == c));
    if let Some(view) = found {
        return Ok(view);
    }
    let everything = InstanceFilter {
        statuses: Vec::new(),
        healthy: None,
        ..InstanceFilter::default()
    };
    let any = !naming
        .registry
        .discover(&service.id, &everything)?
        .instances
        .is_empty();
    Err(NacosError::not_found(if any {
        "no matched ip found!".to_owned()
    } else {
        format!(
            "no ips found for cluster {} in service {}",
            cluster.unwrap_or(names::DEFAULT_CLUSTER),
            service.grouped()
        )
    }))
}
