//! `/instance/*`: the lifetime of a directory's state.

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use axum::Json;
use axum::extract::State;

use super::extract::RequestedDirectory;

/// Dispose the current instance: its state is released and made afresh on the next request.
#[utoipa::path(post, path = "/instance/dispose", operation_id = "instance.dispose", tag = "instance",
    params(("directory" = Option<String>, Query, description = "The project directory (default: the server's)")),
    responses((status = 200, description = "Instance disposed", body = bool, content_type = "application/json")))]
pub async fn dispose(
    State(state): State<AppState>,
    RequestedDirectory(directory): RequestedDirectory,
) -> Json<bool> {
    let existed = state.instances.dispose(&directory).await;
    tracing::info!(directory = %directory.display(), existed, "instance disposed");
    Json(true)
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(dispose))
}
