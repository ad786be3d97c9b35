//! `/config`: the merged configuration of the request's directory, and updates to the project's
//! configuration file; `/global/config`: the global configuration file, read and updated.

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use axum::Json;
use axum::extract::State;

use super::error::ApiError;
use super::extract::Scoped;
use super::extract::ValidJson;
use crate::config::{self, ConfigError};
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
    config::merge(&mut out, instance.config.raw.clone());
    redact(&mut out);
    out
}

/// What `GET /global/config` shows: the global configuration files as they are.
fn global_view(raw: serde_json::Value) -> serde_json::Value {
    let mut out = serde_json::json!({ "$schema": "https://opencode.ai/config.json" });
    config::merge(&mut out, raw);
    redact(&mut out);
    out
}

/// Secrets never leave the server: provider keys and the server's bearer tokens.
fn redact(out: &mut serde_json::Value) {
    crate::provider::redact::config(out);
    if let Some(auth) = out
        .pointer_mut("/server/auth")
        .and_then(serde_json::Value::as_object_mut)
    {
        auth.remove("tokens");
    }
}

/// A configuration file that cannot be read is the server's trouble; one that cannot be parsed
/// or patched is reported to the caller, as `PATCH /config` always has.
fn config_error(e: ConfigError) -> ApiError {
    match e {
        ConfigError::Io { .. } => ApiError::internal(e.to_string()),
        other => ApiError::bad_request(other.to_string(), "Payload"),
    }
}

fn must_be_object(patch: &serde_json::Value) -> Result<(), ApiError> {
    if patch.is_object() {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "the configuration update must be a JSON object",
            "Payload",
        ))
    }
}

/// Runs configuration file work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ConfigError> + Send + 'static,
) -> Result<T, ApiError> {
    super::blocking(work).await?.map_err(config_error)
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
    must_be_object(&patch)?;
    let directory = instance.directory.clone();
    let written = blocking(move || config::patch_file(&directory, &patch)).await?;
    tracing::info!(file = %written.display(), "configuration updated");
    state.instances.dispose(&instance.directory).await;
    let fresh = state.instances.get(&instance.directory).await?;
    Ok(Json(view(&fresh, &state.instances.environment().user)))
}

/// Get the global configuration: the global configuration directory's `opencode.json(c)`, not
/// merged with any project's.
#[utoipa::path(get, path = "/global/config", operation_id = "global.config.get", tag = "global",
    responses((status = 200, description = "Get global config info", body = Object)))]
pub async fn global_get(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let dir = state.instances.paths().config.clone();
    let raw = blocking(move || config::read_dir(&dir)).await?;
    Ok(Json(global_view(raw)))
}

/// Update the global configuration: merges the body into the global `opencode.json(c)` (comments
/// kept; `null` removes a key), then disposes every instance so each reloads it.
#[utoipa::path(patch, path = "/global/config", operation_id = "global.config.update", tag = "global",
    request_body(content = Object, description = "Keys to change"),
    responses(
        (status = 200, description = "Successfully updated global config", body = Object),
        (status = 400, description = "Bad request", body = super::error::ErrorBody),
    ))]
pub async fn global_update(
    State(state): State<AppState>,
    ValidJson(patch): ValidJson<serde_json::Value>,
) -> Result<Json<serde_json::Value>, ApiError> {
    must_be_object(&patch)?;
    let dir = state.instances.paths().config.clone();
    let raw = blocking(move || {
        std::fs::create_dir_all(&dir).map_err(|source| ConfigError::Io {
            file: dir.display().to_string(),
            source,
        })?;
        let written = config::patch_file(&dir, &patch)?;
        tracing::info!(file = %written.display(), "global configuration updated");
        config::read_dir(&dir)
    })
    .await?;
    state.instances.dispose_all().await;
    Ok(Json(global_view(raw)))
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get, update))
        .routes(routes!(global_get, global_update))
}
