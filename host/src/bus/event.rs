//! The messages the buses carry: [`Envelope`]s on an instance's bus (`/event`), [`GlobalEvent`]s
//! on the server's (`/global/event`), and the [`Message`] trait that lets one bus implementation
//! carry either.
//!
//! This module owns only the wrapping (CONTRACT §4); what each event means is
//! `crate::protocol::event`'s, and who publishes it is the business of the modules above.

use std::sync::Arc;

use serde::Serialize;

use crate::protocol::Envelope;

/// One message on `/global/event`: `{"directory"?, "project"?, "payload"}`.
///
/// Events forwarded from an instance carry its directory (and project ID when known);
/// server-level events (connected, heartbeat, resync) carry only `payload`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlobalEvent {
    /// The instance directory, or absent for server-level events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<String>,
    /// The project ID (40 hex, or `"global"`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The wrapped event (shared with the instance bus that published it, not copied).
    pub payload: Arc<Envelope>,
}

impl GlobalEvent {
    /// Wraps an event.
    pub fn new(directory: Option<String>, project: Option<String>, event: impl Into<Arc<Envelope>>) -> Self {
        Self {
            directory,
            project,
            payload: event.into(),
        }
    }
}

/// What a bus can carry: a serializable message that knows how a server-level event
/// (`server.connected`, `server.heartbeat`, `server.resync`) looks on its stream.
pub trait Message: Serialize + Send + Sync + 'static {
    /// Wraps a server-level event for this stream.
    fn server(event: Envelope) -> Self;
}

impl Message for Envelope {
    fn server(event: Envelope) -> Self {
        event
    }
}

impl Message for GlobalEvent {
    fn server(event: Envelope) -> Self {
        GlobalEvent::new(None, None, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::event::{Empty, Event};
    use crate::protocol::id::EventId;

    #[test]
    fn global_event_wraps_as_the_reference() {
        let heartbeat = Envelope {
            id: EventId::parse("evt_1").expect("an event id"),
            event: Event::ServerHeartbeat(Empty {}),
        };
        assert_eq!(
            serde_json::to_string(&GlobalEvent::server(heartbeat.clone())).expect("serializes"),
            r#"{"payload":{"id":"evt_1","type":"server.heartbeat","properties":{}}}"#
        );
        let forwarded = GlobalEvent::new(Some("/home/dev/project".into()), Some("dcd1".into()), heartbeat);
        assert_eq!(
            serde_json::to_string(&forwarded).expect("serializes"),
            r#"{"directory":"/home/dev/project","project":"dcd1","payload":{"id":"evt_1","type":"server.heartbeat","properties":{}}}"#
        );
    }
}
