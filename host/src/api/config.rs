//! `/config`: the merged configuration of the request's directory, and updates to the project's
//! configuration file.

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use axum::Json;
use axum::extract::State;

use super::error::ApiError;
use super::extract::Scoped;
use super::extract::ValidJson;
use crate::config::{ConfigError, patch_project_file};
use crate::instance::Instance;

/// What `GET /config` shows: the merged configuration over OpenCode's defaults.
fn view(instance: &Instance, username: &str) -> serde_json::Value {
    let mut out = serde_json::json!({
        "$schema": "https://opencode.ai/config.json",
        "command": {},
        "plugin": [],
        "username": username,
        "mode": {},
        "agent": {},
    });
    crate::config::merge(&mut out, instance.config.raw.clone());
    // Secrets never leave the server: provider keys and the server's bearer tokens.
    crate::provider::redact::config(&mut out);
    if let Some(auth) = out
        .pointer_mut("/server/auth")
        .and_then(serde_json::Value::as_object_mut)
    {
        auth.remove("tokens");
    }
    out
}

/// Get config info.
#[utoipa::path(get, path = "/config", operation_id = "config.get", tag = "config",
    params(("directory" = Option<String>, Query, description = "The project directory")),
    responses((status = 200, description = "Get config info", body = Object)))]
pub async fn get(State(state): State<AppState>, Scoped(instance): Scoped) -> Json<serde_json::Value> {
    Json(view(&instance, &state.instances.environment().user))
}

/// Update config: merges the body into the project's `opencode.json(c)` (comments kept; `null`
/// removes a key), then reloads the directory's instance.
#[utoipa::path(patch, path = "/config", operation_id = "config.update", tag = "config",
    params(("directory" = Option<String>, Query, description = "The project directory")),
    request_body(content = Object, description = "Keys to change"),
    responses(
        (status = 200, description = "Successfully updated config", body = Object),
        (status = 400, description = "Bad request", body = super::error::ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    ValidJson(patch): ValidJson<serde_json::Value>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !patch.is_object() {
        return Err(ApiError::bad_request(
            "the configuration update must be a JSON object",
            "Payload",
        ));
    }
    let directory = instance.directory.clone();
    let written = tokio::task::spawn_blocking(move || patch_project_file(&directory, &patch))
        .await
        .map_err(|e| ApiError::internal(format!("config update task failed: {e}")))?
        .map_err(|e| match e {
            ConfigError::Io { .. } => ApiError::internal(e.to_string()),
            other => ApiError::bad_request(other.to_string(), "Payload"),
        })?;
    tracing::info!(file = %written.display(), "configuration updated");
    state.instances.dispose(&instance.directory).await;
    let fresh = state.instances.get(&instance.directory).await?;
    Ok(Json(view(&fresh, &state.instances.environment().user)))
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get, update))
}
