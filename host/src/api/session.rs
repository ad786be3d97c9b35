//! `/session`: sessions, their messages and parts, prompts, abort, and the legacy permission
//! reply.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use super::extract::{OptionalJson, Scoped, ValidJson, ValidPath, ValidQuery};
use crate::instance::Instance;
use crate::protocol::id::{MessageId, PartId, PermissionId, SessionId};
use crate::protocol::permission::Reply;
use crate::protocol::session::{MessageWithParts, Part, Session, SessionStatus};
use crate::session::command::Command;
use crate::session::{
    CommandInput, CreateSession, ListSessions, PromptInput, ReplyError, ShellInput, UpdateSession,
};

/// List sessions, most recently updated first.
#[utoipa::path(get, path = "/session", operation_id = "session.list", tag = "session",
    params(ListSessions),
    responses((status = 200, description = "List of sessions", body = Vec<Session>)))]
pub async fn list(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    ValidQuery(query): ValidQuery<ListSessions>,
) -> Result<Json<Vec<Session>>, ApiError> {
    Ok(Json(state.sessions.list(&instance, &query)?))
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
    Ok(Json(state.sessions.create(&instance, input)?))
}

/// What each busy session is doing; idle sessions are absent.
#[utoipa::path(get, path = "/session/status", operation_id = "session.status", tag = "session",
    responses((status = 200, description = "Get session status", body = HashMap<String, SessionStatus>)))]
pub async fn status(
    State(state): State<AppState>,
    Scoped(_instance): Scoped,
) -> Json<HashMap<String, SessionStatus>> {
    Json(state.sessions.statuses())
}

#[derive(Debug, Deserialize)]
pub struct SessionPath {
    #[serde(rename = "sessionID")]
    session_id: SessionId,
}

/// Get a session.
#[utoipa::path(get, path = "/session/{sessionID}", operation_id = "session.get", tag = "session",
    responses(
        (status = 200, description = "Get session", body = Session),
        (status = 404, description = "Not found", body = super::error::ErrorBody),
    ))]
pub async fn get(
    State(state): State<AppState>,
    ValidPath(path): ValidPath<SessionPath>,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(state.sessions.get(&path.session_id)?))
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
    ValidPath(path): ValidPath<SessionPath>,
) -> Result<Json<bool>, ApiError> {
    state.sessions.delete(&instance, &path.session_id).await?;
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
    ValidPath(path): ValidPath<SessionPath>,
    ValidJson(input): ValidJson<UpdateSession>,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(state.sessions.update(&instance, &path.session_id, input)?))
}

/// A session's child sessions.
#[utoipa::path(get, path = "/session/{sessionID}/children", operation_id = "session.children", tag = "session",
    responses((status = 200, description = "List of children", body = Vec<Session>)))]
pub async fn children(
    State(state): State<AppState>,
    ValidPath(path): ValidPath<SessionPath>,
) -> Result<Json<Vec<Session>>, ApiError> {
    Ok(Json(state.sessions.children(&path.session_id)?))
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
    ValidPath(path): ValidPath<SessionPath>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(state.sessions.todos(&path.session_id)?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ForkInput {
    #[serde(rename = "messageID")]
    message_id: Option<MessageId>,
}

/// Copy a session, up to (not including) a message, into a new session.
#[utoipa::path(post, path = "/session/{sessionID}/fork", operation_id = "session.fork", tag = "session",
    request_body(content = ForkInput),
    responses((status = 200, description = "The new session", body = Session)))]
pub async fn fork(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    ValidPath(path): ValidPath<SessionPath>,
    OptionalJson(input): OptionalJson<ForkInput>,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(state.sessions.fork(
        &instance,
        &path.session_id,
        input.message_id.as_ref(),
    )?))
}

/// Abort the session's running turn; answers once the session is idle.
#[utoipa::path(post, path = "/session/{sessionID}/abort", operation_id = "session.abort", tag = "session",
    responses((status = 200, description = "Aborted session", body = bool, content_type = "application/json")))]
pub async fn abort(
    State(state): State<AppState>,
    ValidPath(path): ValidPath<SessionPath>,
) -> Result<Json<bool>, ApiError> {
    state.sessions.abort(&path.session_id).await?;
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
    ValidPath(path): ValidPath<SessionPath>,
    ValidQuery(query): ValidQuery<MessagesQuery>,
) -> Result<Response, ApiError> {
    let json = state.sessions.messages_json(&path.session_id, query.limit)?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], json).into_response())
}

#[derive(Debug, Deserialize)]
pub struct MessagePath {
    #[serde(rename = "sessionID")]
    session_id: SessionId,
    #[serde(rename = "messageID")]
    message_id: MessageId,
}

/// One message with its parts.
#[utoipa::path(get, path = "/session/{sessionID}/message/{messageID}", operation_id = "session.message", tag = "session",
    responses((status = 200, description = "Message", body = MessageWithParts)))]
pub async fn message(
    State(state): State<AppState>,
    ValidPath(path): ValidPath<MessagePath>,
) -> Result<Json<MessageWithParts>, ApiError> {
    Ok(Json(state.sessions.message(&path.session_id, &path.message_id)?))
}

/// Send a prompt and wait for the answer: the last assistant message of the turn (with
/// `noReply`, the stored user message).
#[utoipa::path(post, path = "/session/{sessionID}/message", operation_id = "session.prompt", tag = "session",
    request_body(content = PromptInput),
    responses((status = 200, description = "Created message", body = MessageWithParts)))]
pub async fn prompt(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    ValidPath(path): ValidPath<SessionPath>,
    ValidJson(input): ValidJson<PromptInput>,
) -> Result<Json<MessageWithParts>, ApiError> {
    let submitted = state.sessions.submit(&instance, &path.session_id, input)?;
    let answer = submitted.answer().await?;
    flush_events(&instance).await;
    Ok(Json(answer))
}

/// Lets `/event` subscribers be sent the turn's events before its answer goes out: clients such
/// as `opencode run` print from the events and exit when the answer arrives.
async fn flush_events(instance: &Instance) {
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
    ValidPath(path): ValidPath<SessionPath>,
    ValidJson(input): ValidJson<PromptInput>,
) -> Result<StatusCode, ApiError> {
    state.sessions.submit(&instance, &path.session_id, input)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LegacyReply {
    response: Reply,
}

#[derive(Debug, Deserialize)]
pub struct PermissionPath {
    #[serde(rename = "sessionID")]
    session_id: SessionId,
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
    ValidPath(path): ValidPath<PermissionPath>,
    ValidJson(body): ValidJson<LegacyReply>,
) -> Response {
    let sessions = &state.sessions;
    if let Err(e) = sessions.get(&path.session_id) {
        return ApiError::from(e).into_response();
    }
    let Ok(id) = PermissionId::parse(&path.permission_id) else {
        return super::error::reply_error(ReplyError::NotFound(path.permission_id));
    };
    match sessions.reply(&instance, &id, body.response, None) {
        Ok(()) => Json(true).into_response(),
        Err(error) => super::error::reply_error(error),
    }
}

/// Run a slash command in the session and wait for the answer.
#[utoipa::path(post, path = "/session/{sessionID}/command", operation_id = "session.command", tag = "session",
    request_body(content = CommandInput),
    responses((status = 200, description = "Created message", body = MessageWithParts)))]
pub async fn command(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    ValidPath(path): ValidPath<SessionPath>,
    ValidJson(input): ValidJson<CommandInput>,
) -> Result<Json<MessageWithParts>, ApiError> {
    let global = state.instances.paths().config.clone();
    let submitted = state
        .sessions
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
    ValidPath(path): ValidPath<SessionPath>,
    ValidJson(input): ValidJson<ShellInput>,
) -> Result<Json<MessageWithParts>, ApiError> {
    Ok(Json(
        state.sessions.shell(&instance, &path.session_id, input).await?,
    ))
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
pub struct InitInput {
    #[serde(rename = "modelID")]
    model_id: String,
    #[serde(rename = "providerID")]
    provider_id: String,
    #[serde(rename = "messageID")]
    message_id: Option<MessageId>,
}

/// Analyze the project and create or update `AGENTS.md` (the `init` command); answers once the
/// turn is over.
#[utoipa::path(post, path = "/session/{sessionID}/init", operation_id = "session.init", tag = "session",
    request_body(content = InitInput),
    responses((status = 200, description = "The project was analyzed", body = bool, content_type = "application/json")))]
pub async fn init(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    ValidPath(path): ValidPath<SessionPath>,
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
        .sessions
        .command(&instance, &path.session_id, command, &global)?;
    submitted.answer().await?;
    Ok(Json(true))
}

/// Delete a message with its parts (`message.removed`). Refused while the session runs a turn.
#[utoipa::path(delete, path = "/session/{sessionID}/message/{messageID}", operation_id = "session.deleteMessage",
    tag = "session",
    responses(
        (status = 200, description = "Successfully deleted message", body = bool, content_type = "application/json"),
        (status = 409, description = "The session is busy", body = super::error::ErrorBody),
    ))]
pub async fn delete_message(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    ValidPath(path): ValidPath<MessagePath>,
) -> Result<Json<bool>, ApiError> {
    state
        .sessions
        .delete_message(&instance, &path.session_id, &path.message_id)?;
    Ok(Json(true))
}

#[derive(Debug, Deserialize)]
pub struct PartPath {
    #[serde(rename = "sessionID")]
    session_id: SessionId,
    #[serde(rename = "messageID")]
    message_id: MessageId,
    #[serde(rename = "partID")]
    part_id: PartId,
}

/// Delete a part from a message (`message.part.removed`). Refused while the session runs a turn.
#[utoipa::path(delete, path = "/session/{sessionID}/message/{messageID}/part/{partID}", operation_id = "part.delete",
    tag = "session",
    responses(
        (status = 200, description = "Successfully deleted part", body = bool, content_type = "application/json"),
        (status = 409, description = "The session is busy", body = super::error::ErrorBody),
    ))]
pub async fn delete_part(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    ValidPath(path): ValidPath<PartPath>,
) -> Result<Json<bool>, ApiError> {
    state
        .sessions
        .delete_part(&instance, &path.session_id, &path.message_id, &path.part_id)?;
    Ok(Json(true))
}

/// Replace a part of a message (`message.part.updated`); its ids must be those of the path.
#[utoipa::path(patch, path = "/session/{sessionID}/message/{messageID}/part/{partID}", operation_id = "part.update",
    tag = "session",
    request_body(content = Part),
    responses(
        (status = 200, description = "Successfully updated part", body = Part),
        (status = 409, description = "The session is busy", body = super::error::ErrorBody),
    ))]
pub async fn update_part(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    ValidPath(path): ValidPath<PartPath>,
    ValidJson(part): ValidJson<Part>,
) -> Result<Json<Part>, ApiError> {
    if part.id != path.part_id {
        return Err(ApiError::bad_request(
            format!("the part's id {} is not the path's {}", part.id, path.part_id),
            "Payload",
        ));
    }
    Ok(Json(state.sessions.update_part(
        &instance,
        &path.session_id,
        &path.message_id,
        part,
    )?))
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(status))
        .routes(routes!(get, delete, update))
        .routes(routes!(children))
        .routes(routes!(todo))
        .routes(routes!(fork))
        .routes(routes!(abort))
        .routes(routes!(messages, prompt))
        .routes(routes!(message, delete_message))
        .routes(routes!(delete_part, update_part))
        .routes(routes!(prompt_async))
        .routes(routes!(respond))
        .routes(routes!(command))
        .routes(routes!(shell))
        .routes(routes!(commands))
        .routes(routes!(init))
}
