//! Conversions between the host's provider types and the generated WIT bindings, and from a
//! plugin's `provider-error` or a trap to a [`ProviderCallError`].

use std::time::Duration;

use super::super::bindings::provider::exports::wasmcode::plugin::provider as wit;
use super::super::error::ProviderCallError;
use super::super::fault::{GuestFault, classify};
use super::super::limits::Limits;
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

impl From<Role> for wit::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::User => Self::User,
            Role::Assistant => Self::Assistant,
            Role::Tool => Self::Tool,
        }
    }
}

impl From<ToolInvocation> for wit::ToolCall {
    fn from(call: ToolInvocation) -> Self {
        Self {
            id: call.id,
            name: call.name,
            arguments_json: call.arguments_json,
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

/// The request as the plugin receives it, copied once from the caller's (which a retry reuses).
pub(in crate::runtime) fn wit_request(request: &CompletionRequest) -> wit::CompletionRequest {
    wit::CompletionRequest {
        config: (&request.config).into(),
        model: request.model.clone(),
        system: request.system.clone(),
        messages: request
            .messages
            .iter()
            .map(|message| wit::Message {
                role: message.role.into(),
                content: message.content.iter().map(wit_part).collect(),
            })
            .collect(),
        tools: request
            .tools
            .iter()
            .map(|tool| wit::ToolDefinition {
                name: tool.name.clone(),
                description: tool.description.clone(),
                parameters_schema: tool.parameters.to_string(),
            })
            .collect(),
        max_tokens: request.max_tokens,
        temperature: request.temperature,
        options_json: json_text(&request.options),
    }
}

fn wit_part(part: &ContentPart) -> wit::ContentPart {
    match part {
        ContentPart::Text(text) => wit::ContentPart::Text(text.clone()),
        ContentPart::Reasoning(text) => wit::ContentPart::Reasoning(text.clone()),
        ContentPart::ToolCall(call) => wit::ContentPart::ToolCall(call.clone().into()),
        ContentPart::ToolResult(result) => wit::ContentPart::ToolResult(wit::ToolResult {
            call_id: result.call_id.clone(),
            name: result.name.clone(),
            output: result.output.clone(),
            is_error: result.is_error,
        }),
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
    refused_memory: Option<usize>,
    error: &wasmtime::Error,
    instantiating: bool,
) -> ProviderCallError {
    let plugin = plugin.to_string();
    match classify(error, refused_memory) {
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
