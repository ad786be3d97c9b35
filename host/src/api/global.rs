//! `/global/*`: server-wide endpoints.

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

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
