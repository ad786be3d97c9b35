//! `/event` and `/global/event`: server-sent event streams (first `server.connected`, then the
//! bus's events with `id:` sequence numbers, a heartbeat, `Last-Event-ID` replay).

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;

use crate::bus::sse;
use crate::instance::Scoped;
use crate::server::AppState;

/// Subscribe to the events of the request's directory.
#[utoipa::path(get, path = "/event", operation_id = "event.subscribe", tag = "event",
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    responses((status = 200, description = "Event stream", content_type = "text/event-stream", body = String)))]
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
    responses((status = 200, description = "Event stream", content_type = "text/event-stream", body = String)))]
pub async fn global(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    sse::respond(state.instances.global_bus(), &headers, uri.query(), state.sse)
}
