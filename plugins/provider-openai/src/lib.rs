//! The `openai` provider: OpenAI's chat-completions API, streamed (`POST {base_url}/chat/completions`
//! with `Authorization: Bearer <key>`). Works with every server that speaks it: OpenAI,
//! OpenRouter, Ollama, LM Studio, llama.cpp, vLLM.

mod decode;
mod request;

use wasmcode_provider_support::wit::{CompletionRequest, ProviderError};
use wasmcode_provider_support::{Completion, Provider, export_provider, http};

struct OpenAi;

impl Provider for OpenAi {
    fn stream(request: &CompletionRequest) -> Result<Completion, ProviderError> {
        let body = request::body(request)?;
        let mut extra = Vec::new();
        // Local servers need no key; sending `Bearer ` with nothing after it upsets some.
        if let Some(key) = request.config.api_key.as_deref().filter(|k| !k.is_empty()) {
            extra.push(("authorization".to_string(), format!("Bearer {key}")));
        }
        let body = http::post_json(&request.config, "chat/completions", &body, extra)?;
        Ok(Completion::new(body, decode::ChatDecoder::new()))
    }
}

export_provider!(OpenAi);
