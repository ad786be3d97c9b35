//! One tool call: a fresh store for the plugin's grants and limits, an instance from its
//! `InstancePre`, the call run inside its tracing span, and whatever went wrong turned into a
//! [`CallError`].

use std::path::PathBuf;
use std::sync::Arc;

use tracing::Instrument;
use wasmtime::Store;

use super::bindings::tool::wasmcode::plugin::types as wit;
use super::capability::host_api::{CallHandler, CallInfo};
use super::error::{CallError, ToolFailure};
use super::fault::{GuestFault, classify};
use super::meter::Metering;
use super::plugin::ToolPlugin;
use super::span::CallSpan;
use super::store::{StoreSpec, StoreState, Stores};
use crate::sandbox::Sandbox;

/// A request to run one tool.
#[derive(Debug, Clone)]
pub struct ToolCall {
    pub tool: String,
    pub args_json: String,
    pub session_id: String,
    pub message_id: String,
    pub call_id: String,
    pub agent: String,
    /// The project root on the host: preopened as `.` inside the component.
    pub project_root: PathBuf,
    /// How commands the call starts are confined.
    pub sandbox: Arc<Sandbox>,
}

/// The metadata key in which a tool lists the files it changed (absolute or project-relative
/// paths). The host formats them, records them, and takes the key out of the metadata it stores.
pub const CHANGED_FILES: &str = "changedFiles";

/// A successful call's result, as OpenCode's tools return it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    pub title: String,
    pub output: String,
    pub metadata: serde_json::Value,
}

/// Runs one call in a fresh instance, inside its tracing span.
pub(super) async fn run(
    stores: &Stores,
    plugin: &ToolPlugin,
    call: ToolCall,
    handler: Arc<dyn CallHandler>,
) -> Result<ToolOutput, CallError> {
    let span = CallSpan::tool(&plugin.name, &call.tool);
    let result = execute(stores, plugin, call, handler)
        .instrument(span.span().clone())
        .await;
    span.finish(&result, CallError::kind);
    result
}

async fn execute(
    stores: &Stores,
    plugin: &ToolPlugin,
    call: ToolCall,
    handler: Arc<dyn CallHandler>,
) -> Result<ToolOutput, CallError> {
    let ToolCall {
        tool,
        args_json,
        session_id,
        message_id,
        call_id,
        agent,
        project_root,
        sandbox,
    } = call;
    let ctx = wit::ToolContext {
        session_id,
        message_id,
        call_id,
        agent,
        directory: project_root.to_string_lossy().into_owned(),
    };
    let info = Arc::new(CallInfo {
        plugin: plugin.name.clone(),
        tool,
        session_id: ctx.session_id.clone(),
        message_id: ctx.message_id.clone(),
        call_id: ctx.call_id.clone(),
        agent: ctx.agent.clone(),
    });
    let spec = StoreSpec {
        plugin: &plugin.name,
        grants: &plugin.grants,
        limits: plugin.limits,
        metering: Metering::WallClock,
        project_root: Some(&project_root),
        sandbox: Some(&sandbox),
        caller: Some((&info, &handler)),
    };
    let tool = info.tool.as_str();
    let mut store = stores.new_store(spec).map_err(|e| CallError::Setup {
        plugin: plugin.name.to_string(),
        tool: tool.to_string(),
        reason: e.0,
    })?;
    let instance = match plugin.pre.instantiate_async(&mut store).await {
        Ok(instance) => instance,
        Err(e) => return Err(instantiate_error(plugin, tool, &store, e)),
    };
    let result = instance
        .wasmcode_plugin_tool()
        .call_execute(&mut store, tool, &args_json, &ctx)
        .await;
    match result {
        Ok(Ok(output)) => Ok(ToolOutput {
            title: output.title,
            output: output.output,
            metadata: serde_json::from_str(&output.metadata_json).unwrap_or_else(|_| serde_json::json!({})),
        }),
        Ok(Err(error)) => Err(tool_error(plugin, tool, error)),
        Err(trap) => Err(trap_error(plugin, tool, &store, trap)),
    }
}

fn tool_error(plugin: &ToolPlugin, tool: &str, error: wit::ToolError) -> CallError {
    let (kind, message) = match error {
        wit::ToolError::UnknownTool(id) => (ToolFailure::UnknownTool, format!("unknown tool `{id}`")),
        wit::ToolError::InvalidArgs(m) => (ToolFailure::InvalidArgs, m),
        wit::ToolError::Rejected(feedback) => {
            let message = match &feedback {
                Some(feedback) => format!(
                    "The user rejected permission to use this specific tool call with the following feedback: {feedback}"
                ),
                None => "The user rejected permission to use this specific tool call.".to_string(),
            };
            (ToolFailure::Rejected(feedback), message)
        }
        wit::ToolError::Denied(rule) => (ToolFailure::Denied, rule),
        wit::ToolError::Failed(m) => (ToolFailure::Failed, m),
    };
    CallError::Tool {
        plugin: plugin.name.to_string(),
        tool: tool.to_string(),
        kind,
        message,
    }
}

fn trap_error(
    plugin: &ToolPlugin,
    tool: &str,
    store: &Store<StoreState>,
    error: wasmtime::Error,
) -> CallError {
    let limits = plugin.limits;
    let plugin = plugin.name.to_string();
    let tool = tool.to_string();
    match classify(&error, store.data()) {
        GuestFault::Timeout => CallError::Timeout {
            plugin,
            tool,
            timeout_ms: limits.timeout_ms,
        },
        GuestFault::OutOfMemory { requested } => CallError::OutOfMemory {
            plugin,
            tool,
            requested,
            limit: limits.memory_bytes,
        },
        GuestFault::Busy => CallError::Busy { plugin, tool },
        GuestFault::Trap(reason) => CallError::Trap { plugin, tool, reason },
    }
}

fn instantiate_error(
    plugin: &ToolPlugin,
    tool: &str,
    store: &Store<StoreState>,
    error: wasmtime::Error,
) -> CallError {
    match trap_error(plugin, tool, store, error) {
        CallError::Trap { plugin, tool, reason } => CallError::Instantiate { plugin, tool, reason },
        other => other,
    }
}
