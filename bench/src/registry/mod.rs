//! Service-registry benchmarks (the `registry` binary): registering, heartbeats, watch
//! notification latency (keel's long poll, or Nacos clients polling the list) and holding
//! many instances, against keel's `/api/v1` registry API or the Nacos v1 naming API (r-nacos,
//! or keel's own `/nacos/v1/ns/*`).
//!
//! Instance `i` of a run is `10.a.b.c:8080` with `a.b.c` the three low bytes of `i` (see
//! [`host`]); with several services, instance `i` belongs to service `i % services`.

pub mod beat;
pub mod hold;
pub mod notify;
pub mod poll;
pub mod register;

use std::io;
use std::time::Duration;

use clap::ValueEnum;
use serde_json::{Value, json};

use crate::http::{Conn, Url, form_encode};
use crate::keel::expect;

/// The port every benchmark instance registers.
pub const PORT: u16 = 8080;

/// Which registry API to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Api {
    /// keel's `/api/v1/instances` and `/api/v1/services`.
    Keel,
    /// The Nacos v1 naming API (`/nacos/v1/ns/...`), as r-nacos serves it.
    Nacos,
}

/// The host of instance `i`: `10.x.y.z` from the three low bytes of `i`.
pub fn host(i: usize) -> String {
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}

/// The service names of a run: `base` alone, or `base-0` … `base-(n-1)`.
#[derive(Debug, Clone)]
pub struct Services {
    base: String,
    count: usize,
}

impl Services {
    /// `count` services named after `base` (`count` ≤ 1: just `base`).
    pub fn new(base: &str, count: usize) -> Self {
        Services {
            base: base.to_owned(),
            count: count.max(1),
        }
    }

    /// How many services.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Always false: there is at least one service.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The service of instance `i`.
    pub fn of(&self, i: usize) -> String {
        self.name(i % self.count)
    }

    /// Service number `n`.
    pub fn name(&self, n: usize) -> String {
        if self.count == 1 {
            self.base.clone()
        } else {
            format!("{}-{n}", self.base)
        }
    }
}

/// keel's registration body of instance `i` (`check` is its `healthCheck`).
pub fn keel_instance(service: &str, i: usize, check: &Value) -> Value {
    json!({ "serviceName": service, "host": host(i), "port": PORT, "healthCheck": check })
}

/// The default keel health check of a run: ttl with heartbeats every `interval`.
pub fn ttl_check(interval: Duration) -> Value {
    json!({ "type": "ttl", "interval": format!("{}ms", interval.as_millis()) })
}

/// The Nacos v1 registration of instance `i` (`POST /nacos/v1/ns/instance`, form body).
pub fn nacos_register(server: &Url, service: &str, i: usize) -> Vec<u8> {
    let form = format!(
        "serviceName={}&ip={}&port={PORT}&ephemeral=true",
        form_encode(service),
        host(i)
    );
    server
        .with_path("/nacos/v1/ns/instance")
        .post_form(&[], &form)
}

/// The heartbeat of an instance: keel `PUT /api/v1/instances/{id}/heartbeat` (empty body,
/// `Content-Length: 0`); Nacos v1 `PUT /nacos/v1/ns/instance/beat?serviceName=S&beat=<JSON>`.
pub fn beat_request(server: &Url, api: Api, service: &str, i: usize, id: Option<&str>) -> Vec<u8> {
    match api {
        Api::Keel => server
            .with_path(&format!(
                "/api/v1/instances/{}/heartbeat",
                form_encode(id.unwrap_or_default())
            ))
            .request("PUT", &[], None, b""),
        Api::Nacos => {
            let beat = json!({
                "serviceName": service,
                "ip": host(i),
                "port": PORT,
                "cluster": "DEFAULT",
                "scheduled": true,
            });
            let path = format!(
                "/nacos/v1/ns/instance/beat?serviceName={}&beat={}",
                form_encode(service),
                form_encode(&beat.to_string())
            );
            server.with_path(&path).request("PUT", &[], None, b"")
        }
    }
}

/// Instances held by the server and how many of them are healthy: keel from
/// `GET /api/v1/stats` (the whole node), Nacos by listing every service of `services`.
pub async fn census(server: &Url, api: Api, services: &Services) -> io::Result<(u64, u64)> {
    let mut conn = Conn::connect(&server.addr, None).await?;
    match api {
        Api::Keel => {
            let answer = conn.send(&server.with_path("/api/v1/stats").get()).await?;
            expect(&answer, &[200], "reading /api/v1/stats")?;
            let data = &answer.json()?["data"];
            let count = |k: &str| data[k].as_u64().unwrap_or(0);
            Ok((count("instances"), count("healthy")))
        }
        Api::Nacos => {
            let (mut all, mut healthy) = (0, 0);
            for n in 0..services.len() {
                let path = format!(
                    "/nacos/v1/ns/instance/list?serviceName={}&healthyOnly=false",
                    form_encode(&services.name(n))
                );
                let answer = conn.send(&server.with_path(&path).get()).await?;
                expect(&answer, &[200], "listing a service")?;
                let hosts = answer.json()?["hosts"].as_array().cloned();
                for h in hosts.unwrap_or_default() {
                    all += 1;
                    healthy += u64::from(h["healthy"].as_bool().unwrap_or(false));
                }
            }
            Ok((all, healthy))
        }
    }
}

/// A tokio runtime: single-threaded for `threads == 1`.
pub fn runtime(threads: usize) -> io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

/// Microseconds since `since`, saturated to `u32`.
pub(crate) fn micros(d: Duration) -> u32 {
    d.as_micros().min(u128::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_services_and_beats() {
        assert_eq!(host(0), "10.0.0.0");
        assert_eq!(host(99_999), "10.1.134.159");
        let one = Services::new("s", 1);
        assert_eq!((one.of(7), one.len()), ("s".to_owned(), 1));
        let many = Services::new("s", 3);
        assert_eq!(many.of(7), "s-1");
        let url = Url::parse("http://127.0.0.1:1/").unwrap();
        let keel = String::from_utf8(beat_request(&url, Api::Keel, "s", 0, Some("ab"))).unwrap();
        assert!(keel.starts_with("PUT /api/v1/instances/ab/heartbeat HTTP/1.1\r\n"));
        assert!(keel.contains("Content-Length: 0\r\n"));
        let nacos = String::from_utf8(beat_request(&url, Api::Nacos, "s", 1, None)).unwrap();
        assert!(nacos.starts_with("PUT /nacos/v1/ns/instance/beat?serviceName=s&beat=%7B"));
        assert!(nacos.contains("10.0.0.1"));
    }
}
