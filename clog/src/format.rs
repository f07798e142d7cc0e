//! The two line formats: human-readable console lines and JSON lines.
//!
//! Both put on every line the namespace, trace id and span id of the nearest enclosing span
//! that has them (an event's own `ns`/`trace_id` fields win), so a line found by grep can be
//! tied to its request.

use std::fmt::{self, Write as _};
use std::time::SystemTime;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::Format;
use crate::span_fields::SpanFields;

/// Keys the JSON format owns; an event field with one of these names is written as `field_<name>`.
const RESERVED: [&str; 8] = [
    "ts", "level", "service", "ns", "target", "trace_id", "span_id", "msg",
];

/// Formats events as console text or JSON lines, with the service name and trace context.
pub(crate) struct LineFormat {
    service: String,
    format: Format,
}

impl LineFormat {
    pub(crate) fn new(service: String, format: Format) -> Self {
        LineFormat { service, format }
    }
}

#[derive(Default)]
struct EventFields {
    message: Option<String>,
    ns: Option<String>,
    trace_id: Option<String>,
    span_id: Option<String>,
    fields: Vec<(&'static str, Value)>,
}

impl EventFields {
    fn put(&mut self, field: &Field, value: Value) {
        let text = || match &value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match field.name() {
            "message" => self.message = Some(text()),
            "ns" => self.ns = Some(text()),
            "trace_id" => self.trace_id = Some(text()),
            "span_id" => self.span_id = Some(text()),
            name if name.starts_with("log.") => {} // tracing-log's metadata, already in the line
            name => self.fields.push((name, value)),
        }
    }
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = EventFields::default();
        event.record(&mut fields);
        // Fill what the event did not say itself from the nearest span that knows it.
        if let Some(scope) = ctx.event_scope() {
            for span in scope {
                let extensions = span.extensions();
                let Some(known) = extensions.get::<SpanFields>() else {
                    continue;
                };
                if fields.ns.is_none() {
                    fields.ns.clone_from(&known.ns);
                }
                if fields.trace_id.is_none() {
                    fields.trace_id.clone_from(&known.trace_id);
                    fields.span_id.clone_from(&known.span_id);
                }
                if fields.ns.is_some() && fields.trace_id.is_some() {
                    break;
                }
            }
        }
        let meta = event.metadata();
        let ts = humantime::format_rfc3339_millis(SystemTime::now());
        match self.format {
            Format::Json => {
                let mut line = Map::new();
                line.insert("ts".into(), Value::String(ts.to_string()));
                line.insert("level".into(), Value::String(meta.level().to_string()));
                line.insert("service".into(), Value::String(self.service.clone()));
                if let Some(ns) = fields.ns {
                    line.insert("ns".into(), Value::String(ns));
                }
                line.insert("target".into(), Value::String(meta.target().to_owned()));
                if let Some(trace_id) = fields.trace_id {
                    line.insert("trace_id".into(), Value::String(trace_id));
                }
                if let Some(span_id) = fields.span_id {
                    line.insert("span_id".into(), Value::String(span_id));
                }
                line.insert(
                    "msg".into(),
                    Value::String(fields.message.unwrap_or_default()),
                );
                for (name, value) in fields.fields {
                    let key = if RESERVED.contains(&name) {
                        format!("field_{name}")
                    } else {
                        name.to_owned()
                    };
                    line.insert(key, value);
                }
                let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
                writeln!(writer, "{text}")
            }
            Format::Console => {
                let mut out = String::with_capacity(128);
                let where_ = fields.ns.as_deref().unwrap_or(meta.target());
                write!(out, "{ts} {:>5} {} {where_}", meta.level(), self.service)?;
                if let Some(trace_id) = &fields.trace_id {
                    write!(out, " trace={trace_id}")?;
                }
                write!(out, ": {}", fields.message.unwrap_or_default())?;
                for (name, value) in fields.fields {
                    match value {
                        Value::String(s) => write!(out, " {name}={s:?}")?,
                        other => write!(out, " {name}={other}")?,
                    }
                }
                writeln!(writer, "{out}")
            }
        }
    }
}
