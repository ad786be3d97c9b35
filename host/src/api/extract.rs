//! Extractors: the directory a request is scoped to (and its instance), and bodies and queries
//! whose malformed input becomes a 400 `ApiError` in OpenCode's wording, instead of axum's
//! plain-text rejections.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::instance::Instance;

/// The header clients use to name the project directory.
pub const DIRECTORY_HEADER: &str = "x-opencode-directory";

#[derive(Debug, Default, Deserialize)]
struct DirectoryQuery {
    directory: Option<String>,
}

/// The directory a request is scoped to: `?directory=`, else the `x-opencode-directory` header
/// (URL-encoded), else the default. The query wins, as in OpenCode.
pub fn requested_directory(parts: &Parts, default: &Path) -> Result<PathBuf, ApiError> {
    let query = Query::<DirectoryQuery>::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .unwrap_or_default();
    if let Some(directory) = query.directory.filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(directory));
    }
    if let Some(value) = parts.headers.get(DIRECTORY_HEADER) {
        let raw = value.to_str().map_err(|_| {
            ApiError::bad_request(format!("{DIRECTORY_HEADER} must be URL-encoded ASCII"), "Header")
        })?;
        let decoded = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| ApiError::bad_request(format!("{DIRECTORY_HEADER} is not valid UTF-8"), "Header"))?;
        if !decoded.is_empty() {
            return Ok(PathBuf::from(decoded.as_ref()));
        }
    }
    Ok(default.to_path_buf())
}

/// The directory a request names, without creating its instance.
pub struct RequestedDirectory(pub PathBuf);

impl FromRequestParts<AppState> for RequestedDirectory {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        requested_directory(parts, &state.default_directory).map(Self)
    }
}

/// The request's instance, created on first use of its directory.
pub struct Scoped(pub Arc<Instance>);

impl FromRequestParts<AppState> for Scoped {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let directory = requested_directory(parts, &state.default_directory)?;
        Ok(Self(state.instances.get(&directory).await?))
    }
}

/// `Query<T>` with OpenCode's error text: `Missing key\n  at ["provider"]`.
pub struct ValidQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ValidQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::bad_request(
                query_message(&rejection.body_text()),
                "Query",
            )),
        }
    }
}

/// `Path<T>` whose rejections (a malformed ID, say) are 400 `ApiError`s.
pub struct ValidPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ValidPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::bad_request(
                rejection
                    .body_text()
                    .trim_start_matches("Invalid URL: ")
                    .to_string(),
                "Path",
            )),
        }
    }
}

/// `Json<T>` whose rejections (bad JSON, wrong types, wrong content type, too large) are 400/413
/// `ApiError`s.
pub struct ValidJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ValidJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => {
                let status = rejection.status();
                let message = rejection.body_text();
                if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    Err(ApiError::new(status, "PayloadTooLargeError", message))
                } else {
                    Err(ApiError::bad_request(message, "Payload"))
                }
            }
        }
    }
}

/// A JSON body that may be absent: an empty body is `T::default()`. Like OpenCode, the body is
/// read as JSON whatever its `Content-Type` says.
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                let status = rejection.status();
                if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(status, "PayloadTooLargeError", rejection.body_text())
                } else {
                    ApiError::bad_request(rejection.body_text(), "Payload")
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|e| ApiError::bad_request(format!("Invalid JSON body: {e}"), "Payload"))
    }
}

fn query_message(text: &str) -> String {
    // serde_urlencoded says "missing field `provider`"; OpenCode says where, in its own form.
    if let Some(field) = text
        .split("missing field `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
    {
        return format!("Missing key\n  at [\"{field}\"]");
    }
    text.trim_start_matches("Failed to deserialize query string: ")
        .to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn missing_field_reads_like_opencode() {
        assert_eq!(
            super::query_message("Failed to deserialize query string: missing field `provider`"),
            "Missing key\n  at [\"provider\"]"
        );
    }
}
