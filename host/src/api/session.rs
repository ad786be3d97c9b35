//! `/session`: sessions, their messages, prompts, abort, and the legacy permission reply.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{OptionalJson, ValidJson, ValidQuery};
use crate::instance::Scoped;
use crate::server::AppState;
use crate::session::command::Command;
use crate::session::model::{MessageWithParts, Session, SessionStatus};
use crate::session::{
    CommandInput, CreateSession, ListSessions, PromptInput, Reply, ReplyError, SessionError, ShellInput,
    UpdateSession,
};

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> Self {
        let message = error.to_string();
        match error {
            SessionError::NotFound(_) | SessionError::MessageNotFound(_) => ApiError::not_found(message),
            SessionError::BadRequest(_) | SessionError::Model(_) => ApiError::bad_request(message, "Payload"),
            SessionError::Busy(_) => ApiError::new(StatusCode::CONFLICT, "BusyError", message),
            SessionError::Store(_) | SessionError::LoopGone | SessionError::Failed(_) => {
                ApiError::internal(message)
            }
        }
    }
}

/// List sessions, most recently updated first.
#[utoipa::path(get, path = "/session", operation_id = "session.list", tag = "session",
    params(ListSessions),
    responses((status = 200, description = "List of sessions", body = Vec<Session>)))]
pub async fn list(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    ValidQuery(query): ValidQuery<ListSessions>,
) -> Result<Json<Vec<Session>>, ApiError> {
    Ok(Json(state.instances.sessions().list(&instance, &query)?))
}

/// Create a session.
#[utoipa::path(post, path = "/session", operation_id = "session.create", tag = "session",
    request_body(content = CreateSession, description = "Optional title, parent and permission rules"),
    responses((status = 200, description = "Successfully created session", body = Session)))]
pub async fn create(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    OptionalJson(input): OptionalJson<CreateSession>,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(state.instances.sessions().create(&instance, input)?))
}

/// What each busy session is doing; idle sessions are absent.
#[utoipa::path(get, path = "/session/status", operation_id = "session.status", tag = "session",
    responses((status = 200, description = "Get session status", body = HashMap<String, SessionStatus>)))]
pub async fn status(
    State(state): State<AppState>,
    Scoped(_instance): Scoped,
) -> Json<HashMap<String, SessionStatus>> {
    Json(state.instances.sessions().statuses())
}

#[derive(Debug, Deserialize)]
pub struct SessionPath {
    #[serde(rename = "sessionID")]
    session_id: String,
}

/// Get a session.
#[utoipa::path(get, path = "/session/{sessionID}", operation_id = "session.get", tag = "session",
    responses(
        (status = 200, description = "Get session", body = Session),
        (status = 404, description = "Not found", body = super::error::ErrorBody),
    ))]
pub async fn get(
    State(state): State<AppState>,
    Path(path): Path<SessionPath>,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(state.instances.sessions().get(&path.session_id)?))
}

/// Delete a session with its children, messages and parts.
#[utoipa::path(delete, path = "/session/{sessionID}", operation_id = "session.delete", tag = "session",
    responses(
        (status = 200, description = "Successfully deleted session", body = bool, content_type = "application/json"),
        (status = 404, description = "Not found", body = super::error::ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    Path(path): Path<SessionPath>,
) -> Result<Json<bool>, ApiError> {
    state
        .instances
        .sessions()
        .delete(&instance, &path.session_id)
        .await?;
    Ok(Json(true))
}

/// Update a session's title or permission rules.
#[utoipa::path(patch, path = "/session/{sessionID}", operation_id = "session.update", tag = "session",
    request_body(content = UpdateSession),
    responses(
        (status = 200, description = "Successfully updated session", body = Session),
        (status = 404, description = "Not found", body = super::error::ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    Path(path): Path<SessionPath>,
    ValidJson(input): ValidJson<UpdateSession>,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(state.instances.sessions().update(
        &instance,
        &path.session_id,
        input,
    )?))
}

/// A session's child sessions.
#[utoipa::path(get, path = "/session/{sessionID}/children", operation_id = "session.children", tag = "session",
    responses((status = 200, description = "List of children", body = Vec<Session>)))]
pub async fn children(
    State(state): State<AppState>,
    Path(path): Path<SessionPath>,
) -> Result<Json<Vec<Session>>, ApiError> {
    Ok(Json(state.instances.sessions().children(&path.session_id)?))
}

/// One item of a session's todo list.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Todo {
    pub content: String,
    /// `pending`, `in_progress`, `completed` or `cancelled`.
    pub status: String,
    /// `high`, `medium` or `low`.
    pub priority: String,
    pub id: String,
}

/// A session's todo list.
#[utoipa::path(get, path = "/session/{sessionID}/todo", operation_id = "session.todo", tag = "session",
    responses((status = 200, description = "Todo list", body = Vec<Todo>)))]
pub async fn todo(
    State(state): State<AppState>,
    Path(path): Path<SessionPath>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(state.instances.sessions().todos(&path.session_id)?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ForkInput {
    #[serde(rename = "messageID")]
    message_id: Option<String>,
}

/// Copy a session, up to (not including) a message, into a new session.
#[utoipa::path(post, path = "/session/{sessionID}/fork", operation_id = "session.fork", tag = "session",
    request_body(content = ForkInput),
    responses((status = 200, description = "The new session", body = Session)))]
pub async fn fork(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    Path(path): Path<SessionPath>,
    OptionalJson(input): OptionalJson<ForkInput>,
) -> Result<Json<Session>, ApiError> {
    let sessions = state.instances.sessions();
    Ok(Json(sessions.fork(
        &instance,
        &path.session_id,
        input.message_id.as_deref(),
    )?))
}

/// Abort the session's running turn; answers once the session is idle.
#[utoipa::path(post, path = "/session/{sessionID}/abort", operation_id = "session.abort", tag = "session",
    responses((status = 200, description = "Aborted session", body = bool, content_type = "application/json")))]
pub async fn abort(
    State(state): State<AppState>,
    Path(path): Path<SessionPath>,
) -> Result<Json<bool>, ApiError> {
    state.instances.sessions().abort(&path.session_id).await?;
    Ok(Json(true))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct MessagesQuery {
    /// Only the last `limit` messages.
    limit: Option<usize>,
}

/// A session's messages with their parts, oldest first.
#[utoipa::path(get, path = "/session/{sessionID}/message", operation_id = "session.messages", tag = "session",
    params(MessagesQuery),
    responses((status = 200, description = "List of messages", body = Vec<MessageWithParts>)))]
pub async fn messages(
    State(state): State<AppState>,
    Path(path): Path<SessionPath>,
    ValidQuery(query): ValidQuery<MessagesQuery>,
) -> Result<Json<Vec<MessageWithParts>>, ApiError> {
    Ok(Json(
        state
            .instances
            .sessions()
            .messages(&path.session_id, query.limit)?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct MessagePath {
    #[serde(rename = "sessionID")]
    session_id: String,
    #[serde(rename = "messageID")]
    message_id: String,
}

/// One message with its parts.
#[utoipa::path(get, path = "/session/{sessionID}/message/{messageID}", operation_id = "session.message", tag = "session",
    responses((status = 200, description = "Message", body = MessageWithParts)))]
pub async fn message(
    State(state): State<AppState>,
    Path(path): Path<MessagePath>,
) -> Result<Json<MessageWithParts>, ApiError> {
    Ok(Json(
        state
            .instances
            .sessions()
            .message(&path.session_id, &path.message_id)?,
    ))
}

/// Send a prompt and wait for the answer: the last assistant message of the turn (with
/// `noReply`, the stored user message).
#[utoipa::path(post, path = "/session/{sessionID}/message", operation_id = "session.prompt", tag = "session",
    request_body(content = PromptInput),
    responses((status = 200, description = "Created message", body = MessageWithParts)))]
pub async fn prompt(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    Path(path): Path<SessionPath>,
    ValidJson(input): ValidJson<PromptInput>,
) -> Result<Json<MessageWithParts>, ApiError> {
    let submitted = state
        .instances
        .sessions()
        .submit(&instance, &path.session_id, input)?;
    let answer = submitted.answer().await?;
    flush_events(&instance).await;
    Ok(Json(answer))
}

/// Lets `/event` subscribers be sent the turn's events before its answer goes out: clients such
/// as `opencode run` print from the events and exit when the answer arrives.
async fn flush_events(instance: &crate::instance::Instance) {
    let last = instance.bus.last_seq();
    instance
        .bus
        .flushed(last, std::time::Duration::from_millis(250))
        .await;
}

/// Send a prompt without waiting: 204 once the user message is stored.
#[utoipa::path(post, path = "/session/{sessionID}/prompt_async", operation_id = "session.prompt_async", tag = "session",
    request_body(content = PromptInput),
    responses((status = 204, description = "Prompt accepted")))]
pub async fn prompt_async(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    Path(path): Path<SessionPath>,
    ValidJson(input): ValidJson<PromptInput>,
) -> Result<StatusCode, ApiError> {
    state
        .instances
        .sessions()
        .submit(&instance, &path.session_id, input)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegacyReply {
    response: Reply,
}

#[derive(Debug, Deserialize)]
pub struct PermissionPath {
    #[serde(rename = "sessionID")]
    session_id: String,
    #[serde(rename = "permissionID")]
    permission_id: String,
}

/// Answer a permission request (the older route; `permission.reply` is the current one).
#[utoipa::path(post, path = "/session/{sessionID}/permissions/{permissionID}", operation_id = "permission.respond",
    tag = "session",
    request_body(content = LegacyReply),
    responses(
        (status = 200, description = "Permission processed successfully", body = bool, content_type = "application/json"),
        (status = 404, description = "Unknown request"),
        (status = 409, description = "Already answered"),
    ))]
pub async fn respond(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    Path(path): Path<PermissionPath>,
    ValidJson(body): ValidJson<LegacyReply>,
) -> Response {
    let sessions = state.instances.sessions();
    if let Err(e) = sessions.get(&path.session_id) {
        return ApiError::from(e).into_response();
    }
    match sessions.reply(&instance, &path.permission_id, body.response, None) {
        Ok(()) => Json(true).into_response(),
        Err(error) => reply_error(error),
    }
}

/// The error bodies of permission replies, in OpenCode's shape for the unknown ID.
pub fn reply_error(error: ReplyError) -> Response {
    match &error {
        ReplyError::NotFound(id) => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({
                "_tag": "PermissionNotFoundError",
                "requestID": id,
                "message": error.to_string(),
            })),
        )
            .into_response(),
        ReplyError::AlreadyAnswered(_) => ApiError::new(
            StatusCode::CONFLICT,
            "PermissionAlreadyAnsweredError",
            error.to_string(),
        )
        .into_response(),
    }
}

/// Run a slash command in the session and wait for the answer.
#[utoipa::path(post, path = "/session/{sessionID}/command", operation_id = "session.command", tag = "session",
    request_body(content = CommandInput),
    responses((status = 200, description = "Created message", body = MessageWithParts)))]
pub async fn command(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    Path(path): Path<SessionPath>,
    ValidJson(input): ValidJson<CommandInput>,
) -> Result<Json<MessageWithParts>, ApiError> {
    let global = state.instances.paths().config.clone();
    let submitted = state
        .instances
        .sessions()
        .command(&instance, &path.session_id, input, &global)?;
    let answer = submitted.answer().await?;
    flush_events(&instance).await;
    Ok(Json(answer))
}

/// Run a shell command for the user, recorded in the session.
#[utoipa::path(post, path = "/session/{sessionID}/shell", operation_id = "session.shell", tag = "session",
    request_body(content = ShellInput),
    responses((status = 200, description = "Created message", body = MessageWithParts)))]
pub async fn shell(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    Path(path): Path<SessionPath>,
    ValidJson(input): ValidJson<ShellInput>,
) -> Result<Json<MessageWithParts>, ApiError> {
    let sessions = state.instances.sessions().clone();
    Ok(Json(sessions.shell(&instance, &path.session_id, input).await?))
}

/// Every slash command of the request's directory.
#[utoipa::path(get, path = "/command", operation_id = "command.list", tag = "command",
    params(("directory" = Option<String>, Query, description = "The project directory")),
    responses((status = 200, description = "List of commands", body = Vec<Command>)))]
pub async fn commands(State(state): State<AppState>, Scoped(instance): Scoped) -> Json<Vec<Command>> {
    Json(crate::session::command::list(
        &instance,
        &state.instances.paths().config,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitInput {
    #[serde(rename = "modelID")]
    model_id: String,
    #[serde(rename = "providerID")]
    provider_id: String,
    #[serde(rename = "messageID")]
    message_id: Option<String>,
}

/// Analyze the project and create or update `AGENTS.md` (the `init` command); answers once the
/// turn is over.
#[utoipa::path(post, path = "/session/{sessionID}/init", operation_id = "session.init", tag = "session",
    request_body(content = InitInput),
    responses((status = 200, description = "The project was analyzed", body = bool, content_type = "application/json")))]
pub async fn init(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    Path(path): Path<SessionPath>,
    ValidJson(input): ValidJson<InitInput>,
) -> Result<Json<bool>, ApiError> {
    let command = CommandInput {
        message_id: input.message_id,
        agent: None,
        model: Some(format!("{}/{}", input.provider_id, input.model_id)),
        arguments: String::new(),
        command: "init".into(),
        variant: None,
    };
    let global = state.instances.paths().config.clone();
    let submitted = state
        .instances
        .sessions()
        .command(&instance, &path.session_id, command, &global)?;
    submitted.answer().await?;
    Ok(Json(true))
}
