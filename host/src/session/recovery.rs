//! Start-up recovery: turns an earlier run left unfinished (the server was killed mid-turn) are
//! marked as what they are, the assistant message failed with `MessageAbortedError` and its
//! unfinished tool calls `interrupted`. Without this they would look busy forever. Stored prompts
//! are kept as they are.

use serde_json::json;

use super::records::{message_record, parse_message, part_record};
use crate::protocol::now_ms;
use crate::protocol::session::{MessageError, MessageInfo, MessageWithParts, PartBody, SpanTime, ToolState};
use crate::store::{Store, Write};

pub fn mark_interrupted_turns(store: &Store) {
    let unfinished = match store.unfinished_messages() {
        Ok(unfinished) => unfinished,
        Err(e) => {
            tracing::error!("could not look for interrupted turns: {e}");
            return;
        }
    };
    let now = now_ms();
    for stored in &unfinished {
        let Some(MessageWithParts { info, parts }) = parse_message(stored) else {
            continue;
        };
        let MessageInfo::Assistant(mut message) = info else {
            continue;
        };
        let mut batch = Vec::new();
        for mut part in parts {
            let PartBody::Tool { state, .. } = &mut part.body else {
                continue;
            };
            if state.is_finished() {
                continue;
            }
            let start = match state {
                ToolState::Running { time, .. } => time.start,
                _ => message.time.created,
            };
            *state = ToolState::Error {
                input: state.input().clone(),
                error: "Tool execution aborted: the server stopped during this call".into(),
                metadata: Some(json!({"interrupted": true})),
                time: SpanTime { start, end: now },
            };
            batch.push(Write::Part(part_record(&part)));
        }
        message.error = Some(MessageError {
            name: "MessageAbortedError".into(),
            data: json!({"message": "The server stopped during this turn"}),
        });
        message.time.completed = Some(now);
        batch.push(Write::Message(message_record(&MessageInfo::Assistant(
            message.clone(),
        ))));
        match store.apply(&batch) {
            Ok(()) => {
                tracing::info!(session = %message.session_id, message = %message.id, "marked a turn interrupted by a restart")
            }
            Err(e) => tracing::error!(message = %message.id, "could not mark an interrupted turn: {e}"),
        }
    }
}
