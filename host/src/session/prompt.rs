//! A prompt before the loop answers it: which agent and model it runs with, and the user message
//! it becomes (stored with its parts, the session stamped with its agent and model).

use super::error::SessionError;
use super::input::{PartInput, PromptInput};
use super::journal::{Changes, Journal};
use crate::agent::{self, Agent};
use crate::instance::Instance;
use crate::protocol::Event;
use crate::protocol::event::SessionInfo;
use crate::protocol::id::{MessageId, PartId};
use crate::protocol::session::{
    MessageInfo, MessageWithParts, ModelRef, Part, PartBody, Session, SessionModel, UserMessage,
};

/// The agent a prompt runs with: the one asked for, else the session's last, else `build`.
pub fn choose_agent(
    instance: &Instance,
    requested: Option<&str>,
    session: &Session,
) -> Result<Agent, SessionError> {
    let name = requested
        .or(session.agent.as_deref())
        .unwrap_or(agent::DEFAULT_AGENT);
    instance
        .agent(name)
        .cloned()
        .ok_or_else(|| SessionError::BadRequest(format!("unknown agent `{name}`")))
}

/// The model a prompt runs with: the one asked for, else the agent's, else the session's last,
/// else the configuration's default.
pub fn choose_model(
    instance: &Instance,
    requested: Option<&ModelRef>,
    agent: &Agent,
    session: &Session,
) -> Result<ModelRef, SessionError> {
    let spec = match requested {
        Some(model) => format!("{}/{}", model.provider_id, model.model_id),
        None => match agent.model_string() {
            Some(spec) => spec,
            None => match &session.model {
                Some(model) => format!("{}/{}", model.provider_id, model.id),
                None => instance
                    .providers
                    .default_model()
                    .map_err(|e| SessionError::Model(e.to_string()))?
                    .to_string(),
            },
        },
    };
    let resolved = instance
        .providers
        .resolve(&spec)
        .map_err(|e| SessionError::Model(e.to_string()))?;
    Ok(ModelRef {
        provider_id: resolved.provider_id,
        model_id: resolved.model_id,
    })
}

/// Stores the user's message with its parts, and the session with its new agent and model;
/// returns the message. The loop is not started.
pub fn store(
    journal: &Journal,
    instance: &Instance,
    session: &mut Session,
    input: &PromptInput,
    agent: &Agent,
    model: &ModelRef,
) -> Result<MessageWithParts, SessionError> {
    if input.parts.is_empty() {
        return Err(SessionError::BadRequest(
            "a prompt needs at least one part".into(),
        ));
    }
    let message_id = input.message_id.clone().unwrap_or_else(MessageId::new);
    let user = UserMessage::new(message_id.clone(), &session.id, &agent.name, model);
    let now = user.time.created;
    let info = MessageInfo::User(UserMessage {
        system: input.system.clone(),
        tools: input.tools.clone(),
        ..user
    });
    let parts: Vec<Part> = input
        .parts
        .iter()
        .cloned()
        .map(|part| {
            let (id, body) = part_body(part);
            Part {
                id: id.unwrap_or_else(PartId::new),
                session_id: session.id.clone(),
                message_id: message_id.clone(),
                body,
            }
        })
        .collect();
    session.time.updated = now;
    session.agent = Some(agent.name.clone());
    session.model = Some(SessionModel {
        id: model.model_id.clone(),
        provider_id: model.provider_id.clone(),
        variant: input.variant.clone().unwrap_or_else(|| "default".into()),
    });
    // As the reference: `session.updated`, the message and its parts, `session.updated` again.
    let mut changes = Changes::new();
    changes.session_updated(session).message(&info);
    for part in &parts {
        changes.part(part);
    }
    changes.event(Event::SessionUpdated(SessionInfo::of(session)));
    journal.commit(&instance.bus, changes)?;
    Ok(MessageWithParts { info, parts })
}

/// A prompt part's id (if the caller chose one) and what it holds.
fn part_body(part: PartInput) -> (Option<PartId>, PartBody) {
    match part {
        PartInput::Text { text, id, synthetic } => (
            id,
            PartBody::Text {
                text,
                synthetic,
                time: None,
            },
        ),
        PartInput::File {
            mime,
            filename,
            url,
            id,
        } => (id, PartBody::File { mime, filename, url }),
        PartInput::Agent { name, id } => (id, PartBody::Agent { name }),
        PartInput::Subtask {
            prompt,
            description,
            agent,
            id,
        } => (
            id,
            PartBody::Subtask {
                prompt,
                description,
                agent,
            },
        ),
    }
}
