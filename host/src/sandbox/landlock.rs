//! Landlock rulesets: built in the server (opening the allowed paths), enforced in the child.

use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreated, RulesetCreatedAttr, Scope,
};

/// The kernel's Landlock ABI version, if it has Landlock and it is enabled.
pub(super) fn abi() -> Option<u8> {
    // `landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)` answers the version.
    #[allow(unsafe_code, reason = "a system call the safe crates do not wrap")]
    // SAFETY: the version query reads no memory (null attribute, size 0).
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    u8::try_from(version).ok().filter(|v| *v > 0)
}

/// A ruleset handling every right this kernel knows: `read_write` and `read_only` paths (those
/// that exist) allowed, TCP denied when `network` is false, and the scopes (signals and abstract
/// UNIX sockets of processes outside the sandbox) closed.
pub(super) fn ruleset(
    abi: u8,
    read_write: &[PathBuf],
    read_only: &[PathBuf],
    network: bool,
) -> Result<RulesetCreated, String> {
    let abi = ABI::from(i32::from(abi));
    let all = AccessFs::from_all(abi);
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)
        .map_err(|e| e.to_string())?;
    if !network {
        ruleset = ruleset
            .handle_access(AccessNet::from_all(abi))
            .map_err(|e| e.to_string())?;
    }
    if !Scope::from_all(abi).is_empty() {
        ruleset = ruleset.scope(Scope::from_all(abi)).map_err(|e| e.to_string())?;
    }
    let mut created = ruleset.create().map_err(|e| e.to_string())?;
    for (paths, access) in [(read_write, all), (read_only, AccessFs::from_read(abi))] {
        for path in paths {
            if let Some(rule) = rule(path, access, abi) {
                created = created.add_rule(rule).map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(created)
}

/// The rule allowing `access` beneath `path`, narrowed to a file's rights when it is not a
/// directory; `None` when the path does not exist.
fn rule(path: &Path, access: BitFlags<AccessFs>, abi: ABI) -> Option<PathBeneath<PathFd>> {
    let metadata = std::fs::metadata(path).ok()?;
    let access = if metadata.is_dir() {
        access
    } else {
        access & AccessFs::from_file(abi)
    };
    match PathFd::new(path) {
        Ok(fd) => Some(PathBeneath::new(fd, access)),
        Err(e) => {
            tracing::debug!(path = %path.display(), "sandbox: not allowing a path it cannot open: {e}");
            None
        }
    }
}
