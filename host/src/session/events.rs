//! The session events as OpenCode publishes them (CONTRACT §4–§5): each function builds one
//! event's properties and publishes it on the instance's bus. Callers publish only after the
//! change is committed to the store.

use serde_json::{Value, json};

use super::model::{MessageInfo, Part, Session, SessionStatus, now_ms};
use crate::bus::Bus;

pub fn session_created(bus: &Bus, session: &Session) {
    bus.publish(
        "session.created",
        json!({"sessionID": session.id, "info": session}),
    );
}

pub fn session_updated(bus: &Bus, session: &Session) {
    bus.publish(
        "session.updated",
        json!({"sessionID": session.id, "info": session}),
    );
}

pub fn session_deleted(bus: &Bus, session: &Session) {
    bus.publish(
        "session.deleted",
        json!({"sessionID": session.id, "info": session}),
    );
}

pub fn session_status(bus: &Bus, session_id: &str, status: &SessionStatus) {
    bus.publish(
        "session.status",
        json!({"sessionID": session_id, "status": status}),
    );
}

pub fn session_idle(bus: &Bus, session_id: &str) {
    bus.publish("session.idle", json!({"sessionID": session_id}));
}

pub fn session_diff(bus: &Bus, session_id: &str) {
    bus.publish("session.diff", json!({"sessionID": session_id, "diff": []}));
}

pub fn session_error(bus: &Bus, session_id: &str, error: &impl serde::Serialize) {
    bus.publish("session.error", json!({"sessionID": session_id, "error": error}));
}

pub fn message_updated(bus: &Bus, info: &MessageInfo) {
    let session_id = match info {
        MessageInfo::User(m) => &m.session_id,
        MessageInfo::Assistant(m) => &m.session_id,
    };
    bus.publish("message.updated", json!({"sessionID": session_id, "info": info}));
}

pub fn part_updated(bus: &Bus, part: &Part) {
    bus.publish(
        "message.part.updated",
        json!({"sessionID": part.session_id, "part": part, "time": now_ms()}),
    );
}

pub fn part_delta(bus: &Bus, part: &Part, field: &str, delta: &str) {
    bus.publish(
        "message.part.delta",
        json!({
            "sessionID": part.session_id,
            "messageID": part.message_id,
            "partID": part.id,
            "field": field,
            "delta": delta,
        }),
    );
}

pub fn permission_asked(bus: &Bus, request: &Value) {
    bus.publish("permission.asked", request.clone());
}

pub fn permission_replied(bus: &Bus, session_id: &str, request_id: &str, reply: &str) {
    bus.publish(
        "permission.replied",
        json!({"sessionID": session_id, "requestID": request_id, "reply": reply}),
    );
}

pub fn file_edited(bus: &Bus, file: &str) {
    bus.publish("file.edited", json!({"file": file}));
}
