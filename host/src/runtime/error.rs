//! Errors of the plugin runtime, typed so callers can tell a guest's own failure from a broken
//! plugin, a limit, or a problem of the host.

use std::time::Duration;

use thiserror::Error;

/// Why a component could not be loaded (installed, or read from the cache at start-up).
#[derive(Debug, Error)]
pub enum LoadError {
    #[error(
        "{name}: this is a core WebAssembly module, not a component. Build it for the wasm32-wasip2 \
         target, or wrap it with `wasm-tools component new`"
    )]
    CoreModule { name: String },
    #[error("{name}: not a valid WebAssembly component: {reason}")]
    Invalid { name: String, reason: String },
    #[error(
        "{name}: not a tool plugin: it does not export `{expected}` (it exports {found}). A tool plugin \
         targets the world `wasmcode:plugin/tool-plugin`"
    )]
    WrongWorld {
        name: String,
        expected: String,
        found: String,
    },
    #[error(
        "{name}: not a provider plugin: it does not export `{expected}` (it exports {found}). A provider \
         plugin targets the world `wasmcode:plugin/provider-plugin`"
    )]
    NotAProvider {
        name: String,
        expected: String,
        found: String,
    },
    #[error(
        "{name}: not a formatter plugin: it does not export `{expected}` (it exports {found}). A \
         formatter plugin targets the world `wasmcode:plugin/formatter-plugin`"
    )]
    NotAFormatter {
        name: String,
        expected: String,
        found: String,
    },
    #[error(
        "{name}: not a wasmcode plugin: it exports {found}. A plugin targets one of the worlds \
         `wasmcode:plugin/tool-plugin`, `wasmcode:plugin/provider-plugin` or \
         `wasmcode:plugin/formatter-plugin`, exporting `wasmcode:plugin/tool`, `provider` or `formatter`"
    )]
    UnknownWorld { name: String, found: String },
    #[error("{name}: imports {import}, which wasmcode does not provide to plugins ({reason})")]
    UnsupportedImport {
        name: String,
        import: String,
        reason: String,
    },
    #[error("{name}: trapped while being instantiated: {reason}")]
    InstantiateTrap { name: String, reason: String },
    #[error("{name}: `describe` failed: {reason}")]
    Describe { name: String, reason: String },
    #[error("{name}: describes an invalid tool: {reason}")]
    BadToolSpec { name: String, reason: String },
    #[error("compile cache: {0}")]
    Cache(#[from] std::io::Error),
}

impl LoadError {
    /// A short name for the kind of failure, for logs and traces.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CoreModule { .. } => "core_module",
            Self::Invalid { .. } => "invalid",
            Self::WrongWorld { .. } => "wrong_world",
            Self::NotAProvider { .. } => "not_a_provider",
            Self::NotAFormatter { .. } => "not_a_formatter",
            Self::UnknownWorld { .. } => "unknown_world",
            Self::UnsupportedImport { .. } => "unsupported_import",
            Self::InstantiateTrap { .. } => "instantiate_trap",
            Self::Describe { .. } => "describe",
            Self::BadToolSpec { .. } => "bad_tool_spec",
            Self::Cache(_) => "cache",
        }
    }
}

/// Why a tool call did not produce an output. Every variant names the plugin and the tool.
#[derive(Debug, Error)]
pub enum CallError {
    /// The tool ran and reported a failure; the message is for the model.
    #[error("{message}")]
    Tool {
        plugin: String,
        tool: String,
        kind: ToolFailure,
        message: String,
    },
    /// The guest ran past its deadline and was stopped.
    #[error("tool `{tool}` (plugin `{plugin}`) was stopped after exceeding its {timeout_ms} ms time limit")]
    Timeout {
        plugin: String,
        tool: String,
        timeout_ms: u64,
    },
    /// The guest needed more memory than it is allowed.
    #[error(
        "tool `{tool}` (plugin `{plugin}`) ran out of memory: growing to {requested} bytes exceeds its \
         limit of {limit} bytes"
    )]
    OutOfMemory {
        plugin: String,
        tool: String,
        requested: usize,
        limit: u64,
    },
    /// The guest trapped (a bug in the plugin).
    #[error("tool `{tool}` (plugin `{plugin}`) crashed: {reason}")]
    Trap {
        plugin: String,
        tool: String,
        reason: String,
    },
    /// A fresh instance could not be created for the call.
    #[error("tool `{tool}` (plugin `{plugin}`) could not start: {reason}")]
    Instantiate {
        plugin: String,
        tool: String,
        reason: String,
    },
    /// Too many calls are running at once; retrying later can help.
    #[error("tool `{tool}` (plugin `{plugin}`) could not start: too many tool calls are running at once")]
    Busy { plugin: String, tool: String },
    /// No loaded plugin offers this tool.
    #[error("unknown tool `{tool}`")]
    UnknownTool { tool: String },
    /// The host could not set up the call (e.g. the project directory is gone).
    #[error("tool `{tool}` (plugin `{plugin}`) could not be set up: {reason}")]
    Setup {
        plugin: String,
        tool: String,
        reason: String,
    },
}

impl CallError {
    /// A short name for the kind of failure, for logs and traces: the tool's own kind of
    /// failure for [`CallError::Tool`].
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Tool { kind, .. } => kind.as_str(),
            Self::Timeout { .. } => "timeout",
            Self::OutOfMemory { .. } => "out_of_memory",
            Self::Trap { .. } => "trap",
            Self::Instantiate { .. } => "instantiate",
            Self::Busy { .. } => "busy",
            Self::UnknownTool { .. } => "unknown_tool",
            Self::Setup { .. } => "setup",
        }
    }
}

/// The guest-reported kinds of failure, mirroring the WIT `tool-error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolFailure {
    UnknownTool,
    InvalidArgs,
    /// The user refused a permission; carries their feedback.
    Rejected(Option<String>),
    /// A permission rule refused the call.
    Denied,
    Failed,
}

impl ToolFailure {
    /// The WIT `tool-error` case's name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::UnknownTool => "unknown_tool",
            Self::InvalidArgs => "invalid_args",
            Self::Rejected(_) => "rejected",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }
}

/// Why a provider call (`models`, starting a stream, or one of its events) failed. The first five
/// variants are the plugin's own `provider-error`s, about the upstream API; the others are about
/// the plugin or the host. Each names the plugin.
#[derive(Debug, Error)]
pub enum ProviderCallError {
    /// The API could not be reached, or the connection broke mid-stream. Retrying can help.
    #[error("provider `{plugin}`: cannot connect to the API: {message}")]
    Connection { plugin: String, message: String },
    /// The API answered with an error status (or reported one mid-stream). Retrying can help for
    /// 408, 409, 429 and 5xx, after `retry_after` when the API gave it.
    #[error("provider `{plugin}`: the API answered {status}: {body}")]
    Status {
        plugin: String,
        status: u16,
        body: String,
        retry_after: Option<Duration>,
    },
    /// The API answered something the plugin cannot parse. Retrying rarely helps.
    #[error("provider `{plugin}`: unexpected answer from the API: {message}")]
    Protocol { plugin: String, message: String },
    /// The host refused the plugin's request (an authority other than its base URL's).
    #[error("provider `{plugin}`: outgoing request refused: {message}")]
    Denied { plugin: String, message: String },
    /// The request cannot be expressed to this API (e.g. a tool schema that is not JSON).
    /// Retrying the same request will not help.
    #[error("provider `{plugin}`: invalid request: {message}")]
    InvalidRequest { plugin: String, message: String },
    /// The configured base URL is not an `http://` or `https://` URL with a host.
    #[error("provider `{plugin}`: invalid base URL {url:?}: {reason}")]
    InvalidBaseUrl {
        plugin: String,
        url: String,
        reason: String,
    },
    /// The plugin's code ran past its time limit (waiting on the network does not count).
    #[error("provider `{plugin}` was stopped after exceeding its {timeout_ms} ms time limit")]
    Timeout { plugin: String, timeout_ms: u64 },
    /// The plugin needed more memory than it is allowed.
    #[error(
        "provider `{plugin}` ran out of memory: growing to {requested} bytes exceeds its limit of {limit} bytes"
    )]
    OutOfMemory {
        plugin: String,
        requested: usize,
        limit: u64,
    },
    /// The plugin trapped (a bug in the plugin).
    #[error("provider `{plugin}` crashed: {reason}")]
    Trap { plugin: String, reason: String },
    /// No instance could be created for the call.
    #[error("provider `{plugin}` could not start: {reason}")]
    Instantiate { plugin: String, reason: String },
    /// Too many plugin instances are running at once. Retrying later can help.
    #[error("provider `{plugin}` could not start: too many plugin instances are running at once")]
    Busy { plugin: String },
    /// A `next()` was cancelled while the plugin was running, which leaves its instance unusable:
    /// the stream cannot continue.
    #[error("provider `{plugin}`: the stream was interrupted by a cancelled read and cannot continue")]
    Interrupted { plugin: String },
}

impl ProviderCallError {
    /// A short name for the kind of failure, for logs and traces.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Connection { .. } => "connection",
            Self::Status { .. } => "status",
            Self::Protocol { .. } => "protocol",
            Self::Denied { .. } => "denied",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::InvalidBaseUrl { .. } => "invalid_base_url",
            Self::Timeout { .. } => "timeout",
            Self::OutOfMemory { .. } => "out_of_memory",
            Self::Trap { .. } => "trap",
            Self::Instantiate { .. } => "instantiate",
            Self::Busy { .. } => "busy",
            Self::Interrupted { .. } => "interrupted",
        }
    }

    /// Whether sending the same request again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Connection { .. } | Self::Busy { .. } => true,
            Self::Status { status, .. } => matches!(status, 408 | 409 | 429 | 500..=599),
            _ => false,
        }
    }

    /// How long the API asked to wait before retrying, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
