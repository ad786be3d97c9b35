//! HTTP handlers, one module per resource, each exposing its `routes()`; [`router`] merges them
//! into one router whose OpenAPI document is generated from the same code. Handlers are thin:
//! they parse, call a service, and shape the response; they never touch wasmtime or the store
//! directly. What every handler can reach is [`AppState`].
//!
//! This layer owns the HTTP shapes of the domain: the extractors that name a request's directory
//! and reject bad input in OpenCode's words, and the mapping of every domain error to a status.

pub mod app;
pub mod config;
pub mod error;
pub mod event;
pub mod extract;
pub mod file;
pub mod global;
pub mod instance;
pub mod mcp;
pub mod permission;
pub mod project;
pub mod provider;
pub mod pty;
pub mod sandbox;
pub mod session;
pub mod tool;
pub mod tui;
pub mod unimplemented;
pub mod v1;

use std::path::PathBuf;
use std::sync::Arc;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::bus::sse::SseOptions;
use crate::instance::Instances;
use crate::session::Sessions;
use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The per-directory instances.
    pub instances: Arc<Instances>,
    /// Every session of the server.
    pub sessions: Arc<Sessions>,
    /// The directory a request without `?directory=` is about (the server's cwd).
    pub default_directory: PathBuf,
    /// Event stream settings (the heartbeat interval).
    pub sse: SseOptions,
}

/// Runs blocking work (file I/O, `git`, a file rewrite) off the async workers; a panic in it is a
/// 500.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("a blocking task failed: {e}")))
}

#[derive(OpenApi)]
#[openapi(info(
    title = "opencode",
    version = "1.0.0",
    description = "opencode api, served by wasmcode"
))]
struct ApiDoc;

/// Every route of the API, documented.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(global::routes())
        .merge(instance::routes())
        .merge(event::routes())
        .merge(file::routes())
        .merge(project::routes())
        .merge(config::routes())
        .merge(provider::routes())
        .merge(session::routes())
        .merge(permission::routes())
        .merge(app::routes())
        .merge(tui::routes())
        .merge(tool::routes())
        .merge(pty::routes())
        .merge(mcp::routes())
        .merge(sandbox::routes())
        .merge(v1::routes())
        .merge(unimplemented::routes())
}
