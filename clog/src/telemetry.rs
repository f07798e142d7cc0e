//! Assembling the subscriber: level filter, line format, output, optional span export.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::Dispatch;
use tracing_subscriber::Registry;
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::reload;

use crate::config::{Config, Output};
use crate::format::LineFormat;
use crate::level::{LevelHandle, parse_filter};
use crate::logger::SPAN_TARGET;
use crate::rotating_file::RotatingFile;
use crate::span_fields::SpanFieldsLayer;
use crate::{Error, Result};

/// The running logging/tracing setup: the level handle and the span exporter.
///
/// Whoever built it closes it: [`Telemetry::shutdown`] flushes spans still buffered for export.
/// It is idempotent and also runs on drop.
pub struct Telemetry {
    level: LevelHandle,
    #[cfg(feature = "otlp")]
    tracer_provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
    closed: AtomicBool,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

/// Builds the subscriber described by `config` and installs it as the process-wide default.
///
/// Call once, early in `main`. With span export configured, call it inside a tokio runtime.
pub fn init(config: Config) -> Result<Telemetry> {
    let (dispatch, telemetry) = Telemetry::build(config)?;
    tracing::dispatcher::set_global_default(dispatch).map_err(|_| Error::AlreadyInitialized)?;
    Ok(telemetry)
}

fn make_writer(output: &Output) -> Result<BoxMakeWriter> {
    Ok(match output {
        Output::Stdout => BoxMakeWriter::new(std::io::stdout),
        Output::Stderr => BoxMakeWriter::new(std::io::stderr),
        Output::File {
            path,
            max_bytes,
            keep,
        } => BoxMakeWriter::new(Arc::new(RotatingFile::open(path, *max_bytes, *keep)?)),
    })
}

impl Telemetry {
    /// Builds the subscriber without installing it, for scoped use
    /// (`tracing::dispatcher::with_default`, `WithSubscriber::with_subscriber`) in tests or
    /// in programs that manage their own default.
    pub fn build(config: Config) -> Result<(Dispatch, Telemetry)> {
        config.validate()?;
        let (filter, reload_handle) = reload::Layer::new(parse_filter(&config.level)?);
        let reload_fn = Arc::new(move |filter| {
            reload_handle
                .reload(filter)
                .map_err(|e| format!("the subscriber is gone: {e}"))
        });
        // Context/Logger spans always pass so a warning keeps its trace id at level `warn`.
        let keel_spans = filter_fn(|meta| meta.is_span() && meta.target() == SPAN_TARGET);
        let lines = tracing_subscriber::fmt::layer()
            .event_format(LineFormat::new(config.service.clone(), config.format))
            .with_writer(make_writer(&config.output)?)
            .with_filter(filter.or(keel_spans));
        let subscriber = Registry::default().with(SpanFieldsLayer).with(lines);
        let level = LevelHandle::new(&config.level, reload_fn);

        #[cfg(feature = "otlp")]
        {
            use opentelemetry::trace::TracerProvider as _;
            let tracer_provider = match &config.otlp {
                Some(otlp) => Some(crate::otel::tracer_provider(otlp, &config.service)?),
                None => None,
            };
            let spans = tracer_provider.as_ref().map(|provider| {
                tracing_opentelemetry::layer()
                    .with_tracer(provider.tracer("keel"))
                    .with_filter(filter_fn(|meta| *meta.level() <= tracing::Level::INFO))
            });
            let dispatch = Dispatch::new(subscriber.with(spans));
            Ok((
                dispatch,
                Telemetry {
                    level,
                    tracer_provider,
                    closed: AtomicBool::new(false),
                },
            ))
        }
        #[cfg(not(feature = "otlp"))]
        {
            Ok((
                Dispatch::new(subscriber),
                Telemetry {
                    level,
                    closed: AtomicBool::new(false),
                },
            ))
        }
    }

    /// The handle that changes the level at run time.
    pub fn level(&self) -> &LevelHandle {
        &self.level
    }

    /// Exports every span finished so far. Blocks; call it from `spawn_blocking` in async code.
    pub fn flush(&self) -> Result<()> {
        #[cfg(feature = "otlp")]
        if let Some(provider) = &self.tracer_provider {
            provider
                .force_flush()
                .map_err(|e| Error::Telemetry(format!("flushing spans: {e}")))?;
        }
        Ok(())
    }

    /// Flushes and stops span export. Idempotent. Blocks like [`Telemetry::flush`].
    pub fn shutdown(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        #[cfg(feature = "otlp")]
        if let Some(provider) = &self.tracer_provider {
            provider
                .shutdown()
                .map_err(|e| Error::Telemetry(format!("shutting down span export: {e}")))?;
        }
        Ok(())
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Err(err) = self.shutdown() {
            // The subscriber may be gone already; stderr is the last place this can go.
            eprintln!("keel-clog: {err}");
        }
    }
}
