//! The confinement of one command: prepared in the server (paths opened, maps formatted),
//! enforced in the child between fork and exec, inherited by everything the command starts.

use std::io;
use std::path::{Path, PathBuf};

use super::SandboxError;
use super::support::Support;

/// One command's confinement, ready to attach to its `Command`.
pub struct Confinement {
    #[cfg(target_os = "linux")]
    ruleset: landlock::RulesetCreated,
    #[cfg(target_os = "linux")]
    cut: Option<super::network::Cut>,
    temp: Option<PathBuf>,
}

impl Confinement {
    #[cfg(target_os = "linux")]
    pub(super) fn prepare(
        support: &Support,
        read_write: &[PathBuf],
        read_only: &[PathBuf],
        network: bool,
        temp: Option<&Path>,
    ) -> Result<Self, SandboxError> {
        use super::support::NetworkCut;

        let abi = support
            .landlock_abi
            .ok_or_else(|| SandboxError::Setup(support.missing()))?;
        // Landlock's TCP rules cut what they can even where no namespace can be made.
        let ruleset =
            super::landlock::ruleset(abi, read_write, read_only, network).map_err(SandboxError::Setup)?;
        let cut = (!network && support.network != NetworkCut::Unavailable)
            .then(|| super::network::Cut::new(support.network));
        Ok(Self {
            ruleset,
            cut,
            temp: temp.map(Path::to_path_buf),
        })
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn prepare(
        support: &Support,
        _read_write: &[PathBuf],
        _read_only: &[PathBuf],
        _network: bool,
        _temp: Option<&Path>,
    ) -> Result<Self, SandboxError> {
        Err(SandboxError::Setup(support.missing()))
    }

    /// Makes `command` start confined: its temp dir is the private one, and the child restricts
    /// itself before it runs the program.
    pub fn attach(self, command: &mut std::process::Command) {
        if let Some(temp) = &self.temp {
            command.env("TMPDIR", temp);
        }
        #[cfg(target_os = "linux")]
        {
            let Self { ruleset, cut, .. } = self;
            let mut ruleset = Some(ruleset);
            before_exec(command, move || {
                // The network first: it writes the user namespace's maps under /proc, which the
                // ruleset then forbids.
                if let Some(cut) = &cut {
                    cut.apply()?;
                }
                super::privileges::drop_all()?;
                if let Some(ruleset) = ruleset.take() {
                    ruleset.restrict_self().map_err(|_| io::Error::last_os_error())?;
                }
                Ok(())
            });
        }
    }
}

/// Runs `hook` in the child between fork and exec; an error fails the spawn with it.
#[cfg(target_os = "linux")]
pub(super) fn before_exec(
    command: &mut std::process::Command,
    hook: impl FnMut() -> io::Result<()> + Send + Sync + 'static,
) {
    use std::os::unix::process::CommandExt;

    #[allow(
        unsafe_code,
        reason = "`pre_exec` is how a child restricts itself before exec"
    )]
    // SAFETY: every hook given here only makes system calls on data prepared before the fork
    // (no allocation, no locks), as is required between fork and exec.
    unsafe {
        command.pre_exec(hook);
    }
}
