//! `PUT /nacos/v1/ns/instance/beat`: a heartbeat renews the instance's leases; a heartbeat for
//! an unknown instance answers code 20404 — with HTTP 200, unlike keel's native 404 — unless it
//! carries the full `beat` JSON, from which the instance is registered again (that is how
//! Nacos clients come back after an expiry or a standalone restart).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use keel_clog::Context;
use keel_registry::instance_id;

use super::Naming;
use super::beat_info::Beat;
use super::host::DEFAULT_BEAT_INTERVAL_MS;
use super::registration::{self, Registration, Write};
use crate::error::NacosResult;
use crate::names::{self, DEFAULT_CLUSTER, NacosService, Required};
use crate::params::{Params, parse_int};

/// `NamingResponseCode.OK`.
const CODE_OK: u32 = 10200;
/// `NamingResponseCode.RESOURCE_NOT_FOUND`: register again.
const CODE_REGISTER_AGAIN: u32 = 20404;

/// The answer's fields (see [`BeatAnswer::json`]).
#[derive(Debug)]
pub(crate) struct BeatAnswer {
    /// The interval the client should beat at, in milliseconds.
    client_beat_interval: u64,
    code: u32,
    /// Later beats may leave the `beat` JSON out (the Java client then sends only names).
    light_beat_enabled: bool,
}

/// `PUT /nacos/v1/ns/instance/beat`.
pub(crate) async fn beat(State(naming): State<Arc<Naming>>, params: Params) -> NacosResult {
    let json = heartbeat(&naming, &params).await?.json();
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

/// The beat `params` describe, renewed (or its instance registered again); the answer's
/// fields. Shared by the handler and [`crate::NacosBeat`].
pub(crate) async fn heartbeat(naming: &Naming, params: &Params) -> NacosResult<BeatAnswer> {
    let beat = params.optional("beat").map(Beat::parse).transpose()?;
    let mut cluster = params.optional("clusterName").unwrap_or(DEFAULT_CLUSTER);
    // With a beat, ip and port come from it and the request's are ignored (Nacos 2.x).
    let (ip, port) = match &beat {
        Some(b) => {
            if let Some(c) = &b.cluster {
                cluster = c;
            }
            (&*b.ip, b.port)
        }
        None => (
            params.optional("ip").unwrap_or_default(),
            parse_int(params.optional("port").unwrap_or("0"))?,
        ),
    };
    let service = names::service(&naming.settings, params, Required::WebUtils)?;
    let ctx = Context::new();
    let renewed = renew(naming, &ctx, &service, ip, port).await?;
    let interval = match renewed {
        Some(interval) => interval,
        None => match &beat {
            None => {
                return Ok(BeatAnswer::new(
                    DEFAULT_BEAT_INTERVAL_MS,
                    CODE_REGISTER_AGAIN,
                ));
            }
            Some(beat) => register(naming, &ctx, service, beat, cluster).await?,
        },
    };
    Ok(BeatAnswer::new(interval, CODE_OK))
}

/// Renews the instance at ip:port; its heartbeat interval in milliseconds, or `None` when the
/// registry does not know it.
async fn renew(
    naming: &Naming,
    ctx: &Context,
    service: &NacosService,
    ip: &str,
    port: i64,
) -> NacosResult<Option<u64>> {
    let Ok(port) = u16::try_from(port) else {
        return Ok(None);
    };
    let id = instance_id(&service.id, ip, port);
    match naming
        .registry
        .heartbeat(ctx, &service.id.tenant, &id)
        .await
    {
        Ok(interval) => Ok(Some(millis(interval))),
        Err(keel_registry::Error::UnknownInstance(_) | keel_registry::Error::NotFound(_)) => {
            Ok(None)
        }
        // The only refusal of a known instance: it is persistent, so it never expires and its
        // beats have nothing to renew. Nacos clients beat only ephemeral instances; answer OK.
        Err(keel_registry::Error::Invalid(_)) => Ok(Some(DEFAULT_BEAT_INTERVAL_MS)),
        Err(e) => Err(e.into()),
    }
}

/// Registers the instance a full beat describes (healthy and enabled, as Nacos does).
async fn register(
    naming: &Naming,
    ctx: &Context,
    service: NacosService,
    beat: &Beat<'_>,
    cluster: &str,
) -> NacosResult<u64> {
    names::check_cluster(cluster)?;
    let reg = Registration {
        service,
        port: registration::check_port(beat.port)?,
        ip: beat.ip.to_string(),
        weight: registration::check_weight(beat.weight.unwrap_or(1.0))?,
        cluster: cluster.to_owned(),
        enabled: true,
        healthy: true,
        ephemeral: beat.ephemeral,
        metadata: beat.metadata.clone(),
    };
    let registered = registration::write(naming, ctx, &reg, Write::Register).await?;
    Ok(match registered.heartbeat_interval_millis {
        0 => DEFAULT_BEAT_INTERVAL_MS,
        ms => ms,
    })
}

impl BeatAnswer {
    fn new(interval: u64, code: u32) -> Self {
        BeatAnswer {
            client_beat_interval: interval,
            code,
            light_beat_enabled: true,
        }
    }

    /// The JSON body, keys in Nacos's order (numbers and a boolean: nothing to escape).
    pub(crate) fn json(&self) -> String {
        format!(
            r#"{{"clientBeatInterval":{},"code":{},"lightBeatEnabled":{}}}"#,
            self.client_beat_interval, self.code, self.light_beat_enabled
        )
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_keeps_nacos_key_order() {
        let body = BeatAnswer::new(5000, CODE_OK).json();
        assert_eq!(
            body,
            r#"{"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":true}"#
        );
    }
}
