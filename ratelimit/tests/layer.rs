//! The tower Layer in an axum router: 429 with Retry-After and the JSON envelope, one bucket
//! per key, and 503 when no rule exists.
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use keel_clog::{Context, Env};
use keel_ratelimit::{Config, KeySource, Options, RateLimitLayer, RateLimiter, Rule, Rules};
use tower::ServiceExt;

async fn limiter() -> Arc<RateLimiter> {
    let config = Config {
        rules: Rules::default().with("api", Rule::local(0.25).with_burst(2)),
        ..Config::for_env(Env::Development)
    };
    keel_ratelimit::new(&Context::new(), config, Options::default())
        .await
        .unwrap()
}

fn request(api_key: Option<&str>, peer: [u8; 4]) -> Request<Body> {
    let mut builder = Request::get("/hello");
    if let Some(key) = api_key {
        builder = builder.header("x-api-key", key);
    }
    let mut request = builder.body(Body::empty()).unwrap();
    #[cfg(feature = "axum")]
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(SocketAddr::from((peer, 5000))));
    #[cfg(not(feature = "axum"))]
    request
        .extensions_mut()
        .insert(SocketAddr::from((peer, 5000)));
    request
}

#[tokio::test]
async fn refused_requests_get_429_with_retry_after() {
    let app = Router::new()
        .route("/hello", get(|| async { "hi" }))
        .layer(RateLimitLayer::new(
            limiter().await,
            "api",
            KeySource::Header("x-api-key".parse().unwrap()),
        ));
    for _ in 0..2 {
        let ok = app
            .clone()
            .oneshot(request(Some("a"), [1, 1, 1, 1]))
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
    }
    let refused = app
        .clone()
        .oneshot(request(Some("a"), [1, 1, 1, 1]))
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    // One token every four seconds.
    assert_eq!(refused.headers()["retry-after"], "4");
    assert_eq!(refused.headers()["content-type"], "application/json");
    let body = axum::body::to_bytes(refused.into_body(), 4096)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], 429);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("retry after 4 s"),
        "{body}"
    );
    // Another key has its own bucket.
    let other = app
        .clone()
        .oneshot(request(Some("b"), [1, 1, 1, 1]))
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);
}

#[tokio::test]
async fn client_ip_keys_and_unknown_resources() {
    let app = Router::new()
        .route("/hello", get(|| async { "hi" }))
        .layer(RateLimitLayer::new(
            limiter().await,
            "api",
            KeySource::ClientIp,
        ));
    for _ in 0..2 {
        let ok = app
            .clone()
            .oneshot(request(None, [10, 0, 0, 1]))
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
    }
    let refused = app
        .clone()
        .oneshot(request(None, [10, 0, 0, 1]))
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let other = app
        .clone()
        .oneshot(request(None, [10, 0, 0, 2]))
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);

    // A resource without a rule is refused by the default policy, with a message for the
    // operator.
    let unruled = Router::new()
        .route("/hello", get(|| async { "hi" }))
        .layer(RateLimitLayer::new(
            limiter().await,
            "admin",
            KeySource::Global,
        ));
    let refused = unruled.oneshot(request(None, [10, 0, 0, 1])).await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = axum::body::to_bytes(refused.into_body(), 4096)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&body).contains("no rate-limit rule"));
}
