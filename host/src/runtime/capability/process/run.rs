//! Running one shell command for the process capability: `bash -c` in a directory of the
//! project, with a timeout, an output cap, and the whole process group killed when the call times
//! out or is cancelled.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use crate::runtime::bindings::tool::wasmcode::plugin::process::{ProcessError, RunOutput, RunRequest};
use crate::sandbox::Launch;

/// How long to keep reading output after the shell exits: background jobs it left behind may
/// still hold the pipes open, and waiting for them would hang the call.
const DRAIN_GRACE: Duration = Duration::from_millis(200);

/// Resolves `workdir` inside `root` through cap-std (no `..`, absolute path or symlink can leave
/// the root) and returns the host path to run in.
pub fn resolve_workdir(root: &Path, workdir: &str) -> Result<PathBuf, ProcessError> {
    let dir = cap_std::fs::Dir::open_ambient_dir(root, cap_std::ambient_authority())
        .map_err(|e| ProcessError::InvalidWorkdir(format!("cannot open the project directory: {e}")))?;
    let workdir = if workdir.is_empty() { "." } else { workdir };
    let relative = dir
        .canonicalize(workdir)
        .map_err(|e| ProcessError::InvalidWorkdir(format!("{workdir}: {e}")))?;
    let meta = dir
        .metadata(&relative)
        .map_err(|e| ProcessError::InvalidWorkdir(format!("{workdir}: {e}")))?;
    if !meta.is_dir() {
        return Err(ProcessError::InvalidWorkdir(format!(
            "{workdir} is not a directory"
        )));
    }
    Ok(root.join(relative))
}

/// Kills a process group when dropped, unless it was disarmed after the group was reaped.
struct GroupGuard {
    pgid: Option<rustix::process::Pid>,
}

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // The group may already be gone; there is nothing to do about an error here.
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

pub async fn run(cwd: PathBuf, request: RunRequest, launch: Launch) -> Result<RunOutput, ProcessError> {
    let mut command = Command::new("bash");
    launch.apply(command.as_std_mut(), "a command");
    let mut child = command
        .arg("-c")
        .arg(&request.command)
        // The user's environment, as their own shell has it, minus the server's credentials
        // (`Launch::apply`): a command the model wrote has no business reading the password.
        .current_dir(&cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ProcessError::SpawnFailed(format!("cannot start bash: {e}")))?;
    drop(command);
    let mut guard = GroupGuard {
        pgid: child
            .id()
            .and_then(|id| rustix::process::Pid::from_raw(id as i32)),
    };

    let limit = request.output_limit as usize;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(pump(stdout, tx.clone()));
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(pump(stderr, tx.clone()));
    }
    drop(tx);

    let mut output = Vec::new();
    let mut truncated = false;
    let mut collect = |chunk: Vec<u8>, output: &mut Vec<u8>| {
        let room = limit.saturating_sub(output.len());
        if chunk.len() > room {
            truncated = true;
        }
        output.extend_from_slice(&chunk[..chunk.len().min(room)]);
    };

    let timeout = tokio::time::sleep(Duration::from_millis(u64::from(request.timeout_ms)));
    tokio::pin!(timeout);
    let mut timed_out = false;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.ok(),
            Some(chunk) = rx.recv() => collect(chunk, &mut output),
            () = &mut timeout => {
                timed_out = true;
                guard.kill();
                break child.wait().await.ok();
            }
        }
    };
    let drain = tokio::time::sleep(DRAIN_GRACE);
    tokio::pin!(drain);
    loop {
        tokio::select! {
            chunk = rx.recv() => match chunk {
                Some(chunk) => collect(chunk, &mut output),
                None => break,
            },
            () = &mut drain => break,
        }
    }
    // Whatever the command left running in its group goes with it.
    guard.kill();

    Ok(RunOutput {
        exit_code: status.and_then(|s| s.code()),
        output: String::from_utf8_lossy(&output).into_owned(),
        truncated,
        timed_out,
    })
}

async fn pump(mut reader: impl AsyncRead + Unpin, tx: tokio::sync::mpsc::Sender<Vec<u8>>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx.send(buf[..n].to_vec()).await.is_err() {
                    break;
                }
            }
        }
    }
}
