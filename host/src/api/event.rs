//! `/event` and `/global/event`: server-sent event streams (first `server.connected`, then the
//! bus's events with `id:` sequence numbers, a heartbeat, `Last-Event-ID` replay).

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::Scoped;
use crate::bus::sse;
use crate::protocol::event::{EventStream, GlobalEventStream};

/// Subscribe to the events of the request's directory.
#[utoipa::path(get, path = "/event", operation_id = "event.subscribe", tag = "event",
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    responses((status = 200, description = "Event stream", content_type = "text/event-stream", body = EventStream)))]
pub async fn subscribe(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    sse::respond(&instance.bus, &headers, uri.query(), state.sse)
}

/// Subscribe to the events of every directory, each wrapped as `{directory, payload}`.
#[utoipa::path(get, path = "/global/event", operation_id = "global.event", tag = "global",
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    responses((status = 200, description = "Event stream", content_type = "text/event-stream", body = GlobalEventStream)))]
pub async fn global(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    sse::respond(state.instances.global_bus(), &headers, uri.query(), state.sse)
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(subscribe))
        .routes(routes!(global))
}
