//! The host side of the plugin contract: what a running call can ask of the server (`log`,
//! `ask-permission`, `progress`, `process.run`), each checked against the call's grants.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::bindings::tool::wasmcode::plugin::{host, process, types};
use super::call::CallState;

/// Who is calling, as the host sees it: the plugin, the tool, and the WIT context.
#[derive(Debug, Clone)]
pub struct CallInfo {
    pub plugin: Arc<str>,
    pub tool: String,
    pub session_id: String,
    pub message_id: String,
    pub call_id: String,
    pub agent: String,
}

/// A permission ask coming from a tool.
#[derive(Debug, Clone, PartialEq)]
pub struct PermissionAsk {
    pub permission: String,
    pub patterns: Vec<String>,
    pub always: Vec<String>,
    pub metadata: serde_json::Value,
}

/// A refused permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionRefusal {
    /// The user said no, with optional feedback for the model.
    Rejected(Option<String>),
    /// A rule denies it; carries a description of the rule.
    Denied(String),
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What the server provides to running tool calls: the answer to permission asks and a place
/// for progress updates. The session layer implements it with events and user replies; the
/// plugin CLI and tests with a fixed policy.
pub trait CallHandler: Send + Sync + 'static {
    fn ask_permission(&self, call: &CallInfo, ask: PermissionAsk)
    -> BoxFuture<Result<(), PermissionRefusal>>;

    fn progress(&self, call: &CallInfo, title: String, metadata: serde_json::Value) {
        let _ = (call, title, metadata);
    }
}

impl host::Host for CallState {
    async fn log(&mut self, level: types::LogLevel, message: String) {
        let plugin = &*self.call.plugin;
        let tool = &self.call.tool;
        match level {
            types::LogLevel::Trace => tracing::trace!(plugin, tool, "{message}"),
            types::LogLevel::Debug => tracing::debug!(plugin, tool, "{message}"),
            types::LogLevel::Info => tracing::info!(plugin, tool, "{message}"),
            types::LogLevel::Warn => tracing::warn!(plugin, tool, "{message}"),
            types::LogLevel::Error => tracing::error!(plugin, tool, "{message}"),
        }
    }

    async fn ask_permission(
        &mut self,
        request: host::PermissionRequest,
    ) -> Result<(), host::PermissionDenied> {
        let metadata = serde_json::from_str(&request.metadata_json).unwrap_or(serde_json::Value::Null);
        let ask = PermissionAsk {
            permission: request.permission,
            patterns: request.patterns,
            always: request.always,
            metadata,
        };
        let answer = self.handler.ask_permission(&self.call, ask);
        // Waiting for a person is not guest time: it must not count against the deadline.
        let answer = self.clock.suspended(answer).await;
        answer.map_err(|refusal| match refusal {
            PermissionRefusal::Rejected(feedback) => host::PermissionDenied::Rejected(feedback),
            PermissionRefusal::Denied(rule) => host::PermissionDenied::Denied(rule),
        })
    }

    async fn progress(&mut self, title: String, metadata_json: String) {
        let metadata = serde_json::from_str(&metadata_json).unwrap_or(serde_json::Value::Null);
        self.handler.progress(&self.call, title, metadata);
    }
}

impl process::Host for CallState {
    async fn run(
        &mut self,
        request: process::RunRequest,
    ) -> Result<process::RunOutput, process::ProcessError> {
        if !self.grants.process {
            return Err(process::ProcessError::Denied(format!(
                "plugin `{}` was not granted the `process` capability (grant it with \
                 \"process\": true under wasmcode.plugins.{}.grants in opencode.json)",
                self.call.plugin, self.call.plugin
            )));
        }
        let cwd = super::process::resolve_workdir(&self.project_root, &request.workdir)?;
        tracing::debug!(plugin = %self.call.plugin, command = %request.command, "process.run");
        let run = super::process::run(cwd, request);
        self.clock.suspended(run).await
    }
}

impl types::Host for CallState {}
