//! The first-party tools, compiled from `plugins/` by the build script and embedded in the
//! binary, with the grants each needs by default.

use crate::runtime::{FsAccess, Grants};

/// A component embedded in the binary.
pub struct Embedded {
    pub name: &'static str,
    pub bytes: &'static [u8],
    pub sha256: [u8; 32],
}

include!(concat!(env!("OUT_DIR"), "/first_party.rs"));

/// The order tools are listed in, as OpenCode lists its own.
pub const ORDER: [&str; 7] = ["bash", "read", "glob", "grep", "edit", "write", "list"];

/// What a first-party plugin is granted unless the configuration says otherwise.
pub fn default_grants(name: &str) -> Grants {
    match name {
        "write" | "edit" => Grants {
            filesystem: FsAccess::ReadWrite,
            ..Grants::default()
        },
        "bash" => Grants {
            process: true,
            ..Grants::default()
        },
        _ => Grants::read_only(),
    }
}
