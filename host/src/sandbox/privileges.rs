//! Dropping every capability in the child: a server run as root must not hand a command the
//! powers of root (loading kernel modules, reading any process's memory: Landlock lets a
//! holder of `CAP_SYS_PTRACE` read the server's `/proc/<pid>/environ`). The bounding set is
//! emptied too, so executing a program does not give them back.

use std::io;

use rustix::thread::{CapabilitySet, CapabilitySets};

/// Runs in the child between fork and exec: system calls only, no allocation.
pub(super) fn drop_all() -> io::Result<()> {
    for capability in CapabilitySet::all().iter() {
        // Unknown to this kernel (EINVAL), or not ours to drop (EPERM, without CAP_SETPCAP: then
        // there is nothing for an exec to regain either).
        let _ = rustix::thread::remove_capability_from_bounding_set(capability);
    }
    let _ = rustix::thread::clear_ambient_capability_set();
    let none = CapabilitySet::empty();
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: none,
            permitted: none,
            inheritable: none,
        },
    )?;
    Ok(())
}
