//! Spans reach a real OTLP/gRPC collector (in-process, on loopback) in the Context's trace.
#![cfg(feature = "otlp")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keel_clog::{Config, Context, Env, Logger, OtlpConfig, Telemetry};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;

#[derive(Clone, Default)]
struct Collector {
    requests: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.requests
            .lock()
            .expect("collector lock")
            .push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_arrive_at_the_collector_with_the_context_trace_id() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let collector = Collector::default();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );

    let mut config = Config::for_env(Env::Production).with_service("checkout");
    config.output = keel_clog::Output::Stderr;
    config.otlp = Some(OtlpConfig {
        endpoint: format!("http://{addr}"),
        timeout: Duration::from_secs(5),
    });
    let (dispatch, telemetry) = Telemetry::build(config).unwrap();
    let ctx = Context::new();
    tracing::dispatcher::with_default(&dispatch, || {
        let span = Logger::new("checkout").span(&ctx, "charge-card");
        span.in_scope(|| tracing::info!(amount = 42, "charged"));
    });
    let telemetry = Arc::new(telemetry);
    let flusher = Arc::clone(&telemetry);
    tokio::task::spawn_blocking(move || flusher.flush())
        .await
        .unwrap()
        .unwrap();

    // Poll with a deadline: export is asynchronous.
    let deadline = Instant::now() + Duration::from_secs(10);
    let span = loop {
        let found = collector.requests.lock().unwrap().iter().find_map(|req| {
            req.resource_spans.iter().find_map(|rs| {
                let service = rs
                    .resource
                    .as_ref()?
                    .attributes
                    .iter()
                    .find_map(|kv| (kv.key == "service.name").then(|| kv.value.clone()))??;
                assert!(
                    matches!(service.value, Some(AnyValue::StringValue(ref s)) if s == "checkout")
                );
                rs.scope_spans
                    .iter()
                    .flat_map(|ss| ss.spans.iter())
                    .find(|s| s.name == "charge-card")
                    .cloned()
            })
        });
        if let Some(span) = found {
            break span;
        }
        assert!(Instant::now() < deadline, "no span reached the collector");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(span.trace_id, ctx.trace_id().to_u128().to_be_bytes());
    assert_eq!(span.parent_span_id, ctx.span_id().to_u64().to_be_bytes());
    let ns = span
        .attributes
        .iter()
        .find(|kv| kv.key == "ns")
        .and_then(|kv| kv.value.clone())
        .and_then(|v| v.value);
    assert!(
        matches!(ns, Some(AnyValue::StringValue(ref s)) if s == "checkout"),
        "{ns:?}"
    );
    // The event became a span event carrying its fields.
    assert!(
        span.events.iter().any(|e| e.name == "charged"),
        "{:?}",
        span.events
    );

    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();
    server.abort();
}
