//! Session objects as store rows and back: the store keeps each object's JSON whole beside the
//! few columns it filters and orders on. A row whose JSON no longer reads is skipped and reported,
//! never fatal for the others.

use crate::protocol::session::{MessageInfo, MessageWithParts, Part, Session};
use crate::store::{self, MessageRecord, PartRecord, SessionRecord};

pub fn session_record(session: &Session) -> SessionRecord {
    SessionRecord {
        id: session.id.to_string(),
        project_id: session.project_id.clone(),
        parent_id: session.parent_id.as_ref().map(ToString::to_string),
        directory: session.directory.clone(),
        title: session.title.clone(),
        time_created: session.time.created as i64,
        time_updated: session.time.updated as i64,
        data: serde_json::to_string(session).unwrap_or_default(),
    }
}

pub fn message_record(info: &MessageInfo) -> MessageRecord {
    MessageRecord {
        id: info.id().to_string(),
        session_id: info.session_id().to_string(),
        time_created: info.created() as i64,
        data: serde_json::to_string(info).unwrap_or_default(),
    }
}

pub fn part_record(part: &Part) -> PartRecord {
    PartRecord {
        id: part.id.to_string(),
        message_id: part.message_id.to_string(),
        session_id: part.session_id.to_string(),
        data: serde_json::to_string(part).unwrap_or_default(),
    }
}

/// A stored session, or `None` (reported) when its JSON no longer reads.
pub fn parse_session(record: &SessionRecord) -> Option<Session> {
    serde_json::from_str(&record.data)
        .map_err(|e| tracing::warn!(id = %record.id, "skipping an unreadable session: {e}"))
        .ok()
}

/// A stored message with its parts; `None` (reported) when the message's JSON no longer reads,
/// and without the parts whose JSON does not.
pub fn parse_message(stored: &store::MessageWithParts) -> Option<MessageWithParts> {
    let info = serde_json::from_str(&stored.message.data)
        .map_err(|e| tracing::warn!(id = %stored.message.id, "skipping an unreadable message: {e}"))
        .ok()?;
    let parts = stored
        .parts
        .iter()
        .filter_map(|p| {
            serde_json::from_str(&p.data)
                .map_err(|e| tracing::warn!(id = %p.id, "skipping an unreadable part: {e}"))
                .ok()
        })
        .collect();
    Some(MessageWithParts { info, parts })
}
