//! `/mcp`: the MCP servers of the request's directory (status, add, connect, disconnect), their
//! OAuth routes (answered with a clear 400: this server cannot run the flow), and
//! `/experimental/resource`, the resources they offer.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use super::extract::{Scoped, ValidJson, ValidPath};
use crate::instance::Instance;
use crate::mcp::McpError;
use crate::mcp::config::McpServerConfig;
use crate::protocol::mcp::{McpResource, McpStatus};

impl From<McpError> for ApiError {
    fn from(error: McpError) -> Self {
        let message = error.to_string();
        match error {
            McpError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "McpServerNotFoundError", message),
            McpError::Invalid(_) => ApiError::bad_request(message, "Payload"),
        }
    }
}

/// `POST /mcp`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AddMcp {
    pub name: String,
    pub config: McpServerConfig,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthRemoved {
    pub success: bool,
}

/// Every server's status, in order, as a JSON object.
async fn status_map(instance: &Instance) -> Json<Map<String, Value>> {
    let mut map = Map::new();
    for (name, status) in instance.mcp.status().await {
        map.insert(name, serde_json::to_value(status).unwrap_or(Value::Null));
    }
    Json(map)
}

/// Each MCP server's status: `connected`, `disabled`, `failed` with its error, `needs_auth`.
#[utoipa::path(get, path = "/mcp", operation_id = "mcp.status", tag = "mcp",
    responses((status = 200, description = "MCP server status", body = BTreeMap<String, McpStatus>)))]
pub async fn status(Scoped(instance): Scoped) -> Json<Map<String, Value>> {
    status_map(&instance).await
}

/// Adds an MCP server for the life of the instance (the configuration files are not changed)
/// and connects it; every server's status.
#[utoipa::path(post, path = "/mcp", operation_id = "mcp.add", tag = "mcp",
    request_body(content = AddMcp),
    responses(
        (status = 200, description = "MCP server added", body = BTreeMap<String, McpStatus>),
        (status = 400, description = "Bad request", body = super::error::ErrorBody),
    ))]
pub async fn add(
    Scoped(instance): Scoped,
    ValidJson(body): ValidJson<AddMcp>,
) -> Result<Json<Map<String, Value>>, ApiError> {
    instance.mcp.add(body.name, body.config).await?;
    Ok(status_map(&instance).await)
}

/// Connects (or reconnects) a server; `true` even when it fails, as its status then says.
#[utoipa::path(post, path = "/mcp/{name}/connect", operation_id = "mcp.connect", tag = "mcp",
    responses(
        (status = 200, description = "MCP server connected", body = bool),
        (status = 404, description = "No such server", body = super::error::ErrorBody),
    ))]
pub async fn connect(
    Scoped(instance): Scoped,
    ValidPath(name): ValidPath<String>,
) -> Result<Json<bool>, ApiError> {
    instance.mcp.connect(&name).await?;
    Ok(Json(true))
}

/// Disconnects a server (a local one is stopped); its status becomes `disabled`.
#[utoipa::path(post, path = "/mcp/{name}/disconnect", operation_id = "mcp.disconnect", tag = "mcp",
    responses(
        (status = 200, description = "MCP server disconnected", body = bool),
        (status = 404, description = "No such server", body = super::error::ErrorBody),
    ))]
pub async fn disconnect(
    Scoped(instance): Scoped,
    ValidPath(name): ValidPath<String>,
) -> Result<Json<bool>, ApiError> {
    instance.mcp.disconnect(&name).await?;
    Ok(Json(true))
}

/// What every OAuth route answers for a server that exists: this server cannot run the flow.
async fn oauth_unsupported(instance: &Instance, name: &str) -> ApiError {
    if !instance.mcp.exists(name).await {
        return McpError::NotFound(name.to_string()).into();
    }
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "McpUnsupportedOAuthError",
        format!(
            "wasmcode cannot run the OAuth flow for MCP server {name}: give it a token in its block's \
             `headers` (\"Authorization\": \"Bearer …\")"
        ),
    )
}

/// Starts the OAuth flow of a remote server: not supported here (400).
#[utoipa::path(post, path = "/mcp/{name}/auth", operation_id = "mcp.auth.start", tag = "mcp",
    responses(
        (status = 400, description = "This server cannot run OAuth for MCP servers", body = super::error::ErrorBody),
        (status = 404, description = "No such server", body = super::error::ErrorBody),
    ))]
pub async fn auth_start(Scoped(instance): Scoped, ValidPath(name): ValidPath<String>) -> ApiError {
    oauth_unsupported(&instance, &name).await
}

/// Completes the OAuth flow with its code: not supported here (400).
#[utoipa::path(post, path = "/mcp/{name}/auth/callback", operation_id = "mcp.auth.callback", tag = "mcp",
    responses(
        (status = 400, description = "This server cannot run OAuth for MCP servers", body = super::error::ErrorBody),
        (status = 404, description = "No such server", body = super::error::ErrorBody),
    ))]
pub async fn auth_callback(Scoped(instance): Scoped, ValidPath(name): ValidPath<String>) -> ApiError {
    oauth_unsupported(&instance, &name).await
}

/// Runs the whole OAuth flow in a browser: not supported here (400).
#[utoipa::path(post, path = "/mcp/{name}/auth/authenticate", operation_id = "mcp.auth.authenticate", tag = "mcp",
    responses(
        (status = 400, description = "This server cannot run OAuth for MCP servers", body = super::error::ErrorBody),
        (status = 404, description = "No such server", body = super::error::ErrorBody),
    ))]
pub async fn auth_authenticate(Scoped(instance): Scoped, ValidPath(name): ValidPath<String>) -> ApiError {
    oauth_unsupported(&instance, &name).await
}

/// Forgets a server's OAuth credentials; this server never stores any, so there is nothing to
/// remove.
#[utoipa::path(delete, path = "/mcp/{name}/auth", operation_id = "mcp.auth.remove", tag = "mcp",
    responses(
        (status = 200, description = "OAuth credentials removed", body = AuthRemoved),
        (status = 404, description = "No such server", body = super::error::ErrorBody),
    ))]
pub async fn auth_remove(
    Scoped(instance): Scoped,
    ValidPath(name): ValidPath<String>,
) -> Result<Json<AuthRemoved>, ApiError> {
    if !instance.mcp.exists(&name).await {
        return Err(McpError::NotFound(name).into());
    }
    Ok(Json(AuthRemoved { success: true }))
}

/// The resources the connected MCP servers offer, keyed `<server>:<uri>`.
#[utoipa::path(get, path = "/experimental/resource", operation_id = "experimental.resource.list", tag = "mcp",
    responses((status = 200, description = "MCP resources", body = BTreeMap<String, McpResource>)))]
pub async fn resources(Scoped(instance): Scoped) -> Json<BTreeMap<String, McpResource>> {
    Json(instance.mcp.resources().await)
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status, add))
        .routes(routes!(connect))
        .routes(routes!(disconnect))
        .routes(routes!(auth_start, auth_remove))
        .routes(routes!(auth_callback))
        .routes(routes!(auth_authenticate))
        .routes(routes!(resources))
}
