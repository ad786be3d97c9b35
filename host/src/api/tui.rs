//! `/tui/*`: drive a client (the TUI, an IDE) from outside. Each action is queued for the client
//! that long-polls `/tui/control/next`.

use axum::Json;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::error::ApiError;
use super::extract::ValidJson;
use crate::instance::{Instance, Scoped};
use crate::tui::TuiRequest;

/// Publishes the action as OpenCode does (a `tui.*` event for clients on `/event`) and queues it
/// for a client long-polling `/tui/control/next`.
fn queue(instance: &Instance, path: &str, body: Value, event: (&str, Value)) -> Result<Json<bool>, ApiError> {
    instance
        .tui
        .push(path, body)
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "QueueFullError", e.to_string()))?;
    instance.bus.publish(event.0, event.1);
    Ok(Json(true))
}

fn command(name: &str) -> (&'static str, Value) {
    ("tui.command.execute", serde_json::json!({ "command": name }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppendPrompt {
    pub text: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteCommand {
    pub command: String,
}

#[derive(Debug, Deserialize, serde::Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ToastVariant {
    Info,
    Success,
    Warning,
    Error,
}

#[derive(Debug, Deserialize, serde::Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShowToast {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub message: String,
    pub variant: ToastVariant,
    /// Milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
}

/// Append text to the prompt.
#[utoipa::path(post, path = "/tui/append-prompt", operation_id = "tui.appendPrompt", tag = "tui",
    request_body = AppendPrompt, responses((status = 200, description = "Prompt processed successfully", body = bool, content_type = "application/json")))]
pub async fn append_prompt(
    Scoped(instance): Scoped,
    ValidJson(body): ValidJson<AppendPrompt>,
) -> Result<Json<bool>, ApiError> {
    let text = serde_json::json!({ "text": body.text });
    queue(
        &instance,
        "/tui/append-prompt",
        text.clone(),
        ("tui.prompt.append", text),
    )
}

/// Execute a TUI command (e.g. `agent_cycle`).
#[utoipa::path(post, path = "/tui/execute-command", operation_id = "tui.executeCommand", tag = "tui",
    request_body = ExecuteCommand, responses((status = 200, description = "Command executed successfully", body = bool, content_type = "application/json")))]
pub async fn execute_command(
    Scoped(instance): Scoped,
    ValidJson(body): ValidJson<ExecuteCommand>,
) -> Result<Json<bool>, ApiError> {
    let event = command(&body.command);
    queue(
        &instance,
        "/tui/execute-command",
        serde_json::json!({ "command": body.command }),
        event,
    )
}

/// Show a toast notification.
#[utoipa::path(post, path = "/tui/show-toast", operation_id = "tui.showToast", tag = "tui",
    request_body = ShowToast, responses((status = 200, description = "Toast notification shown successfully", body = bool, content_type = "application/json")))]
pub async fn show_toast(
    Scoped(instance): Scoped,
    ValidJson(body): ValidJson<ShowToast>,
) -> Result<Json<bool>, ApiError> {
    let body = serde_json::to_value(body).map_err(|e| ApiError::internal(e.to_string()))?;
    queue(
        &instance,
        "/tui/show-toast",
        body.clone(),
        ("tui.toast.show", body),
    )
}

/// Declares a body-less TUI action.
macro_rules! tui_action {
    ($name:ident, $path:literal, $operation:literal, $command:literal, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, operation_id = $operation, tag = "tui",
                                    responses((status = 200, description = $doc, body = bool, content_type = "application/json")))]
        pub async fn $name(Scoped(instance): Scoped) -> Result<Json<bool>, ApiError> {
            queue(&instance, $path, serde_json::json!({}), command($command))
        }
    };
}

tui_action!(
    open_help,
    "/tui/open-help",
    "tui.openHelp",
    "help.show",
    "Open the help dialog."
);
tui_action!(
    open_sessions,
    "/tui/open-sessions",
    "tui.openSessions",
    "session.list",
    "Open the session selector."
);
tui_action!(
    open_themes,
    "/tui/open-themes",
    "tui.openThemes",
    "theme.list",
    "Open the theme selector."
);
tui_action!(
    open_models,
    "/tui/open-models",
    "tui.openModels",
    "model.list",
    "Open the model selector."
);
tui_action!(
    submit_prompt,
    "/tui/submit-prompt",
    "tui.submitPrompt",
    "prompt.submit",
    "Submit the current prompt."
);
tui_action!(
    clear_prompt,
    "/tui/clear-prompt",
    "tui.clearPrompt",
    "prompt.clear",
    "Clear the prompt."
);

/// Wait for the next control request (a long poll).
#[utoipa::path(get, path = "/tui/control/next", operation_id = "tui.control.next", tag = "tui",
    responses((status = 200, description = "Next TUI request", body = TuiRequest)))]
pub async fn control_next(Scoped(instance): Scoped) -> Result<Json<TuiRequest>, ApiError> {
    instance
        .tui
        .next()
        .await
        .map(Json)
        .ok_or_else(|| ApiError::internal("the TUI control queue was closed"))
}

/// Respond to a control request.
#[utoipa::path(post, path = "/tui/control/response", operation_id = "tui.control.response", tag = "tui",
    request_body(content = Object, description = "The client's answer"),
    responses((status = 200, description = "Response submitted successfully", body = bool, content_type = "application/json")))]
pub async fn control_response(Scoped(instance): Scoped, ValidJson(body): ValidJson<Value>) -> Json<bool> {
    instance.tui.respond(&body);
    Json(true)
}
