//! The host API capability, `wasmcode:plugin/host`: what a running call can ask of the server.
//! `log` writes a line to the server's log tagged with the plugin; `ask-permission` suspends the
//! call until the [`CallHandler`] answers (a person, or the configured rules), without charging
//! the wait to the guest's time; `progress` updates the running tool part.
//!
//! Every plugin gets it; what is allowed is decided per store by its handler (`describe` and
//! provider calls get one that refuses every ask). It owns the call's identity as the handler sees
//! it ([`CallInfo`]) and the handler; it must not decide permissions itself, nor know about
//! sessions or events: that is the handler's side.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use wasmtime::component::{HasData, Linker};
use wasmtime_wasi::WasiCtxBuilder;

use super::{Capability, SetupError, StoreFor};
use crate::runtime::bindings::tool::wasmcode::plugin::{host, types};
use crate::runtime::meter::GuestMeter;
use crate::runtime::store::StoreState;

/// Who is calling, as the host sees it: the plugin, the tool, and the WIT context.
#[derive(Debug, Clone)]
pub struct CallInfo {
    pub plugin: Arc<str>,
    /// The tool being called; empty for calls that are not tool calls (a provider's).
    pub tool: String,
    pub session_id: String,
    pub message_id: String,
    pub call_id: String,
    pub agent: String,
}

impl CallInfo {
    /// A call with no tool and no session: `describe` at load time, provider calls.
    pub(in crate::runtime) fn plugin_only(plugin: &Arc<str>) -> Self {
        Self {
            plugin: plugin.clone(),
            tool: String::new(),
            session_id: String::new(),
            message_id: String::new(),
            call_id: String::new(),
            agent: String::new(),
        }
    }
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

    /// Directories outside the project that the user allowed this call to use (an
    /// `external_directory` permission granted): a command the call starts may write there too.
    fn allowed_directories(&self, call: &CallInfo) -> Vec<std::path::PathBuf> {
        let _ = call;
        Vec::new()
    }
}

pub struct HostApi;

/// A store's host API: who is calling and who answers.
pub struct HostApiState {
    call: Arc<CallInfo>,
    handler: Arc<dyn CallHandler>,
}

/// What the host functions see of a store.
pub struct HostApiView<'a> {
    state: &'a mut HostApiState,
    meter: &'a mut GuestMeter,
}

impl HasData for HostApi {
    type Data<'a> = HostApiView<'a>;
}

fn view(state: &mut StoreState) -> HostApiView<'_> {
    HostApiView {
        state: &mut state.capabilities.host_api,
        meter: &mut state.meter,
    }
}

impl Capability for HostApi {
    type State = HostApiState;

    fn link(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
        host::add_to_linker::<StoreState, HostApi>(linker, view)
    }

    fn prepare(&self, store: &StoreFor<'_>, _wasi: &mut WasiCtxBuilder) -> Result<HostApiState, SetupError> {
        Ok(HostApiState {
            call: store.call.clone(),
            handler: store.handler.clone(),
        })
    }
}

impl host::Host for HostApiView<'_> {
    async fn log(&mut self, level: types::LogLevel, message: String) {
        let plugin = &*self.state.call.plugin;
        let tool = Some(self.state.call.tool.as_str()).filter(|tool| !tool.is_empty());
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
        let answer = self.state.handler.ask_permission(&self.state.call, ask);
        // Waiting for a person is not guest time: it must not count against the deadline.
        let answer = self.meter.suspended(answer).await;
        answer.map_err(|refusal| match refusal {
            PermissionRefusal::Rejected(feedback) => host::PermissionDenied::Rejected(feedback),
            PermissionRefusal::Denied(rule) => host::PermissionDenied::Denied(rule),
        })
    }

    async fn progress(&mut self, title: String, metadata_json: String) {
        let metadata = serde_json::from_str(&metadata_json).unwrap_or(serde_json::Value::Null);
        self.state.handler.progress(&self.state.call, title, metadata);
    }
}

impl types::Host for HostApiView<'_> {}

/// Refuses every permission: for `describe()` and other calls with nobody to ask.
pub struct RefuseAll;

impl CallHandler for RefuseAll {
    fn ask_permission(
        &self,
        _call: &CallInfo,
        ask: PermissionAsk,
    ) -> BoxFuture<Result<(), PermissionRefusal>> {
        Box::pin(async move {
            Err(PermissionRefusal::Denied(format!(
                "{} is not available here",
                ask.permission
            )))
        })
    }
}

/// The handler of provider calls: providers talk to their API and nothing else, so there is
/// nobody to ask, and no running tool call to show progress on.
pub struct NoAsking;

impl CallHandler for NoAsking {
    fn ask_permission(
        &self,
        call: &CallInfo,
        ask: PermissionAsk,
    ) -> BoxFuture<Result<(), PermissionRefusal>> {
        let message = format!(
            "provider plugins cannot ask for permissions (`{}` asked by `{}`)",
            ask.permission, call.plugin
        );
        Box::pin(async move { Err(PermissionRefusal::Denied(message)) })
    }
}
