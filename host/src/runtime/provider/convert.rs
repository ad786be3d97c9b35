//! Conversions between the host's provider types and the generated WIT bindings, and from a
//! plugin's `provider-error` or a trap to a [`ProviderCallError`].

use std::time::Duration;

use wasmtime::component::{ComponentType, Lower};

use super::super::bindings::provider::exports::wasmcode::plugin::provider as wit;
use super::super::error::ProviderCallError;
use super::super::fault::{GuestFault, classify};
use super::super::limits::Limits;
use super::super::store::StoreState;
use super::types::*;

/// A JSON value as the text a plugin parses; null (no options) is an empty object.
fn json_text(value: &serde_json::Value) -> String {
    if value.is_null() {
        "{}".to_string()
    } else {
        value.to_string()
    }
}

impl From<&ProviderConfig> for wit::ProviderConfig {
    fn from(config: &ProviderConfig) -> Self {
        Self {
            base_url: config.base_url.clone(),
            api_key: config.api_key.clone(),
            headers: config.headers.clone(),
            options_json: json_text(&config.options),
        }
    }
}

impl From<wit::ToolCall> for ToolInvocation {
    fn from(call: wit::ToolCall) -> Self {
        Self {
            id: call.id,
            name: call.name,
            arguments_json: call.arguments_json,
        }
    }
}

/// `completion-request` as lowered into the plugin: borrowed from the caller's request (which a
/// retry reuses), so its conversation is copied once, straight into guest memory.
#[derive(ComponentType, Lower)]
#[component(record)]
pub(in crate::runtime) struct WireRequest<'a> {
    config: WireConfig<'a>,
    model: &'a str,
    system: &'a [String],
    messages: &'a [ChatMessage],
    tools: Vec<WireTool<'a>>,
    #[component(name = "max-tokens")]
    max_tokens: Option<u32>,
    temperature: Option<f32>,
    #[component(name = "options-json")]
    options_json: String,
}

#[derive(ComponentType, Lower)]
#[component(record)]
pub(in crate::runtime) struct WireConfig<'a> {
    #[component(name = "base-url")]
    base_url: &'a str,
    #[component(name = "api-key")]
    api_key: Option<&'a str>,
    headers: &'a [(String, String)],
    #[component(name = "options-json")]
    options_json: String,
}

#[derive(ComponentType, Lower)]
#[component(record)]
pub(in crate::runtime) struct WireTool<'a> {
    name: &'a str,
    description: &'a str,
    #[component(name = "parameters-schema")]
    parameters_schema: String,
}

impl<'a> From<&'a CompletionRequest> for WireRequest<'a> {
    fn from(request: &'a CompletionRequest) -> Self {
        let config = &request.config;
        Self {
            config: WireConfig {
                base_url: &config.base_url,
                api_key: config.api_key.as_deref(),
                headers: &config.headers,
                options_json: json_text(&config.options),
            },
            model: &request.model,
            system: &request.system,
            messages: &request.messages,
            tools: request
                .tools
                .iter()
                .map(|tool| WireTool {
                    name: &tool.name,
                    description: &tool.description,
                    parameters_schema: tool.parameters.to_string(),
                })
                .collect(),
            max_tokens: request.max_tokens,
            temperature: request.temperature,
            options_json: json_text(&request.options),
        }
    }
}

impl From<wit::ModelInfo> for ModelInfo {
    fn from(model: wit::ModelInfo) -> Self {
        Self {
            id: model.id,
            name: model.name,
            context_limit: model.context_limit,
            output_limit: model.output_limit,
            tool_call: model.tool_call,
            reasoning: model.reasoning,
            attachment: model.attachment,
        }
    }
}

impl From<wit::FinishReason> for FinishReason {
    fn from(reason: wit::FinishReason) -> Self {
        match reason {
            wit::FinishReason::Stop => Self::Stop,
            wit::FinishReason::Length => Self::Length,
            wit::FinishReason::ToolCalls => Self::ToolCalls,
            wit::FinishReason::ContentFilter => Self::ContentFilter,
            wit::FinishReason::Other => Self::Other,
        }
    }
}

impl From<wit::StreamEvent> for StreamEvent {
    fn from(event: wit::StreamEvent) -> Self {
        match event {
            wit::StreamEvent::TextDelta(text) => Self::TextDelta(text),
            wit::StreamEvent::ReasoningDelta(text) => Self::ReasoningDelta(text),
            wit::StreamEvent::ToolCallStart(start) => Self::ToolCallStart {
                id: start.id,
                name: start.name,
            },
            wit::StreamEvent::ToolCall(call) => Self::ToolCall(call.into()),
            wit::StreamEvent::Usage(usage) => Self::Usage(Usage {
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
                reasoning_tokens: usage.reasoning_tokens,
                cache_read_tokens: usage.cache_read_tokens,
                cache_write_tokens: usage.cache_write_tokens,
            }),
            wit::StreamEvent::Finish(reason) => Self::Finish(reason.into()),
        }
    }
}

/// A plugin's own `provider-error`, named after the plugin.
pub(super) fn provider_error(plugin: &str, error: wit::ProviderError) -> ProviderCallError {
    let plugin = plugin.to_string();
    match error {
        wit::ProviderError::Connection(message) => ProviderCallError::Connection { plugin, message },
        wit::ProviderError::Status(status) => ProviderCallError::Status {
            plugin,
            status: status.status,
            body: status.body,
            retry_after: status.retry_after_ms.map(Duration::from_millis),
        },
        wit::ProviderError::Protocol(message) => ProviderCallError::Protocol { plugin, message },
        wit::ProviderError::Denied(message) => ProviderCallError::Denied { plugin, message },
        wit::ProviderError::InvalidRequest(message) => ProviderCallError::InvalidRequest { plugin, message },
    }
}

/// Guest code that failed to return: a timeout, out of memory, a full pool or a crash.
pub(super) fn fault(
    plugin: &str,
    limits: Limits,
    state: &StoreState,
    error: &wasmtime::Error,
    instantiating: bool,
) -> ProviderCallError {
    let plugin = plugin.to_string();
    match classify(error, state) {
        GuestFault::Timeout => ProviderCallError::Timeout {
            plugin,
            timeout_ms: limits.timeout_ms,
        },
        GuestFault::OutOfMemory { requested } => ProviderCallError::OutOfMemory {
            plugin,
            requested,
            limit: limits.memory_bytes,
        },
        GuestFault::Busy => ProviderCallError::Busy { plugin },
        GuestFault::Trap(reason) if instantiating => ProviderCallError::Instantiate { plugin, reason },
        GuestFault::Trap(reason) => ProviderCallError::Trap { plugin, reason },
    }
}
