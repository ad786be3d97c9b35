//! Tool execution: a tool call of the model runs as its plugin's component, with the session as
//! its link to the user. A permission the rules leave to the user becomes a request the user
//! answers; progress updates the running part. The tool reports the files it changed in its
//! output's metadata (`changedFiles`), which the host takes out and records.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use super::assembly::Assembly;
use super::step::{Step, session_rules};
use crate::bus::Bus;
use crate::mcp::McpServers;
use crate::permission::{EXTERNAL_DIRECTORY, Ruleset, directory_of};
use crate::protocol::Event;
use crate::protocol::event::FileEdited;
use crate::protocol::id::SessionId;
use crate::protocol::now_ms;
use crate::protocol::permission::ToolRef;
use crate::protocol::session::{Part, PartBody, RunningTime, SpanTime, ToolState};
use crate::runtime::{
    BoxFuture, CHANGED_FILES, CallError, CallHandler, CallInfo, PermissionAsk, PermissionRefusal, ToolCall,
    ToolFailure, ToolOutput,
};
use crate::session::error::SessionError;
use crate::session::input::Asks;
use crate::session::journal::{Changes, Journal};
use crate::session::permission::Broker;
use crate::session::turns::Turns;

/// How a tool call ended for the loop.
pub enum ToolEnd {
    /// Done (successfully or not), having changed these files.
    Done(Vec<String>),
    /// The user refused without feedback: OpenCode stops the loop there.
    StopLoop,
    Aborted,
}

impl Step<'_> {
    /// Runs the tool part at `index`: `running` (committed with everything pending in
    /// `changes` before the call starts), then `completed` or `error` (left in `changes`).
    pub(super) async fn run_tool(
        &self,
        assembly: &mut Assembly,
        index: usize,
        changes: &mut Changes,
    ) -> Result<ToolEnd, SessionError> {
        let (call_id, tool, raw) = match &assembly.parts[index].body {
            PartBody::Tool {
                call_id,
                tool,
                state: ToolState::Pending { raw, .. },
            } => (call_id.clone(), tool.clone(), raw.clone()),
            _ => return Ok(ToolEnd::Done(Vec::new())),
        };
        let start = now_ms();
        let input: Value = match serde_json::from_str(if raw.trim().is_empty() { "{}" } else { &raw }) {
            Ok(input) => input,
            Err(e) => {
                let error = format!("The arguments for tool `{tool}` are not valid JSON ({e}): {raw}");
                assembly.set_tool_state(
                    changes,
                    index,
                    ToolState::Error {
                        input: Value::Object(Default::default()),
                        error,
                        metadata: None,
                        time: SpanTime { start, end: now_ms() },
                    },
                );
                return Ok(ToolEnd::Done(Vec::new()));
            }
        };
        // A tool the model was not offered is answered by `invalid`, as in OpenCode: the part
        // becomes that call, and the model reads why.
        let (tool, input) = self.offered_call(tool, input);
        if let PartBody::Tool { tool: named, .. } = &mut assembly.parts[index].body {
            named.clone_from(&tool);
        }
        assembly.set_tool_state(
            changes,
            index,
            ToolState::Running {
                input: input.clone(),
                title: None,
                metadata: None,
                time: RunningTime { start },
            },
        );
        self.commit(std::mem::take(changes))?;
        let handler = Arc::new(SessionCalls {
            journal: self.engine.journal().clone(),
            broker: self.engine.broker().clone(),
            turns: self.engine.turns_handle(),
            bus: self.instance.bus.clone(),
            rules: session_rules(self.agent, &self.session),
            session_id: self.session.id.clone(),
            part: Mutex::new(assembly.parts[index].clone()),
            allowed_now: Arc::default(),
        });
        let call = ToolCall {
            tool: tool.clone(),
            args_json: input.to_string(),
            session_id: self.session.id.to_string(),
            message_id: assembly.info.id.to_string(),
            call_id: call_id.clone(),
            agent: self.agent.name.clone(),
            project_root: self.instance.directory.clone(),
            sandbox: self.instance.sandbox.clone(),
        };
        // The tools of this moment: a reload while the call runs leaves it on its plugin. A name
        // no plugin has may be an MCP server's tool.
        let tools = self.instance.tools.current().await;
        let result = if tools.plugin_for(&tool).is_none() && self.instance.mcp.has_tool(&tool).await {
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Ok(ToolEnd::Aborted),
                result = call_mcp_tool(&self.instance.mcp, handler.as_ref(), &call, input.clone()) => result,
            }
        } else {
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Ok(ToolEnd::Aborted),
                result = tools.call(self.engine.runtime(), call, handler.clone()) => result,
            }
        };
        // Progress updates may have changed the part (title, metadata) while it ran.
        assembly.parts[index] = handler
            .part
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // Files the call changed are formatted as part of it, as OpenCode's tools do.
        let result = match result {
            Ok(mut output) => {
                self.instance
                    .format_changed_files(self.engine.runtime(), &mut output.metadata)
                    .await;
                Ok(output)
            }
            Err(error) => Err(error),
        };
        let time = SpanTime { start, end: now_ms() };
        let (state, end) = match result {
            Ok(output) => {
                let mut metadata = output.metadata;
                let files = take_changed_files(&mut metadata);
                for file in &files {
                    changes.event(Event::FileEdited(FileEdited { file: file.clone() }));
                }
                (
                    ToolState::Completed {
                        input,
                        output: output.output,
                        metadata,
                        title: output.title,
                        time,
                    },
                    ToolEnd::Done(files),
                )
            }
            Err(error) => {
                let (message, end) = tool_error_text(&error);
                (
                    ToolState::Error {
                        input,
                        error: message,
                        metadata: None,
                        time,
                    },
                    end,
                )
            }
        };
        assembly.set_tool_state(changes, index, state);
        Ok(end)
    }
}

impl Step<'_> {
    /// The call to run for the model's call of `tool`: itself when the tool was offered; the
    /// offered tool of that name in other case (a model's slip); else `invalid`, told the tool
    /// the model named and the ones it has.
    fn offered_call(&self, tool: String, input: Value) -> (String, Value) {
        if self.tools.iter().any(|t| t.name == tool) {
            return (tool, input);
        }
        if let Some(offered) = self.tools.iter().find(|t| t.name.eq_ignore_ascii_case(&tool)) {
            return (offered.name.clone(), input);
        }
        let available: Vec<&str> = self.tools.iter().map(|t| t.name.as_str()).collect();
        let error = format!(
            "Model tried to call unavailable tool '{tool}'. Available tools: {}.",
            available.join(", ")
        );
        (
            INVALID.to_string(),
            serde_json::json!({ "tool": tool, "error": error }),
        )
    }
}

/// The tool that answers calls of tools the model does not have.
const INVALID: &str = "invalid";

/// Runs an MCP server's tool: asked for like any tool (the permission is the tool's name), then
/// called on its server.
async fn call_mcp_tool(
    servers: &McpServers,
    handler: &dyn CallHandler,
    call: &ToolCall,
    input: Value,
) -> Result<ToolOutput, CallError> {
    let failure = |kind: ToolFailure, message: String| CallError::Tool {
        plugin: "mcp".into(),
        tool: call.tool.clone(),
        kind,
        message,
    };
    let info = CallInfo {
        plugin: Arc::from("mcp"),
        tool: call.tool.clone(),
        session_id: call.session_id.clone(),
        message_id: call.message_id.clone(),
        call_id: call.call_id.clone(),
        agent: call.agent.clone(),
    };
    let ask = PermissionAsk {
        permission: call.tool.clone(),
        patterns: vec!["*".into()],
        always: vec!["*".into()],
        metadata: Value::Object(Default::default()),
    };
    match handler.ask_permission(&info, ask).await {
        Ok(()) => {}
        Err(PermissionRefusal::Rejected(feedback)) => {
            let message = "The user rejected this call".to_string();
            return Err(failure(ToolFailure::Rejected(feedback), message));
        }
        Err(PermissionRefusal::Denied(rule)) => return Err(failure(ToolFailure::Denied, rule)),
    }
    match servers.call(&call.tool, input).await {
        Ok((output, truncated)) => Ok(ToolOutput {
            title: String::new(),
            output,
            metadata: serde_json::json!({ "truncated": truncated }),
        }),
        Err(message) => Err(failure(ToolFailure::Failed, message)),
    }
}

/// The files a tool's metadata names under [`CHANGED_FILES`], taken out of it.
fn take_changed_files(metadata: &mut Value) -> Vec<String> {
    let Some(listed) = metadata.as_object_mut().and_then(|m| m.remove(CHANGED_FILES)) else {
        return Vec::new();
    };
    match listed {
        Value::Array(files) => files
            .into_iter()
            .filter_map(|f| f.as_str().map(String::from))
            .collect(),
        Value::String(file) => vec![file],
        _ => Vec::new(),
    }
}

/// What the model is told when a tool fails, and whether the loop goes on.
fn tool_error_text(error: &CallError) -> (String, ToolEnd) {
    match error {
        CallError::Tool {
            kind: ToolFailure::Rejected(Some(feedback)),
            ..
        } => (
            format!(
                "The user rejected permission to use this specific tool call with the following feedback: \
                 {feedback}"
            ),
            ToolEnd::Done(Vec::new()),
        ),
        CallError::Tool {
            kind: ToolFailure::Rejected(None),
            ..
        } => (
            "The user rejected permission to use this specific tool call.".into(),
            ToolEnd::StopLoop,
        ),
        other => (other.to_string(), ToolEnd::Done(Vec::new())),
    }
}

/// A tool call's link to its session: permission asks become requests the user answers,
/// progress updates the running part.
struct SessionCalls {
    journal: Journal,
    broker: Broker,
    /// Asked at each permission ask: a `/v1` prompt joining the turn makes it refuse asks.
    turns: Arc<Turns>,
    bus: Bus,
    rules: Ruleset,
    session_id: SessionId,
    part: Mutex<Part>,
    /// The directories outside the project the user allowed during this call (asked once).
    allowed_now: Arc<Mutex<Vec<PathBuf>>>,
}

impl CallHandler for SessionCalls {
    fn ask_permission(
        &self,
        call: &CallInfo,
        ask: PermissionAsk,
    ) -> BoxFuture<Result<(), PermissionRefusal>> {
        let broker = self.broker.clone();
        let bus = self.bus.clone();
        let rules = self.rules.clone();
        let session_id = self.session_id.clone();
        let tool = crate::protocol::MessageId::parse(&call.message_id)
            .ok()
            .map(|message_id| ToolRef {
                message_id,
                call_id: call.call_id.clone(),
            });
        let interactive = self.turns.asks(&self.session_id) == Asks::Interactive;
        let allowed_now = self.allowed_now.clone();
        Box::pin(async move {
            let directories: Vec<PathBuf> = if ask.permission == EXTERNAL_DIRECTORY {
                ask.patterns.iter().filter_map(|p| directory_of(p)).collect()
            } else {
                Vec::new()
            };
            broker
                .ask(&bus, &rules, &session_id, tool, ask, interactive)
                .await?;
            allowed_now
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(directories);
            Ok(())
        })
    }

    /// What the configuration and the agent allow, what the session approved with "always",
    /// and what the user allowed during this call.
    fn allowed_directories(&self, _call: &CallInfo) -> Vec<PathBuf> {
        let mut rules = self.rules.clone();
        rules.extend(self.broker.approved(&self.session_id));
        let mut directories = rules.allowed_directories();
        for directory in self
            .allowed_now
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            if !directories.contains(directory) {
                directories.push(directory.clone());
            }
        }
        directories
    }

    fn progress(&self, _call: &CallInfo, title: String, metadata: Value) {
        let mut part = self.part.lock().unwrap_or_else(PoisonError::into_inner);
        if let PartBody::Tool {
            state:
                ToolState::Running {
                    title: shown_title,
                    metadata: shown_metadata,
                    ..
                },
            ..
        } = &mut part.body
        {
            *shown_title = Some(title);
            *shown_metadata = Some(metadata);
        }
        let mut changes = Changes::new();
        changes.part(&part);
        if let Err(e) = self.journal.commit(&self.bus, changes) {
            tracing::warn!(part = %part.id, "could not store a tool's progress: {e}");
        }
    }
}
