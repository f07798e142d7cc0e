//! The request metrics of requests answered here: what the router's middleware
//! (`crate::metrics::track`) would have recorded for them, under the same names and labels.

use std::time::Instant;

use axum::http::StatusCode;
use keel_config_center::{CONFIG_READ_ROUTE, LONG_POLL_ROUTE};
use metrics::{Counter, Histogram};

/// The metrics of one route answered here (most answers are 200 or 304, whose counters are
/// kept at hand).
pub(crate) struct Metrics {
    method: &'static str,
    route: &'static str,
    ok: Counter,
    not_modified: Counter,
    duration: Histogram,
}

impl Metrics {
    fn new(method: &'static str, route: &'static str) -> Self {
        let requests = |status: &'static str| metrics::counter!("keel_http_requests_total", "method" => method, "route" => route, "status" => status);
        Metrics {
            method,
            route,
            ok: requests("200"),
            not_modified: requests("304"),
            duration: metrics::histogram!("keel_http_request_duration_seconds", "method" => method, "route" => route),
        }
    }

    /// Counts an answer of `status` to a request that arrived at `started`.
    pub(crate) fn record(&self, status: StatusCode, started: Instant) {
        match status {
            StatusCode::OK => self.ok.increment(1),
            StatusCode::NOT_MODIFIED => self.not_modified.increment(1),
            // A refusal or a miss answered here (a Nacos 404, a bad beat): counted under its
            // own status, as the middleware counts it.
            other => metrics::counter!("keel_http_requests_total", "method" => self.method, "route" => self.route, "status" => other.as_str().to_owned()).increment(1),
        }
        self.duration.record(started.elapsed().as_secs_f64());
    }
}

/// The metrics of every route answered here. Made with the front, after the recorder is
/// installed (`keel serve` installs it first).
pub(crate) struct RouteMetrics {
    pub(crate) long_poll: Metrics,
    pub(crate) read: Metrics,
    pub(crate) nacos_read: Metrics,
    pub(crate) nacos_listen: Metrics,
    pub(crate) nacos_beat: Metrics,
}

impl RouteMetrics {
    pub(crate) fn new() -> Self {
        RouteMetrics {
            long_poll: Metrics::new("GET", LONG_POLL_ROUTE),
            read: Metrics::new("GET", CONFIG_READ_ROUTE),
            nacos_read: Metrics::new("GET", keel_nacos::NACOS_READ_PATH),
            nacos_listen: Metrics::new("POST", keel_nacos::NACOS_LISTENER_PATH),
            nacos_beat: Metrics::new("PUT", keel_nacos::NACOS_BEAT_PATH),
        }
    }
}
