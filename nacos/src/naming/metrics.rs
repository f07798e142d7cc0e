//! `GET /nacos/v1/ns/operator/metrics` (and `/nacos/v1/ns/ops/metrics`): `{"status":"UP"}`, or
//! with `onlyStatus=false` the counts Nacos 2.x reports, taken from the registry's view.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::Naming;
use crate::params::Params;

/// Nacos 2.x's long form, in its key order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Metrics {
    status: &'static str,
    service_count: usize,
    instance_count: usize,
    /// UDP push subscribers: keel has none (clients poll or long-poll).
    subscribe_count: usize,
    /// Every node serves every instance.
    responsible_instance_count: usize,
    /// Nacos counts an HTTP client per ip:port; keel has one record per instance.
    client_count: usize,
    /// gRPC clients: keel speaks no gRPC.
    connection_based_client_count: usize,
    ephemeral_ip_port_client_count: usize,
    persistent_ip_port_client_count: usize,
    responsible_client_count: usize,
    cpu: f64,
    load: f64,
    mem: f64,
}

#[derive(Debug, Serialize)]
struct Status {
    status: &'static str,
}

/// The metrics handler.
pub(crate) async fn metrics(State(naming): State<Arc<Naming>>, params: Params) -> Response {
    if params.boolean("onlyStatus", true) {
        return axum::Json(Status { status: "UP" }).into_response();
    }
    let stats = naming.registry.stats();
    axum::Json(Metrics {
        status: "UP",
        service_count: stats.services,
        instance_count: stats.instances,
        subscribe_count: 0,
        responsible_instance_count: stats.instances,
        client_count: stats.instances,
        connection_based_client_count: 0,
        ephemeral_ip_port_client_count: stats.ephemeral,
        persistent_ip_port_client_count: stats.persistent,
        responsible_client_count: stats.instances,
        // Sampling the CPU needs two readings over time; 0 rather than a made-up number.
        cpu: 0.0,
        load: load_average(),
        mem: memory_used(),
    })
    .into_response()
}

/// The 1-minute load average (Linux), else 0.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// The share of memory in use, 0 to 1 (Linux), else 0.
fn memory_used() -> f64 {
    let Ok(info) = std::fs::read_to_string("/proc/meminfo") else {
        return 0.0;
    };
    let field = |name: &str| -> Option<f64> {
        info.lines()
            .find_map(|l| l.strip_prefix(name))?
            .trim_start_matches(':')
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    match (field("MemTotal"), field("MemAvailable")) {
        (Some(total), Some(available)) if total > 0.0 => 1.0 - available / total,
        _ => 0.0,
    }
}
