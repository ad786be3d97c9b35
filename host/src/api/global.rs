//! `/global/*`: server-wide endpoints.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(value_type = bool)]
    pub healthy: bool,
    pub version: String,
}

/// Get server health and version.
#[utoipa::path(get, path = "/global/health", operation_id = "global.health", tag = "global",
    responses((status = 200, description = "Health information", body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health {
        healthy: true,
        version: crate::VERSION.to_string(),
    })
}

/// Clean up and dispose every instance, releasing all their resources (`global.disposed`).
#[utoipa::path(post, path = "/global/dispose", operation_id = "global.dispose", tag = "global",
    responses((status = 200, description = "Global disposed", body = bool, content_type = "application/json")))]
pub async fn dispose(State(state): State<AppState>) -> Json<bool> {
    let released = state.instances.dispose_all().await;
    tracing::info!(released, "every instance disposed");
    Json(true)
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(dispose))
}
