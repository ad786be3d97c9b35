//! The first-party plugins, compiled from `plugins/` by the build script and embedded in the
//! binary: the tools (with the grants each needs by default) and the LLM providers (`openai`,
//! `anthropic`), listed separately.

use crate::runtime::{FsAccess, Grants};

/// A component embedded in the binary.
pub struct Embedded {
    pub name: &'static str,
    pub bytes: &'static [u8],
    pub sha256: [u8; 32],
}

include!(concat!(env!("OUT_DIR"), "/first_party.rs"));

/// The tool list under the name it had before providers were embedded too.
pub use FIRST_PARTY_TOOLS as FIRST_PARTY;

/// The embedded provider plugin called `name` (`openai`, `anthropic`).
pub fn provider(name: &str) -> Option<&'static Embedded> {
    FIRST_PARTY_PROVIDERS.iter().find(|e| e.name == name)
}

/// The embedded formatter plugin called `name` (`json`, `typescript`, ...).
pub fn formatter(name: &str) -> Option<&'static Embedded> {
    FIRST_PARTY_FORMATTERS.iter().find(|e| e.name == name)
}

/// The order tools are listed in, as OpenCode lists its own.
pub const ORDER: [&str; 8] = [
    "bash",
    "read",
    "glob",
    "grep",
    "edit",
    "write",
    "list",
    "apply_patch",
];

/// What a first-party plugin is granted unless the configuration says otherwise.
pub fn default_grants(name: &str) -> Grants {
    match name {
        "write" | "edit" | "apply_patch" => Grants {
            filesystem: FsAccess::ReadWrite,
            ..Grants::default()
        },
        "bash" => Grants {
            process: true,
            ..Grants::default()
        },
        // It only answers the model: nothing to reach.
        "invalid" => Grants::nothing(),
        _ => Grants::read_only(),
    }
}
