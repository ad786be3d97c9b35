//! The stored conversation as the model sees it: user and assistant messages with their text,
//! tool calls and tool results, in the provider-neutral shape of the `provider` interface.

use std::sync::Arc;

use base64::Engine as _;

use crate::protocol::session::{MessageInfo, MessageWithParts, Part, PartBody, ToolState};
use crate::runtime::{ChatMessage, ContentPart, Role, ToolInvocation, ToolResult};

/// The largest attached text file inlined into the conversation.
const MAX_INLINE_FILE: usize = 256 * 1024;

/// What the model sees of one stored message: nothing, the message, or (for an assistant message
/// that called tools) the message and the tools' results. Assistant messages that failed before
/// saying anything are left out; interrupted tool calls are reported to the model as such, so it
/// never sees a call without a result.
pub fn model_view(message: &MessageWithParts) -> Vec<ChatMessage> {
    match &message.info {
        MessageInfo::User(_) => {
            let content: Arc<[ContentPart]> = message.parts.iter().filter_map(user_content).collect();
            if content.is_empty() {
                return Vec::new();
            }
            vec![ChatMessage {
                role: Role::User,
                content,
            }]
        }
        MessageInfo::Assistant(_) => {
            let mut content = Vec::with_capacity(message.parts.len());
            let mut results = Vec::new();
            for part in &message.parts {
                match &part.body {
                    PartBody::Text { text, .. } if !text.is_empty() => {
                        content.push(ContentPart::Text(text.clone()))
                    }
                    PartBody::Reasoning { text, .. } if !text.is_empty() => {
                        content.push(ContentPart::Reasoning(text.clone()))
                    }
                    PartBody::Tool { call_id, tool, state } => {
                        content.push(ContentPart::ToolCall(ToolInvocation {
                            id: call_id.clone(),
                            name: tool.clone(),
                            arguments_json: state.input().to_string(),
                        }));
                        let (output, is_error) = match state {
                            ToolState::Completed { output, .. } => (output.clone(), false),
                            ToolState::Error { error, .. } => (error.clone(), true),
                            ToolState::Pending { .. } | ToolState::Running { .. } => {
                                ("Tool execution aborted".to_string(), true)
                            }
                        };
                        results.push(ContentPart::ToolResult(ToolResult {
                            call_id: call_id.clone(),
                            name: tool.clone(),
                            output,
                            is_error,
                        }));
                    }
                    _ => {}
                }
            }
            if content.is_empty() {
                return Vec::new();
            }
            let mut view = vec![ChatMessage {
                role: Role::Assistant,
                content: content.into(),
            }];
            if !results.is_empty() {
                view.push(ChatMessage {
                    role: Role::Tool,
                    content: results.into(),
                });
            }
            view
        }
    }
}

fn user_content(part: &Part) -> Option<ContentPart> {
    match &part.body {
        PartBody::Text { text, .. } if !text.is_empty() => Some(ContentPart::Text(text.clone())),
        PartBody::File { mime, filename, url } => {
            Some(ContentPart::Text(file_text(mime, filename.as_deref(), url)))
        }
        PartBody::Agent { name } => Some(ContentPart::Text(format!(
            "Use the {name} agent for this request."
        ))),
        PartBody::Subtask { prompt, .. } => Some(ContentPart::Text(prompt.clone())),
        _ => None,
    }
}

/// An attached file as text: the content of a small text `data:` URL, else a reference.
fn file_text(mime: &str, filename: Option<&str>, url: &str) -> String {
    let name = filename.unwrap_or("attachment");
    if (mime.starts_with("text/") || mime == "application/json")
        && let Some((_, data)) = url.split_once(";base64,")
        && url.starts_with("data:")
        && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data)
        && bytes.len() <= MAX_INLINE_FILE
        && let Ok(text) = String::from_utf8(bytes)
    {
        return format!("Attached file {name}:\n{text}");
    }
    if url.starts_with("data:") {
        format!("[The user attached {name} ({mime}), which this model cannot read.]")
    } else {
        format!("[The user attached {name} ({mime}): {url}]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::session::*;

    fn messages(history: &[MessageWithParts]) -> Vec<ChatMessage> {
        history.iter().flat_map(model_view).collect()
    }

    fn part(body: PartBody) -> Part {
        Part {
            id: "prt_1".parse().expect("an id"),
            session_id: "ses_1".parse().expect("an id"),
            message_id: "msg_1".parse().expect("an id"),
            body,
        }
    }

    #[test]
    fn tool_calls_are_followed_by_their_results() {
        let user = MessageWithParts {
            info: MessageInfo::User(UserMessage {
                id: "msg_1".parse().expect("an id"),
                session_id: "ses_1".parse().expect("an id"),
                time: MessageTime::default(),
                summary: None,
                agent: "build".into(),
                model: ModelRef {
                    provider_id: "p".into(),
                    model_id: "m".into(),
                },
                system: None,
                tools: None,
            }),
            parts: vec![part(PartBody::Text {
                text: "read it".into(),
                synthetic: None,
                time: None,
            })],
        };
        let assistant = MessageWithParts {
            info: MessageInfo::Assistant(AssistantMessage {
                id: "msg_2".parse().expect("an id"),
                session_id: "ses_1".parse().expect("an id"),
                time: MessageTime::default(),
                parent_id: "msg_1".parse().expect("an id"),
                model_id: "m".into(),
                provider_id: "p".into(),
                mode: "build".into(),
                agent: "build".into(),
                path: MessagePath {
                    cwd: "/".into(),
                    root: "/".into(),
                },
                cost: 0.0,
                tokens: Tokens::default(),
                finish: None,
                error: Some(MessageError::aborted()),
            }),
            parts: vec![
                part(PartBody::StepStart { snapshot: None }),
                part(PartBody::Tool {
                    call_id: "call_1".into(),
                    tool: "read".into(),
                    state: ToolState::Running {
                        input: serde_json::json!({"filePath": "a"}),
                        title: None,
                        metadata: None,
                        time: RunningTime { start: 1 },
                    },
                }),
            ],
        };
        let chat = messages(&[user, assistant]);
        assert_eq!(chat.len(), 3);
        assert!(matches!(chat[1].content[0], ContentPart::ToolCall(_)));
        match &chat[2].content[0] {
            ContentPart::ToolResult(result) => {
                assert!(result.is_error);
                assert_eq!(result.call_id, "call_1");
            }
            other => panic!("expected a tool result, got {other:?}"),
        }
    }

    #[test]
    fn small_text_attachments_are_inlined() {
        let url = format!(
            "data:text/plain;base64,{}",
            base64::engine::general_purpose::STANDARD.encode("hello")
        );
        assert_eq!(
            file_text("text/plain", Some("a.txt"), &url),
            "Attached file a.txt:\nhello"
        );
        assert!(file_text("image/png", None, "data:image/png;base64,AAAA").contains("cannot read"));
    }
}
