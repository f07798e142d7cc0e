//! The test fixture of the Nacos API: a node with the config center, the registry and both
//! the Nacos and the native routes, as `keel serve` mounts them, on a SQLite file and the
//! standalone coord; and requests through its Router.
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used, dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use keel_clog::{Context, Env};
use keel_config_center::{ConfigCenter, ConfigStore};
use keel_registry::{Dependencies, Registry, RegistryConfig, RegistryStore};
use serde_json::Value;
use tower::ServiceExt;

pub(crate) struct Nacos {
    pub(crate) router: Router,
    /// The Nacos API the router serves, for requests answered outside it.
    pub(crate) api: keel_nacos::Nacos,
    pub(crate) registry: Arc<Registry>,
    pub(crate) center: Arc<ConfigCenter>,
    _dir: tempfile::TempDir,
}

/// A registry node with both the Nacos and the native routes, as `keel serve` mounts them.
pub(crate) async fn nacos() -> Nacos {
    nacos_with(keel_nacos::NacosSettings::default()).await
}

/// [`nacos`] with `settings`.
pub(crate) async fn nacos_with(settings: keel_nacos::NacosSettings) -> Nacos {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("registry.db").display());
    let ctx = Context::new();
    let db = keel_db::new(
        &ctx,
        keel_db::Config::for_env(Env::Development).with_url(url),
        keel_db::Options::default(),
    )
    .await
    .unwrap();
    let coord = keel_coord::new(
        &ctx,
        keel_coord::Config::for_env(Env::Development),
        keel_coord::Options::default(),
    )
    .await
    .unwrap();
    let center = ConfigCenter::start(
        &ctx,
        keel_config_center::Dependencies {
            store: ConfigStore::open(&ctx, Arc::clone(&db)).await.unwrap(),
            once: keel_once::new(
                &ctx,
                keel_once::Config::for_env(Env::Development),
                keel_once::Options::default(),
            )
            .await
            .unwrap(),
            coord: Arc::clone(&coord),
            events: None,
        },
    )
    .await
    .unwrap();
    let store = RegistryStore::open(&ctx, db).await.unwrap();
    let deps = Dependencies {
        store,
        coord,
        events: None,
    };
    let registry = Registry::start(&ctx, deps, RegistryConfig::default())
        .await
        .unwrap();
    let api = keel_nacos::Nacos::new(Arc::clone(&registry), Arc::clone(&center), settings);
    let router = Router::new()
        .merge(keel_registry::router(Arc::clone(&registry)))
        .merge(keel_config_center::routes(Arc::clone(&center)))
        .merge(api.router());
    Nacos {
        router,
        api,
        registry,
        center,
        _dir: dir,
    }
}

/// An answer: status, headers, body as text.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub(crate) fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .map_or("", |v| v.to_str().unwrap())
    }

    /// 200 with the exact text `ok`, as Nacos writes it.
    pub(crate) fn assert_ok(&self) {
        assert_eq!(
            (self.status, self.body.as_str()),
            (StatusCode::OK, "ok"),
            "{}",
            self.body
        );
        assert_eq!(self.content_type(), "text/plain;charset=UTF-8");
    }

    /// `status` with the exact text `body`.
    pub(crate) fn assert_text(&self, status: StatusCode, body: &str) {
        assert_eq!((self.status, self.body.as_str()), (status, body));
    }
}

impl Nacos {
    /// A request with the parameters in the query string (how nacos-sdk-python sends them).
    pub(crate) async fn call(&self, method: &str, uri: &str) -> Answer {
        self.send(method, uri, None, &[]).await
    }

    /// A request with a form body (how the Java client sends writes).
    pub(crate) async fn form(&self, method: &str, uri: &str, body: &str) -> Answer {
        self.send(
            method,
            uri,
            Some(body),
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .await
    }

    /// A native keel API call with a JSON body.
    pub(crate) async fn native(&self, method: &str, uri: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string());
        let answer = self
            .send(
                method,
                uri,
                body.as_deref(),
                &[("content-type", "application/json")],
            )
            .await;
        assert!(
            answer.status.is_success(),
            "{uri}: {} {}",
            answer.status,
            answer.body
        );
        answer.json()["data"].clone()
    }

    pub(crate) async fn send(
        &self,
        method: &str,
        uri: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
            .await
            .unwrap();
        Answer {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    /// The answer of a [`keel_nacos::NacosBeat`] (`PUT uri` with an optional form body), as a
    /// server answering it outside the router writes it; `None` when it leaves it to the router.
    pub(crate) async fn direct_beat(&self, uri: &str, body: Option<&str>) -> Option<Answer> {
        let uri: axum::http::Uri = uri.parse().unwrap();
        let mut headers = HeaderMap::new();
        if body.is_some() {
            headers.insert(
                "content-type",
                "application/x-www-form-urlencoded".parse().unwrap(),
            );
        }
        let beat = keel_nacos::NacosBeat::from_parts(
            &self.api,
            &uri,
            &headers,
            body.unwrap_or_default().as_bytes(),
        )?;
        let response = match beat.answer(&self.api).await {
            keel_nacos::NacosBeatAnswer::Json(body) => {
                let mut headers = HeaderMap::new();
                headers.insert("content-type", "application/json".parse().unwrap());
                return Some(Answer {
                    status: StatusCode::OK,
                    headers,
                    body,
                });
            }
            keel_nacos::NacosBeatAnswer::Other(response) => response,
        };
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
            .await
            .unwrap();
        Some(Answer {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        })
    }

    /// `instance/list` for `query`, as JSON.
    pub(crate) async fn list(&self, query: &str) -> Value {
        let answer = self
            .call("GET", &format!("/nacos/v1/ns/instance/list?{query}"))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.json()
    }

    /// The `ip:port` of the listed hosts, sorted.
    pub(crate) async fn hosts(&self, query: &str) -> Vec<String> {
        let mut hosts: Vec<String> = self.list(query).await["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| format!("{}:{}", h["ip"].as_str().unwrap(), h["port"]))
            .collect();
        hosts.sort();
        hosts
    }
}

/// A header of an answer, as text.
impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}
