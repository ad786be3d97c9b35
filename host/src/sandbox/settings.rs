//! `wasmcode.sandbox` in opencode.json.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// How commands the agent runs are confined.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct SandboxSettings {
    /// `false` runs commands with the server's rights (with a warning at start).
    pub enabled: bool,
    /// Where the kernel cannot confine: `true` refuses to run commands, `false` runs them
    /// unconfined with a warning.
    pub required: bool,
    /// `false` cuts commands off the network.
    pub network: bool,
    /// More paths a command may use, by path (`~/` is the user's home, a relative path is the
    /// project's): `"read"` (read and execute) or `"write"` (read, write and execute).
    pub allow: BTreeMap<String, Access>,
    /// `true` confines the user's own commands (`POST /session/{id}/shell`, terminals) too: for servers
    /// shared with people who should not have the server's rights.
    pub shell: bool,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            required: false,
            network: true,
            allow: BTreeMap::new(),
            shell: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
}

/// A configured path on the host: `~` and `~/...` in `home`, relative ones in the project.
pub(super) fn resolve(path: &str, project: &Path, home: &Path) -> PathBuf {
    if path == "~" {
        home.to_path_buf()
    } else if let Some(rest) = path.strip_prefix("~/") {
        home.join(rest)
    } else {
        project.join(path)
    }
}
