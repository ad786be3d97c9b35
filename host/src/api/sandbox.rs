//! `/experimental/sandbox`: how the project's commands are confined (wasmcode's own route).

use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::Scoped;
use crate::sandbox::SandboxStatus;

/// How commands the agent runs in this project are confined: by the kernel, or not and why,
/// and what they may read, write and reach.
#[utoipa::path(get, path = "/experimental/sandbox", operation_id = "sandbox.status", tag = "sandbox",
    responses((status = 200, description = "The project's sandbox", body = SandboxStatus)))]
pub async fn status(Scoped(instance): Scoped) -> Json<SandboxStatus> {
    Json(instance.sandbox.status())
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(status))
}
