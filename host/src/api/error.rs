//! One error type for every handler: `{name, data: {message}}` with the right status. Client
//! mistakes are 4xx and logged at warn; only real server faults are 5xx, logged at error.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::instance::InstanceError;
use crate::project::patch::ApplyError;
use crate::protocol::InvalidId;
use crate::runtime::{CallError, ToolFailure};
use crate::session::{ReplyError, SessionError};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// The error's name in the body (`BadRequest`, `NotFoundError`, ...).
    pub name: &'static str,
    pub message: String,
    /// Where bad input was found (`Query`, `Payload`, `Path`), for 400s.
    pub kind: Option<&'static str>,
    /// Why, in a word the client can branch on, for errors that have one (`VcsApplyError`).
    pub reason: Option<&'static str>,
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub name: String,
    pub data: ErrorData,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorData {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, name: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            name,
            message: message.into(),
            kind: None,
            reason: None,
        }
    }

    pub fn bad_request(message: impl Into<String>, kind: &'static str) -> Self {
        Self {
            kind: Some(kind),
            ..Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFoundError", message)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", message)
    }

    /// An operation of OpenCode's API that wasmcode does not serve yet.
    pub fn not_implemented(operation: &str, waits_for: &str) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplementedError",
            format!("`{operation}` is not implemented yet in wasmcode (it comes with {waits_for})"),
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "UnknownError", message)
    }
}

impl From<CallError> for ApiError {
    fn from(error: CallError) -> Self {
        let message = error.to_string();
        match error {
            CallError::Tool {
                kind: ToolFailure::InvalidArgs,
                ..
            } => Self::bad_request(message, "Payload"),
            CallError::Tool {
                kind: ToolFailure::Rejected(_),
                ..
            } => Self::new(StatusCode::FORBIDDEN, "PermissionRejectedError", message),
            CallError::Tool {
                kind: ToolFailure::Denied,
                ..
            } => Self::new(StatusCode::FORBIDDEN, "PermissionDeniedError", message),
            CallError::Tool {
                kind: ToolFailure::UnknownTool,
                ..
            }
            | CallError::UnknownTool { .. } => Self::not_found(message),
            CallError::Tool {
                kind: ToolFailure::Failed,
                ..
            } => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "ToolError", message),
            CallError::Timeout { .. } => {
                Self::new(StatusCode::GATEWAY_TIMEOUT, "PluginTimeoutError", message)
            }
            CallError::Busy { .. } => Self::new(StatusCode::SERVICE_UNAVAILABLE, "PluginBusyError", message),
            CallError::OutOfMemory { .. } | CallError::Trap { .. } | CallError::Instantiate { .. } => {
                Self::new(StatusCode::BAD_GATEWAY, "PluginError", message)
            }
            CallError::Setup { .. } => Self::internal(message),
        }
    }
}

impl From<ApplyError> for ApiError {
    fn from(error: ApplyError) -> Self {
        Self {
            reason: Some(error.reason()),
            ..Self::new(StatusCode::BAD_REQUEST, "VcsApplyError", error.to_string())
        }
    }
}

impl From<InstanceError> for ApiError {
    fn from(error: InstanceError) -> Self {
        let message = error.to_string();
        match error {
            InstanceError::NoSuchDirectory(_) | InstanceError::NotAbsolute(_) | InstanceError::Config(_) => {
                ApiError::bad_request(message, "Query")
            }
            InstanceError::Git(_) | InstanceError::Sandbox(_) => ApiError::internal(message),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> Self {
        let message = error.to_string();
        match error {
            SessionError::NotFound(_) | SessionError::MessageNotFound(_) | SessionError::PartNotFound(_) => {
                ApiError::not_found(message)
            }
            SessionError::BadRequest(_) | SessionError::InvalidId(_) | SessionError::Model(_) => {
                ApiError::bad_request(message, "Payload")
            }
            SessionError::Busy(_) => ApiError::new(StatusCode::CONFLICT, "BusyError", message),
            SessionError::Store(_) | SessionError::LoopGone | SessionError::Failed(_) => {
                ApiError::internal(message)
            }
        }
    }
}

/// A malformed ID in a path (`ses_…`, `msg_…`): the caller's mistake, where OpenCode answers 500.
impl From<InvalidId> for ApiError {
    fn from(error: InvalidId) -> Self {
        ApiError::bad_request(error.to_string(), "Path")
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, "{}", self.message);
        } else {
            tracing::warn!(status = %self.status, "{}", self.message);
        }
        let body = ErrorBody {
            name: self.name.into(),
            data: ErrorData {
                message: self.message,
                kind: self.kind.map(String::from),
                reason: self.reason.map(String::from),
            },
        };
        (self.status, Json(body)).into_response()
    }
}
