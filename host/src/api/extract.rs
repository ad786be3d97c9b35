//! Extractors that turn malformed input into a 400 `ApiError` in OpenCode's wording, instead
//! of axum's plain-text rejections.

use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

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
