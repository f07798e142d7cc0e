//! Prometheus metrics: every request counted and timed by route, plus what the services record
//! through the `metrics` facade (releases, push latency) and the gauges read at scrape time.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use keel_config_center::ConfigCenter;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets (seconds): sub-millisecond reads up to two-minute long polls.
const BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0,
];

/// Installs the process-wide recorder; the handle renders the text format.
pub(crate) fn install() -> Result<PrometheusHandle, String> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(|e| format!("installing the metrics recorder: {e}"))
}

/// Counts and times every request by method, route template and status.
pub(crate) async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let status = response.status().as_u16();
    HANDLES.with_borrow_mut(|handles| {
        if let Some(handles) = handles.get(&method, route, status) {
            handles.record(started.elapsed().as_secs_f64());
        }
    });
    response
}

thread_local! {
    /// The metric handles of every (method, route, status) seen, per worker thread: a request
    /// then records with a hash lookup and two atomic updates, where building the labels and
    /// looking them up in the registry cost five allocations and two locked lookups.
    static HANDLES: RefCell<RouteHandles> = RefCell::new(RouteHandles::default());
}

/// The handles of one (method, route, status).
struct Handles {
    requests: Counter,
    duration: Histogram,
}

impl Handles {
    fn record(&self, seconds: f64) {
        self.requests.increment(1);
        self.duration.record(seconds);
    }
}

/// Handles by route, then by method and status (a handful per route).
#[derive(Default)]
struct RouteHandles {
    routes: HashMap<Box<str>, Vec<(Method, u16, Handles)>, foldhash::fast::RandomState>,
}

impl RouteHandles {
    fn get(&mut self, method: &Method, route: &str, status: u16) -> Option<&Handles> {
        if !self.routes.contains_key(route) {
            self.routes.insert(route.into(), Vec::new());
        }
        let entries = self.routes.get_mut(route)?;
        let index = match entries
            .iter()
            .position(|(m, s, _)| *s == status && m == method)
        {
            Some(index) => index,
            None => {
                let labels = [
                    ("method", method.as_str().to_owned()),
                    ("route", route.to_owned()),
                ];
                let requests = metrics::counter!("keel_http_requests_total", "method" => labels[0].1.clone(), "route" => labels[1].1.clone(), "status" => status.to_string());
                let duration = metrics::histogram!("keel_http_request_duration_seconds", &labels);
                entries.push((method.clone(), status, Handles { requests, duration }));
                entries.len() - 1
            }
        };
        entries.get(index).map(|(_, _, handles)| handles)
    }
}

/// What `/metrics` needs.
#[derive(Clone)]
pub(crate) struct Scrape {
    pub(crate) handle: PrometheusHandle,
    pub(crate) center: Arc<ConfigCenter>,
    /// The long polls parked outside hyper.
    pub(crate) parked: Arc<crate::front::ParkedCounts>,
}

/// `GET /metrics`.
pub(crate) async fn render(State(scrape): State<Scrape>) -> String {
    let parked = scrape.parked.parked_long_polls(&scrape.center);
    metrics::gauge!("keel_config_parked_long_polls").set(parked as f64);
    scrape.handle.render()
}
