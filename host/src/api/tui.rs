//! `/tui/*`: drive a client (the TUI, an IDE) from outside. Each action is published as a `tui.*`
//! event and queued for the client that long-polls `/tui/control/next`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use super::extract::{Scoped, ValidJson};
use crate::instance::Instance;
use crate::protocol::Event;
use crate::protocol::event::{TuiCommandExecute, TuiPromptAppend, TuiSessionSelect, TuiToastShow};
use crate::protocol::id::SessionId;
use crate::tui::TuiRequest;

/// Publishes the action as OpenCode does (a `tui.*` event for clients on `/event`; it changes
/// nothing stored) and queues it for a client long-polling `/tui/control/next`.
fn queue(instance: &Instance, path: &str, body: Value, event: Event) -> Result<Json<bool>, ApiError> {
    instance
        .tui
        .push(path, body)
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "QueueFullError", e.to_string()))?;
    instance.bus.publish(event);
    Ok(Json(true))
}

fn command(name: &str) -> Event {
    Event::TuiCommandExecute(TuiCommandExecute { command: name.into() })
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AppendPrompt {
    pub text: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ExecuteCommand {
    pub command: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SelectSession {
    /// The session to navigate to.
    #[serde(rename = "sessionID")]
    pub session_id: SessionId,
}

/// Append text to the prompt.
#[utoipa::path(post, path = "/tui/append-prompt", operation_id = "tui.appendPrompt", tag = "tui",
    request_body = AppendPrompt, responses((status = 200, description = "Prompt processed successfully", body = bool, content_type = "application/json")))]
pub async fn append_prompt(
    Scoped(instance): Scoped,
    ValidJson(body): ValidJson<AppendPrompt>,
) -> Result<Json<bool>, ApiError> {
    append(&instance, body.text)
}

fn append(instance: &Instance, text: String) -> Result<Json<bool>, ApiError> {
    queue(
        instance,
        "/tui/append-prompt",
        serde_json::json!({ "text": text }),
        Event::TuiPromptAppend(TuiPromptAppend { text }),
    )
}

/// Execute a TUI command (e.g. `agent_cycle`).
#[utoipa::path(post, path = "/tui/execute-command", operation_id = "tui.executeCommand", tag = "tui",
    request_body = ExecuteCommand, responses((status = 200, description = "Command executed successfully", body = bool, content_type = "application/json")))]
pub async fn execute_command(
    Scoped(instance): Scoped,
    ValidJson(body): ValidJson<ExecuteCommand>,
) -> Result<Json<bool>, ApiError> {
    execute(&instance, body.command)
}

fn execute(instance: &Instance, name: String) -> Result<Json<bool>, ApiError> {
    let event = command(&name);
    queue(
        instance,
        "/tui/execute-command",
        serde_json::json!({ "command": name }),
        event,
    )
}

/// Show a toast notification.
#[utoipa::path(post, path = "/tui/show-toast", operation_id = "tui.showToast", tag = "tui",
    request_body = TuiToastShow, responses((status = 200, description = "Toast notification shown successfully", body = bool, content_type = "application/json")))]
pub async fn show_toast(
    Scoped(instance): Scoped,
    ValidJson(toast): ValidJson<TuiToastShow>,
) -> Result<Json<bool>, ApiError> {
    show(&instance, toast)
}

fn show(instance: &Instance, toast: TuiToastShow) -> Result<Json<bool>, ApiError> {
    let body = serde_json::to_value(&toast).map_err(|e| ApiError::internal(e.to_string()))?;
    queue(instance, "/tui/show-toast", body, Event::TuiToastShow(toast))
}

/// Navigate the TUI to a session.
#[utoipa::path(post, path = "/tui/select-session", operation_id = "tui.selectSession", tag = "tui",
    request_body = SelectSession,
    responses(
        (status = 200, description = "Session selected successfully", body = bool, content_type = "application/json"),
        (status = 404, description = "No such session", body = super::error::ErrorBody),
    ))]
pub async fn select_session(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    ValidJson(body): ValidJson<SelectSession>,
) -> Result<Json<bool>, ApiError> {
    select(&state, &instance, body.session_id)
}

fn select(state: &AppState, instance: &Instance, session_id: SessionId) -> Result<Json<bool>, ApiError> {
    state.sessions.get(&session_id)?;
    queue(
        instance,
        "/tui/select-session",
        serde_json::json!({ "sessionID": session_id }),
        Event::TuiSessionSelect(TuiSessionSelect { session_id }),
    )
}

/// `POST /tui/publish`: one of the TUI's own events, as `/event` carries it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type", content = "properties")]
pub enum TuiEvent {
    #[serde(rename = "tui.prompt.append")]
    PromptAppend(TuiPromptAppend),
    #[serde(rename = "tui.command.execute")]
    CommandExecute(TuiCommandExecute),
    #[serde(rename = "tui.toast.show")]
    ToastShow(TuiToastShow),
    #[serde(rename = "tui.session.select")]
    SessionSelect(TuiSessionSelect),
}

/// Publish a TUI event.
///
/// The same as the action's own route (`/tui/append-prompt`, `/tui/execute-command`,
/// `/tui/show-toast`, `/tui/select-session`): published on `/event` and queued for
/// `/tui/control/next`.
#[utoipa::path(post, path = "/tui/publish", operation_id = "tui.publish", tag = "tui",
    request_body = TuiEvent,
    responses(
        (status = 200, description = "Event published successfully", body = bool, content_type = "application/json"),
        (status = 404, description = "No such session", body = super::error::ErrorBody),
    ))]
pub async fn publish(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    ValidJson(event): ValidJson<TuiEvent>,
) -> Result<Json<bool>, ApiError> {
    match event {
        TuiEvent::PromptAppend(TuiPromptAppend { text }) => append(&instance, text),
        TuiEvent::CommandExecute(TuiCommandExecute { command }) => execute(&instance, command),
        TuiEvent::ToastShow(toast) => show(&instance, toast),
        TuiEvent::SessionSelect(TuiSessionSelect { session_id }) => select(&state, &instance, session_id),
    }
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

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(append_prompt))
        .routes(routes!(execute_command))
        .routes(routes!(show_toast))
        .routes(routes!(open_help))
        .routes(routes!(open_sessions))
        .routes(routes!(open_themes))
        .routes(routes!(open_models))
        .routes(routes!(submit_prompt))
        .routes(routes!(clear_prompt))
        .routes(routes!(select_session))
        .routes(routes!(publish))
        .routes(routes!(control_next))
        .routes(routes!(control_response))
}
