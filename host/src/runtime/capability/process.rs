//! The process capability, `wasmcode:plugin/process`: `run` starts a shell command in the
//! project (a directory inside it, resolved through cap-std), with a timeout, an output cap, and
//! the whole process group killed when it times out or when the call is cancelled.
//!
//! Only plugins granted `process` may use it; for the others `run` returns the typed
//! `process-error.denied`, naming the grant that is missing. Every command starts confined by
//! the project's [`Sandbox`] (plus the directories the user allowed the call to use), or is
//! refused when the sandbox is required and the kernel cannot confine. The time a command runs is not the
//! guest's: it is awaited outside the guest-time meter. It owns the grant and the project root of
//! one store; it must not run anything for a plugin without the grant, nor outside the project.

mod run;

use std::path::PathBuf;
use std::sync::Arc;

use wasmtime::component::{HasData, Linker};
use wasmtime_wasi::WasiCtxBuilder;

use super::host_api::{CallHandler, CallInfo};
use super::{Capability, SetupError, StoreFor};
use crate::runtime::bindings::tool::wasmcode::plugin::process::{
    self as wit, ProcessError, RunOutput, RunRequest,
};
use crate::runtime::meter::GuestMeter;
use crate::runtime::store::StoreState;
use crate::sandbox::{Launch, Sandbox, SandboxError};

pub struct Process;

/// A store's process capability.
pub struct ProcessState {
    call: Arc<CallInfo>,
    handler: Arc<dyn CallHandler>,
    /// The project root and its sandbox, when the plugin was granted `process` and the call runs
    /// in a project.
    granted: Option<(PathBuf, Arc<Sandbox>)>,
}

/// What `run` sees of a store.
pub struct ProcessView<'a> {
    state: &'a mut ProcessState,
    meter: &'a mut GuestMeter,
}

impl HasData for Process {
    type Data<'a> = ProcessView<'a>;
}

fn view(state: &mut StoreState) -> ProcessView<'_> {
    ProcessView {
        state: &mut state.capabilities.process,
        meter: &mut state.meter,
    }
}

impl Capability for Process {
    type State = ProcessState;

    fn link(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
        wit::add_to_linker::<StoreState, Process>(linker, view)
    }

    fn prepare(&self, store: &StoreFor<'_>, _wasi: &mut WasiCtxBuilder) -> Result<ProcessState, SetupError> {
        let granted = match (store.grants.process, store.project_root, store.sandbox) {
            (true, Some(root), Some(sandbox)) => Some((root.to_path_buf(), sandbox.clone())),
            _ => None,
        };
        Ok(ProcessState {
            call: store.call.clone(),
            handler: store.handler.clone(),
            granted,
        })
    }
}

impl wit::Host for ProcessView<'_> {
    async fn run(&mut self, request: RunRequest) -> Result<RunOutput, ProcessError> {
        let plugin = &self.state.call.plugin;
        let Some((root, sandbox)) = &self.state.granted else {
            return Err(ProcessError::Denied(format!(
                "plugin `{plugin}` was not granted the `process` capability (grant it with \
                 \"process\": true under wasmcode.plugins.{plugin}.grants in opencode.json)"
            )));
        };
        let cwd = run::resolve_workdir(root, &request.workdir)?;
        let allowed = self.state.handler.allowed_directories(&self.state.call);
        let launch = sandbox.launch(&allowed).map_err(|e| match e {
            SandboxError::Unavailable(_) => ProcessError::Denied(e.to_string()),
            SandboxError::Setup(_) => ProcessError::SpawnFailed(e.to_string()),
        })?;
        tracing::debug!(plugin = %plugin, command = %request.command, "process.run");
        // The command's time is not the guest's.
        self.meter.suspended(run::run(cwd, request, launch)).await
    }
}

/// What a command run with [`run_user_command`] printed, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// Standard output and error, interleaved, cut at the output limit.
    pub output: String,
    pub exit_code: Option<i32>,
    /// The output went past the limit and was cut.
    pub truncated: bool,
    pub timed_out: bool,
}

/// Runs `command` with `bash -c` in `cwd` for the user (`/shell`: the user's own command, not a
/// plugin's, so no grant is asked), as `run` runs a plugin's, started as `launch` says: the
/// process group is killed on timeout or when the future is dropped.
pub async fn run_user_command(
    cwd: PathBuf,
    command: &str,
    timeout: std::time::Duration,
    output_limit: u32,
    launch: Launch,
) -> Result<CommandOutput, String> {
    let request = RunRequest {
        command: command.to_string(),
        workdir: String::new(),
        timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
        output_limit,
    };
    let output = run::run(cwd, request, launch).await.map_err(|e| match e {
        ProcessError::Denied(m) | ProcessError::InvalidWorkdir(m) | ProcessError::SpawnFailed(m) => m,
    })?;
    Ok(CommandOutput {
        output: output.output,
        exit_code: output.exit_code,
        truncated: output.truncated,
        timed_out: output.timed_out,
    })
}
