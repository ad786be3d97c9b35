//! The `anthropic` provider: the Anthropic Messages API, streamed (`POST {base_url}/messages` with
//! `x-api-key` and `anthropic-version: 2023-06-01`).

mod decode;
mod request;

use wasmcode_provider_support::wit::{CompletionRequest, ProviderError};
use wasmcode_provider_support::{Completion, Provider, export_provider, http, merge_headers};

/// The API version this plugin's request and event shapes follow.
const API_VERSION: &str = "2023-06-01";

struct Anthropic;

impl Provider for Anthropic {
    fn stream(request: CompletionRequest) -> Result<Completion, ProviderError> {
        let body = request::body(&request)?;
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| ProviderError::InvalidRequest(format!("cannot encode the request: {e}")))?;
        let config = &request.config;
        let mut defaults = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("accept".to_string(), "text/event-stream".to_string()),
            ("anthropic-version".to_string(), API_VERSION.to_string()),
            (
                "user-agent".to_string(),
                concat!("wasmcode/", env!("CARGO_PKG_VERSION")).to_string(),
            ),
        ];
        if let Some(key) = config.api_key.as_deref().filter(|k| !k.is_empty()) {
            defaults.push(("x-api-key".to_string(), key.to_string()));
        }
        let headers = merge_headers(defaults, &config.headers);
        let url = http::endpoint(&config.base_url, "messages");
        let body = http::post(&url, &headers, &bytes)?;
        Ok(Completion::new(body, decode::MessagesDecoder::new()))
    }
}

export_provider!(Anthropic);
