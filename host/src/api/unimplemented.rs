//! Operations of OpenCode's API that wasmcode lists in its OpenAPI document but does not serve
//! yet: each answers 501 with a JSON error naming the operation and the work it waits for, so a
//! client sees exactly what is missing instead of a 404.

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
    "sessions and the agent loop"
);
not_yet!(
    session_unshare,
    delete,
    "/session/{sessionID}/share",
    "session.unshare",
    "sessions and the agent loop"
);
not_yet!(
    session_diff,
    get,
    "/session/{sessionID}/diff",
    "session.diff",
    "sessions and the agent loop"
);
not_yet!(
    session_summarize,
    post,
    "/session/{sessionID}/summarize",
    "session.summarize",
    "sessions and the agent loop"
);
not_yet!(
    session_revert,
    post,
    "/session/{sessionID}/revert",
    "session.revert",
    "sessions and the agent loop"
);
not_yet!(
    session_unrevert,
    post,
    "/session/{sessionID}/unrevert",
    "session.unrevert",
    "sessions and the agent loop"
);
not_yet!(mcp_add, post, "/mcp", "mcp.add", "the server surface");

/// Every route above, for the router.
macro_rules! unimplemented_routes {
    ($router:expr) => {
        $router
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_share))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_unshare))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_diff))
            .routes(utoipa_axum::routes!(
                $crate::api::unimplemented::session_summarize
            ))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_revert))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_unrevert))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::mcp_add))
    };
}
pub(crate) use unimplemented_routes;
