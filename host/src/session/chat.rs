//! The stateless chat of the `/v1` surface on top of sessions: a list of `{role, content}`
//! messages becomes a session (new, or the one named by `session_id`) whose last user message
//! is answered by the same loop as `POST /session/{id}/message`. Nobody can answer a permission
//! ask here, so `ask` rules refuse instead of waiting.

use std::sync::Arc;

use serde::Deserialize;
use utoipa::ToSchema;

use super::journal::{Changes, Journal};
use super::{Asks, CreateSession, PartInput, PromptInput, SessionError, Sessions, Submitted, prompt, skill};
use crate::agent::DEFAULT_AGENT;
use crate::instance::Instance;
use crate::protocol::id::{MessageId, PartId, SessionId};
use crate::protocol::session::{
    AssistantMessage, MessageInfo, MessagePath, MessageWithParts, ModelRef, Part, PartBody, UserMessage,
};

/// One message of a chat request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ChatMessageInput {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text: a string, or OpenAI-style content blocks (`[{"type":"text","text":…}]`).
    #[schema(value_type = Object)]
    pub content: serde_json::Value,
}

/// `POST /v1/chat` and `/v1/chat/stream`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ChatInput {
    pub messages: Vec<ChatMessageInput>,
    /// `provider/model`, or a model id any connected provider offers; default: the configured
    /// model.
    pub model: Option<String>,
    /// Skills whose instructions are added to the system prompt.
    pub skills: Option<Vec<String>>,
    /// Continue this session instead of starting one.
    pub session_id: Option<String>,
    /// Accepted for OpenAI compatibility; `/v1/chat/stream` is the streaming variant.
    pub stream: Option<bool>,
}

/// A chat turn under way: its session, and the loop's answer to come.
pub struct ChatTurn {
    pub session_id: SessionId,
    pub model: ModelRef,
    pub submitted: Submitted,
}

/// Starts a chat turn: the conversation's last user message is answered by the loop, in a new
/// session (seeded with the conversation before it) or the one named.
pub(super) fn start(
    sessions: &Arc<Sessions>,
    journal: &Journal,
    instance: &Arc<Instance>,
    input: ChatInput,
    global_config: &std::path::Path,
) -> Result<ChatTurn, SessionError> {
    let bad = |message: String| SessionError::BadRequest(message);
    let mut system = Vec::new();
    let mut turns = Vec::new();
    for (index, message) in input.messages.iter().enumerate() {
        let text = content_text(&message.content).ok_or_else(|| {
            bad(format!(
                "messages[{index}].content must be a string or text blocks"
            ))
        })?;
        match message.role.as_str() {
            "system" => system.push(text),
            "user" | "assistant" => turns.push((message.role.as_str(), text)),
            other => {
                return Err(bad(format!(
                    "messages[{index}].role must be system, user or assistant, got {other:?}"
                )));
            }
        }
    }
    let Some((role, last)) = turns.pop() else {
        return Err(bad("messages must contain at least one user message".into()));
    };
    if role != "user" {
        return Err(bad("the last message must be a user message".into()));
    }
    if last.trim().is_empty() {
        return Err(bad("the last user message is empty".into()));
    }
    if let Some(names) = &input.skills {
        let available = skill::list(&instance.directory, global_config);
        system.extend(skill::instructions(&available, names).map_err(bad)?);
    }
    let model = match &input.model {
        Some(name) => Some(find_model(instance, name)?),
        None => None,
    };

    let session_id = match &input.session_id {
        Some(id) => sessions.get(&SessionId::parse(id)?)?.id,
        None => {
            let title: String = last.lines().next().unwrap_or_default().chars().take(60).collect();
            let session = sessions.create(
                instance,
                CreateSession {
                    title: Some(title),
                    ..CreateSession::default()
                },
            )?;
            let model = match &model {
                Some(model) => model.clone(),
                None => {
                    let agent = prompt::choose_agent(instance, None, &session)?;
                    prompt::choose_model(instance, None, &agent, &session)?
                }
            };
            seed_history(journal, instance, &session.id, &turns, &model)?;
            session.id
        }
    };
    let input = PromptInput {
        model,
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        ..PromptInput::of(vec![PartInput::text(last)])
    };
    let submitted = sessions.submit_with(instance, &session_id, input, Asks::Refuse)?;
    // The model the prompt runs with, as `submit` resolved and stored it on the session.
    let model = sessions
        .get(&session_id)?
        .model
        .map(|m| ModelRef {
            provider_id: m.provider_id,
            model_id: m.id,
        })
        .ok_or_else(|| SessionError::Failed("the prompt was stored without its model".into()))?;
    Ok(ChatTurn {
        session_id,
        model,
        submitted,
    })
}

/// Stores the conversation a stateless chat brought along, before its last user message. An
/// assistant message needs a user message before it.
fn seed_history(
    journal: &Journal,
    instance: &Instance,
    session_id: &SessionId,
    turns: &[(&str, String)],
    model: &ModelRef,
) -> Result<(), SessionError> {
    let mut changes = Changes::new();
    let mut last_user: Option<MessageId> = None;
    let path = MessagePath {
        cwd: instance.directory.display().to_string(),
        root: instance.worktree.display().to_string(),
    };
    for (role, text) in turns {
        let info = if *role == "user" {
            let id = MessageId::new();
            last_user = Some(id.clone());
            MessageInfo::User(UserMessage::new(id, session_id, DEFAULT_AGENT, model))
        } else {
            let Some(parent) = &last_user else {
                return Err(SessionError::BadRequest(
                    "an assistant message must follow a user message".into(),
                ));
            };
            let mut answer = AssistantMessage::begin(session_id, parent, model, DEFAULT_AGENT, path.clone());
            answer.time.completed = Some(answer.time.created);
            answer.finish = Some("stop".into());
            MessageInfo::Assistant(answer)
        };
        let part = Part {
            id: PartId::new(),
            session_id: session_id.clone(),
            message_id: info.id().clone(),
            body: PartBody::Text {
                text: text.clone(),
                synthetic: None,
                time: None,
            },
        };
        changes.quiet_message(&MessageWithParts {
            info,
            parts: vec![part],
        });
    }
    journal.commit(&instance.bus, changes)?;
    Ok(())
}

/// The text of a message's `content`: a string, or the concatenated text blocks.
fn content_text(content: &serde_json::Value) -> Option<String> {
    match content {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Array(blocks) => blocks
            .iter()
            .map(|block| match block.get("type").and_then(|t| t.as_str()) {
                Some("text") => block.get("text").and_then(|t| t.as_str()).map(String::from),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(|texts| texts.join("\n")),
        _ => None,
    }
}

/// A model named as `provider/model`, or by its id alone when exactly one connected provider
/// offers it.
fn find_model(instance: &Instance, name: &str) -> Result<ModelRef, SessionError> {
    if let Ok(resolved) = instance.providers.resolve(name) {
        return Ok(ModelRef {
            provider_id: resolved.provider_id,
            model_id: resolved.model_id,
        });
    }
    let offering: Vec<String> = instance
        .providers
        .connected()
        .into_iter()
        .filter(|provider| provider.models.iter().any(|m| m.id == name))
        .map(|provider| provider.id)
        .collect();
    match offering.as_slice() {
        [provider] => Ok(ModelRef {
            provider_id: provider.clone(),
            model_id: name.into(),
        }),
        [] => Err(SessionError::Model(format!(
            "unknown model {name:?}: name it as provider/model (GET /v1/models lists them)"
        ))),
        several => Err(SessionError::Model(format!(
            "model {name:?} is offered by {}: name it as provider/model",
            several.join(", ")
        ))),
    }
}
