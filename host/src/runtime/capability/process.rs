//! The process capability, `wasmcode:plugin/process`: `run` starts a shell command in the
//! project (a directory inside it, resolved through cap-std), with a timeout, an output cap, and
//! the whole process group killed when it times out or when the call is cancelled.
//!
//! Only plugins granted `process` may use it; for the others `run` returns the typed
//! `process-error.denied`, naming the grant that is missing. The time a command runs is not the
//! guest's: it is awaited outside the guest-time meter. It owns the grant and the project root of
//! one store; it must not run anything for a plugin without the grant, nor outside the project.

mod run;

use std::path::PathBuf;
use std::sync::Arc;

use wasmtime::component::{HasData, Linker};
use wasmtime_wasi::WasiCtxBuilder;

use super::{Capability, SetupError, StoreFor};
use crate::runtime::bindings::tool::wasmcode::plugin::process::{
    self as wit, ProcessError, RunOutput, RunRequest,
};
use crate::runtime::meter::GuestMeter;
use crate::runtime::store::StoreState;

pub struct Process;

/// A store's process capability.
pub struct ProcessState {
    plugin: Arc<str>,
    /// The project root, when the plugin was granted `process` and the call runs in a project.
    granted_root: Option<PathBuf>,
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
        let granted_root = match (store.grants.process, store.project_root) {
            (true, Some(root)) => Some(root.to_path_buf()),
            _ => None,
        };
        Ok(ProcessState {
            plugin: store.plugin.clone(),
            granted_root,
        })
    }
}

impl wit::Host for ProcessView<'_> {
    async fn run(&mut self, request: RunRequest) -> Result<RunOutput, ProcessError> {
        let plugin = &self.state.plugin;
        let Some(root) = &self.state.granted_root else {
            return Err(ProcessError::Denied(format!(
                "plugin `{plugin}` was not granted the `process` capability (grant it with \
                 \"process\": true under wasmcode.plugins.{plugin}.grants in opencode.json)"
            )));
        };
        let cwd = run::resolve_workdir(root, &request.workdir)?;
        tracing::debug!(plugin = %plugin, command = %request.command, "process.run");
        // The command's time is not the guest's.
        self.meter.suspended(run::run(cwd, request)).await
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
/// plugin's, so no grant is asked), as `run` runs a plugin's: the process group is killed on
/// timeout or when the future is dropped.
pub async fn run_user_command(
    cwd: PathBuf,
    command: &str,
    timeout: std::time::Duration,
    output_limit: u32,
) -> Result<CommandOutput, String> {
    let request = RunRequest {
        command: command.to_string(),
        workdir: String::new(),
        timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
        output_limit,
    };
    let output = run::run(cwd, request).await.map_err(|e| match e {
        ProcessError::Denied(m) | ProcessError::InvalidWorkdir(m) | ProcessError::SpawnFailed(m) => m,
    })?;
    Ok(CommandOutput {
        output: output.output,
        exit_code: output.exit_code,
        truncated: output.truncated,
        timed_out: output.timed_out,
    })
}
