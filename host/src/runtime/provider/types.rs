//! The host's side of a provider conversation, in plain Rust: what the session layer builds and
//! consumes. They mirror the WIT `provider` interface; `convert.rs` maps between the two.

use std::sync::Arc;

use wasmtime::component::{ComponentType, Lower};

use crate::runtime::ToolSpec;

/// How the operator configured one provider (OpenCode's `provider.<id>` block).
#[derive(Clone, PartialEq, Default)]
pub struct ProviderConfig {
    /// e.g. `https://api.openai.com/v1`. A stream may reach only this URL's `host:port`.
    pub base_url: String,
    pub api_key: Option<String>,
    /// Extra HTTP headers sent with every request.
    pub headers: Vec<(String, String)>,
    /// The rest of the block, e.g. `{"models": {...}}`: passed to the plugin as JSON.
    pub options: serde_json::Value,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys and header values (`Authorization: ...`) stay out of logs.
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, _)| (name.as_str(), "<redacted>"))
            .collect();
        f.debug_struct("ProviderConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("headers", &headers)
            .field("options", &self.options)
            .finish()
    }
}

/// A model a provider knows from its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    pub id: String,
    pub name: String,
    /// Tokens; 0 when unknown.
    pub context_limit: u32,
    /// Tokens; 0 when unknown.
    pub output_limit: u32,
    pub tool_call: bool,
    pub reasoning: bool,
    pub attachment: bool,
}

// The conversation types are lowered into a plugin as they are (they mirror the WIT `provider`
// types field for field), so a request's messages are never copied into binding types.

/// Who wrote a message. System prompts are [`CompletionRequest::system`], not messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ComponentType, Lower)]
#[component(enum)]
#[repr(u8)]
pub enum Role {
    #[component(name = "user")]
    User,
    #[component(name = "assistant")]
    Assistant,
    /// Results of the assistant's tool calls: only [`ContentPart::ToolResult`]s.
    #[component(name = "tool")]
    Tool,
}

/// A tool call the model made: streamed by the provider, sent back in the history.
#[derive(Debug, Clone, PartialEq, Eq, ComponentType, Lower)]
#[component(record)]
pub struct ToolInvocation {
    /// The provider's call id (`call_...`, `toolu_...`).
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them (normally a JSON object text; the model may get
    /// it wrong, so it is not parsed here).
    #[component(name = "arguments-json")]
    pub arguments_json: String,
}

/// The answer to a [`ToolInvocation`].
#[derive(Debug, Clone, PartialEq, Eq, ComponentType, Lower)]
#[component(record)]
pub struct ToolResult {
    #[component(name = "call-id")]
    pub call_id: String,
    pub name: String,
    /// What the model reads: the tool's output, or its error message.
    pub output: String,
    #[component(name = "is-error")]
    pub is_error: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, ComponentType, Lower)]
#[component(variant)]
pub enum ContentPart {
    #[component(name = "text")]
    Text(String),
    #[component(name = "reasoning")]
    Reasoning(String),
    #[component(name = "tool-call")]
    ToolCall(ToolInvocation),
    #[component(name = "tool-result")]
    ToolResult(ToolResult),
}

/// One message of a conversation. Its content is immutable and shared: a session keeps each
/// stored message's conversion and sends it again at every step without copying it.
#[derive(Debug, Clone, PartialEq, Eq, ComponentType, Lower)]
#[component(record)]
pub struct ChatMessage {
    pub role: Role,
    pub content: Arc<[ContentPart]>,
}

impl ChatMessage {
    /// A user message of one text.
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: Arc::new([ContentPart::Text(text.into())]),
        }
    }

    pub fn assistant(content: Vec<ContentPart>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }

    /// The results of one assistant turn's tool calls.
    pub fn tool_results(results: Vec<ToolResult>) -> Self {
        Self {
            role: Role::Tool,
            content: results.into_iter().map(ContentPart::ToolResult).collect(),
        }
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDefinition {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: serde_json::Value,
}

impl From<&ToolSpec> for ToolDefinition {
    fn from(spec: &ToolSpec) -> Self {
        Self {
            name: spec.id.clone(),
            description: spec.description.clone(),
            parameters: spec.parameters.clone(),
        }
    }
}

/// One completion to stream.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionRequest {
    pub config: ProviderConfig,
    /// The provider's model id (`gpt-4o`, `claude-sonnet-4-5`).
    pub model: String,
    /// System prompts, in order, before every message.
    pub system: Vec<String>,
    pub messages: Vec<ChatMessage>,
    pub tools: Vec<ToolDefinition>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    /// Provider-specific request options (a JSON object, or null for none); the first-party
    /// plugins add its fields to the upstream request body as written.
    pub options: serde_json::Value,
}

impl CompletionRequest {
    /// A request with no system prompt, tools or options.
    pub fn new(config: ProviderConfig, model: impl Into<String>, messages: Vec<ChatMessage>) -> Self {
        Self {
            config,
            model: model.into(),
            system: Vec::new(),
            messages,
            tools: Vec::new(),
            max_tokens: None,
            temperature: None,
            options: serde_json::Value::Null,
        }
    }
}

/// Token counts of one completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Prompt tokens neither read from nor written to the provider's cache.
    pub input_tokens: u64,
    /// Generated tokens, reasoning included.
    pub output_tokens: u64,
    /// The part of `output_tokens` spent on reasoning, when the provider says.
    pub reasoning_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
    Other,
}

impl FinishReason {
    /// OpenCode's name for it, as in a `step-finish` part's `reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ToolCalls => "tool-calls",
            Self::ContentFilter => "content-filter",
            Self::Other => "other",
        }
    }
}

/// What a completion stream yields, in the order the model produced it. `Usage` comes at most
/// once, and `Finish` is the last event of a stream that ends normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    TextDelta(String),
    ReasoningDelta(String),
    /// A tool call began (its arguments are still streaming); the matching `ToolCall` follows.
    ToolCallStart {
        id: String,
        name: String,
    },
    /// A complete tool call.
    ToolCall(ToolInvocation),
    Usage(Usage),
    Finish(FinishReason),
}
