//! What callers send the session service: the bodies of the `/session` routes, as typed values.
//! IDs are checked as they are read (a malformed one is the caller's mistake, 400).

use serde::Deserialize;
use utoipa::ToSchema;

use crate::permission::Rule;
use crate::protocol::id::{MessageId, PartId, SessionId};
use crate::protocol::session::ModelRef;

/// `POST /session`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct CreateSession {
    #[serde(rename = "parentID")]
    pub parent_id: Option<SessionId>,
    pub title: Option<String>,
    pub permission: Option<Vec<Rule>>,
}

/// `PATCH /session/{id}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct UpdateSession {
    pub title: Option<String>,
    pub permission: Option<Vec<Rule>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub time: Option<serde_json::Value>,
}

/// `GET /session` filters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct ListSessions {
    /// Only sessions without a parent.
    pub roots: Option<bool>,
    /// Case-insensitive substring of the title.
    pub search: Option<String>,
    /// Only sessions updated at or after this time (epoch ms).
    pub start: Option<i64>,
    /// At most this many (default 100).
    pub limit: Option<usize>,
}

/// One part of a prompt.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PartInput {
    Text {
        text: String,
        #[serde(default)]
        id: Option<PartId>,
        #[serde(default)]
        synthetic: Option<bool>,
    },
    File {
        mime: String,
        #[serde(default)]
        filename: Option<String>,
        url: String,
        #[serde(default)]
        id: Option<PartId>,
    },
    Agent {
        name: String,
        #[serde(default)]
        id: Option<PartId>,
    },
    Subtask {
        prompt: String,
        description: String,
        agent: String,
        #[serde(default)]
        id: Option<PartId>,
    },
}

impl PartInput {
    /// A text part with no id of its own.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text {
            text: text.into(),
            id: None,
            synthetic: None,
        }
    }
}

/// `POST /session/{id}/message` and `prompt_async`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct PromptInput {
    #[serde(rename = "messageID")]
    pub message_id: Option<MessageId>,
    pub model: Option<ModelRef>,
    pub agent: Option<String>,
    #[serde(rename = "noReply", default)]
    pub no_reply: bool,
    #[schema(value_type = Option<Object>)]
    pub tools: Option<serde_json::Map<String, serde_json::Value>>,
    #[schema(value_type = Option<Object>)]
    pub format: Option<serde_json::Value>,
    pub system: Option<String>,
    pub variant: Option<String>,
    pub parts: Vec<PartInput>,
}

impl PromptInput {
    /// A prompt of `parts` with every option left to the session.
    pub fn of(parts: Vec<PartInput>) -> Self {
        Self {
            message_id: None,
            model: None,
            agent: None,
            no_reply: false,
            tools: None,
            format: None,
            system: None,
            variant: None,
            parts,
        }
    }
}

/// `POST /session/{id}/command`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CommandInput {
    #[serde(rename = "messageID")]
    pub message_id: Option<MessageId>,
    pub agent: Option<String>,
    /// `provider/model`.
    pub model: Option<String>,
    #[serde(default)]
    pub arguments: String,
    pub command: String,
    pub variant: Option<String>,
}

/// `POST /session/{id}/shell`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ShellInput {
    pub agent: Option<String>,
    pub model: Option<ModelRef>,
    pub command: String,
}

/// Whether the user can be asked for permissions during a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asks {
    /// Clients watch the events and reply (`/session` prompts).
    Interactive,
    /// Nobody can answer (`/v1/chat`): a rule that says `ask` refuses instead.
    Refuse,
}
