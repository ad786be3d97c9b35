//! OpenCode's `mcp` blocks: `{"mcp": {"<name>": {"type": "local", "command": [...], ...}}}`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

/// How long connecting (and listing the tools) may take, unless the block says otherwise.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a tool call may take, unless the block or `experimental.mcp_timeout` says otherwise.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// One MCP server as configured.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum McpServerConfig {
    /// A program started by the server, spoken to over its stdin and stdout.
    #[schema(title = "McpLocalConfig")]
    Local {
        /// The program and its arguments.
        command: Vec<String>,
        /// Where it runs, relative to the project (the project by default).
        #[serde(default)]
        cwd: Option<String>,
        /// Set over the server's environment.
        #[serde(default)]
        environment: BTreeMap<String, String>,
        #[serde(default)]
        enabled: Option<bool>,
        /// Milliseconds for connecting and for each call.
        #[serde(default)]
        timeout: Option<u64>,
    },
    /// A server reached over streamable HTTP.
    #[schema(title = "McpRemoteConfig")]
    Remote {
        url: String,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default)]
        enabled: Option<bool>,
        #[serde(default)]
        timeout: Option<u64>,
        /// OAuth settings (`false` switches detection off); this server cannot run the flow.
        #[serde(default)]
        #[schema(value_type = Object)]
        oauth: Option<Value>,
    },
}

impl McpServerConfig {
    pub fn enabled(&self) -> bool {
        match self {
            Self::Local { enabled, .. } | Self::Remote { enabled, .. } => enabled.unwrap_or(true),
        }
    }

    pub fn enable(&mut self) {
        match self {
            Self::Local { enabled, .. } | Self::Remote { enabled, .. } => *enabled = Some(true),
        }
    }

    fn timeout(&self) -> Option<Duration> {
        match self {
            Self::Local { timeout, .. } | Self::Remote { timeout, .. } => timeout.map(Duration::from_millis),
        }
    }

    pub fn connect_timeout(&self) -> Duration {
        self.timeout().unwrap_or(CONNECT_TIMEOUT)
    }

    /// The block's own timeout, else the configuration's `experimental.mcp_timeout`, else a minute.
    pub fn call_timeout(&self, experimental: Option<Duration>) -> Duration {
        self.timeout().or(experimental).unwrap_or(CALL_TIMEOUT)
    }

    /// What is wrong with a block that parses, in the words a user can act on.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Self::Local { command, .. } if command.first().is_none_or(|c| c.trim().is_empty()) => {
                Err("`command` must name the program to run".into())
            }
            Self::Remote { url, .. } if !(url.starts_with("http://") || url.starts_with("https://")) => {
                Err(format!("invalid MCP URL {url:?}: use an http:// or https:// URL"))
            }
            _ => Ok(()),
        }
    }
}

/// A configured server: its block, or why the block cannot be used.
pub type Configured = (String, Result<McpServerConfig, String>);

/// The servers of a configuration, in its order. Entries without a `type` are not servers (the
/// reference ignores them too); a broken block is kept with its error, to show as `failed`.
pub fn servers(raw: &Value) -> Vec<Configured> {
    let Some(blocks) = raw.get("mcp").and_then(Value::as_object) else {
        return Vec::new();
    };
    blocks
        .iter()
        .filter(|(_, block)| block.get("type").is_some())
        .map(|(name, block)| {
            let parsed = McpServerConfig::deserialize(block)
                .map_err(|e| format!("invalid configuration: {e}"))
                .and_then(|config| config.check().map(|()| config));
            (name.clone(), parsed)
        })
        .collect()
}

/// `experimental.mcp_timeout`, in milliseconds.
pub fn call_timeout(raw: &Value) -> Option<Duration> {
    raw.pointer("/experimental/mcp_timeout")
        .and_then(Value::as_u64)
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blocks_parse_in_order_and_broken_ones_keep_their_error() {
        let raw = json!({"mcp": {
            "files": {"type": "local", "command": ["npx", "server"], "environment": {"A": "1"}},
            "web": {"type": "remote", "url": "https://mcp.example/mcp", "headers": {"Authorization": "Bearer x"}, "enabled": false},
            "typeless": {"enabled": true},
            "broken": {"type": "local"},
            "badurl": {"type": "remote", "url": "ftp://x"},
        }, "experimental": {"mcp_timeout": 5000}});
        let servers = servers(&raw);
        let names: Vec<&str> = servers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["files", "web", "broken", "badurl"]);
        assert!(servers[0].1.as_ref().is_ok_and(McpServerConfig::enabled));
        assert!(servers[1].1.as_ref().is_ok_and(|c| !c.enabled()));
        assert!(servers[2].1.as_ref().is_err_and(|e| e.contains("command")));
        assert!(servers[3].1.as_ref().is_err_and(|e| e.contains("ftp://x")));
        assert_eq!(call_timeout(&raw), Some(Duration::from_secs(5)));
        let config = servers[0].1.as_ref().expect("parsed");
        assert_eq!(config.call_timeout(call_timeout(&raw)), Duration::from_secs(5));
        assert_eq!(config.connect_timeout(), CONNECT_TIMEOUT);
    }
}
