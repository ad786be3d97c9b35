//! The `anthropic` provider: the Anthropic Messages API, streamed (`POST {base_url}/messages` with
//! `x-api-key` and `anthropic-version: 2023-06-01`).

mod decode;
mod request;

use wasmcode_provider_support::wit::{CompletionRequest, ProviderError};
use wasmcode_provider_support::{Completion, Provider, export_provider, http};

/// The API version this plugin's request and event shapes follow.
const API_VERSION: &str = "2023-06-01";

struct Anthropic;

impl Provider for Anthropic {
    fn stream(request: &CompletionRequest) -> Result<Completion, ProviderError> {
        let body = request::body(request)?;
        let mut extra = vec![("anthropic-version".to_string(), API_VERSION.to_string())];
        if let Some(key) = request.config.api_key.as_deref().filter(|k| !k.is_empty()) {
            extra.push(("x-api-key".to_string(), key.to_string()));
        }
        let body = http::post_json(&request.config, "messages", &body, extra)?;
        Ok(Completion::new(body, decode::MessagesDecoder::new()))
    }
}

export_provider!(Anthropic);
