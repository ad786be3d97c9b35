//! One `tracing` span per plugin call: a tool call, a tool plugin's `describe` at load, a
//! provider's `models`, a provider stream from its start to its end. The span carries the plugin
//! and the tool (or the operation); when it closes it records how long the call took and its
//! outcome (`ok`, an error kind, or `cancelled` when the caller dropped it first).
//!
//! Host functions a guest calls run inside the span, so the guest's `log` lines carry it too.
//! With no subscriber interested, a span is `Span::none()` and nothing is measured or recorded.

use std::time::Instant;

use tracing::Span;
use tracing::field::Empty;

/// The span of one plugin call, closed with its outcome.
pub struct CallSpan {
    span: Span,
    /// When the call started; `None` when the span is disabled.
    started: Option<Instant>,
}

/// The outcome recorded for a call that was dropped before it finished.
const CANCELLED: &str = "cancelled";

impl CallSpan {
    /// The span of a tool call (or of `describe`, with `tool = "describe"`).
    pub fn tool(plugin: &str, tool: &str) -> Self {
        Self::new(tracing::info_span!(
            "plugin_call",
            plugin,
            tool,
            duration_us = Empty,
            outcome = Empty
        ))
    }

    /// The span of a provider operation (`models`, `stream`).
    pub fn operation(plugin: &str, operation: &'static str) -> Self {
        Self::new(tracing::info_span!(
            "plugin_call",
            plugin,
            operation,
            duration_us = Empty,
            outcome = Empty
        ))
    }

    fn new(span: Span) -> Self {
        let started = (!span.is_disabled()).then(Instant::now);
        Self { span, started }
    }

    /// The span, to instrument the futures that run the call.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Records the outcome of `result` (`ok` or the error's kind) and closes the span.
    pub fn finish<T, E>(self, result: &Result<T, E>, kind: impl FnOnce(&E) -> &'static str) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(error) => kind(error),
        };
        self.close(outcome);
    }

    /// Records `outcome` and closes the span.
    pub fn close(mut self, outcome: &'static str) {
        self.record(outcome);
    }

    fn record(&mut self, outcome: &'static str) {
        if let Some(started) = self.started.take() {
            let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.span.record("duration_us", micros);
            self.span.record("outcome", outcome);
        }
    }
}

impl Drop for CallSpan {
    fn drop(&mut self) {
        // Closed without an outcome: the caller dropped the call before it finished.
        self.record(CANCELLED);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::subscriber::Subscriber;

    use super::*;

    /// Keeps every field recorded on any span, as `name=value` text.
    #[derive(Default, Clone)]
    struct Fields(Arc<Mutex<Vec<String>>>);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if let Ok(mut fields) = self.0.lock() {
                fields.push(format!("{}={value:?}", field.name()));
            }
        }
    }

    impl Subscriber for Fields {
        /// Asked at every span, so that other threads, with no subscriber, see spans disabled.
        fn register_callsite(&self, _: &'static tracing::Metadata<'static>) -> tracing::subscriber::Interest {
            tracing::subscriber::Interest::sometimes()
        }
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            span.record(&mut self.clone());
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, values: &Record<'_>) {
            values.record(&mut self.clone());
        }
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &tracing::Event<'_>) {}
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    fn recorded(run: impl FnOnce()) -> Vec<String> {
        let fields = Fields::default();
        tracing::subscriber::with_default(fields.clone(), run);
        fields.0.lock().map(|f| f.clone()).unwrap_or_default()
    }

    #[test]
    fn a_finished_call_records_its_outcome_and_duration() {
        let fields = recorded(|| {
            let span = CallSpan::tool("read", "read");
            span.finish(&Err::<(), &str>("boom"), |_| "timeout");
        });
        assert!(fields.contains(&"plugin=\"read\"".to_string()), "{fields:?}");
        assert!(fields.contains(&"tool=\"read\"".to_string()), "{fields:?}");
        assert!(fields.contains(&"outcome=\"timeout\"".to_string()), "{fields:?}");
        assert!(fields.iter().any(|f| f.starts_with("duration_us=")), "{fields:?}");
    }

    #[test]
    fn a_dropped_call_is_recorded_as_cancelled() {
        let fields = recorded(|| {
            let _span = CallSpan::operation("openai", "stream");
        });
        assert!(fields.contains(&"operation=\"stream\"".to_string()), "{fields:?}");
        assert!(
            fields.contains(&"outcome=\"cancelled\"".to_string()),
            "{fields:?}"
        );
    }

    #[test]
    fn without_a_subscriber_nothing_is_measured() {
        let span = CallSpan::tool("read", "read");
        assert!(span.started.is_none());
        span.close("ok");
    }
}
