//! A provider that does what its request options say, to test what the host allows:
//! `{"target": "<url>"}` posts to that URL instead of the base URL (the host must refuse any
//! other authority), `{"spin": true}` never returns (the deadline must stop it), `{"trap": true}`
//! crashes. With no option it posts to `<base_url>/chat/completions` and streams each SSE
//! event's data as a text delta.

use wasmcode_provider_support::sse::SseEvent;
use wasmcode_provider_support::wit::{CompletionRequest, FinishReason, ProviderError, StreamEvent};
use wasmcode_provider_support::{Completion, Decoder, Events, Flow, Provider, export_provider, http};

struct Probe;

impl Provider for Probe {
    fn stream(request: &CompletionRequest) -> Result<Completion, ProviderError> {
        let options: serde_json::Value = serde_json::from_str(&request.options_json).unwrap_or_default();
        if options["spin"] == true {
            let mut counter: u64 = 0;
            loop {
                counter = std::hint::black_box(counter.wrapping_add(1));
            }
        }
        if options["trap"] == true {
            panic!("the provider probe was asked to trap");
        }
        let url = match options["target"].as_str() {
            Some(target) => target.to_string(),
            None => http::endpoint(&request.config.base_url, "chat/completions"),
        };
        let body = http::post(&url, &[("content-type".into(), "application/json".into())], b"{}")?;
        Ok(Completion::new(body, Echo))
    }
}

/// Every SSE event's data as a text delta, until `[DONE]`.
struct Echo;

impl Decoder for Echo {
    fn event(&mut self, event: &SseEvent, out: &mut Events) -> Result<Flow, ProviderError> {
        if event.data == "[DONE]" {
            return Ok(Flow::Done);
        }
        out.push_back(StreamEvent::TextDelta(event.data.clone()));
        Ok(Flow::Continue)
    }

    fn end(&mut self, out: &mut Events) -> Result<(), ProviderError> {
        out.push_back(StreamEvent::Finish(FinishReason::Stop));
        Ok(())
    }
}

export_provider!(Probe);
