//! `/instance/*`: the lifetime of a directory's state.

use axum::Json;
use axum::extract::State;

use crate::instance::RequestedDirectory;
use crate::server::AppState;

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
