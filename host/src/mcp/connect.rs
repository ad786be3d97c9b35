//! Connecting to one MCP server with rmcp: a local one is a program started in the project (in a
//! process group of its own, so whatever it starts goes with it; its stderr logged), a remote one
//! is spoken to over streamable HTTP with the configured headers. A connection lists the server's
//! tools before it counts as made.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Once;

use rmcp::model::Tool;
use rmcp::service::{QuitReason, RoleClient, RunningServiceCancellationToken};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{Peer, ServiceExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::task::JoinHandle;

use super::config::McpServerConfig;
use crate::sandbox::Launch;

/// A connected server.
pub struct Connection {
    pub peer: Peer<RoleClient>,
    pub cancel: RunningServiceCancellationToken,
    /// Ends when the connection does (the program exited, the server closed it, or `cancel`).
    pub done: JoinHandle<Result<QuitReason, tokio::task::JoinError>>,
    pub tools: Vec<Tool>,
    pub resources: bool,
    /// A local server's process group.
    pub group: Option<u32>,
}

/// Why a server is not connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    Failed(String),
    /// The server answered 401: it wants credentials.
    NeedsAuth,
}

pub async fn connect(
    name: &str,
    config: &McpServerConfig,
    project: &Path,
    launch: impl FnOnce() -> Result<Launch, String>,
) -> Result<Connection, ConnectError> {
    let timeout = config.connect_timeout();
    let attempt = async {
        match config {
            McpServerConfig::Local {
                command,
                cwd,
                environment,
                ..
            } => {
                let launch = launch().map_err(ConnectError::Failed)?;
                local(name, command, cwd.as_deref(), environment, project, launch).await
            }
            McpServerConfig::Remote { url, headers, .. } => remote(url, headers).await,
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(connected) => connected,
        Err(_) => Err(ConnectError::Failed(format!(
            "the server did not answer within {} ms",
            timeout.as_millis()
        ))),
    }
}

async fn local(
    name: &str,
    command: &[String],
    cwd: Option<&str>,
    environment: &BTreeMap<String, String>,
    project: &Path,
    launch: Launch,
) -> Result<Connection, ConnectError> {
    let Some((program, args)) = command.split_first() else {
        return Err(ConnectError::Failed("`command` is empty".into()));
    };
    let cwd = cwd.map_or_else(|| project.to_path_buf(), |cwd| project.join(cwd));
    let mut process = tokio::process::Command::new(program);
    process
        .args(args)
        .current_dir(&cwd)
        .envs(environment)
        .process_group(0)
        .kill_on_drop(true);
    launch.apply(process.as_std_mut(), &format!("MCP server {name}"));
    let (transport, stderr) = TokioChildProcess::builder(process)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ConnectError::Failed(format!("cannot start {program}: {e}")))?;
    let group = transport.id();
    if let Some(stderr) = stderr {
        let server = name.to_string();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(target: "wasmcode::mcp::server", server = %server, "{line}");
            }
        });
    }
    let started = ().serve(transport).await;
    let client = match started {
        Ok(client) => client,
        Err(e) => {
            kill_group(group);
            return Err(ConnectError::Failed(e.to_string()));
        }
    };
    finish(client, group).await
}

/// A remote server: streamable HTTP, else the older event-stream transport (as OpenCode falls
/// back); a server that asks for credentials on either needs them.
async fn remote(url: &str, headers: &BTreeMap<String, String>) -> Result<Connection, ConnectError> {
    install_tls_provider();
    let streamable = match streamable_http(url, headers).await {
        Ok(client) => return finish(client, None).await,
        Err(ConnectError::NeedsAuth) => return Err(ConnectError::NeedsAuth),
        Err(ConnectError::Failed(e)) => e,
    };
    let transport = match super::sse::SseTransport::open(url, headers).await {
        Ok(transport) => transport,
        Err(ConnectError::NeedsAuth) => return Err(ConnectError::NeedsAuth),
        Err(ConnectError::Failed(sse)) => {
            return Err(ConnectError::Failed(format!(
                "streamable HTTP: {streamable}; SSE: {sse}"
            )));
        }
    };
    let client = ()
        .serve(transport)
        .await
        .map_err(|e| ConnectError::Failed(format!("streamable HTTP: {streamable}; SSE: {e}")))?;
    finish(client, None).await
}

async fn streamable_http(
    url: &str,
    headers: &BTreeMap<String, String>,
) -> Result<rmcp::service::RunningService<RoleClient, ()>, ConnectError> {
    let mut custom = std::collections::HashMap::new();
    for (name, value) in headers {
        let name = http::HeaderName::try_from(name.as_str())
            .map_err(|e| ConnectError::Failed(format!("header {name:?}: {e}")))?;
        let value = http::HeaderValue::try_from(value.as_str())
            .map_err(|e| ConnectError::Failed(format!("header {name}: {e}")))?;
        custom.insert(name, value);
    }
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_string()).custom_headers(custom);
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .map_err(|e| {
            if e.is_authorization_required() || e.to_string().contains("HTTP 401") {
                ConnectError::NeedsAuth
            } else {
                ConnectError::Failed(e.to_string())
            }
        })
}

/// Lists the tools of a server that answered; a server whose tools cannot be listed is closed.
async fn finish(
    client: rmcp::service::RunningService<RoleClient, ()>,
    group: Option<u32>,
) -> Result<Connection, ConnectError> {
    let capabilities = client.peer_info().map(|info| info.capabilities.clone());
    let has_tools = capabilities.as_ref().is_none_or(|c| c.tools.is_some());
    let resources = capabilities.as_ref().is_some_and(|c| c.resources.is_some());
    let tools = if has_tools {
        match client.list_all_tools().await {
            Ok(tools) => tools,
            Err(e) => {
                let _ = client.cancel().await;
                kill_group(group);
                return Err(ConnectError::Failed(format!("Failed to get tools: {e}")));
            }
        }
    } else {
        Vec::new()
    };
    Ok(Connection {
        peer: client.peer().clone(),
        cancel: client.cancellation_token(),
        done: tokio::spawn(client.waiting()),
        tools,
        resources,
        group,
    })
}

/// Kills a local server's process group: the program and whatever it started.
pub fn kill_group(group: Option<u32>) {
    if let Some(pid) = group.and_then(|g| rustix::process::Pid::from_raw(g as i32)) {
        // The group may already be gone; there is nothing to do about an error here.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// HTTPS to remote servers uses rustls with ring, as the plugins' HTTP client does.
fn install_tls_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Another part of the process may have installed one already: that one serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
