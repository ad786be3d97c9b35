//! The `openai` provider: OpenAI's chat-completions API, streamed (`POST {base_url}/chat/completions`
//! with `Authorization: Bearer <key>`). Works with every server that speaks it: OpenAI,
//! OpenRouter, Ollama, LM Studio, llama.cpp, vLLM.

mod decode;
mod request;

use wasmcode_provider_support::wit::{CompletionRequest, ProviderError};
use wasmcode_provider_support::{Completion, Provider, export_provider, http, merge_headers};

struct OpenAi;

impl Provider for OpenAi {
    fn stream(request: CompletionRequest) -> Result<Completion, ProviderError> {
        let body = request::body(&request)?;
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| ProviderError::InvalidRequest(format!("cannot encode the request: {e}")))?;
        let config = &request.config;
        let mut defaults = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("accept".to_string(), "text/event-stream".to_string()),
            (
                "user-agent".to_string(),
                concat!("wasmcode/", env!("CARGO_PKG_VERSION")).to_string(),
            ),
        ];
        // Local servers need no key; sending `Bearer ` with nothing after it upsets some.
        if let Some(key) = config.api_key.as_deref().filter(|k| !k.is_empty()) {
            defaults.push(("authorization".to_string(), format!("Bearer {key}")));
        }
        let headers = merge_headers(defaults, &config.headers);
        let url = http::endpoint(&config.base_url, "chat/completions");
        let body = http::post(&url, &headers, &bytes)?;
        Ok(Completion::new(body, decode::ChatDecoder::new()))
    }
}

export_provider!(OpenAi);
