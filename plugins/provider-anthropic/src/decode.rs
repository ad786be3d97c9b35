//! Anthropic Messages stream events to stream events: content blocks (`text`, `thinking`,
//! `tool_use` with its input streamed as JSON fragments) between `message_start` and
//! `message_stop`, usage split between `message_start` (input) and `message_delta` (output).

use serde::Deserialize;
use wasmcode_provider_support::sse::SseEvent;
use wasmcode_provider_support::wit::{
    FinishReason, ProviderError, StatusError, StreamEvent, ToolCall, ToolCallStart, Usage,
};
use wasmcode_provider_support::{Decoder, Events, Flow, excerpt};

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ApiEvent {
    MessageStart {
        message: StartMessage,
    },
    ContentBlockStart {
        index: u32,
        content_block: Block,
    },
    ContentBlockDelta {
        index: u32,
        delta: BlockDelta,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        #[serde(default)]
        delta: MessageDelta,
        #[serde(default)]
        usage: Option<ApiUsage>,
    },
    MessageStop,
    Ping,
    Error {
        error: ApiError,
    },
    /// Event types added to the API later are skipped, as its versioning policy asks.
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Deserialize)]
struct StartMessage {
    #[serde(default)]
    usage: Option<ApiUsage>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        #[serde(default)]
        text: String,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
    },
    ToolUse {
        id: String,
        name: String,
    },
    /// `redacted_thinking`, server tools, ...: nothing a session shows.
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta {
    TextDelta {
        text: String,
    },
    ThinkingDelta {
        thinking: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    /// `signature_delta`, `citations_delta`, ...
    #[serde(other)]
    Other,
}

#[derive(Debug, Default, Deserialize)]
struct MessageDelta {
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ApiUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct ApiError {
    #[serde(rename = "type", default)]
    kind: String,
}

/// The `tool_use` block being streamed, by content-block index.
#[derive(Debug)]
struct OpenToolUse {
    index: u32,
    id: String,
    name: String,
    input: String,
}

#[derive(Debug)]
pub struct MessagesDecoder {
    tool_uses: Vec<OpenToolUse>,
    usage: Usage,
    saw_usage: bool,
    stop_reason: Option<FinishReason>,
    saw_stop: bool,
}

impl MessagesDecoder {
    pub fn new() -> Self {
        Self {
            tool_uses: Vec::new(),
            usage: Usage {
                input_tokens: 0,
                output_tokens: 0,
                reasoning_tokens: 0,
                cache_read_tokens: 0,
                cache_write_tokens: 0,
            },
            saw_usage: false,
            stop_reason: None,
            saw_stop: false,
        }
    }

    fn add_usage(&mut self, usage: ApiUsage) {
        self.saw_usage = true;
        // `message_delta` repeats the input counts in newer API versions; the latest value wins.
        if let Some(n) = usage.input_tokens {
            self.usage.input_tokens = n;
        }
        if let Some(n) = usage.output_tokens {
            self.usage.output_tokens = n;
        }
        if let Some(n) = usage.cache_creation_input_tokens {
            self.usage.cache_write_tokens = n;
        }
        if let Some(n) = usage.cache_read_input_tokens {
            self.usage.cache_read_tokens = n;
        }
    }
}

impl Decoder for MessagesDecoder {
    fn event(&mut self, event: &SseEvent, out: &mut Events) -> Result<Flow, ProviderError> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        let parsed: ApiEvent = serde_json::from_str(data).map_err(|e| {
            ProviderError::Protocol(format!(
                "the upstream sent an event that is not a Messages stream event ({e}): {}",
                excerpt(data, 200)
            ))
        })?;
        match parsed {
            ApiEvent::MessageStart { message } => {
                if let Some(usage) = message.usage {
                    self.add_usage(usage);
                }
            }
            ApiEvent::ContentBlockStart { index, content_block } => match content_block {
                Block::Text { text } if !text.is_empty() => out.push_back(StreamEvent::TextDelta(text)),
                Block::Thinking { thinking } if !thinking.is_empty() => {
                    out.push_back(StreamEvent::ReasoningDelta(thinking))
                }
                Block::ToolUse { id, name } => {
                    out.push_back(StreamEvent::ToolCallStart(ToolCallStart {
                        id: id.clone(),
                        name: name.clone(),
                    }));
                    self.tool_uses.push(OpenToolUse {
                        index,
                        id,
                        name,
                        input: String::new(),
                    });
                }
                Block::Text { .. } | Block::Thinking { .. } | Block::Other => {}
            },
            ApiEvent::ContentBlockDelta { index, delta } => match delta {
                BlockDelta::TextDelta { text } if !text.is_empty() => {
                    out.push_back(StreamEvent::TextDelta(text))
                }
                BlockDelta::ThinkingDelta { thinking } if !thinking.is_empty() => {
                    out.push_back(StreamEvent::ReasoningDelta(thinking))
                }
                BlockDelta::InputJsonDelta { partial_json } => {
                    let Some(tool_use) = self.tool_uses.iter_mut().find(|t| t.index == index) else {
                        return Err(ProviderError::Protocol(format!(
                            "the upstream streamed tool input for block {index}, which is not a tool_use block"
                        )));
                    };
                    tool_use.input.push_str(&partial_json);
                }
                BlockDelta::TextDelta { .. } | BlockDelta::ThinkingDelta { .. } | BlockDelta::Other => {}
            },
            ApiEvent::ContentBlockStop { index } => {
                if let Some(position) = self.tool_uses.iter().position(|t| t.index == index) {
                    let tool_use = self.tool_uses.remove(position);
                    let arguments_json = if tool_use.input.trim().is_empty() {
                        "{}".to_string()
                    } else {
                        tool_use.input
                    };
                    out.push_back(StreamEvent::ToolCall(ToolCall {
                        id: tool_use.id,
                        name: tool_use.name,
                        arguments_json,
                    }));
                }
            }
            ApiEvent::MessageDelta { delta, usage } => {
                if let Some(reason) = delta.stop_reason {
                    self.stop_reason = Some(finish_reason(&reason));
                }
                if let Some(usage) = usage {
                    self.add_usage(usage);
                }
            }
            ApiEvent::MessageStop => {
                self.saw_stop = true;
                return Ok(Flow::Done);
            }
            ApiEvent::Ping | ApiEvent::Unknown => {}
            ApiEvent::Error { error } => {
                return Err(ProviderError::Status(StatusError {
                    status: error_status(&error.kind),
                    body: data.to_string(),
                    retry_after_ms: None,
                }));
            }
        }
        Ok(Flow::Continue)
    }

    fn end(&mut self, out: &mut Events) -> Result<(), ProviderError> {
        if !self.saw_stop {
            return Err(ProviderError::Connection(
                "the upstream closed the stream before the model finished".into(),
            ));
        }
        if let Some(open) = self.tool_uses.first() {
            return Err(ProviderError::Protocol(format!(
                "the message stopped inside tool call `{}`",
                open.id
            )));
        }
        if std::mem::take(&mut self.saw_usage) {
            out.push_back(StreamEvent::Usage(self.usage));
        }
        out.push_back(StreamEvent::Finish(
            self.stop_reason.take().unwrap_or(FinishReason::Stop),
        ));
        Ok(())
    }
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

/// The HTTP status an `error` event's type stands for (Anthropic's documented mapping), so a
/// session retries an `overloaded_error` mid-stream as it would a 529 before it.
fn error_status(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use wasmcode_provider_support::decode_all;

    use super::*;

    fn decode(wire: &str) -> Result<Vec<StreamEvent>, ProviderError> {
        decode_all(&mut MessagesDecoder::new(), wire)
    }

    fn debug(events: &[StreamEvent]) -> Vec<String> {
        events.iter().map(|e| format!("{e:?}")).collect()
    }

    fn event(name: &str, data: &str) -> String {
        format!("event: {name}\ndata: {data}\n\n")
    }

    #[test]
    fn decodes_thinking_text_tool_use_and_usage() {
        let wire = [
            event("message_start", r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude","stop_reason":null,"usage":{"input_tokens":25,"cache_read_input_tokens":5,"cache_creation_input_tokens":2,"output_tokens":1}}}"#),
            event("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#),
            event("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me look."}}"#),
            event("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}}"#),
            event("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
            event("ping", r#"{"type": "ping"}"#),
            event("content_block_start", r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#),
            event("content_block_delta", r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Reading"}}"#),
            event("content_block_stop", r#"{"type":"content_block_stop","index":1}"#),
            event("content_block_start", r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_1","name":"read","input":{}}}"#),
            event("content_block_delta", r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}"#),
            event("content_block_delta", r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"filePath\": \"READ"}}"#),
            event("content_block_delta", r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"ME.md\"}"}}"#),
            event("content_block_stop", r#"{"type":"content_block_stop","index":2}"#),
            event("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}"#),
            event("message_stop", r#"{"type":"message_stop"}"#),
        ]
        .concat();
        let events = decode(&wire).expect("decodes");
        assert_eq!(
            debug(&events),
            debug(&[
                StreamEvent::ReasoningDelta("Let me look.".into()),
                StreamEvent::TextDelta("Reading".into()),
                StreamEvent::ToolCallStart(ToolCallStart {
                    id: "toolu_1".into(),
                    name: "read".into()
                }),
                StreamEvent::ToolCall(ToolCall {
                    id: "toolu_1".into(),
                    name: "read".into(),
                    arguments_json: "{\"filePath\": \"README.md\"}".into()
                }),
                StreamEvent::Usage(Usage {
                    input_tokens: 25,
                    output_tokens: 89,
                    reasoning_tokens: 0,
                    cache_read_tokens: 5,
                    cache_write_tokens: 2,
                }),
                StreamEvent::Finish(FinishReason::ToolCalls),
            ])
        );
    }

    #[test]
    fn a_tool_use_without_input_has_empty_arguments() {
        let wire = [
            event("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_2","name":"list","input":{}}}"#),
            event("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
            event("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"}}"#),
            event("message_stop", r#"{"type":"message_stop"}"#),
        ]
        .concat();
        let events = decode(&wire).expect("decodes");
        assert!(
            matches!(&events[1], StreamEvent::ToolCall(call) if call.arguments_json == "{}"),
            "{events:?}"
        );
    }

    #[test]
    fn maps_stop_reasons() {
        for (reason, expected) in [
            ("end_turn", FinishReason::Stop),
            ("max_tokens", FinishReason::Length),
            ("refusal", FinishReason::ContentFilter),
            ("pause_turn", FinishReason::Other),
        ] {
            let wire = [
                event(
                    "message_delta",
                    &format!(r#"{{"type":"message_delta","delta":{{"stop_reason":"{reason}"}}}}"#),
                ),
                event("message_stop", r#"{"type":"message_stop"}"#),
            ]
            .concat();
            assert_eq!(
                debug(&decode(&wire).expect("decodes")),
                debug(&[StreamEvent::Finish(expected)])
            );
        }
    }

    #[test]
    fn an_error_event_is_the_status_it_stands_for() {
        let wire = event(
            "error",
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        match decode(&wire) {
            Err(ProviderError::Status(status)) => {
                assert_eq!(status.status, 529);
                assert!(status.body.contains("Overloaded"));
            }
            other => panic!("expected a status error, got {other:?}"),
        }
    }

    #[test]
    fn a_stream_without_message_stop_was_cut_short() {
        let wire = event(
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
        );
        assert!(matches!(decode(&wire), Err(ProviderError::Connection(_))));
    }

    #[test]
    fn unknown_events_are_skipped_and_garbage_is_refused() {
        let wire = [
            event("something_new", r#"{"type":"something_new","x":1}"#),
            event("message_stop", r#"{"type":"message_stop"}"#),
        ]
        .concat();
        assert_eq!(
            debug(&decode(&wire).expect("decodes")),
            debug(&[StreamEvent::Finish(FinishReason::Stop)])
        );
        assert!(matches!(
            decode("data: nope\n\n"),
            Err(ProviderError::Protocol(_))
        ));
    }
}
