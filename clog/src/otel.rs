//! OpenTelemetry export (the `otlp` feature): an OTLP/gRPC span exporter, and the link that
//! makes spans recorded under a [`Context`] belong to the context's trace.

use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceState};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::OtlpConfig;
use crate::{Context, Error, Result};

/// Makes `span` a child of the context's hop, so its exported trace id is the context's.
pub(crate) fn attach_parent(span: &Span, ctx: &Context) {
    let parent = SpanContext::new(
        opentelemetry::trace::TraceId::from_bytes(ctx.trace_id().to_u128().to_be_bytes()),
        opentelemetry::trace::SpanId::from_bytes(ctx.span_id().to_u64().to_be_bytes()),
        if ctx.is_sampled() {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        },
        true,
        TraceState::default(),
    );
    // Fails only when the span is disabled, in which case there is nothing to export.
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent));
}

/// A tracer provider exporting in batches to the configured collector. Must be built inside
/// a tokio runtime (the gRPC channel lives on it).
pub(crate) fn tracer_provider(config: &OtlpConfig, service: &str) -> Result<SdkTracerProvider> {
    let exporter = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(config.endpoint.clone())
        .with_timeout(config.timeout)
        .build()
        .map_err(|e| Error::Telemetry(format!("building the OTLP exporter: {e}")))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service.to_owned())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}
