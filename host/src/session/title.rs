//! Session titles: after the first prompt, the small model names the session, in parallel with
//! the first turn (as OpenCode does), through the same model client (and retries) as the loop.
//! A failure leaves the default title; it never affects the turn.

use std::sync::Arc;

use super::journal::Changes;
use super::turn::Engine;
use super::{objects, text};
use crate::agent::TITLE_PROMPT;
use crate::instance::Instance;
use crate::llm::{ModelEvent, Prompt};
use crate::protocol::id::SessionId;
use crate::protocol::session::{MessageWithParts, PartBody};
use crate::runtime::{ChatMessage, ContentPart, Role, StreamEvent};

/// Titles longer than this are cut.
const MAX_TITLE: usize = 100;

/// Starts naming `session_id` from its first user message.
pub fn generate(
    engine: Arc<Engine>,
    instance: Arc<Instance>,
    session_id: SessionId,
    first: MessageWithParts,
) {
    tokio::spawn(async move {
        match title(&engine, &instance, &first).await {
            Ok(Some(title)) => {
                if let Err(e) = apply(&engine, &instance, &session_id, title) {
                    tracing::warn!(session = %session_id, "could not store the generated title: {e}");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(session = %session_id, "title generation failed: {e}"),
        }
    });
}

async fn title(
    engine: &Engine,
    instance: &Instance,
    first: &MessageWithParts,
) -> Result<Option<String>, String> {
    let text: String = first
        .parts
        .iter()
        .filter_map(|p| match &p.body {
            PartBody::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n");
    if text.trim().is_empty() {
        return Ok(None);
    }
    let Ok(small) = instance.providers.small_model() else {
        return Ok(None);
    };
    let model = instance
        .providers
        .resolve_ref(&small)
        .map_err(|e| e.to_string())?;
    let prompt = Prompt {
        system: vec![TITLE_PROMPT.to_string()],
        messages: vec![ChatMessage {
            role: Role::User,
            content: Arc::new([ContentPart::Text(text.chars().take(4000).collect())]),
        }],
        tools: Vec::new(),
        max_tokens: Some(64),
        temperature: Some(0.5),
    };
    let settings = instance.config.wasmcode.session.unwrap_or_default();
    let mut stream = engine.models().stream(&model, prompt, &settings);
    let mut answer = String::new();
    while let Some(event) = stream.next().await {
        match event.map_err(|e| e.to_string())? {
            ModelEvent::Stream(StreamEvent::TextDelta(delta)) => answer.push_str(&delta),
            ModelEvent::Stream(StreamEvent::Finish(_)) => break,
            _ => {}
        }
    }
    Ok(clean(&answer))
}

/// The first non-empty line, without quotes or a trailing period, cut to `MAX_TITLE`.
fn clean(answer: &str) -> Option<String> {
    let line = answer.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line = line
        .trim_matches(['"', '\'', '`', '*', '#', ' '])
        .trim_end_matches('.');
    let title: String = line.chars().take(MAX_TITLE).collect();
    (!title.is_empty()).then_some(title)
}

/// Stores the title unless someone set one meanwhile.
fn apply(engine: &Engine, instance: &Instance, session_id: &SessionId, title: String) -> Result<(), String> {
    let mut session = objects::get(engine.journal(), session_id).map_err(|e| e.to_string())?;
    if !text::is_default_title(&session.title) {
        return Ok(());
    }
    session.title = title;
    let mut changes = Changes::new();
    changes.session_updated(&session);
    engine
        .journal()
        .commit(&instance.bus, changes)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn titles_are_cleaned() {
        assert_eq!(
            clean("\n \"Fix the parser.\"\nmore").as_deref(),
            Some("Fix the parser")
        );
        assert_eq!(clean("   "), None);
    }
}
