//! The HTTP server: the API's router with `/doc` (the OpenAPI document generated from the same
//! code), JSON fallbacks for unknown routes and methods, and the security layer in front of all
//! of it.

pub mod mdns;
mod openapi;
pub mod security;

use std::sync::Arc;

use axum::Json;
use axum::http::{Method, Uri};
use axum::routing::get;

use crate::api::{self, AppState, error::ApiError};
pub use security::{SecurityPolicy, ServerSettings};

/// The OpenAPI 3.1 document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api::router().into_openapi();
    openapi::complete(&mut doc);
    doc
}

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 32 << 20;

pub fn router(state: AppState, policy: SecurityPolicy) -> axum::Router {
    let (router, mut doc) = api::router().split_for_parts();
    openapi::complete(&mut doc);
    let doc = Arc::new(doc);
    router
        .route("/doc", get(move || async move { Json((*doc).clone()) }))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(policy),
            security::layer,
        ))
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("No route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(format!("Method {method} is not allowed on {}", uri.path()))
}
