//! The JSON shapes that travel on the buses: [`Event`] (`/event`) and [`GlobalEvent`]
//! (`/global/event`), and the [`Message`] trait that lets one bus implementation carry either.
//!
//! This module owns only the wire shapes (CONTRACT §4); it must not know what any event type
//! means. The properties of each event type are built by the modules that publish them.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::id::Identifier;

/// Type of the first message of every stream.
pub const SERVER_CONNECTED: &str = "server.connected";
/// Type of the keep-alive message sent at the heartbeat interval.
pub const SERVER_HEARTBEAT: &str = "server.heartbeat";
/// Type of the message that replaces a replay the bus cannot give (wasmcode addition).
pub const SERVER_RESYNC: &str = "server.resync";

/// One bus event, serialized exactly as on `/event`: `{"id":"evt_…","type":…,"properties":…}`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Event {
    /// An ascending `evt_` identifier.
    pub id: String,
    /// The event type, e.g. `session.created`.
    pub r#type: String,
    /// The type-specific body (`{}` when there is none).
    pub properties: Value,
}

impl Event {
    /// An event with a fresh `evt_` id.
    pub fn new(r#type: impl Into<String>, properties: Value) -> Self {
        Self {
            id: Identifier::ascending("evt"),
            r#type: r#type.into(),
            properties,
        }
    }

    /// A server-level event with empty properties (`server.connected`, `server.heartbeat`).
    pub fn server(r#type: &str) -> Self {
        Self::new(r#type, Value::Object(Default::default()))
    }
}

/// One message on `/global/event`: `{"directory"?, "project"?, "payload"}`.
///
/// Events forwarded from an instance carry its directory (and project ID when known); a few
/// events such as `project.updated` use the directory `"global"`; server-level events
/// (connected, heartbeat, resync) carry only `payload`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlobalEvent {
    /// The instance directory, `"global"`, or absent for server-level events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<String>,
    /// The project ID (40 hex, or `"global"`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The wrapped event.
    pub payload: Payload,
}

impl GlobalEvent {
    /// Wraps an event.
    pub fn new(directory: Option<String>, project: Option<String>, event: impl Into<Arc<Event>>) -> Self {
        Self {
            directory,
            project,
            payload: Payload::Event(event.into()),
        }
    }

    /// Wraps a payload that is not an [`Event`], such as the `{"type":"sync","syncEvent":…,"id"}`
    /// copies of durable events.
    pub fn raw(directory: Option<String>, project: Option<String>, payload: Value) -> Self {
        Self {
            directory,
            project,
            payload: Payload::Raw(payload),
        }
    }

    /// The payload's `id` (the `evt_` id for events; the `id` member of a raw payload).
    pub fn event_id(&self) -> Option<&str> {
        match &self.payload {
            Payload::Event(event) => Some(&event.id),
            Payload::Raw(value) => value.get("id").and_then(Value::as_str),
        }
    }

    /// The payload's `type`.
    pub fn event_type(&self) -> Option<&str> {
        match &self.payload {
            Payload::Event(event) => Some(&event.r#type),
            Payload::Raw(value) => value.get("type").and_then(Value::as_str),
        }
    }
}

/// The `payload` of a [`GlobalEvent`]. Serializes as the bare event or value.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A bus event (shared with the instance bus that published it, not copied).
    Event(Arc<Event>),
    /// Any other JSON payload.
    Raw(Value),
}

impl Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Payload::Event(event) => event.as_ref().serialize(serializer),
            Payload::Raw(value) => value.serialize(serializer),
        }
    }
}

/// What a bus can carry: a serializable message that knows how a server-level event
/// (`server.connected`, `server.heartbeat`, `server.resync`) looks on its stream.
pub trait Message: Serialize + Send + Sync + 'static {
    /// Wraps a server-level event for this stream.
    fn server(event: Event) -> Self;
}

impl Message for Event {
    fn server(event: Event) -> Self {
        event
    }
}

impl Message for GlobalEvent {
    fn server(event: Event) -> Self {
        GlobalEvent::new(None, None, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_serializes_like_the_reference() {
        let event = Event {
            id: "evt_2039c5f36002I9wK74WODMp5D8".into(),
            r#type: "session.idle".into(),
            properties: json!({"sessionID": "ses_dfc63b114ffemAuF2DNfNerOjt"}),
        };
        assert_eq!(
            serde_json::to_string(&event).expect("serializes"),
            r#"{"id":"evt_2039c5f36002I9wK74WODMp5D8","type":"session.idle","properties":{"sessionID":"ses_dfc63b114ffemAuF2DNfNerOjt"}}"#
        );
        let connected = Event::server(SERVER_CONNECTED);
        assert_eq!(
            serde_json::to_string(&connected).expect("serializes"),
            std::format!(
                r#"{{"id":"{}","type":"server.connected","properties":{{}}}}"#,
                connected.id
            )
        );
    }

    #[test]
    fn global_event_wraps_as_the_reference() {
        let heartbeat = Event {
            id: "evt_1".into(),
            ..Event::server(SERVER_HEARTBEAT)
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
        assert_eq!(forwarded.event_id(), Some("evt_1"));
        let sync = GlobalEvent::raw(
            Some("/p".into()),
            None,
            json!({"type": "sync", "syncEvent": {"id": "evt_2", "type": "session.created.1"}, "id": "evt_2"}),
        );
        assert_eq!(
            serde_json::to_string(&sync).expect("serializes"),
            r#"{"directory":"/p","payload":{"type":"sync","syncEvent":{"id":"evt_2","type":"session.created.1"},"id":"evt_2"}}"#
        );
        assert_eq!(
            (sync.event_id(), sync.event_type()),
            (Some("evt_2"), Some("sync"))
        );
    }
}
