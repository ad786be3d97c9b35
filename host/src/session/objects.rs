//! Sessions and their messages as objects: create, read, list, update, fork, delete, and the
//! removal or edit of single messages and parts. Each change is committed through the journal
//! before its event goes out.

use std::collections::HashMap;

use super::error::SessionError;
use super::input::{CreateSession, ListSessions, UpdateSession};
use super::journal::{Changes, Journal};
use super::records::parse_session;
use super::text;
use crate::instance::Instance;
use crate::protocol::Event;
use crate::protocol::event::{MessageRemoved, PartRemoved, SessionInfo};
use crate::protocol::id::{MessageId, PartId, SessionId};
use crate::protocol::session::{
    MessageInfo, MessageWithParts, Part, SESSION_VERSION, Session, SessionTime, Tokens, now_ms,
};
use crate::store::{SessionQuery, Write};

/// How many sessions `GET /session` returns without `limit` (OpenCode's default).
pub const DEFAULT_LIST_LIMIT: usize = 100;

pub fn create(journal: &Journal, instance: &Instance, input: CreateSession) -> Result<Session, SessionError> {
    if let Some(parent) = &input.parent_id {
        get(journal, parent)?;
    }
    let now = now_ms();
    let prefix = if input.parent_id.is_some() {
        "Child session - "
    } else {
        "New session - "
    };
    let session = Session {
        id: SessionId::new(),
        slug: text::slug(),
        project_id: instance.project_id.clone(),
        directory: instance.directory.display().to_string(),
        path: String::new(),
        parent_id: input.parent_id,
        summary: None,
        cost: 0.0,
        tokens: Tokens::default(),
        title: input
            .title
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| format!("{prefix}{}", text::iso8601(now))),
        agent: None,
        model: None,
        version: SESSION_VERSION.into(),
        time: SessionTime {
            created: now,
            updated: now,
        },
        permission: input.permission,
    };
    let mut changes = Changes::new();
    changes
        .session(&session)
        .event(Event::SessionCreated(SessionInfo::of(&session)))
        .event(Event::SessionUpdated(SessionInfo::of(&session)));
    journal.commit(&instance.bus, changes)?;
    Ok(session)
}

pub fn get(journal: &Journal, id: &SessionId) -> Result<Session, SessionError> {
    let record = journal
        .store()
        .session(id)?
        .ok_or_else(|| SessionError::NotFound(id.to_string()))?;
    parse_session(&record).ok_or_else(|| SessionError::NotFound(id.to_string()))
}

pub fn list(
    journal: &Journal,
    instance: &Instance,
    query: &ListSessions,
) -> Result<Vec<Session>, SessionError> {
    let records = journal.store().sessions(&SessionQuery {
        project_id: instance.project_id.clone(),
        roots: query.roots.unwrap_or(false),
        search: query.search.clone().filter(|s| !s.is_empty()),
        start: query.start,
        limit: query.limit.unwrap_or(DEFAULT_LIST_LIMIT),
    })?;
    Ok(records.iter().filter_map(parse_session).collect())
}

pub fn children(journal: &Journal, id: &SessionId) -> Result<Vec<Session>, SessionError> {
    get(journal, id)?;
    Ok(journal
        .store()
        .children(id)?
        .iter()
        .filter_map(parse_session)
        .collect())
}

/// Applies an update. A title change does not bump `time.updated` (as OpenCode).
pub fn update(
    journal: &Journal,
    instance: &Instance,
    id: &SessionId,
    input: UpdateSession,
) -> Result<Session, SessionError> {
    let mut session = get(journal, id)?;
    if let Some(title) = input.title {
        if title.trim().is_empty() {
            return Err(SessionError::BadRequest("title must not be empty".into()));
        }
        session.title = title;
    }
    if let Some(rules) = input.permission {
        session.permission = Some(rules);
    }
    let mut changes = Changes::new();
    changes.session_updated(&session);
    journal.commit(&instance.bus, changes)?;
    Ok(session)
}

/// Deletes a session with its descendants, their messages and parts; the deleted sessions'
/// ids, descendants first (their running turns are the caller's to stop).
pub fn delete(
    journal: &Journal,
    instance: &Instance,
    id: &SessionId,
) -> Result<Vec<SessionId>, SessionError> {
    get(journal, id)?;
    let deleted = journal.store().delete_session(id)?;
    let mut ids = Vec::with_capacity(deleted.len());
    for record in &deleted {
        if let Ok(id) = SessionId::parse(&record.id) {
            journal.histories().forget(&id);
            ids.push(id);
        }
        if let Some(session) = parse_session(record) {
            journal.publish(&instance.bus, Event::SessionDeleted(SessionInfo::of(&session)));
        }
    }
    Ok(ids)
}

/// Copies a session's messages (all, or those before `message_id`) into a new session.
pub fn fork(
    journal: &Journal,
    instance: &Instance,
    id: &SessionId,
    message_id: Option<&MessageId>,
) -> Result<Session, SessionError> {
    let original = get(journal, id)?;
    let messages = journal.histories().with(id, |history| history.to_vec())?;
    if let Some(cut) = message_id
        && !messages.iter().any(|m| m.info.id() == cut)
    {
        return Err(SessionError::MessageNotFound(cut.to_string()));
    }
    let mut forked = create(
        journal,
        instance,
        CreateSession {
            parent_id: None,
            title: Some(text::fork_title(&original.title)),
            permission: original.permission.clone(),
        },
    )?;
    let mut ids: HashMap<MessageId, MessageId> = HashMap::new();
    let mut changes = Changes::new();
    for message in messages {
        if Some(message.info.id()) == message_id {
            break;
        }
        let new_id = MessageId::new();
        ids.insert(message.info.id().clone(), new_id.clone());
        let mut info = message.info;
        match &mut info {
            MessageInfo::User(m) => {
                m.id = new_id.clone();
                m.session_id = forked.id.clone();
            }
            MessageInfo::Assistant(m) => {
                m.id = new_id.clone();
                m.session_id = forked.id.clone();
                if let Some(parent) = ids.get(&m.parent_id) {
                    m.parent_id = parent.clone();
                }
            }
        }
        let parts = message
            .parts
            .into_iter()
            .map(|part| Part {
                id: PartId::new(),
                message_id: new_id.clone(),
                session_id: forked.id.clone(),
                ..part
            })
            .collect();
        changes.quiet_message(&MessageWithParts { info, parts });
    }
    forked.time.updated = now_ms();
    changes.session(&forked);
    journal.commit(&instance.bus, changes)?;
    Ok(forked)
}

pub fn todos(journal: &Journal, id: &SessionId) -> Result<serde_json::Value, SessionError> {
    get(journal, id)?;
    let todos = journal.store().todos(id)?;
    Ok(todos
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_else(|| serde_json::Value::Array(Vec::new())))
}

/// The session's messages, oldest first; with a limit, the last `limit` of them.
pub fn messages(
    journal: &Journal,
    id: &SessionId,
    limit: Option<usize>,
) -> Result<Vec<MessageWithParts>, SessionError> {
    get(journal, id)?;
    Ok(journal.histories().with(id, |history| {
        let skip = limit.map_or(0, |limit| history.len().saturating_sub(limit));
        history[skip..].to_vec()
    })?)
}

/// [`messages`] as the JSON array `GET /session/{id}/message` answers, encoded from the
/// in-memory history without copying it.
pub fn messages_json(
    journal: &Journal,
    id: &SessionId,
    limit: Option<usize>,
) -> Result<Vec<u8>, SessionError> {
    get(journal, id)?;
    journal
        .histories()
        .with(id, |history| {
            let skip = limit.map_or(0, |limit| history.len().saturating_sub(limit));
            serde_json::to_vec(&history[skip..])
        })?
        .map_err(|e| SessionError::Failed(format!("the messages do not encode: {e}")))
}

pub fn message(
    journal: &Journal,
    id: &SessionId,
    message_id: &MessageId,
) -> Result<MessageWithParts, SessionError> {
    get(journal, id)?;
    journal
        .histories()
        .with(id, |history| {
            history
                .binary_search_by(|m| m.info.id().cmp(message_id))
                .ok()
                .map(|index| history[index].clone())
        })?
        .ok_or_else(|| SessionError::MessageNotFound(message_id.to_string()))
}

/// Removes a message with its parts (`message.removed`).
pub fn delete_message(
    journal: &Journal,
    instance: &Instance,
    id: &SessionId,
    message_id: &MessageId,
) -> Result<(), SessionError> {
    message(journal, id, message_id)?;
    let mut changes = Changes::new();
    changes
        .write(Write::DeleteMessage {
            id: message_id.to_string(),
        })
        .event(Event::MessageRemoved(MessageRemoved {
            session_id: id.clone(),
            message_id: message_id.clone(),
        }));
    journal.commit(&instance.bus, changes)?;
    Ok(())
}

/// Removes one part of a message (`message.part.removed`).
pub fn delete_part(
    journal: &Journal,
    instance: &Instance,
    id: &SessionId,
    message_id: &MessageId,
    part_id: &PartId,
) -> Result<(), SessionError> {
    find_part(journal, id, message_id, part_id)?;
    let mut changes = Changes::new();
    changes
        .write(Write::DeletePart {
            id: part_id.to_string(),
        })
        .event(Event::MessagePartRemoved(PartRemoved {
            session_id: id.clone(),
            message_id: message_id.clone(),
            part_id: part_id.clone(),
        }));
    journal.commit(&instance.bus, changes)?;
    Ok(())
}

/// Replaces a part with the caller's version of it (`message.part.updated`); its ids must be
/// the ones the path names.
pub fn update_part(
    journal: &Journal,
    instance: &Instance,
    id: &SessionId,
    message_id: &MessageId,
    part: Part,
) -> Result<Part, SessionError> {
    if part.session_id != *id || part.message_id != *message_id {
        return Err(SessionError::BadRequest(
            "the part's sessionID and messageID must be those of the path".into(),
        ));
    }
    find_part(journal, id, message_id, &part.id)?;
    let mut changes = Changes::new();
    changes.part(&part);
    journal.commit(&instance.bus, changes)?;
    Ok(part)
}

fn find_part(
    journal: &Journal,
    id: &SessionId,
    message_id: &MessageId,
    part_id: &PartId,
) -> Result<Part, SessionError> {
    message(journal, id, message_id)?
        .parts
        .into_iter()
        .find(|p| p.id == *part_id)
        .ok_or_else(|| SessionError::PartNotFound(part_id.to_string()))
}
