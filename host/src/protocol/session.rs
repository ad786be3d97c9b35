//! The session objects exactly as OpenCode's clients read them (CONTRACT §3): sessions, message
//! infos (user and assistant), and parts. Field names, optional fields and tags follow the
//! reference byte for byte; everything here is plain data with serde.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::id::{MessageId, PartId, SessionId};
use super::permission::Rule;

/// The version sessions are stamped with (`Session.version`).
pub const SESSION_VERSION: &str = crate::VERSION;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CacheTokens {
    pub read: u64,
    pub write: u64,
}

/// Token counts of a session (the sum over its assistant messages).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Tokens {
    /// Present on messages and steps once usage is known; absent on sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    pub input: u64,
    pub output: u64,
    pub reasoning: u64,
    pub cache: CacheTokens,
}

impl Tokens {
    pub fn add(&mut self, other: &Tokens) {
        self.input += other.input;
        self.output += other.output;
        self.reasoning += other.reasoning;
        self.cache.read += other.cache.read;
        self.cache.write += other.cache.write;
    }

    /// The same counts with `total` filled in, as messages and steps carry them.
    pub fn with_total(mut self) -> Self {
        self.total = Some(self.input + self.output + self.reasoning + self.cache.read + self.cache.write);
        self
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionTime {
    pub created: u64,
    pub updated: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionSummary {
    pub additions: u64,
    pub deletions: u64,
    pub files: u64,
}

/// The model a session last used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionModel {
    pub id: String,
    #[serde(rename = "providerID")]
    pub provider_id: String,
    pub variant: String,
}

/// A session (`GET /session/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Session {
    pub id: SessionId,
    pub slug: String,
    #[serde(rename = "projectID")]
    pub project_id: String,
    pub directory: String,
    pub path: String,
    #[serde(rename = "parentID", default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<SessionId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<SessionSummary>,
    pub cost: f64,
    pub tokens: Tokens,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<SessionModel>,
    pub version: String,
    pub time: SessionTime,
    /// Rules given at creation; they come after the agent's and the configuration's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<Vec<Rule>>,
}

/// The model a user message asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ModelRef {
    #[serde(rename = "providerID")]
    pub provider_id: String,
    #[serde(rename = "modelID")]
    pub model_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserSummary {
    pub diffs: Vec<Value>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessageTime {
    pub created: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserMessage {
    pub id: MessageId,
    #[serde(rename = "sessionID")]
    pub session_id: SessionId,
    pub time: MessageTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<UserSummary>,
    pub agent: String,
    pub model: ModelRef,
    /// Extra system prompt for this turn (`system` of the prompt body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Tools switched on or off for this turn (`tools` of the prompt body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessagePath {
    pub cwd: String,
    pub root: String,
}

/// An error recorded on an assistant message: `{name, data: {message, ...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessageError {
    pub name: String,
    pub data: Value,
}

impl MessageError {
    pub fn aborted() -> Self {
        Self {
            name: "MessageAbortedError".into(),
            data: serde_json::json!({"message": "Aborted"}),
        }
    }

    pub fn message(&self) -> &str {
        self.data
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AssistantMessage {
    pub id: MessageId,
    #[serde(rename = "sessionID")]
    pub session_id: SessionId,
    pub time: MessageTime,
    #[serde(rename = "parentID")]
    pub parent_id: MessageId,
    #[serde(rename = "modelID")]
    pub model_id: String,
    #[serde(rename = "providerID")]
    pub provider_id: String,
    pub mode: String,
    pub agent: String,
    pub path: MessagePath,
    pub cost: f64,
    pub tokens: Tokens,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<MessageError>,
}

impl UserMessage {
    /// A user message to `agent` on `model`, sent now, with no system prompt or tools of its own.
    pub fn new(id: MessageId, session_id: &SessionId, agent: &str, model: &ModelRef) -> Self {
        Self {
            id,
            session_id: session_id.clone(),
            time: MessageTime {
                created: now_ms(),
                completed: None,
            },
            summary: None,
            agent: agent.into(),
            model: model.clone(),
            system: None,
            tools: None,
        }
    }
}

impl AssistantMessage {
    /// A new, unfinished message of `agent` answering the user message `parent_id`.
    pub fn begin(
        session_id: &SessionId,
        parent_id: &MessageId,
        model: &ModelRef,
        agent: &str,
        path: MessagePath,
    ) -> Self {
        Self {
            id: MessageId::new(),
            session_id: session_id.clone(),
            time: MessageTime {
                created: now_ms(),
                completed: None,
            },
            parent_id: parent_id.clone(),
            model_id: model.model_id.clone(),
            provider_id: model.provider_id.clone(),
            mode: agent.into(),
            agent: agent.into(),
            path,
            cost: 0.0,
            tokens: Tokens::default(),
            finish: None,
            error: None,
        }
    }
}

/// A message's info, tagged by `role`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum MessageInfo {
    User(UserMessage),
    Assistant(AssistantMessage),
}

impl From<AssistantMessage> for MessageInfo {
    fn from(message: AssistantMessage) -> Self {
        Self::Assistant(message)
    }
}

impl From<UserMessage> for MessageInfo {
    fn from(message: UserMessage) -> Self {
        Self::User(message)
    }
}

impl MessageInfo {
    pub fn id(&self) -> &MessageId {
        match self {
            Self::User(m) => &m.id,
            Self::Assistant(m) => &m.id,
        }
    }

    pub fn session_id(&self) -> &SessionId {
        match self {
            Self::User(m) => &m.session_id,
            Self::Assistant(m) => &m.session_id,
        }
    }

    pub fn created(&self) -> u64 {
        match self {
            Self::User(m) => m.time.created,
            Self::Assistant(m) => m.time.created,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PartTime {
    pub start: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RunningTime {
    pub start: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SpanTime {
    pub start: u64,
    pub end: u64,
}

/// Where a tool call is: `pending → running → completed | error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum ToolState {
    Pending {
        input: Value,
        raw: String,
    },
    Running {
        input: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metadata: Option<Value>,
        time: RunningTime,
    },
    Completed {
        input: Value,
        output: String,
        metadata: Value,
        title: String,
        time: SpanTime,
    },
    Error {
        input: Value,
        error: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metadata: Option<Value>,
        time: SpanTime,
    },
}

impl ToolState {
    pub fn input(&self) -> &Value {
        match self {
            Self::Pending { input, .. }
            | Self::Running { input, .. }
            | Self::Completed { input, .. }
            | Self::Error { input, .. } => input,
        }
    }

    pub fn is_finished(&self) -> bool {
        matches!(self, Self::Completed { .. } | Self::Error { .. })
    }
}

/// What a part holds, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum PartBody {
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        synthetic: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time: Option<PartTime>,
    },
    Reasoning {
        text: String,
        time: PartTime,
    },
    File {
        mime: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filename: Option<String>,
        url: String,
    },
    Tool {
        #[serde(rename = "callID")]
        call_id: String,
        tool: String,
        state: ToolState,
    },
    StepStart {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        snapshot: Option<String>,
    },
    StepFinish {
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        snapshot: Option<String>,
        cost: f64,
        tokens: Tokens,
    },
    Patch {
        hash: String,
        files: Vec<String>,
    },
    Agent {
        name: String,
    },
    Subtask {
        prompt: String,
        description: String,
        agent: String,
    },
}

/// A part of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Part {
    pub id: PartId,
    #[serde(rename = "sessionID")]
    pub session_id: SessionId,
    #[serde(rename = "messageID")]
    pub message_id: MessageId,
    #[serde(flatten)]
    pub body: PartBody,
}

/// A message with its parts, as `GET /session/{id}/message` lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessageWithParts {
    pub info: MessageInfo,
    pub parts: Vec<Part>,
}

/// `session.status`: what a session is doing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SessionStatus {
    Idle,
    Busy,
    Retry {
        attempt: u32,
        message: String,
        /// When the next attempt starts (epoch ms).
        next: u64,
    },
}

pub use super::id::now_ms;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip_in_the_reference_shape() {
        let json = serde_json::json!({
            "id": "prt_1", "sessionID": "ses_1", "messageID": "msg_1", "type": "tool",
            "callID": "call_1", "tool": "read",
            "state": {"status": "completed", "input": {"filePath": "a"}, "output": "x",
                      "metadata": {}, "title": "a", "time": {"start": 1, "end": 2}}
        });
        let part: Part = serde_json::from_value(json.clone()).expect("a tool part");
        assert!(matches!(part.body, PartBody::Tool { .. }));
        assert_eq!(serde_json::to_value(&part).expect("serializes"), json);

        let start = serde_json::json!({"id": "prt_2", "sessionID": "ses_s", "messageID": "msg_m", "type": "step-start"});
        let part: Part = serde_json::from_value(start.clone()).expect("a step-start part");
        assert_eq!(serde_json::to_value(&part).expect("serializes"), start);
    }

    #[test]
    fn message_infos_are_tagged_by_role() {
        let json = serde_json::json!({
            "role": "user", "id": "msg_1", "sessionID": "ses_1", "time": {"created": 5},
            "agent": "build", "model": {"providerID": "p", "modelID": "m"}
        });
        let info: MessageInfo = serde_json::from_value(json.clone()).expect("a user message");
        assert_eq!(info.id(), "msg_1");
        assert_eq!(serde_json::to_value(&info).expect("serializes"), json);
    }
}
