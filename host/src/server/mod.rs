//! The HTTP server: the router built from the API modules (so the OpenAPI document is generated
//! from the same code), JSON fallbacks for unknown routes and methods, `/doc`, and the security
//! layer in front of all of it.

pub mod mdns;
mod openapi;
pub mod security;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::http::{Method, Uri};
use axum::routing::get;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::{self, error::ApiError};
use crate::bus::sse::SseOptions;
use crate::instance::Instances;
pub use security::{SecurityPolicy, ServerSettings};

/// What every handler can reach: the per-directory instances, and the directory a request
/// without `?directory=` is about (the server's cwd).
#[derive(Clone)]
pub struct AppState {
    pub instances: Arc<Instances>,
    pub default_directory: PathBuf,
    /// Event stream settings (the heartbeat interval).
    pub sse: SseOptions,
}

#[derive(OpenApi)]
#[openapi(info(
    title = "opencode",
    version = "1.0.0",
    description = "opencode api, served by wasmcode"
))]
struct ApiDoc;

fn api_router() -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::with_openapi(ApiDoc::openapi());
    let router = api::unimplemented::unimplemented_routes!(router);
    router
        .routes(routes!(api::global::health))
        .routes(routes!(api::instance::dispose))
        .routes(routes!(api::event::subscribe))
        .routes(routes!(api::event::global))
        .routes(routes!(api::file::list))
        .routes(routes!(api::file::read))
        .routes(routes!(api::file::status))
        .routes(routes!(api::file::text))
        .routes(routes!(api::file::files))
        .routes(routes!(api::file::symbols))
        .routes(routes!(api::project::list))
        .routes(routes!(api::project::current))
        .routes(routes!(api::project::path))
        .routes(routes!(api::project::vcs))
        .routes(routes!(api::config::get, api::config::update))
        .routes(routes!(api::provider::config_providers))
        .routes(routes!(api::provider::provider_list))
        .routes(routes!(api::provider::provider_auth))
        .routes(routes!(api::provider::auth_set, api::provider::auth_remove))
        .routes(routes!(api::provider::provider_oauth_authorize))
        .routes(routes!(api::provider::provider_oauth_callback))
        .routes(routes!(api::session::list, api::session::create))
        .routes(routes!(api::session::status))
        .routes(routes!(
            api::session::get,
            api::session::delete,
            api::session::update
        ))
        .routes(routes!(api::session::children))
        .routes(routes!(api::session::todo))
        .routes(routes!(api::session::fork))
        .routes(routes!(api::session::abort))
        .routes(routes!(api::session::messages, api::session::prompt))
        .routes(routes!(api::session::message))
        .routes(routes!(api::session::prompt_async))
        .routes(routes!(api::session::respond))
        .routes(routes!(api::permission::list))
        .routes(routes!(api::permission::reply))
        .routes(routes!(api::app::agents))
        .routes(routes!(api::session::command))
        .routes(routes!(api::session::shell))
        .routes(routes!(api::session::commands))
        .routes(routes!(api::session::init))
        .routes(routes!(api::app::log))
        .routes(routes!(api::app::lsp))
        .routes(routes!(api::app::formatter))
        .routes(routes!(api::app::mcp))
        .routes(routes!(api::tui::append_prompt))
        .routes(routes!(api::tui::execute_command))
        .routes(routes!(api::tui::show_toast))
        .routes(routes!(api::tui::open_help))
        .routes(routes!(api::tui::open_sessions))
        .routes(routes!(api::tui::open_themes))
        .routes(routes!(api::tui::open_models))
        .routes(routes!(api::tui::submit_prompt))
        .routes(routes!(api::tui::clear_prompt))
        .routes(routes!(api::tui::control_next))
        .routes(routes!(api::tui::control_response))
        .routes(routes!(api::tool::ids))
        .routes(routes!(api::tool::list))
        .routes(routes!(api::v1::tools))
        .routes(routes!(api::v1::execute_tool))
        .routes(routes!(api::v1::chat))
        .routes(routes!(api::v1::chat_stream))
        .routes(routes!(api::v1::models))
        .routes(routes!(api::v1::skills))
        .routes(routes!(api::v1::app_skills))
        .routes(routes!(api::v1::sessions_list, api::v1::sessions_create))
}

/// The OpenAPI 3.1 document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api_router().into_openapi();
    openapi::complete(&mut doc);
    doc
}

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 32 << 20;

pub fn router(state: AppState, policy: SecurityPolicy) -> axum::Router {
    let (router, mut doc) = api_router().split_for_parts();
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
