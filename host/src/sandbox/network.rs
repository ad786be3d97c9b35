//! Cutting a command off the network: a network namespace of its own, in which no interface is
//! up (not even loopback), made in the child before exec. A server that is not root first makes
//! a user namespace mapping only its own user and group, which lets it make the network one.

use std::ffi::CStr;
use std::io;

use rustix::fs::{Mode, OFlags};
use rustix::thread::UnshareFlags;

use super::support::NetworkCut;

/// What the child does, prepared in the server so the child only makes system calls.
#[derive(Debug, Clone)]
pub(super) struct Cut {
    kind: NetworkCut,
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
}

impl Cut {
    pub(super) fn new(kind: NetworkCut) -> Self {
        let uid = rustix::process::getuid().as_raw();
        let gid = rustix::process::getgid().as_raw();
        Self {
            kind,
            uid_map: format!("{uid} {uid} 1\n").into_bytes(),
            gid_map: format!("{gid} {gid} 1\n").into_bytes(),
        }
    }

    /// Runs in the child between fork and exec: system calls only, no allocation.
    pub(super) fn apply(&self) -> io::Result<()> {
        match self.kind {
            NetworkCut::Namespace => unshare(UnshareFlags::NEWNET),
            NetworkCut::UserNamespace => {
                unshare(UnshareFlags::NEWUSER | UnshareFlags::NEWNET)?;
                // Group changes must be denied before an unprivileged gid_map is written.
                write_file(c"/proc/self/setgroups", b"deny")?;
                write_file(c"/proc/self/uid_map", &self.uid_map)?;
                write_file(c"/proc/self/gid_map", &self.gid_map)
            }
            NetworkCut::Unavailable => Ok(()),
        }
    }
}

fn unshare(flags: UnshareFlags) -> io::Result<()> {
    #[allow(unsafe_code, reason = "unshare is unsafe only for `FILES`, which is not used")]
    // SAFETY: called in the single-threaded child before exec, without `FILES`: no other thread
    // can observe a changed file descriptor table.
    let result = unsafe { rustix::thread::unshare_unsafe(flags) };
    result.map_err(io::Error::from)
}

fn write_file(path: &CStr, contents: &[u8]) -> io::Result<()> {
    let fd = rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
    rustix::io::write(&fd, contents)?;
    Ok(())
}

/// Which cut this machine allows, tried on a throwaway child (`true`).
pub(super) fn probe() -> NetworkCut {
    let root = rustix::process::geteuid().is_root();
    let candidates: &[NetworkCut] = if root {
        &[NetworkCut::Namespace, NetworkCut::UserNamespace]
    } else {
        &[NetworkCut::UserNamespace]
    };
    for &kind in candidates {
        let cut = Cut::new(kind);
        let mut command = std::process::Command::new("true");
        command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        super::confine::before_exec(&mut command, move || cut.apply());
        if command.status().is_ok_and(|status| status.success()) {
            return kind;
        }
    }
    NetworkCut::Unavailable
}
