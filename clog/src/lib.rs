//! keel-clog: structured logging, tracing and the request [`Context`] for keel.
//!
//! - [`Context`] carries a W3C-compatible trace id, a deadline and cancellation; it is the
//!   first argument of every I/O method in keel and crosses process boundaries through
//!   [`inject`] / [`extract`] (HTTP headers, message headers).
//! - [`init`] installs a `tracing` subscriber from a [`Config`]: console lines for
//!   development, JSON lines with the service name for production, to stdout, stderr or a
//!   size-rotated file. Every line logged inside a [`Logger::span`] or [`Context::span`]
//!   carries its namespace and trace id.
//! - The level changes at run time through [`LevelHandle`].
//! - With the `otlp` feature and [`Config::otlp`] set, spans are exported to an
//!   OpenTelemetry collector in the context's trace.
//!
//! ```no_run
//! use keel_clog::{Config, Context, Env, Logger};
//!
//! # fn main() -> keel_clog::Result<()> {
//! let telemetry = keel_clog::init(Config::for_env(Env::Production).with_service("order"))?;
//! let logger = Logger::new("order").named("checkout");
//! let ctx = Context::new();
//! logger.span(&ctx, "pay").in_scope(|| tracing::info!(amount = 42, "paid"));
//! // {"ts":"…","level":"INFO","service":"order","ns":"order.checkout","target":"…",
//! //  "trace_id":"…","span_id":"…","msg":"paid","amount":42}
//! telemetry.level().set("warn")?;
//! telemetry.shutdown()?;
//! # Ok(()) }
//! ```

mod config;
mod context;
mod env;
mod error;
mod format;
mod level;
mod logger;
#[cfg(feature = "otlp")]
mod otel;
mod propagation;
mod rotating_file;
mod span_fields;
mod telemetry;
mod trace_id;

pub use config::{Config, Format, OtlpConfig, Output};
pub use context::Context;
pub use env::{Env, Mode};
pub use error::{Error, Result};
pub use level::{LevelHandle, validate_level};
pub use logger::{Logger, SPAN_TARGET};
pub use propagation::{Extractor, Injector, TIMEOUT_HEADER, TRACEPARENT_HEADER, extract, inject};
pub use telemetry::{Telemetry, init};
pub use trace_id::{SpanId, TraceId, TraceParent};
