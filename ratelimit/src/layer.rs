//! [`RateLimitLayer`]: a tower Layer (axum middleware) that limits HTTP requests by a key taken
//! from the request, answering `429 Too Many Requests` with `Retry-After` when refused.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use http::header::{CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER};
use http::{Extensions, HeaderMap, Request, Response, StatusCode, Uri};
use tower_layer::Layer;
use tower_service::Service;

use crate::{Basis, Decision, Error, RateLimiter};

/// Computes a key from a request's headers, URI and extensions.
pub type KeyFn = dyn Fn(&HeaderMap, &Uri, &Extensions) -> String + Send + Sync;

/// Which part of the request the limit is counted by.
#[derive(Clone)]
pub enum KeySource {
    /// The peer's IP address (from axum's `ConnectInfo<SocketAddr>` with the `axum` feature, or
    /// a `SocketAddr` request extension). Requests without one share the key `unknown`.
    ClientIp,
    /// The client IP behind `trusted_proxies` reverse proxies: the `trusted_proxies`-th address
    /// from the right of `X-Forwarded-For` (entries further left are written by the client and
    /// cannot be trusted). Falls back to the peer's address when the header is shorter.
    ForwardedClientIp {
        /// How many proxies you run in front of the service (1 for one load balancer).
        trusted_proxies: usize,
    },
    /// A header's value (an API key, a tenant id). Requests without it share the key `-`.
    Header(HeaderName),
    /// The request path: one bucket per path.
    Path,
    /// One bucket for all requests.
    Global,
    /// Your own function.
    Custom(Arc<KeyFn>),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::ClientIp => f.write_str("ClientIp"),
            KeySource::ForwardedClientIp { trusted_proxies } => f
                .debug_struct("ForwardedClientIp")
                .field("trusted_proxies", trusted_proxies)
                .finish(),
            KeySource::Header(name) => f.debug_tuple("Header").field(name).finish(),
            KeySource::Path => f.write_str("Path"),
            KeySource::Global => f.write_str("Global"),
            KeySource::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

fn peer_ip(extensions: &Extensions) -> Option<String> {
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0.ip().to_string());
    }
    extensions.get::<SocketAddr>().map(|a| a.ip().to_string())
}

impl KeySource {
    /// The key of a request with these parts.
    pub fn key(&self, headers: &HeaderMap, uri: &Uri, extensions: &Extensions) -> String {
        match self {
            KeySource::ClientIp => peer_ip(extensions).unwrap_or_else(|| "unknown".into()),
            KeySource::ForwardedClientIp { trusted_proxies } => {
                let hops: Vec<&str> = headers
                    .get_all("x-forwarded-for")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(','))
                    .map(str::trim)
                    .filter(|hop| !hop.is_empty())
                    .collect();
                match trusted_proxies.checked_sub(1) {
                    Some(from_right) if from_right < hops.len() => {
                        hops[hops.len() - 1 - from_right].to_owned()
                    }
                    _ => peer_ip(extensions).unwrap_or_else(|| "unknown".into()),
                }
            }
            KeySource::Header(name) => headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_else(|| "-".into()),
            KeySource::Path => uri.path().to_owned(),
            KeySource::Global => String::new(),
            KeySource::Custom(f) => f(headers, uri, extensions),
        }
    }
}

/// Limits requests on `resource`, keyed by a [`KeySource`].
#[derive(Clone, Debug)]
pub struct RateLimitLayer {
    limiter: Arc<RateLimiter>,
    resource: Arc<str>,
    key: KeySource,
}

impl RateLimitLayer {
    /// Requests are counted against `resource`'s rule, one bucket per `key`.
    pub fn new(limiter: Arc<RateLimiter>, resource: &str, key: KeySource) -> Self {
        RateLimitLayer {
            limiter,
            resource: resource.into(),
            key,
        }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`RateLimitLayer`].
#[derive(Clone, Debug)]
pub struct RateLimitService<S> {
    inner: S,
    layer: RateLimitLayer,
}

impl<S, B, RB> Service<Request<B>> for RateLimitService<S>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
    RB: From<String>,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<RB>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The instance that was polled ready serves this request; its clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        let key = layer
            .key
            .key(request.headers(), request.uri(), request.extensions());
        let ctx = keel_clog::extract(request.headers());
        Box::pin(async move {
            match layer.limiter.allow(&ctx, &layer.resource, &key).await {
                Ok(decision) if decision.allowed => inner.call(request).await,
                Ok(decision) => Ok(refusal(&layer.resource, &decision)),
                Err(error) => Ok(failure(&layer.resource, &error)),
            }
        })
    }
}

/// Whole seconds to wait, rounded up (a client told 0 would retry at once).
fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

fn envelope<RB: From<String>>(
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
) -> Response<RB> {
    let body = serde_json::json!({
        "code": status.as_u16(),
        "message": message,
        "data": null,
    });
    let mut response = Response::new(RB::from(body.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn refusal<RB: From<String>>(resource: &str, decision: &Decision) -> Response<RB> {
    let secs = retry_after_secs(decision.retry_after).max(1);
    match decision.basis {
        Basis::Limit => envelope(
            StatusCode::TOO_MANY_REQUESTS,
            format!("rate limit of {resource:?} exceeded; retry after {secs} s"),
            Some(secs),
        ),
        Basis::BackendUnavailable => envelope(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the rate limiter of {resource:?} cannot reach its backend and refuses by policy; retry after {secs} s"
            ),
            Some(secs),
        ),
        Basis::UnknownRule => envelope(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "no rate-limit rule is configured for {resource:?} and unknown rules are refused; the operator must add one"
            ),
            None,
        ),
    }
}

fn failure<RB: From<String>>(resource: &str, error: &Error) -> Response<RB> {
    let status = match error {
        Error::Cancelled => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    envelope(status, format!("rate limiting {resource:?}: {error}"), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(xff: &[&str]) -> (HeaderMap, Uri, Extensions) {
        let mut headers = HeaderMap::new();
        for v in xff {
            headers.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        let mut extensions = Extensions::new();
        extensions.insert(SocketAddr::from(([10, 0, 0, 9], 4000)));
        (headers, Uri::from_static("/api/v1/x?y=1"), extensions)
    }

    #[test]
    fn keys_come_from_the_chosen_part_of_the_request() {
        let (h, u, e) = parts(&["6.6.6.6, 1.2.3.4", "10.0.0.1"]);
        assert_eq!(KeySource::ClientIp.key(&h, &u, &e), "10.0.0.9");
        let behind = |n| KeySource::ForwardedClientIp { trusted_proxies: n }.key(&h, &u, &e);
        assert_eq!(behind(1), "10.0.0.1");
        assert_eq!(behind(2), "1.2.3.4");
        // More proxies than hops: the header cannot be trusted, use the peer.
        assert_eq!(behind(5), "10.0.0.9");
        assert_eq!(behind(0), "10.0.0.9");
        assert_eq!(KeySource::Path.key(&h, &u, &e), "/api/v1/x");
        assert_eq!(
            KeySource::Header(HeaderName::from_static("x-api-key")).key(&h, &u, &e),
            "-"
        );
        assert_eq!(KeySource::Global.key(&h, &u, &e), "");
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}
