//! Errors of the plugin runtime, typed so callers can tell a guest's own failure from a broken
//! plugin, a limit, or a problem of the host.

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
