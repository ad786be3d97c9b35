//! MCP servers (OpenCode's `mcp` blocks): one set per instance, connected in the background when
//! the instance is made (a remote one over streamable HTTP, else the older event stream). Their
//! tools join the agent's as `<server>_<tool>`, under the permission
//! rules like any tool; `GET /mcp` says how each server is. A local server is a program run in
//! the project, killed (with whatever it started) when it is disconnected, with its instance and
//! with the server; when it dies by itself its status says so, `mcp.tools.changed` goes out, and
//! everything else goes on.
//!
//! Local servers are the user's own programs, as in OpenCode: they run with the server's rights
//! unless the project confines the user's commands (`wasmcode.sandbox.shell`).

pub mod config;
mod connect;
mod output;
mod sse;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, Tool};
use rmcp::service::RoleClient;
use rmcp::{Peer, ServiceError};
use serde_json::{Map, Value};
use tokio::sync::{Mutex, watch};

use crate::bus::Bus;
use crate::protocol::Event;
use crate::protocol::mcp::{McpResource, McpStatus, McpToolsChanged};
use crate::sandbox::{Launch, Sandbox};
use config::{Configured, McpServerConfig};
use connect::ConnectError;

/// A tool of an MCP server, as the model is offered it.
#[derive(Debug, Clone, PartialEq)]
pub struct McpTool {
    /// `<server>_<tool>`, each part with what is not a letter, digit, `_` or `-` made `_`.
    pub name: String,
    pub server: String,
    /// The tool's own name on its server.
    pub tool: String,
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error("MCP server not found: {0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

/// The MCP servers of one instance.
pub struct McpServers {
    inner: Arc<Inner>,
}

struct Inner {
    directory: PathBuf,
    bus: Bus,
    sandbox: Arc<Sandbox>,
    /// `experimental.mcp_timeout`.
    call_timeout: Option<Duration>,
    /// In configuration order, then in the order they were added.
    servers: Mutex<Vec<Server>>,
    /// True once the first connects (of the configured servers) are over.
    ready: watch::Sender<bool>,
}

struct Server {
    name: String,
    config: Result<McpServerConfig, String>,
    status: McpStatus,
    live: Option<Live>,
    /// Bumped by every connect and disconnect: an outcome for an older one is dropped.
    generation: u64,
}

struct Live {
    peer: Peer<RoleClient>,
    tools: Vec<McpTool>,
    resources: bool,
    cancel: rmcp::service::RunningServiceCancellationToken,
    group: Option<u32>,
}

impl Live {
    fn close(self) {
        self.cancel.cancel();
        connect::kill_group(self.group);
    }
}

impl McpServers {
    /// The servers of `raw`'s `mcp` blocks; the enabled ones start connecting now.
    pub fn start(directory: PathBuf, bus: Bus, sandbox: Arc<Sandbox>, raw: &Value) -> Self {
        let configured: Vec<Configured> = config::servers(raw);
        let servers = configured
            .into_iter()
            .map(|(name, config)| Server {
                status: match &config {
                    Ok(config) if !config.enabled() => McpStatus::Disabled,
                    Ok(_) => McpStatus::Failed {
                        error: "connecting".into(),
                    },
                    Err(error) => McpStatus::Failed { error: error.clone() },
                },
                name,
                config,
                live: None,
                generation: 0,
            })
            .collect::<Vec<_>>();
        let to_connect: Vec<String> = servers
            .iter()
            .filter(|s| s.config.as_ref().is_ok_and(McpServerConfig::enabled))
            .map(|s| s.name.clone())
            .collect();
        let inner = Arc::new(Inner {
            directory,
            bus,
            sandbox,
            call_timeout: config::call_timeout(raw),
            servers: Mutex::new(servers),
            ready: watch::channel(to_connect.is_empty()).0,
        });
        if !to_connect.is_empty() {
            let inner = inner.clone();
            tokio::spawn(async move {
                futures_util::future::join_all(to_connect.iter().map(|name| Inner::connect(&inner, name)))
                    .await;
                inner.ready.send_replace(true);
            });
        }
        Self { inner }
    }

    /// Waits for the first connects to be over (so a first prompt sees the servers' tools).
    async fn ready(&self) {
        let mut ready = self.inner.ready.subscribe();
        // The sender lives as long as `inner`, which outlives this call.
        let _ = ready.wait_for(|ready| *ready).await;
    }

    /// Each server's status, in order.
    pub async fn status(&self) -> Vec<(String, McpStatus)> {
        self.ready().await;
        let servers = self.inner.servers.lock().await;
        servers
            .iter()
            .map(|s| (s.name.clone(), s.status.clone()))
            .collect()
    }

    /// Adds a server (for the life of the instance) and connects it.
    pub async fn add(&self, name: String, config: McpServerConfig) -> Result<(), McpError> {
        if name.trim().is_empty() {
            return Err(McpError::Invalid("name must not be empty".into()));
        }
        config.check().map_err(McpError::Invalid)?;
        self.ready().await;
        let old = {
            let mut servers = self.inner.servers.lock().await;
            match servers.iter_mut().find(|s| s.name == name) {
                Some(server) => {
                    server.config = Ok(config);
                    server.generation += 1;
                    server.live.take()
                }
                None => {
                    servers.push(Server {
                        name: name.clone(),
                        config: Ok(config),
                        status: McpStatus::Disabled,
                        live: None,
                        generation: 0,
                    });
                    None
                }
            }
        };
        if let Some(old) = old {
            old.close();
        }
        Inner::connect(&self.inner, &name).await;
        Ok(())
    }

    /// (Re)connects a server, enabling it; how it went is in its status.
    pub async fn connect(&self, name: &str) -> Result<(), McpError> {
        self.ready().await;
        {
            let mut servers = self.inner.servers.lock().await;
            let server = servers
                .iter_mut()
                .find(|s| s.name == name)
                .ok_or_else(|| McpError::NotFound(name.to_string()))?;
            if let Ok(config) = &mut server.config {
                config.enable();
            }
        }
        Inner::connect(&self.inner, name).await;
        Ok(())
    }

    /// Closes a server's connection (a local server is killed); its status becomes `disabled`.
    pub async fn disconnect(&self, name: &str) -> Result<(), McpError> {
        self.ready().await;
        let live = {
            let mut servers = self.inner.servers.lock().await;
            let server = servers
                .iter_mut()
                .find(|s| s.name == name)
                .ok_or_else(|| McpError::NotFound(name.to_string()))?;
            server.generation += 1;
            server.status = McpStatus::Disabled;
            server.live.take()
        };
        if let Some(live) = live {
            live.close();
        }
        Ok(())
    }

    /// Whether a server of this name exists.
    pub async fn exists(&self, name: &str) -> bool {
        self.inner.servers.lock().await.iter().any(|s| s.name == name)
    }

    /// The tools of the connected servers, in server order.
    pub async fn tools(&self) -> Vec<McpTool> {
        self.ready().await;
        let servers = self.inner.servers.lock().await;
        servers
            .iter()
            .filter_map(|s| s.live.as_ref())
            .flat_map(|live| live.tools.iter().cloned())
            .collect()
    }

    /// Whether a connected server has a tool the model knows as `name`.
    pub async fn has_tool(&self, name: &str) -> bool {
        self.ready().await;
        let servers = self.inner.servers.lock().await;
        servers
            .iter()
            .filter_map(|s| s.live.as_ref())
            .any(|live| live.tools.iter().any(|t| t.name == name))
    }

    /// Calls the tool the model knows as `name`: its output for the model (and whether it was
    /// cut), or the error it gets.
    pub async fn call(&self, name: &str, arguments: Value) -> Result<(String, bool), String> {
        let (tool, peer, timeout) = {
            let servers = self.inner.servers.lock().await;
            servers
                .iter()
                .find_map(|server| {
                    let live = server.live.as_ref()?;
                    let tool = live.tools.iter().find(|t| t.name == name)?;
                    let timeout = server
                        .config
                        .as_ref()
                        .map_or(config::CALL_TIMEOUT, |c| c.call_timeout(self.inner.call_timeout));
                    Some((tool.clone(), live.peer.clone(), timeout))
                })
                .ok_or_else(|| {
                    format!("the MCP tool `{name}` is not available (its server is not connected)")
                })?
        };
        let arguments = match arguments {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => return Err(format!("the arguments must be an object, not {other}")),
        };
        let request = CallToolRequestParams::new(tool.tool.clone()).with_arguments(arguments);
        match tokio::time::timeout(timeout, peer.call_tool(request)).await {
            Err(_) => Err(format!(
                "the MCP tool `{}` of `{}` did not answer within {} ms",
                tool.tool,
                tool.server,
                timeout.as_millis()
            )),
            Ok(Err(ServiceError::TransportClosed)) => Err(format!(
                "the MCP server `{}` is gone (its connection closed)",
                tool.server
            )),
            Ok(Err(e)) => Err(format!("the MCP server `{}` failed: {e}", tool.server)),
            Ok(Ok(result)) => output::text(result),
        }
    }

    /// The resources of the connected servers that offer some, keyed `<server>:<uri>` (the
    /// server's name with `%` and `:` escaped).
    pub async fn resources(&self) -> BTreeMap<String, McpResource> {
        self.ready().await;
        let peers: Vec<(String, Peer<RoleClient>)> = {
            let servers = self.inner.servers.lock().await;
            servers
                .iter()
                .filter_map(|s| {
                    let live = s.live.as_ref().filter(|live| live.resources)?;
                    Some((s.name.clone(), live.peer.clone()))
                })
                .collect()
        };
        let mut all = BTreeMap::new();
        for (server, peer) in peers {
            let listed = tokio::time::timeout(config::CONNECT_TIMEOUT, peer.list_all_resources()).await;
            let Ok(Ok(resources)) = listed else {
                tracing::warn!(server = %server, "MCP server: cannot list its resources");
                continue;
            };
            for resource in resources {
                let key = format!(
                    "{}:{}",
                    server.replace('%', "%25").replace(':', "%3A"),
                    resource.uri
                );
                all.insert(
                    key,
                    McpResource {
                        name: resource.name.clone(),
                        uri: resource.uri.clone(),
                        description: resource.description.clone(),
                        mime_type: resource.mime_type.clone(),
                        client: server.clone(),
                    },
                );
            }
        }
        all
    }

    /// Closes every server (the instance is released, or the server stops). Never waits: when a
    /// connect holds the list, the closing is left to a task that waits for it.
    pub fn close_all(&self) {
        fn close(servers: &mut [Server]) {
            for server in servers {
                server.generation += 1;
                if let Some(live) = server.live.take() {
                    live.close();
                }
            }
        }
        match self.inner.servers.try_lock() {
            Ok(mut servers) => close(&mut servers),
            Err(_) => {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    let inner = self.inner.clone();
                    runtime.spawn(async move { close(&mut inner.servers.lock().await) });
                }
            }
        }
    }
}

impl Drop for McpServers {
    fn drop(&mut self) {
        self.close_all();
    }
}

impl Inner {
    /// Connects `name` as its configuration says now, and records the outcome, unless another
    /// connect or a disconnect came after this one.
    async fn connect(this: &Arc<Inner>, name: &str) {
        let (config, generation, old) = {
            let mut servers = this.servers.lock().await;
            let Some(server) = servers.iter_mut().find(|s| s.name == name) else {
                return;
            };
            server.generation += 1;
            let old = server.live.take();
            match &server.config {
                Ok(config) if config.enabled() => (config.clone(), server.generation, old),
                Ok(_) => {
                    server.status = McpStatus::Disabled;
                    if let Some(old) = old {
                        old.close();
                    }
                    return;
                }
                Err(error) => {
                    server.status = McpStatus::Failed { error: error.clone() };
                    return;
                }
            }
        };
        if let Some(old) = old {
            old.close();
        }
        let sandbox = this.sandbox.clone();
        let launch = move || {
            if sandbox.settings().shell {
                sandbox.launch(&[]).map_err(|e| e.to_string())
            } else {
                Ok(Launch::Unconfined {
                    reason: "the user's own MCP server (wasmcode.sandbox.shell is off)".into(),
                })
            }
        };
        let outcome = connect::connect(name, &config, &this.directory, launch).await;
        let mut servers = this.servers.lock().await;
        let Some(server) = servers
            .iter_mut()
            .find(|s| s.name == name && s.generation == generation)
        else {
            if let Ok(connection) = outcome {
                connection.cancel.cancel();
                connect::kill_group(connection.group);
            }
            return;
        };
        match outcome {
            Ok(connection) => {
                tracing::info!(
                    server = name,
                    tools = connection.tools.len(),
                    "MCP server connected"
                );
                let tools = connection.tools.iter().map(|t| offered(name, t)).collect();
                server.status = McpStatus::Connected;
                server.live = Some(Live {
                    peer: connection.peer,
                    tools,
                    resources: connection.resources,
                    cancel: connection.cancel,
                    group: connection.group,
                });
                Self::watch(this, name.to_string(), generation, connection.done);
            }
            Err(ConnectError::NeedsAuth) => {
                tracing::warn!(server = name, "MCP server wants authorization");
                server.status = McpStatus::NeedsAuth;
            }
            Err(ConnectError::Failed(error)) => {
                tracing::warn!(server = name, "MCP server failed: {error}");
                server.status = McpStatus::Failed { error };
            }
        }
    }

    /// When a connection ends by itself (the program died, the server closed it), the server is
    /// `failed` and its tools are gone.
    fn watch(
        this: &Arc<Inner>,
        name: String,
        generation: u64,
        done: tokio::task::JoinHandle<Result<rmcp::service::QuitReason, tokio::task::JoinError>>,
    ) {
        let weak = Arc::downgrade(this);
        tokio::spawn(async move {
            let _ = done.await;
            let Some(this) = weak.upgrade() else {
                return;
            };
            let mut servers = this.servers.lock().await;
            let Some(server) = servers
                .iter_mut()
                .find(|s| s.name == name && s.generation == generation)
            else {
                return;
            };
            if let Some(live) = server.live.take() {
                connect::kill_group(live.group);
            }
            tracing::warn!(server = %name, "MCP server closed its connection");
            server.status = McpStatus::Failed {
                error: "Connection closed".into(),
            };
            drop(servers);
            this.bus
                .publish(Event::McpToolsChanged(McpToolsChanged { server: name }));
        });
    }
}

/// How a server's tool is offered to the model (as OpenCode offers it).
fn offered(server: &str, tool: &Tool) -> McpTool {
    let mut parameters = Value::Object((*tool.input_schema).clone());
    if let Value::Object(schema) = &mut parameters {
        schema.insert("type".into(), Value::String("object".into()));
        schema
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        schema.insert("additionalProperties".into(), Value::Bool(false));
    }
    McpTool {
        name: format!("{}_{}", sanitize(server), sanitize(&tool.name)),
        server: server.to_string(),
        tool: tool.name.to_string(),
        description: tool.description.as_deref().unwrap_or_default().to_string(),
        parameters,
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_are_the_server_and_the_tool_made_safe() {
        assert_eq!(sanitize("demo http.v2"), "demo_http_v2");
        assert_eq!(sanitize("add-two_3"), "add-two_3");
    }
}
