//! Discovery: `GET /api/v1/services/{name}/instances` (with filters, and a long poll on the
//! service's revision) and `GET /api/v1/services/{name}/events` (a Server-Sent Events stream
//! of change events).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::sync::broadcast;

use super::envelope::{ApiError, ApiResult, Caller, Pairs, invalid, json_bytes, ok_bytes};
use crate::{DEFAULT_GROUP, InstanceFilter, InstanceStatus, Registry, ServiceId};

/// Longest long poll a client may ask for.
const MAX_WAIT: Duration = Duration::from_secs(120);
/// A long poll without `wait`.
const DEFAULT_WAIT: Duration = Duration::from_secs(30);

pub(crate) fn service_id(caller: &Caller, name: String, pairs: &Pairs) -> ServiceId {
    let group = pairs
        .get("groupName")
        .filter(|g| !g.is_empty())
        .unwrap_or(DEFAULT_GROUP);
    ServiceId::new(&caller.tenant, group, name)
}

fn filter(pairs: &Pairs) -> Result<InstanceFilter, ApiError> {
    let mut filter = InstanceFilter::default();
    if let Some(status) = pairs.get("status").filter(|s| !s.is_empty()) {
        filter.statuses = if status.eq_ignore_ascii_case("all") {
            Vec::new()
        } else {
            status
                .split(',')
                .map(|s| match s.trim().to_ascii_uppercase().as_str() {
                    "UP" => Ok(InstanceStatus::Up),
                    "DOWN" => Ok(InstanceStatus::Down),
                    "OUT_OF_SERVICE" => Ok(InstanceStatus::OutOfService),
                    other => Err(invalid(format!(
                        "status {other:?} is not one of UP, DOWN, OUT_OF_SERVICE or all"
                    ))),
                })
                .collect::<Result<_, _>>()?
        };
    }
    if let Some(health) = pairs.get("health").filter(|s| !s.is_empty()) {
        filter.healthy = match health.to_ascii_lowercase().as_str() {
            "healthy" => Some(true),
            "unhealthy" => Some(false),
            "all" => None,
            other => {
                return Err(invalid(format!(
                    "health {other:?} is not one of healthy, unhealthy or all"
                )));
            }
        };
    }
    if let Some(tags) = pairs.get("tags") {
        filter.tags = tags
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
    }
    for (name, value) in &pairs.0 {
        if let Some(key) = name.strip_prefix("metadata.") {
            if key.is_empty() {
                return Err(invalid(
                    "a metadata filter is written metadata.<key>=<value>",
                ));
            }
            filter.metadata.insert(key.to_owned(), value.clone());
        }
    }
    Ok(filter)
}

fn wait(pairs: &Pairs) -> Result<Duration, ApiError> {
    match pairs.get("wait").filter(|w| !w.is_empty()) {
        None => Ok(DEFAULT_WAIT),
        Some(w) => {
            let d = humantime::parse_duration(w)
                .or_else(|_| w.parse::<u64>().map(Duration::from_millis))
                .map_err(|_| invalid(format!("wait={w:?} is not a duration like 30s")))?;
            if d > MAX_WAIT {
                return Err(invalid(format!(
                    "wait={w} is longer than the longest allowed, {}",
                    humantime::format_duration(MAX_WAIT)
                )));
            }
            Ok(d)
        }
    }
}

/// A service's instances. Filters: `status` (default `UP`; a comma list or `all`), `health`
/// (`healthy` by default, `unhealthy`, `all`), `tags` (comma list, all required),
/// `metadata.<key>=<value>`. With `revision=N`, waits up to `wait` (default 30s) for a
/// revision other than N and answers 304 if none came.
#[utoipa::path(get, path = "/api/v1/services/{name}/instances", tag = "discovery",
    params(("groupName" = Option<String>, Query), ("status" = Option<String>, Query),
        ("health" = Option<String>, Query), ("tags" = Option<String>, Query),
        ("revision" = Option<i64>, Query), ("wait" = Option<String>, Query)),
    responses((status = 200, body = crate::Discovery), (status = 304, description = "no change within `wait`")))]
pub(crate) async fn instances(
    State(registry): State<Arc<Registry>>,
    caller: Caller,
    Path(name): Path<String>,
    pairs: Pairs,
) -> ApiResult {
    let service = service_id(&caller, name, &pairs);
    let filter = filter(&pairs)?;
    if pairs.get("revision").is_some_and(|r| !r.is_empty()) {
        let revision: i64 = pairs.number("revision", 0)?;
        let wait = wait(&pairs)?;
        // Compare revisions before building any answer: parking must cost next to nothing.
        if registry.revision_of(&service)? == revision {
            let parked = Parked::new();
            let changed = registry.wait_for_change(&service, revision, wait).await;
            drop(parked);
            if !changed? {
                return Ok(StatusCode::NOT_MODIFIED.into_response());
            }
        }
    }
    let body = registry.discover_encoded(&service, &filter, |d| ok_bytes(d))?;
    Ok(json_bytes(body))
}

/// A stream of the service's changes: first a `snapshot` event (the filtered instances, as
/// discovery answers them), then a `change` event per revision with `added`, `removed` and
/// `modified` instances (unfiltered) and the new revision. A subscriber that falls too far
/// behind gets a fresh `snapshot`.
#[utoipa::path(get, path = "/api/v1/services/{name}/events", tag = "discovery",
    params(("groupName" = Option<String>, Query)),
    responses((status = 200, description = "text/event-stream of snapshot and change events")))]
pub(crate) async fn events(
    State(registry): State<Arc<Registry>>,
    caller: Caller,
    Path(name): Path<String>,
    pairs: Pairs,
) -> Result<Response, ApiError> {
    let service = service_id(&caller, name, &pairs);
    let filter = filter(&pairs)?;
    let (snapshot, rx) = registry.subscribe(&service, &filter)?;
    let first = json_event("snapshot", &snapshot);
    let stream = change_stream(registry, service, filter, rx, first);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// Counts a parked long poll for as long as it lives — also when the client goes away and
/// the handler's future is dropped mid-wait.
struct Parked;

impl Parked {
    fn new() -> Self {
        metrics::gauge!("keel_registry_parked_watches").increment(1.0);
        Parked
    }
}

impl Drop for Parked {
    fn drop(&mut self) {
        metrics::gauge!("keel_registry_parked_watches").decrement(1.0);
    }
}

fn json_event<T: serde::Serialize>(name: &str, data: &T) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event(name))
}

fn change_stream(
    registry: Arc<Registry>,
    service: ServiceId,
    filter: InstanceFilter,
    rx: broadcast::Receiver<Arc<crate::ChangeEvent>>,
    first: Event,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold((Some(first), rx), move |(pending, mut rx)| {
        let registry = Arc::clone(&registry);
        let service = service.clone();
        let filter = filter.clone();
        async move {
            if let Some(event) = pending {
                return Some((Ok(event), (None, rx)));
            }
            match rx.recv().await {
                Ok(change) => {
                    let event = json_event("change", &*change);
                    Some((Ok(event), (None, rx)))
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let snapshot = registry.discover(&service, &filter).ok()?;
                    Some((Ok(json_event("snapshot", &snapshot)), (None, rx)))
                }
                Err(broadcast::error::RecvError::Closed) => None,
            }
        }
    })
}
