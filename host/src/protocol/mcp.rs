//! MCP servers on the wire: each server's status (`GET /mcp`), the resources they offer, and the
//! event that says a server's tools changed.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What became of an MCP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
#[schema(as = MCPStatus)]
pub enum McpStatus {
    Connected,
    /// Switched off in its block, or disconnected.
    Disabled,
    Failed {
        error: String,
    },
    /// The server wants OAuth, which this server cannot run: give a token in `headers`.
    NeedsAuth,
    NeedsClientRegistration {
        error: String,
    },
}

/// A resource an MCP server offers (`GET /experimental/resource`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct McpResource {
    pub name: String,
    pub uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "mimeType", default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The server's name.
    pub client: String,
}

/// `mcp.tools.changed`: the tools of `server` are not what they were (it closed, or said so).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct McpToolsChanged {
    pub server: String,
}
