//! The process environment, read once at start-up by `cli` and passed down: nothing below reads
//! `std::env`, so tests and embedders inject their own.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// What the server takes from its environment.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `$HOME` (`/` when unset): `GET /path`'s `home`.
    pub home: PathBuf,
    /// `$USER` (`unknown` when unset): `GET /config`'s `username`.
    pub user: String,
    /// `OPENCODE_CONFIG_CONTENT`: configuration applied over the files'.
    pub inline_config: Option<String>,
    /// `WASMCODE_EVENT_QUEUE`: events a subscriber may fall behind before it is cut off (tests of
    /// the slow-subscriber policy set a small one).
    pub event_queue: Option<usize>,
    /// Every variable whose name and value are UTF-8: where providers find their keys.
    pub vars: BTreeMap<String, String>,
}

impl Environment {
    /// The process's environment now.
    pub fn from_process() -> Self {
        let vars: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Self::from_vars(vars)
    }

    /// An environment of exactly `vars`.
    pub fn from_vars(vars: BTreeMap<String, String>) -> Self {
        let get = |name: &str| vars.get(name).filter(|v| !v.is_empty()).cloned();
        Self {
            home: get("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from),
            user: get("USER").unwrap_or_else(|| "unknown".into()),
            inline_config: vars.get("OPENCODE_CONFIG_CONTENT").cloned(),
            event_queue: get("WASMCODE_EVENT_QUEUE").and_then(|q| q.parse().ok()),
            vars,
        }
    }

    /// The directories of `PATH`, in order.
    pub fn search_path(&self) -> Vec<PathBuf> {
        self.var("PATH")
            .map(|path| std::env::split_paths(path).collect())
            .unwrap_or_default()
    }

    /// The variable's value, if set and not empty.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }
}
