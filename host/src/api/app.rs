//! Small server-wide endpoints: client logs, and the status of language servers, formatters
//! and MCP servers.

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use axum::Json;
use serde_json::Value;

use super::error::ApiError;
use super::extract::Scoped;
use super::extract::ValidJson;

const LEVELS: [&str; 4] = ["debug", "info", "error", "warn"];

/// The body of `POST /log`. It documents the request; the handler reads the JSON itself so its
/// errors read like OpenCode's (`Expected "debug" | ... got "loud"`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "a schema for the document; the body is parsed by hand")]
pub struct LogRequest {
    /// Which part of the client writes the entry.
    service: String,
    level: LogLevel,
    message: String,
    /// Key-value pairs appended to the log line.
    #[schema(value_type = Option<Object>)]
    extra: Option<Value>,
}

#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code, reason = "a schema for the document")]
pub enum LogLevel {
    Debug,
    Info,
    Error,
    Warn,
}

/// Write log entry: `{service, level, message, extra?}` into the server's log.
#[utoipa::path(post, path = "/log", operation_id = "app.log", tag = "app",
    request_body = LogRequest,
    responses(
        (status = 200, description = "Log entry written successfully", body = bool, content_type = "application/json"),
        (status = 400, description = "Bad request", body = super::error::ErrorBody),
    ))]
pub async fn log(ValidJson(body): ValidJson<Value>) -> Result<Json<bool>, ApiError> {
    let field = |name: &str| -> Result<String, ApiError> {
        match body.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(ApiError::bad_request(
                format!("Expected string, got {other}\n  at [\"{name}\"]"),
                "Payload",
            )),
            None => Err(ApiError::bad_request(
                format!("Missing key\n  at [\"{name}\"]"),
                "Payload",
            )),
        }
    };
    let service = field("service")?;
    let message = field("message")?;
    let level = field("level")?;
    if !LEVELS.contains(&level.as_str()) {
        return Err(ApiError::bad_request(
            format!(
                "Expected \"debug\" | \"info\" | \"error\" | \"warn\", got \"{level}\"\n  at [\"level\"]"
            ),
            "Payload",
        ));
    }
    let extra = match body.get("extra") {
        None | Some(Value::Null) => String::new(),
        Some(Value::Object(map)) => map.iter().map(|(k, v)| format!(" {k}={v}")).collect(),
        Some(other) => {
            return Err(ApiError::bad_request(
                format!("Expected object, got {other}\n  at [\"extra\"]"),
                "Payload",
            ));
        }
    };
    match level.as_str() {
        "debug" => tracing::debug!(target: "client", service, "{message}{extra}"),
        "info" => tracing::info!(target: "client", service, "{message}{extra}"),
        "warn" => tracing::warn!(target: "client", service, "{message}{extra}"),
        _ => tracing::error!(target: "client", service, "{message}{extra}"),
    }
    Ok(Json(true))
}

/// A language server, as OpenCode reports it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LspStatus {
    pub id: String,
    pub name: String,
    pub root: String,
    /// `connected` or `error`.
    pub status: String,
}

/// A formatter, as OpenCode reports it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct FormatterStatus {
    pub name: String,
    pub extensions: Vec<String>,
    pub enabled: bool,
}

/// Get LSP server status. wasmcode runs no language servers, so this is empty.
#[utoipa::path(get, path = "/lsp", operation_id = "lsp.status", tag = "app",
    responses((status = 200, description = "LSP server status", body = Vec<LspStatus>)))]
pub async fn lsp(Scoped(_instance): Scoped) -> Json<Vec<LspStatus>> {
    Json(Vec::new())
}

/// Get formatter status: the installed formatter components, with the extensions each formats
/// (as OpenCode writes them, with the dot) and whether the configuration lets it run.
#[utoipa::path(get, path = "/formatter", operation_id = "formatter.status", tag = "app",
    responses((status = 200, description = "Formatter status", body = Vec<FormatterStatus>)))]
pub async fn formatter(Scoped(instance): Scoped) -> Json<Vec<FormatterStatus>> {
    let formatters = instance.formatters.get().await;
    Json(
        formatters
            .all()
            .iter()
            .map(|f| FormatterStatus {
                name: f.plugin.name.to_string(),
                extensions: f.extensions.iter().map(|e| format!(".{e}")).collect(),
                enabled: f.enabled,
            })
            .collect(),
    )
}

/// The agents of the request's directory, sorted by name.
#[utoipa::path(get, path = "/agent", operation_id = "app.agents", tag = "app",
    params(("directory" = Option<String>, Query, description = "The project directory")),
    responses((status = 200, description = "List of agents", body = Vec<crate::agent::Agent>)))]
pub async fn agents(Scoped(instance): Scoped) -> Json<Vec<crate::agent::Agent>> {
    Json(instance.agents.clone())
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(agents))
        .routes(routes!(log))
        .routes(routes!(lsp))
        .routes(routes!(formatter))
}
