//! `/permission`: the pending permission requests of every session, and their replies.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::error::reply_error;
use super::extract::{Scoped, ValidJson};
use crate::protocol::id::PermissionId;
use crate::protocol::permission::{PermissionRequest, Reply};
use crate::session::ReplyError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Pending permission requests, oldest first.
#[utoipa::path(get, path = "/permission", operation_id = "permission.list", tag = "permission",
    responses((status = 200, description = "List of pending permissions", body = Vec<PermissionRequest>)))]
pub async fn list(State(state): State<AppState>) -> Json<Vec<PermissionRequest>> {
    Json(state.sessions.broker().list())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReplyBody {
    reply: Reply,
    /// With `reject`: feedback for the model, and the turn goes on.
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RequestPath {
    #[serde(rename = "requestID")]
    request_id: String,
}

/// Answer a permission request: `once`, `always` or `reject` (with an optional message).
#[utoipa::path(post, path = "/permission/{requestID}/reply", operation_id = "permission.reply", tag = "permission",
    request_body(content = ReplyBody),
    responses(
        (status = 200, description = "Permission processed successfully", body = bool, content_type = "application/json"),
        (status = 404, description = "Unknown request"),
        (status = 409, description = "Already answered"),
    ))]
pub async fn reply(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    Path(path): Path<RequestPath>,
    ValidJson(body): ValidJson<ReplyBody>,
) -> Response {
    // An ID that is not a request's is as unknown as one that was never asked.
    let Ok(id) = PermissionId::parse(&path.request_id) else {
        return reply_error(ReplyError::NotFound(path.request_id));
    };
    match state.sessions.reply(&instance, &id, body.reply, body.message) {
        Ok(()) => Json(true).into_response(),
        Err(error) => reply_error(error),
    }
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(reply))
}
