//! One tool call: a fresh `Store` from the plugin's `InstancePre`, the grants turned into a WASI
//! context, limits installed, the call run, and whatever went wrong turned into a `CallError`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::tool::wasmcode::plugin::types as wit;
use super::error::{CallError, ToolFailure};
use super::grants::{FsAccess, Grants, HttpPolicy};
use super::host_api::{CallHandler, CallInfo};
use super::limits::{CallLimiter, Limits};
use super::plugin::ToolPlugin;

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
}

/// A successful call's result, as OpenCode's tools return it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    pub title: String,
    pub output: String,
    pub metadata: serde_json::Value,
}

/// Guest time spent so far, excluding the time the call waits in the host (for a permission
/// answer or a child process): that is what the deadline is about.
pub struct GuestClock {
    started: Instant,
    suspended: Duration,
    budget: Duration,
}

impl GuestClock {
    fn new(budget: Duration) -> Self {
        Self {
            started: Instant::now(),
            suspended: Duration::ZERO,
            budget,
        }
    }

    fn exceeded(&self) -> bool {
        self.started.elapsed().saturating_sub(self.suspended) > self.budget
    }

    /// Awaits `future` without charging its duration to the guest.
    pub async fn suspended<T>(&mut self, future: impl Future<Output = T>) -> T {
        let start = Instant::now();
        let out = future.await;
        self.suspended += start.elapsed();
        out
    }
}

/// The data of a call's `Store`.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    http_policy: HttpPolicy,
    limiter: CallLimiter,
    pub(super) clock: GuestClock,
    pub(super) call: CallInfo,
    pub(super) grants: Grants,
    pub(super) project_root: PathBuf,
    pub(super) handler: Arc<dyn CallHandler>,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_policy,
        }
    }
}

/// The WASI context a plugin gets: the project root per its filesystem grant and nothing else
/// (no environment, arguments, stdio, sockets or name lookup).
fn wasi_context(grants: &Grants, project_root: &std::path::Path) -> wasmtime::Result<WasiCtx> {
    let mut builder = WasiCtxBuilder::new();
    // Filesystem calls are small and local: doing them inline is ~15x cheaper than a
    // spawn_blocking hop per syscall.
    builder.allow_blocking_current_thread(true);
    builder
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    match grants.filesystem {
        FsAccess::None => {}
        FsAccess::Read => {
            builder.preopened_dir(project_root, ".", FsPerms::ReadOnly)?;
        }
        FsAccess::ReadWrite => {
            builder.preopened_dir(project_root, ".", FsPerms::ReadWrite)?;
        }
    }
    Ok(builder.build())
}

/// Who a store is for: enough to build its WASI context and limits.
pub(super) struct StoreSpec<'a> {
    pub name: &'a Arc<str>,
    pub grants: &'a Grants,
    pub limits: Limits,
}

pub(super) fn new_store(
    engine: &wasmtime::Engine,
    plugin: StoreSpec<'_>,
    call: &ToolCall,
    handler: Arc<dyn CallHandler>,
) -> Result<Store<CallState>, CallError> {
    let info = CallInfo {
        plugin: plugin.name.clone(),
        tool: call.tool.clone(),
        session_id: call.session_id.clone(),
        message_id: call.message_id.clone(),
        call_id: call.call_id.clone(),
        agent: call.agent.clone(),
    };
    let wasi = wasi_context(plugin.grants, &call.project_root).map_err(|e| CallError::Setup {
        plugin: plugin.name.to_string(),
        tool: call.tool.clone(),
        reason: format!(
            "cannot open the project directory {}: {e}",
            call.project_root.display()
        ),
    })?;
    let state = CallState {
        wasi,
        table: ResourceTable::new(),
        http: WasiHttpCtx::new(),
        http_policy: HttpPolicy::new(plugin.name.clone(), plugin.grants.http.clone()),
        limiter: CallLimiter::new(plugin.limits),
        clock: GuestClock::new(plugin.limits.timeout()),
        call: info,
        grants: plugin.grants.clone(),
        project_root: call.project_root.clone(),
        handler,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    // The epoch ticks every `EPOCH_TICK`; at each tick the guest yields to the executor (so a
    // cancelled call is dropped promptly) or stops once its time is up.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|ctx| {
        if ctx.data().clock.exceeded() {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
    Ok(store)
}

/// Runs one call in a fresh instance.
pub(super) async fn run(
    engine: &wasmtime::Engine,
    plugin: &ToolPlugin,
    call: ToolCall,
    handler: Arc<dyn CallHandler>,
) -> Result<ToolOutput, CallError> {
    let spec = StoreSpec {
        name: &plugin.name,
        grants: &plugin.grants,
        limits: plugin.limits,
    };
    let mut store = new_store(engine, spec, &call, handler)?;
    let instance = match plugin.pre.instantiate_async(&mut store).await {
        Ok(instance) => instance,
        Err(e) => return Err(instantiate_error(plugin, &call.tool, plugin.limits, &store, e)),
    };
    let ctx = wit::ToolContext {
        session_id: call.session_id.clone(),
        message_id: call.message_id.clone(),
        call_id: call.call_id.clone(),
        agent: call.agent.clone(),
        directory: call.project_root.to_string_lossy().into_owned(),
    };
    let result = instance
        .wasmcode_plugin_tool()
        .call_execute(&mut store, &call.tool, &call.args_json, &ctx)
        .await;
    match result {
        Ok(Ok(output)) => Ok(ToolOutput {
            title: output.title,
            output: output.output,
            metadata: serde_json::from_str(&output.metadata_json).unwrap_or_else(|_| serde_json::json!({})),
        }),
        Ok(Err(error)) => Err(tool_error(plugin, &call.tool, error)),
        Err(trap) => Err(trap_error(plugin, &call.tool, plugin.limits, &store, trap)),
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

/// How guest code failed to return, whoever called it: a deadline interrupt, an allocation
/// failure after a refused `memory.grow`, a full instance pool, or a plain guest crash.
pub(super) enum GuestFault {
    Timeout,
    OutOfMemory { requested: usize },
    Busy,
    Trap(String),
}

pub(super) fn classify(error: &wasmtime::Error, refused_memory: Option<usize>) -> GuestFault {
    if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
        return GuestFault::Timeout;
    }
    if let Some(requested) = refused_memory {
        return GuestFault::OutOfMemory { requested };
    }
    if error
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        return GuestFault::Busy;
    }
    GuestFault::Trap(trap_reason(error))
}

fn trap_error(
    plugin: &ToolPlugin,
    tool: &str,
    limits: Limits,
    store: &Store<CallState>,
    error: wasmtime::Error,
) -> CallError {
    let plugin = plugin.name.to_string();
    let tool = tool.to_string();
    match classify(&error, store.data().limiter.refused_memory) {
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
    limits: Limits,
    store: &Store<CallState>,
    error: wasmtime::Error,
) -> CallError {
    match trap_error(plugin, tool, limits, store, error) {
        CallError::Trap { plugin, tool, reason } => CallError::Instantiate { plugin, tool, reason },
        other => other,
    }
}

/// The trap's message plus the first frames of the guest backtrace, without the noise of the
/// full chain.
pub fn trap_reason(error: &wasmtime::Error) -> String {
    match error.downcast_ref::<Trap>() {
        Some(trap) => {
            let frames = error
                .downcast_ref::<wasmtime::WasmBacktrace>()
                .map(|bt| {
                    bt.frames()
                        .iter()
                        .filter_map(|f| f.func_name())
                        .take(3)
                        .collect::<Vec<_>>()
                        .join(" <- ")
                })
                .unwrap_or_default();
            if frames.is_empty() {
                trap.to_string()
            } else {
                format!("{trap} (in {frames})")
            }
        }
        None => format!("{error:#}"),
    }
}
