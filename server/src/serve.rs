//! `keel serve`: build the providers, mount the services, serve until a signal, shut down
//! cleanly (stop accepting, answer parked long polls, let requests finish, close stores).

use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use keel_clog::{Context, Env};
use keel_config_center::{ConfigCenter, ConfigStore, Dependencies};
use keel_ratelimit::{KeySource, RateLimitLayer, Rule};

use crate::ServeArgs;
use crate::config::{FileConfig, ServeMode};
use crate::{front, metrics};

/// Runs the server; the exit code says whether it stopped cleanly.
pub(crate) fn run(args: ServeArgs) -> ExitCode {
    let file = match &args.config {
        Some(path) => match FileConfig::load(path) {
            Ok(file) => file,
            Err(e) => return fail(&format!("invalid --config: {e}")),
        },
        None => FileConfig::default(),
    };
    let mut log = keel_clog::Config::for_env(Env::Production);
    log.level = file.log_level.clone().unwrap_or_else(|| "info".into());
    let telemetry = match keel_clog::init(log) {
        Ok(t) => t,
        Err(e) => return fail(&format!("invalid log_level: {e}")),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("starting the runtime: {e}")),
    };
    let outcome = runtime.block_on(serve(args, file));
    let _ = telemetry.shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> ExitCode {
    tracing::error!("{message}");
    eprintln!("keel: {message}");
    ExitCode::FAILURE
}

/// The providers the services are composed from.
struct Providers {
    db: Arc<keel_db::Db>,
    coord: Arc<dyn keel_coord::Provider>,
    once: Arc<dyn keel_once::Provider>,
    events: Option<Arc<dyn keel_mq::Provider>>,
}

/// Standalone: SQLite in the data dir, coord and idempotency keys in process.
async fn standalone(
    ctx: &Context,
    args: &ServeArgs,
    file: &FileConfig,
) -> Result<Providers, String> {
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| format!("creating --data-dir {}: {e}", args.data_dir.display()))?;
    let url = file
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", args.data_dir.join("keel.db").display()));
    let db_config = keel_db::Config::for_env(Env::Development).with_url(url);
    let db = keel_db::new(ctx, db_config, keel_db::Options::default())
        .await
        .map_err(|e| format!("opening the database: {e}"))?;
    let coord = keel_coord::new(
        ctx,
        keel_coord::Config::for_env(Env::Development),
        keel_coord::Options::default(),
    )
    .await
    .map_err(|e| format!("starting the in-process coord: {e}"))?;
    let once = keel_once::new(
        ctx,
        keel_once::Config::for_env(Env::Development),
        keel_once::Options::default(),
    )
    .await
    .map_err(|e| format!("starting keel-once: {e}"))?;
    let events = keel_mq::new(
        ctx,
        keel_mq::Config::for_env(Env::Development),
        keel_mq::Options::default(),
    )
    .await
    .map_err(|e| format!("starting the in-process broker: {e}"))?;
    Ok(Providers {
        db,
        coord,
        once,
        events: Some(events),
    })
}

/// Distributed: the shared database, etcd and Redis (validated to be set).
async fn distributed(ctx: &Context, file: &FileConfig) -> Result<Providers, String> {
    let url = file.database_url.clone().unwrap_or_default();
    let db_config = keel_db::Config::for_env(Env::Production).with_url(url);
    let db = keel_db::new(ctx, db_config, keel_db::Options::default())
        .await
        .map_err(|e| format!("opening the database: {e}"))?;
    let mut coord_config = keel_coord::Config::for_env(Env::Production);
    coord_config.endpoints = file.etcd.clone();
    coord_config.namespace = file.etcd_prefix.clone().unwrap_or_default();
    let coord = keel_coord::new(ctx, coord_config, keel_coord::Options::default())
        .await
        .map_err(|e| format!("connecting to etcd: {e}"))?;
    let mut cache_config = keel_cache::Config::for_env(Env::Production);
    cache_config.url = file.redis_url.clone().unwrap_or_default();
    cache_config.namespace = "keel:".into();
    let cache = keel_cache::new(ctx, cache_config, keel_cache::Options::default())
        .await
        .map_err(|e| format!("connecting to redis: {e}"))?;
    let once = keel_once::new(
        ctx,
        keel_once::Config::for_env(Env::Production),
        keel_once::Options {
            cache: Some(cache),
            ..keel_once::Options::default()
        },
    )
    .await
    .map_err(|e| format!("starting keel-once: {e}"))?;
    let events = match &file.kafka {
        Some(brokers) => {
            let mut mq_config = keel_mq::Config::for_env(Env::Production);
            mq_config.brokers = brokers.clone();
            let mq = keel_mq::new(ctx, mq_config, keel_mq::Options::default())
                .await
                .map_err(|e| format!("connecting to kafka: {e}"))?;
            Some(mq)
        }
        None => {
            tracing::info!("no kafka configured: release events are not published");
            None
        }
    };
    Ok(Providers {
        db,
        coord,
        once,
        events,
    })
}

async fn serve(args: ServeArgs, file: FileConfig) -> Result<(), String> {
    file.validate()?;
    let nacos = file.nacos.to_settings()?;
    let metrics_handle = metrics::install()?;
    let ctx = Context::new();
    let Providers {
        db,
        coord,
        once,
        events,
    } = match file.mode {
        ServeMode::Standalone => standalone(&ctx, &args, &file).await?,
        ServeMode::Distributed => distributed(&ctx, &file).await?,
    };
    let store = ConfigStore::open(&ctx, Arc::clone(&db))
        .await
        .map_err(|e| format!("preparing the database: {e}"))?;
    let dependencies = Dependencies {
        store,
        once,
        coord: Arc::clone(&coord),
        events: events.clone(),
    };
    let center = ConfigCenter::start(&ctx, dependencies)
        .await
        .map_err(|e| format!("starting the config center: {e}"))?;
    let registry = start_registry(&ctx, &file, &db, &coord, events.clone()).await?;

    let limiter = api_limiter(&ctx, &file, Arc::clone(&coord)).await?;
    let parked = Arc::new(front::ParkedCounts::default());
    let key = if file.ratelimit.trusted_proxies == 0 {
        KeySource::ClientIp
    } else {
        KeySource::ForwardedClientIp {
            trusted_proxies: file.ratelimit.trusted_proxies,
        }
    };
    let nacos = keel_nacos::Nacos::new(Arc::clone(&registry), Arc::clone(&center), nacos);
    let app = Router::new()
        .merge(keel_config_center::routes(Arc::clone(&center)))
        .merge(keel_registry::router(Arc::clone(&registry)))
        .merge(nacos.router())
        .route("/api/v1/openapi.json", get(openapi_document))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                axum::Json(serde_json::json!({
                    "code": 404,
                    "message": "no such endpoint; see /api/v1/openapi.json, docs/config-center.md or docs/registry.md",
                    "data": null,
                })),
            )
        })
        .layer(RateLimitLayer::new(Arc::clone(&limiter), "api", key.clone()))
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready).with_state(Arc::clone(&db)))
        .route(
            "/metrics",
            get(metrics::render).with_state(metrics::Scrape {
                handle: metrics_handle,
                center: Arc::clone(&center),
                parked: Arc::clone(&parked),
            }),
        )
        .layer(axum::middleware::from_fn(metrics::track));
    let listener = listen(args.listen).map_err(|e| format!("listening on {}: {e}", args.listen))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("reading the listening address: {e}"))?;
    tracing::info!(listen = %local, mode = ?file.mode, data_dir = %args.data_dir.display(), "keel is serving");
    let stopping = Arc::clone(&center);
    // Our own accept loop: it parks long polls and answers config reads outside hyper, and
    // serves everything else with hyper as axum::serve would (see front/mod.rs).
    let front = front::Front::new(app, Arc::clone(&center), limiter, key, parked, nacos);
    front::serve(listener, front, async move {
        shutdown_signal().await;
        tracing::info!("shutting down: answering parked long polls, finishing requests");
        stopping.shutdown();
    })
    .await;
    drop(center);
    registry.close().await;
    drop(registry);
    if let Some(events) = events {
        // Flushes release events still in flight.
        if let Err(e) = events.close().await {
            tracing::warn!(error = %e, "closing the event producer");
        }
    }
    db.close()
        .await
        .map_err(|e| format!("closing the database: {e}"))?;
    coord
        .close()
        .await
        .map_err(|e| format!("closing coord: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

/// The per-client-IP limit on the API: the `api` rule from keel.toml until coord says otherwise.
async fn api_limiter(
    ctx: &Context,
    file: &FileConfig,
    coord: Arc<dyn keel_coord::Provider>,
) -> Result<Arc<keel_ratelimit::RateLimiter>, String> {
    let mut config = keel_ratelimit::Config::for_env(Env::Development);
    config.env = Env::Production;
    let rule = Rule::local(file.ratelimit.rate).with_burst(file.ratelimit.burst);
    config.rules = config.rules.with("api", rule);
    let options = keel_ratelimit::Options {
        coord: Some(coord),
        ..keel_ratelimit::Options::default()
    };
    keel_ratelimit::new(ctx, config, options)
        .await
        .map_err(|e| format!("invalid [ratelimit]: {e}"))
}

/// Connections the kernel queues for `accept` (it caps this at `net.core.somaxconn`).
///
/// `TcpListener::bind` listens with a backlog of 128 here: when thousands of clients connect at
/// once (a node restart, clients re-polling after a fan-out) the queue overflows and each
/// dropped SYN costs its client a 1 s retransmit (measured: parking 10 000 long polls took
/// 8–12 s, with ~9 000 `ListenOverflows`).
const ACCEPT_BACKLOG: u32 = 4096;

/// Binds `addr` with [`ACCEPT_BACKLOG`].
fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std and tokio do: a restarted server can bind while old connections are in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// The registry node on the shared database and coord.
async fn start_registry(
    ctx: &Context,
    file: &FileConfig,
    db: &Arc<keel_db::Db>,
    coord: &Arc<dyn keel_coord::Provider>,
    events: Option<Arc<dyn keel_mq::Provider>>,
) -> Result<Arc<keel_registry::Registry>, String> {
    let store = keel_registry::RegistryStore::open(ctx, Arc::clone(db))
        .await
        .map_err(|e| format!("preparing the registry's tables: {e}"))?;
    let dependencies = keel_registry::Dependencies {
        store,
        coord: Arc::clone(coord),
        events,
    };
    keel_registry::Registry::start(ctx, dependencies, file.registry.to_config())
        .await
        .map_err(|e| format!("starting the registry: {e}"))
}

/// One OpenAPI document for everything `keel serve` answers.
async fn openapi_document() -> axum::Json<utoipa::openapi::OpenApi> {
    let mut doc = keel_config_center::openapi();
    doc.merge(keel_registry::openapi());
    doc.info.title = "keel".into();
    doc.info.description =
        Some("The config center and the service registry of `keel serve`.".into());
    axum::Json(doc)
}

async fn ready(
    axum::extract::State(db): axum::extract::State<Arc<keel_db::Db>>,
) -> axum::response::Response {
    match db.health(&Context::new()).await {
        Ok(_) => "ready".into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("database: {e}")).into_response(),
    }
}
