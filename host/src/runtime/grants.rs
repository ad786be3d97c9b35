//! What the operator grants one plugin, as configuration writes it (`wasmcode.plugins.<name>.grants`):
//! a component's imports declare what it wants, these grants say what it gets, and each
//! capability (`capability/`) enforces its own part at call time. This module is the data only.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Access to the project directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FsAccess {
    /// No preopened directory at all.
    None,
    /// The project root, preopened as `.`, read-only.
    #[default]
    Read,
    /// The project root, preopened as `.`, read-write.
    ReadWrite,
}

/// What the operator granted one plugin.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Grants {
    pub filesystem: FsAccess,
    /// `host:port` authorities the plugin may send HTTP requests to (`api.example.com:443`).
    pub http: BTreeSet<String>,
    /// Whether the plugin may run shell commands through `process.run`.
    pub process: bool,
}

impl Grants {
    /// No directory, no host, no process: what providers, formatters and `describe` run with.
    pub fn nothing() -> Self {
        Self {
            filesystem: FsAccess::None,
            ..Self::default()
        }
    }

    pub fn read_only() -> Self {
        Self::default()
    }

    pub fn read_write() -> Self {
        Self {
            filesystem: FsAccess::ReadWrite,
            ..Self::default()
        }
    }

    pub fn shell() -> Self {
        Self {
            process: true,
            ..Self::default()
        }
    }
}
