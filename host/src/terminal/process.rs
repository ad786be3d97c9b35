//! A program started on a pseudo-terminal of its own: the child gets the terminal's other end as
//! stdin, stdout and stderr, and as its controlling terminal in a new session, so job control,
//! `Ctrl-C` and full-screen programs work; its session is its process group, which is what is
//! killed when the terminal closes.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;
use rustix::termios::Winsize;

use crate::sandbox::Launch;

/// What to start, and where.
pub struct Program<'a> {
    pub command: &'a str,
    pub args: &'a [String],
    pub cwd: &'a Path,
    /// Set over the server's own environment.
    pub env: &'a [(String, String)],
    pub size: Size,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub rows: u16,
    pub cols: u16,
}

impl Default for Size {
    fn default() -> Self {
        Self { rows: 24, cols: 80 }
    }
}

/// The started program and the terminal's end the server keeps.
pub struct Started {
    pub child: Child,
    pub master: OwnedFd,
}

pub fn start(program: &Program<'_>, launch: Launch) -> io::Result<Started> {
    let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    resize(&master, program.size)?;
    let name = rustix::pty::ptsname(&master, Vec::new())?;
    let terminal = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;

    let mut command = Command::new(program.command);
    command
        .args(program.args)
        .current_dir(program.cwd)
        .envs(program.env.iter().map(|(k, v)| (k, v)))
        .env("TERM", "xterm-256color")
        .stdin(Stdio::from(terminal.try_clone()?))
        .stdout(Stdio::from(terminal.try_clone()?))
        .stderr(Stdio::from(terminal));
    take_the_terminal(&mut command);
    // The sandbox's own hook runs after the one above: the session is made before the child
    // restricts itself.
    launch.apply(&mut command, "a terminal");
    let child = command.spawn()?;
    // `command` holds the parent's copies of the terminal's far end; without them the reader sees
    // the end of output once the program and everything it started are gone.
    drop(command);
    Ok(Started { child, master })
}

pub fn resize(master: &OwnedFd, size: Size) -> io::Result<()> {
    rustix::termios::tcsetwinsize(
        master,
        Winsize {
            ws_row: size.rows,
            ws_col: size.cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )?;
    Ok(())
}

/// Makes the child the leader of a new session whose controlling terminal is its stdin.
fn take_the_terminal(command: &mut Command) {
    use std::os::unix::process::CommandExt;

    #[allow(
        unsafe_code,
        reason = "`pre_exec` is how a child takes its controlling terminal before exec"
    )]
    // SAFETY: the hook makes two system calls on the child's own stdin, nothing that allocates or
    // takes a lock, as is required between fork and exec.
    unsafe {
        command.pre_exec(|| {
            rustix::process::setsid()?;
            rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())?;
            Ok(())
        });
    }
}

/// Kills the program's whole session: the shell, and every job it started (an interactive shell
/// gives each job a process group of its own, so killing the shell's group is not enough). A
/// process that made a session of its own has left on purpose, as a daemon does.
pub fn kill_session(leader: u32) {
    kill_group(leader);
    // A member may fork while it is being killed: look again until none is left.
    for _ in 0..3 {
        let members = session_members(leader);
        if members.is_empty() {
            return;
        }
        for pid in members {
            kill_group(pid);
            if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
}

fn kill_group(pid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        // The group may already be gone; there is nothing to do about an error here.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// The live processes of session `sid`, from `/proc/<pid>/stat` (its fields after the command
/// name: state, ppid, pgrp, session).
fn session_members(sid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let mut fields = stat
                .rsplit_once(')')
                .map(|(_, rest)| rest)
                .unwrap_or("")
                .split_whitespace();
            let state = fields.next();
            let session = fields.nth(2).and_then(|s| s.parse::<u32>().ok());
            session == Some(sid) && state != Some("Z")
        })
        .collect()
}

/// A program's exit status as a shell reports it: its code, or 128 + the signal that ended it.
pub fn exit_code(status: std::process::ExitStatus) -> u32 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u32,
        (None, Some(signal)) => 128 + signal as u32,
        (None, None) => 0,
    }
}
