//! One error type for every handler: `{name, data: {message}}` with the right status. Client
//! mistakes are 4xx and logged at warn; only real server faults are 500, logged at error.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug)]
pub enum ApiError {
    /// Bad input; `kind` says where (`Query`, `Payload`, `Path`).
    BadRequest { message: String, kind: &'static str },
    NotFound(String),
    MethodNotAllowed(String),
    Internal(String),
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// `BadRequest`, `NotFoundError`, `MethodNotAllowed` or `UnknownError`.
    pub name: String,
    pub data: ErrorData,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorData {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, name, message, kind) = match self {
            ApiError::BadRequest { message, kind } => (StatusCode::BAD_REQUEST, "BadRequest", message, Some(kind)),
            ApiError::NotFound(message) => (StatusCode::NOT_FOUND, "NotFoundError", message, None),
            ApiError::MethodNotAllowed(message) => (StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", message, None),
            ApiError::Internal(message) => {
                tracing::error!("internal error: {message}");
                (StatusCode::INTERNAL_SERVER_ERROR, "UnknownError", message, None)
            }
        };
        if status.is_client_error() {
            tracing::warn!(%status, "{message}");
        }
        let body = ErrorBody { name: name.into(), data: ErrorData { message, kind: kind.map(String::from) } };
        (status, Json(body)).into_response()
    }
}
