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
    session_list,
    get,
    "/session",
    "session.list",
    "sessions and the agent loop"
);
not_yet!(
    session_create,
    post,
    "/session",
    "session.create",
    "sessions and the agent loop"
);
not_yet!(
    session_status,
    get,
    "/session/status",
    "session.status",
    "sessions and the agent loop"
);
not_yet!(
    session_get,
    get,
    "/session/{sessionID}",
    "session.get",
    "sessions and the agent loop"
);
not_yet!(
    session_delete,
    delete,
    "/session/{sessionID}",
    "session.delete",
    "sessions and the agent loop"
);
not_yet!(
    session_update,
    patch,
    "/session/{sessionID}",
    "session.update",
    "sessions and the agent loop"
);
not_yet!(
    session_children,
    get,
    "/session/{sessionID}/children",
    "session.children",
    "sessions and the agent loop"
);
not_yet!(
    session_todo,
    get,
    "/session/{sessionID}/todo",
    "session.todo",
    "sessions and the agent loop"
);
not_yet!(
    session_init,
    post,
    "/session/{sessionID}/init",
    "session.init",
    "sessions and the agent loop"
);
not_yet!(
    session_fork,
    post,
    "/session/{sessionID}/fork",
    "session.fork",
    "sessions and the agent loop"
);
not_yet!(
    session_abort,
    post,
    "/session/{sessionID}/abort",
    "session.abort",
    "sessions and the agent loop"
);
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
not_yet!(
    permission_respond,
    post,
    "/session/{sessionID}/permissions/{permissionID}",
    "permission.respond",
    "sessions and the agent loop"
);
not_yet!(
    session_messages,
    get,
    "/session/{sessionID}/message",
    "session.messages",
    "sessions and the agent loop"
);
not_yet!(
    session_prompt,
    post,
    "/session/{sessionID}/message",
    "session.prompt",
    "sessions and the agent loop"
);
not_yet!(
    session_message,
    get,
    "/session/{sessionID}/message/{messageID}",
    "session.message",
    "sessions and the agent loop"
);
not_yet!(
    session_prompt_async,
    post,
    "/session/{sessionID}/prompt_async",
    "session.prompt_async",
    "sessions and the agent loop"
);
not_yet!(
    session_command,
    post,
    "/session/{sessionID}/command",
    "session.command",
    "sessions and the agent loop"
);
not_yet!(
    session_shell,
    post,
    "/session/{sessionID}/shell",
    "session.shell",
    "sessions and the agent loop"
);
not_yet!(
    command_list,
    get,
    "/command",
    "command.list",
    "the server surface"
);
not_yet!(mcp_add, post, "/mcp", "mcp.add", "the server surface");
not_yet!(app_agents, get, "/agent", "app.agents", "the server surface");
not_yet!(
    permission_reply,
    post,
    "/permission/{requestID}/reply",
    "permission.reply",
    "sessions and the agent loop"
);
not_yet!(
    permission_list,
    get,
    "/permission",
    "permission.list",
    "sessions and the agent loop"
);

/// Every route above, for the router.
macro_rules! unimplemented_routes {
    ($router:expr) => {
        $router
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_list))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_create))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_status))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_get))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_delete))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_update))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_children))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_todo))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_init))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_fork))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_abort))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_share))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_unshare))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_diff))
            .routes(utoipa_axum::routes!(
                $crate::api::unimplemented::session_summarize
            ))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_revert))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_unrevert))
            .routes(utoipa_axum::routes!(
                $crate::api::unimplemented::permission_respond
            ))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_messages))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_prompt))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_message))
            .routes(utoipa_axum::routes!(
                $crate::api::unimplemented::session_prompt_async
            ))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_command))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::session_shell))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::command_list))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::mcp_add))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::app_agents))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::permission_reply))
            .routes(utoipa_axum::routes!($crate::api::unimplemented::permission_list))
    };
}
pub(crate) use unimplemented_routes;
