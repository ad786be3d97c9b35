//! Operations of OpenCode's API that wasmcode lists in its OpenAPI document but does not serve
//! yet: each answers 501 with a JSON error naming the operation and the work it waits for, so a
//! client sees exactly what is missing instead of a 404.

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;

/// Declares a documented route that answers 501 Not Implemented.
macro_rules! not_yet {
    ($name:ident, $method:ident, $path:literal, $operation:literal, $waits_for:literal) => {
        #[doc = concat!("`", $operation, "`: not implemented yet (", $waits_for, ").")]
        #[utoipa::path($method, path = $path, operation_id = $operation, tag = "unimplemented",
            responses((status = 501, description = "Not implemented yet", body = super::error::ErrorBody)))]
        pub async fn $name() -> ApiError {
            ApiError::not_implemented($operation, $waits_for)
        }
    };
}

not_yet!(
    session_share,
    post,
    "/session/{sessionID}/share",
    "session.share",
    "session sharing"
);
not_yet!(
    session_unshare,
    delete,
    "/session/{sessionID}/share",
    "session.unshare",
    "session sharing"
);
not_yet!(
    session_diff,
    get,
    "/session/{sessionID}/diff",
    "session.diff",
    "session snapshots"
);
not_yet!(
    session_summarize,
    post,
    "/session/{sessionID}/summarize",
    "session.summarize",
    "compaction"
);
not_yet!(
    session_revert,
    post,
    "/session/{sessionID}/revert",
    "session.revert",
    "session snapshots"
);
not_yet!(
    session_unrevert,
    post,
    "/session/{sessionID}/unrevert",
    "session.unrevert",
    "session snapshots"
);

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(session_share, session_unshare))
        .routes(routes!(session_diff))
        .routes(routes!(session_summarize))
        .routes(routes!(session_revert))
        .routes(routes!(session_unrevert))
}
