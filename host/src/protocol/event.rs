//! Every event the server sends on `/event` and `/global/event`, as one typed enum: serialized
//! `{"type": …, "properties": …}` (CONTRACT §4), wrapped with its `evt_` id in an [`Envelope`].
//! `/doc` documents the stream as the discriminated union of these variants ([`schemas`]), each
//! with its `type` value and its properties' schema, as the reference documents its `Event`.
//!
//! Plain data: who publishes what, and when, is the business of the modules that own the
//! change (sessions, instances, the TUI queue); the bus only carries and frames them.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::id::{EventId, MessageId, PartId, PermissionId, SessionId};
use super::mcp::McpToolsChanged;
use super::permission::{PermissionRequest, Reply};
use super::project::Project;
use super::pty::{PtyChanged, PtyExited, PtyRef};
use super::session::{MessageError, MessageInfo, Part, Session, SessionStatus};

/// One event with its id, exactly as a stream sends it: `{"id":"evt_…","type":…,"properties":…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: EventId,
    #[serde(flatten)]
    pub event: Event,
}

impl Envelope {
    /// `event` with a fresh id.
    pub fn new(event: Event) -> Self {
        Self {
            id: EventId::new(),
            event,
        }
    }
}

impl From<Event> for Envelope {
    fn from(event: Event) -> Self {
        Self::new(event)
    }
}

/// Declares [`Event`], its `type` strings and the schema of each variant.
macro_rules! events {
    ($($(#[$doc:meta])* $variant:ident = $name:literal ($props:ty),)+) => {
        /// An event's type and properties. See the module docs.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", content = "properties")]
        pub enum Event {
            $($(#[$doc])* #[serde(rename = $name)] $variant($props),)+
        }

        impl Event {
            /// The `type` string, e.g. `session.created`.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $name,)+
                }
            }

            /// Every `type` string the server may send.
            pub const NAMES: &'static [&'static str] = &[$($name,)+];
        }

        /// The document's schemas of the event stream: one `Event<Variant>` object per variant
        /// (`id`, its `type` as a one-value enum, its properties), the properties' own schemas,
        /// and `Event`, the `oneOf` of them discriminated by `type`.
        pub fn schemas() -> Vec<(String, RefOr<Schema>)> {
            let mut schemas = Vec::new();
            let mut union = OneOfBuilder::new();
            let mut mapping = Vec::new();
            $(
                let component = concat!("Event", stringify!($variant));
                <$props as ToSchema>::schemas(&mut schemas);
                schemas.push((<$props as ToSchema>::name().into_owned(), <$props as PartialSchema>::schema()));
                schemas.push((
                    component.to_string(),
                    variant_schema($name, Ref::from_schema_name(<$props as ToSchema>::name())).into(),
                ));
                union = union.item(Ref::from_schema_name(component));
                mapping.push(($name, component));
            )+
            let discriminator = {
                let mut discriminator = utoipa::openapi::Discriminator::new("type");
                for (name, component) in mapping {
                    discriminator
                        .mapping
                        .insert(name.to_string(), std::format!("#/components/schemas/{component}"));
                }
                discriminator
            };
            schemas.push(("Event".to_string(), union.discriminator(Some(discriminator)).into()));
            schemas.push(("GlobalEvent".to_string(), global_event_schema().into()));
            schemas
        }
    };
}

/// The schema of one variant: `{id, type: enum[name], properties: $ref}`, all required.
fn variant_schema(name: &str, properties: Ref) -> Schema {
    ObjectBuilder::new()
        .property(
            "id",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^evt_")),
        )
        .property(
            "type",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([name])),
        )
        .property("properties", properties)
        .required("id")
        .required("type")
        .required("properties")
        .into()
}

events! {
    /// The first message of every stream.
    ServerConnected = "server.connected" (Empty),
    /// Sent at the heartbeat interval so proxies keep the stream open.
    ServerHeartbeat = "server.heartbeat" (Empty),
    /// The requested `Last-Event-ID` could not be replayed: refetch state (wasmcode's own).
    ServerResync = "server.resync" (Resync),
    /// An instance was released (`POST /instance/dispose`).
    ServerInstanceDisposed = "server.instance.disposed" (InstanceDisposed),
    /// Every instance was released (`POST /global/dispose`).
    GlobalDisposed = "global.disposed" (Empty),
    SessionCreated = "session.created" (SessionInfo),
    SessionUpdated = "session.updated" (SessionInfo),
    SessionDeleted = "session.deleted" (SessionInfo),
    /// What a session is doing: busy, retrying, idle.
    SessionStatus = "session.status" (SessionStatusChanged),
    /// A session's turn is over.
    SessionIdle = "session.idle" (SessionRef),
    /// The files a session changed.
    SessionDiff = "session.diff" (SessionDiff),
    /// A turn failed or was aborted.
    SessionError = "session.error" (SessionErrorInfo),
    MessageUpdated = "message.updated" (MessageUpdated),
    MessageRemoved = "message.removed" (MessageRemoved),
    MessagePartUpdated = "message.part.updated" (PartUpdated),
    MessagePartRemoved = "message.part.removed" (PartRemoved),
    /// Text streamed into a part (not stored until the part is closed).
    MessagePartDelta = "message.part.delta" (PartDelta),
    /// A tool call waits for the user's permission.
    PermissionAsked = "permission.asked" (PermissionRequest),
    PermissionReplied = "permission.replied" (PermissionReplied),
    /// A slash command ran in a session.
    CommandExecuted = "command.executed" (CommandExecuted),
    /// A tool wrote a file.
    FileEdited = "file.edited" (FileEdited),
    TuiPromptAppend = "tui.prompt.append" (TuiPromptAppend),
    TuiCommandExecute = "tui.command.execute" (TuiCommandExecute),
    TuiToastShow = "tui.toast.show" (TuiToastShow),
    TuiSessionSelect = "tui.session.select" (TuiSessionSelect),
    /// A user changed a project's name, icon or commands.
    ProjectUpdated = "project.updated" (Project),
    /// An MCP server's tools changed: it closed, or it said its list changed.
    McpToolsChanged = "mcp.tools.changed" (McpToolsChanged),
    /// A terminal was opened.
    PtyCreated = "pty.created" (PtyChanged),
    /// A terminal's title or size changed.
    PtyUpdated = "pty.updated" (PtyChanged),
    /// A terminal's program ended.
    PtyExited = "pty.exited" (PtyExited),
    /// A terminal was closed (removed, or its program ended).
    PtyDeleted = "pty.deleted" (PtyRef),
    /// The instance's plugins changed while the server ran (an install, a removal, a trust, a
    /// grant): the tools listed are the ones calls see from now on (wasmcode's own).
    PluginsUpdated = "wasmcode.plugins.updated" (PluginsUpdated),
}

/// No properties: `{}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = EventEmpty)]
pub struct Empty {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Resync {
    /// `expired` (the cursor is older than the replay window) or `unknown-cursor`.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InstanceDisposed {
    pub directory: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    #[serde(rename = "sessionID")]
    pub session_id: SessionId,
    pub info: Session,
}

impl SessionInfo {
    pub fn of(session: &Session) -> Self {
        Self {
            session_id: session.id.clone(),
            info: session.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionRef {
    #[serde(rename = "sessionID")]
    pub session_id: SessionId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionStatusChanged {
    #[serde(rename = "sessionID")]
    pub session_id: SessionId,
    pub status: SessionStatus,
}

/// One file a session changed, as `session.diff` and `GET /session/{id}/diff` give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FileDiff {
    pub file: String,
    pub before: String,
    pub after: String,
    pub additions: u64,
    pub deletions: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionDiff {
    #[serde(rename = "sessionID")]
    pub session_id: SessionId,
    pub diff: Vec<FileDiff>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionErrorInfo {
    #[serde(rename = "sessionID")]
    pub session_id: SessionId,
    pub error: MessageError,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessageUpdated {
    #[serde(rename = "sessionID")]
    pub session_id: SessionId,
    pub info: MessageInfo,
}

impl MessageUpdated {
    pub fn of(info: &MessageInfo) -> Self {
        Self {
            session_id: info.session_id().clone(),
            info: info.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessageRemoved {
    #[serde(rename = "sessionID")]
    pub session_id: SessionId,
    #[serde(rename = "messageID")]
    pub message_id: MessageId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PartUpdated {
    #[serde(rename = "sessionID")]
    pub session_id: SessionId,
    pub part: Part,
    /// When the part was published (epoch ms).
    pub time: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PartRemoved {
    #[serde(rename = "sessionID")]
    pub session_id: SessionId,
    #[serde(rename = "messageID")]
    pub message_id: MessageId,
    #[serde(rename = "partID")]
    pub part_id: PartId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PartDelta {
    #[serde(rename = "sessionID")]
    pub session_id: SessionId,
    #[serde(rename = "messageID")]
    pub message_id: MessageId,
    #[serde(rename = "partID")]
    pub part_id: PartId,
    /// The field the delta extends (`text`).
    pub field: Cow<'static, str>,
    pub delta: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PermissionReplied {
    #[serde(rename = "sessionID")]
    pub session_id: SessionId,
    #[serde(rename = "requestID")]
    pub request_id: PermissionId,
    pub reply: Reply,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CommandExecuted {
    pub name: String,
    #[serde(rename = "sessionID")]
    pub session_id: SessionId,
    pub arguments: String,
    #[serde(rename = "messageID")]
    pub message_id: MessageId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PluginsUpdated {
    /// Every tool id, in listing order.
    pub tools: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FileEdited {
    pub file: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TuiPromptAppend {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TuiCommandExecute {
    /// A TUI command, e.g. `session.list` or `prompt.submit`.
    pub command: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ToastVariant {
    Info,
    Success,
    Warning,
    Error,
}

/// A toast for the TUI (`POST /tui/show-toast`, `tui.toast.show`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TuiToastShow {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub message: String,
    pub variant: ToastVariant,
    /// Milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TuiSessionSelect {
    /// The session to navigate to.
    #[serde(rename = "sessionID")]
    pub session_id: SessionId,
}

/// The schema of a `/event` stream message, for `#[utoipa::path]` bodies: a reference to the
/// `Event` union that [`schemas`] defines.
pub struct EventStream;

impl PartialSchema for EventStream {
    fn schema() -> RefOr<Schema> {
        Ref::from_schema_name("Event").into()
    }
}

impl ToSchema for EventStream {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Event")
    }
}

/// The schema of a `/global/event` stream message: a reference to `GlobalEvent`.
pub struct GlobalEventStream;

impl PartialSchema for GlobalEventStream {
    fn schema() -> RefOr<Schema> {
        Ref::from_schema_name("GlobalEvent").into()
    }
}

impl ToSchema for GlobalEventStream {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("GlobalEvent")
    }
}

/// A `/global/event` message: `{directory?, project?, payload: Event}`.
fn global_event_schema() -> Schema {
    ObjectBuilder::new()
        .property("directory", ObjectBuilder::new().schema_type(Type::String))
        .property("project", ObjectBuilder::new().schema_type(Type::String))
        .property("payload", Ref::from_schema_name("Event"))
        .required("payload")
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_serialize_like_the_reference() {
        let envelope = Envelope {
            id: EventId::parse("evt_2039c5f36002I9wK74WODMp5D8").expect("an event id"),
            event: Event::SessionIdle(SessionRef {
                session_id: SessionId::parse("ses_dfc63b114ffemAuF2DNfNerOjt").expect("a session id"),
            }),
        };
        let json = serde_json::to_string(&envelope).expect("serializes");
        assert_eq!(
            json,
            r#"{"id":"evt_2039c5f36002I9wK74WODMp5D8","type":"session.idle","properties":{"sessionID":"ses_dfc63b114ffemAuF2DNfNerOjt"}}"#
        );
        assert_eq!(
            serde_json::from_str::<Envelope>(&json).expect("reads back"),
            envelope
        );
        let connected =
            serde_json::to_value(Envelope::new(Event::ServerConnected(Empty {}))).expect("serializes");
        assert_eq!(connected["properties"], serde_json::json!({}));
    }

    #[test]
    fn every_variant_is_in_the_union() {
        let schemas = schemas();
        let union = schemas
            .iter()
            .find(|(name, _)| name == "Event")
            .map(|(_, schema)| serde_json::to_value(schema).expect("serializes"))
            .expect("an Event schema");
        assert_eq!(union["oneOf"].as_array().map(Vec::len), Some(Event::NAMES.len()));
        assert_eq!(union["discriminator"]["propertyName"], "type");
    }
}
