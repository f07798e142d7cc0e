//! A layer that remembers the `ns`, `trace_id` and `span_id` fields of every span, so the
//! line formatter can put the nearest ones on each event without re-parsing span text.

use std::fmt;

use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The well-known fields of one span, stored in the span's extensions.
#[derive(Debug, Default, Clone)]
pub(crate) struct SpanFields {
    pub(crate) ns: Option<String>,
    pub(crate) trace_id: Option<String>,
    pub(crate) span_id: Option<String>,
}

impl SpanFields {
    fn is_empty(&self) -> bool {
        self.ns.is_none() && self.trace_id.is_none() && self.span_id.is_none()
    }
}

impl Visit for SpanFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if matches!(field.name(), "ns" | "trace_id" | "span_id") {
            self.set(field, format!("{value:?}"));
        }
    }
}

impl SpanFields {
    fn set(&mut self, field: &Field, value: String) {
        match field.name() {
            "ns" => self.ns = Some(value),
            "trace_id" => self.trace_id = Some(value),
            "span_id" => self.span_id = Some(value),
            _ => {}
        }
    }
}

/// Captures [`SpanFields`] on span creation and on later `record` calls.
pub(crate) struct SpanFieldsLayer;

impl<S> Layer<S> for SpanFieldsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let mut fields = SpanFields::default();
        attrs.record(&mut fields);
        if !fields.is_empty()
            && let Some(span) = ctx.span(id)
        {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        match extensions.get_mut::<SpanFields>() {
            Some(fields) => values.record(fields),
            None => {
                let mut fields = SpanFields::default();
                values.record(&mut fields);
                if !fields.is_empty() {
                    extensions.insert(fields);
                }
            }
        }
    }
}
