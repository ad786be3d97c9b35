//! The sandbox of the commands the agent runs: every process a plugin starts through the
//! `process` capability (the `bash` tool's commands) is confined by the kernel before it runs.
//! On Linux that is Landlock, applied in the child between fork and exec, so the command and
//! everything it starts can read, write and execute in the project and a private temp dir, read and
//! execute the system (`/usr`, `/etc`, ...), and nothing else of the machine unless configured
//! (`wasmcode.sandbox.allow`). With `wasmcode.sandbox.network: false` the command also gets a
//! network namespace of its own with no interfaces up (and, where Landlock has network rules, no
//! TCP connect or bind either).
//!
//! Where the kernel cannot confine (no Landlock), `wasmcode.sandbox.required` decides: refuse to
//! run commands, or run them unconfined; the server says which at start and in
//! `GET /experimental/sandbox`, never silently.
//!
//! It owns the policy of one project ([`Sandbox`]) and the confinement of one command
//! ([`Confinement`]); it knows nothing of plugins, sessions or permissions: which extra
//! directories a command may write is told to it by the caller.

mod confine;
#[cfg(target_os = "linux")]
mod landlock;
#[cfg(target_os = "linux")]
mod network;
#[cfg(target_os = "linux")]
mod privileges;
mod settings;
mod support;

use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

pub use confine::Confinement;
pub use settings::{Access, SandboxSettings};
pub use support::Support;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SandboxError {
    /// The configuration requires confinement and this machine cannot give it.
    #[error("this command was not run: the sandbox is required (wasmcode.sandbox.required) but {0}")]
    Unavailable(String),
    /// A command's confinement could not be prepared.
    #[error("cannot prepare the sandbox: {0}")]
    Setup(String),
}

/// Directories every confined command may read and execute from, where they exist: the system.
/// The rest of `/dev` is left out on purpose (raw disks are device files).
const SYSTEM_READ: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc",
    "/opt",
    "/proc",
    "/sys",
    "/run/systemd/resolve",
    "/nix/store",
    "/gnu/store",
    "/dev/urandom",
    "/dev/random",
];

/// Device files every confined command may read and write, and `/dev/shm`, where POSIX
/// semaphores and shared memory live (Python's `multiprocessing` locks, test runners' workers).
const SYSTEM_WRITE: &[&str] = &["/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/shm"];

/// What of the user's home a command may read and execute by default: git's configuration, so
/// `git` behaves as it does for the user, and the toolchains installed there (rustup and cargo,
/// pyenv, nvm, ...) with their read-only caches, so `cargo test` or `npm test` work. Never
/// written by default: a file planted there would run unconfined later. Credentials stay out
/// (`~/.cargo/credentials.toml`, `~/.npmrc`, `~/.ssh`, ...).
const HOME_READ: &[&str] = &[
    ".gitconfig",
    ".config/git",
    ".rustup",
    ".cargo/bin",
    ".cargo/registry",
    ".cargo/git",
    ".cargo/config.toml",
    ".cargo/config",
    ".pyenv",
    ".rbenv",
    ".nvm",
    ".volta",
    ".asdf",
    ".bun/bin",
    ".deno/bin",
    ".local/bin",
    ".local/share/mise",
    ".sdkman/candidates",
    "go/bin",
];

/// How commands run in one project: the paths they may use, and whether they are confined.
#[derive(Debug)]
pub struct Sandbox {
    settings: SandboxSettings,
    support: Support,
    read_write: Vec<PathBuf>,
    read_only: Vec<PathBuf>,
    /// The paths of `wasmcode.sandbox.allow`, resolved.
    configured: Vec<PathBuf>,
    /// Those of them configured `read`: they stay read-only whatever else allows them.
    configured_read: Vec<PathBuf>,
    /// The private temp dir (`TMPDIR` of every command); removed with the sandbox.
    temp: Option<tempfile::TempDir>,
}

/// What `GET /experimental/sandbox` reports of a project's sandbox.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxStatus {
    /// `confined`: commands run under the kernel's confinement; `unconfined`: they run with the
    /// server's rights (the sandbox is off, or the kernel cannot confine and it is not required);
    /// `refused`: the kernel cannot confine, the sandbox is required, commands are not run.
    pub mode: SandboxMode,
    /// Why commands are not confined, when they are not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The kernel's Landlock ABI version, when it has Landlock.
    #[serde(rename = "landlockABI", skip_serializing_if = "Option::is_none")]
    pub landlock_abi: Option<u8>,
    /// Whether commands may use the network.
    pub network: bool,
    /// Whether the user's own commands (`POST /session/{id}/shell`) are confined too.
    pub shell: bool,
    pub required: bool,
    /// What a command may read, write and execute.
    pub read_write: Vec<String>,
    /// What a command may read and execute.
    pub read_only: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    Confined,
    Unconfined,
    Refused,
}

/// How one command is to be started.
pub enum Launch {
    Confined(Confinement),
    /// With the server's rights; `reason` says why (for the log).
    Unconfined {
        reason: String,
    },
}

/// Variables of the server's environment no command it starts inherits: its own credentials.
const WITHHELD: &[&str] = &["OPENCODE_SERVER_PASSWORD", "OPENCODE_SERVER_USERNAME"];

impl Launch {
    /// Makes `command` start as this says: confined, or unconfined (logged, naming `what` it
    /// is); either way without the server's credentials. Hooks `command` already has run before
    /// the confinement's.
    pub fn apply(self, command: &mut std::process::Command, what: &str) {
        for name in WITHHELD {
            command.env_remove(name);
        }
        match self {
            Launch::Confined(confinement) => confinement.attach(command),
            Launch::Unconfined { reason } => tracing::debug!("{what} runs unconfined: {reason}"),
        }
    }
}

impl Sandbox {
    /// The sandbox of the project at `directory` (inside the repository `worktree`, `/` outside
    /// git), for a user whose home is `home` and whose commands are found in `search_path` (the
    /// server's `PATH`: its directories are readable and executable too, but for the home itself
    /// or a directory above it). Creates the private temp dir when commands are to be confined.
    pub fn new(
        settings: SandboxSettings,
        support: Support,
        directory: &Path,
        worktree: &Path,
        home: &Path,
        search_path: &[PathBuf],
    ) -> Result<Self, SandboxError> {
        let mut read_write = vec![directory.to_path_buf()];
        // git writes its index and objects at the repository's top, and a linked worktree's in
        // the main repository's `.git`.
        if worktree != Path::new("/") {
            read_write.push(worktree.to_path_buf());
            read_write.extend(linked_git_dir(worktree));
        }
        let mut read_only: Vec<PathBuf> = SYSTEM_READ.iter().map(PathBuf::from).collect();
        read_only.extend(HOME_READ.iter().map(|p| home.join(p)));
        read_only.extend(
            search_path
                .iter()
                .filter(|dir| dir.is_absolute() && !home.starts_with(dir))
                .cloned(),
        );
        let mut configured = Vec::new();
        let mut configured_read = Vec::new();
        for (path, access) in &settings.allow {
            let path = settings::resolve(path, directory, home);
            configured.push(path.clone());
            match access {
                Access::Write => read_write.push(path),
                Access::Read => {
                    configured_read.push(path.clone());
                    read_only.push(path);
                }
            }
        }
        let temp = if settings.enabled && support.can_confine() {
            let temp = tempfile::Builder::new()
                .prefix("wasmcode-sandbox-")
                .tempdir()
                .map_err(|e| SandboxError::Setup(format!("cannot create the private temp dir: {e}")))?;
            read_write.push(temp.path().to_path_buf());
            Some(temp)
        } else {
            None
        };
        read_write.extend(SYSTEM_WRITE.iter().map(PathBuf::from));
        dedup(&mut read_write);
        dedup(&mut read_only);
        Ok(Self {
            settings,
            support,
            read_write,
            read_only,
            configured,
            configured_read,
            temp,
        })
    }

    pub fn settings(&self) -> &SandboxSettings {
        &self.settings
    }

    /// The paths `wasmcode.sandbox.allow` names, resolved.
    pub fn configured(&self) -> &[PathBuf] {
        &self.configured
    }

    /// Why commands are not confined, if they are not.
    fn unconfined_reason(&self) -> Option<String> {
        if !self.settings.enabled {
            Some("the sandbox is switched off (wasmcode.sandbox.enabled: false)".into())
        } else if !self.support.can_confine() {
            Some(self.support.missing())
        } else if !self.settings.network && !self.support.can_cut_network() {
            Some(
                "the network is to be cut (wasmcode.sandbox.network: false) and this machine offers \
                 neither network namespaces nor Landlock network rules"
                    .into(),
            )
        } else {
            None
        }
    }

    pub fn status(&self) -> SandboxStatus {
        let reason = self.unconfined_reason();
        let mode = match (&reason, self.settings.enabled && self.settings.required) {
            (None, _) => SandboxMode::Confined,
            (Some(_), true) => SandboxMode::Refused,
            (Some(_), false) => SandboxMode::Unconfined,
        };
        let show =
            |paths: &[PathBuf]| -> Vec<String> { paths.iter().map(|p| p.display().to_string()).collect() };
        SandboxStatus {
            mode,
            reason,
            landlock_abi: self.support.landlock_abi,
            network: self.settings.network,
            shell: self.settings.shell,
            required: self.settings.required,
            read_write: show(&self.read_write),
            read_only: show(&self.read_only),
        }
    }

    /// How to start a command that may also write in `extra_write` (directories the user allowed
    /// for this call or session), except beneath a path configured `read`: the sandbox's own
    /// configuration is the one that says how a path may be used.
    pub fn launch(&self, extra_write: &[PathBuf]) -> Result<Launch, SandboxError> {
        if let Some(reason) = self.unconfined_reason() {
            if self.settings.enabled && self.settings.required {
                return Err(SandboxError::Unavailable(reason));
            }
            return Ok(Launch::Unconfined { reason });
        }
        let mut read_write = self.read_write.clone();
        read_write.extend(
            extra_write
                .iter()
                .filter(|dir| !self.configured_read.iter().any(|read| dir.starts_with(read)))
                .cloned(),
        );
        let temp = self.temp.as_ref().map(|t| t.path());
        Confinement::prepare(
            &self.support,
            &read_write,
            &self.read_only,
            self.settings.network,
            temp,
        )
        .map(Launch::Confined)
    }
}

/// The main repository's `.git` of a linked worktree (whose `.git` is a file saying
/// `gitdir: <main>/.git/worktrees/<name>`).
fn linked_git_dir(worktree: &Path) -> Option<PathBuf> {
    let pointer = std::fs::read_to_string(worktree.join(".git")).ok()?;
    let gitdir = worktree.join(pointer.strip_prefix("gitdir:")?.trim());
    let common = gitdir.parent()?.parent()?;
    (common.file_name()? == ".git").then(|| common.to_path_buf())
}

fn dedup(paths: &mut Vec<PathBuf>) {
    let mut seen = std::collections::HashSet::new();
    paths.retain(|p| seen.insert(p.clone()));
}

#[cfg(test)]
mod tests;
