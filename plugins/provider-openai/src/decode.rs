//! OpenAI chat-completions stream chunks to stream events. Tolerates what compatible servers do
//! differently: no `id`/`created`, `usage` on the last chunk with choices or on its own chunk
//! with empty `choices`, `reasoning_content` or `reasoning`, tool calls without `index`, a
//! missing `[DONE]`, and `finish_reason: "stop"` after tool calls.

use serde::Deserialize;
use wasmcode_provider_support::sse::SseEvent;
use wasmcode_provider_support::wit::{
    FinishReason, ProviderError, StatusError, StreamEvent, ToolCall, ToolCallStart, Usage,
};
use wasmcode_provider_support::{Decoder, Events, Flow, excerpt};

#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Option<Vec<Choice>>,
    #[serde(default)]
    usage: Option<ApiUsage>,
    /// Some servers (OpenRouter) report a failure mid-stream as a chunk with an `error`.
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    /// DeepSeek, vLLM, llama.cpp.
    #[serde(default)]
    reasoning_content: Option<String>,
    /// OpenRouter, Ollama.
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Debug, Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Debug, Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ApiUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Debug, Default, Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

/// A tool call being streamed: its id and name come first, its arguments in fragments.
#[derive(Debug)]
struct PendingCall {
    /// The upstream's `index`, which later fragments refer to.
    key: u32,
    id: String,
    name: String,
    arguments: String,
    started: bool,
}

#[derive(Debug, Default)]
pub struct ChatDecoder {
    calls: Vec<PendingCall>,
    calls_emitted: bool,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    saw_done: bool,
}

impl ChatDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn tool_call_delta(&mut self, delta: ToolCallDelta, out: &mut Events) {
        let key = match (delta.index, &delta.id) {
            (Some(index), _) => index,
            // No index: the id says which call, and a fragment with neither continues the last.
            (None, Some(id)) => match self.calls.iter().find(|c| &c.id == id) {
                Some(call) => call.key,
                None => self.calls.iter().map(|c| c.key + 1).max().unwrap_or(0),
            },
            (None, None) => self.calls.last().map_or(0, |c| c.key),
        };
        let position = match self.calls.iter().position(|c| c.key == key) {
            Some(position) => position,
            None => {
                self.calls.push(PendingCall {
                    key,
                    id: String::new(),
                    name: String::new(),
                    arguments: String::new(),
                    started: false,
                });
                self.calls.len() - 1
            }
        };
        let ordinal = position;
        let call = &mut self.calls[position];
        if let Some(id) = delta.id.filter(|id| !id.is_empty())
            && call.id.is_empty()
        {
            call.id = id;
        }
        if let Some(function) = delta.function {
            if let Some(name) = function.name.filter(|n| !n.is_empty())
                && call.name.is_empty()
            {
                call.name = name;
            }
            if let Some(fragment) = function.arguments {
                call.arguments.push_str(&fragment);
            }
        }
        if !call.started && !call.name.is_empty() {
            if call.id.is_empty() {
                // A few local servers send no id; the session still needs one to pair the result.
                call.id = format!("call_{ordinal}");
            }
            call.started = true;
            out.push_back(StreamEvent::ToolCallStart(ToolCallStart {
                id: call.id.clone(),
                name: call.name.clone(),
            }));
        }
    }

    /// Every streamed tool call is complete once the choice finishes (or the stream ends).
    fn flush_calls(&mut self, out: &mut Events) -> Result<(), ProviderError> {
        for (ordinal, call) in self.calls.drain(..).enumerate() {
            if call.name.is_empty() {
                return Err(ProviderError::Protocol(format!(
                    "the upstream streamed a tool call (index {}) without a function name",
                    call.key
                )));
            }
            let id = if call.id.is_empty() {
                format!("call_{ordinal}")
            } else {
                call.id
            };
            if !call.started {
                out.push_back(StreamEvent::ToolCallStart(ToolCallStart {
                    id: id.clone(),
                    name: call.name.clone(),
                }));
            }
            let arguments_json = if call.arguments.trim().is_empty() {
                "{}".to_string()
            } else {
                call.arguments
            };
            out.push_back(StreamEvent::ToolCall(ToolCall {
                id,
                name: call.name,
                arguments_json,
            }));
            self.calls_emitted = true;
        }
        Ok(())
    }
}

impl Decoder for ChatDecoder {
    fn event(&mut self, event: &SseEvent, out: &mut Events) -> Result<Flow, ProviderError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            self.saw_done = true;
            return Ok(Flow::Done);
        }
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        let chunk: Chunk = serde_json::from_str(data).map_err(|e| {
            ProviderError::Protocol(format!(
                "the upstream sent a chunk that is not a chat completion chunk ({e}): {}",
                excerpt(data, 200)
            ))
        })?;
        if let Some(error) = chunk.error {
            return Err(stream_error(&error, data));
        }
        for choice in chunk.choices.unwrap_or_default() {
            // `n > 1` is never requested; other choices would be a server's mistake.
            if choice.index.unwrap_or(0) != 0 {
                continue;
            }
            let delta = choice.delta.unwrap_or_default();
            for reasoning in [delta.reasoning_content, delta.reasoning].into_iter().flatten() {
                if !reasoning.is_empty() {
                    out.push_back(StreamEvent::ReasoningDelta(reasoning));
                }
            }
            if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                out.push_back(StreamEvent::TextDelta(text));
            }
            for call in delta.tool_calls.unwrap_or_default() {
                self.tool_call_delta(call, out);
            }
            if let Some(reason) = choice.finish_reason {
                self.flush_calls(out)?;
                self.finish = Some(finish_reason(&reason));
            }
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(normalize(usage));
        }
        Ok(Flow::Continue)
    }

    fn end(&mut self, out: &mut Events) -> Result<(), ProviderError> {
        if self.finish.is_none() && !self.saw_done {
            return Err(ProviderError::Connection(
                "the upstream closed the stream before the model finished".into(),
            ));
        }
        self.flush_calls(out)?;
        if let Some(usage) = self.usage.take() {
            out.push_back(StreamEvent::Usage(usage));
        }
        let reason = match self.finish.take() {
            // Some servers (Ollama among them) say `stop` after streaming tool calls; the
            // session must still run the tools.
            Some(FinishReason::Stop) | None if self.calls_emitted => FinishReason::ToolCalls,
            Some(reason) => reason,
            None => FinishReason::Stop,
        };
        out.push_back(StreamEvent::Finish(reason));
        Ok(())
    }
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" | "end_turn" => FinishReason::Stop,
        "length" | "max_tokens" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

fn normalize(usage: ApiUsage) -> Usage {
    let cached = usage
        .prompt_tokens_details
        .and_then(|d| d.cached_tokens)
        .unwrap_or(0);
    Usage {
        input_tokens: usage.prompt_tokens.saturating_sub(cached),
        output_tokens: usage.completion_tokens,
        reasoning_tokens: usage
            .completion_tokens_details
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0),
        cache_read_tokens: cached,
        cache_write_tokens: 0,
    }
}

/// A mid-stream error chunk, as the status it stands for: its numeric `code` when it has one
/// (OpenRouter), else 500.
fn stream_error(error: &serde_json::Value, data: &str) -> ProviderError {
    let status = error
        .get("code")
        .and_then(serde_json::Value::as_u64)
        .and_then(|code| u16::try_from(code).ok())
        .filter(|code| (400..600).contains(code))
        .unwrap_or(500);
    ProviderError::Status(StatusError {
        status,
        body: data.to_string(),
        retry_after_ms: None,
    })
}

#[cfg(test)]
mod tests {
    use wasmcode_provider_support::decode_all;

    use super::*;

    /// Runs `wire` through the SSE parser and the decoder, as the stream driver does.
    fn decode(wire: &str) -> Result<Vec<StreamEvent>, ProviderError> {
        decode_all(&mut ChatDecoder::new(), wire)
    }

    fn debug(events: &[StreamEvent]) -> Vec<String> {
        events.iter().map(|e| format!("{e:?}")).collect()
    }

    #[test]
    fn decodes_text_usage_and_finish() {
        let wire = concat!(
            "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"finish_reason\":null}]}\n\n",
            ": keep-alive\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" world\"},\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":120,\"completion_tokens\":17,\"total_tokens\":137,\"prompt_tokens_details\":{\"cached_tokens\":20},\"completion_tokens_details\":{\"reasoning_tokens\":5}}}\n\n",
            "data: [DONE]\n\n",
        );
        let events = decode(wire).expect("decodes");
        assert_eq!(
            debug(&events),
            debug(&[
                StreamEvent::TextDelta("Hello".into()),
                StreamEvent::TextDelta(" world".into()),
                StreamEvent::Usage(Usage {
                    input_tokens: 100,
                    output_tokens: 17,
                    reasoning_tokens: 5,
                    cache_read_tokens: 20,
                    cache_write_tokens: 0,
                }),
                StreamEvent::Finish(FinishReason::Stop),
            ])
        );
    }

    #[test]
    fn assembles_fragmented_tool_calls() {
        let wire = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"read\",\"arguments\":\"\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"filePath\\\":\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"function\":{\"name\":\"glob\",\"arguments\":\"{}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\" \\\"README.md\\\"}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n",
            "data: [DONE]\n\n",
        );
        let events = decode(wire).expect("decodes");
        assert_eq!(
            debug(&events),
            debug(&[
                StreamEvent::ToolCallStart(ToolCallStart {
                    id: "call_a".into(),
                    name: "read".into()
                }),
                StreamEvent::ToolCallStart(ToolCallStart {
                    id: "call_b".into(),
                    name: "glob".into()
                }),
                StreamEvent::ToolCall(ToolCall {
                    id: "call_a".into(),
                    name: "read".into(),
                    arguments_json: "{\"filePath\": \"README.md\"}".into()
                }),
                StreamEvent::ToolCall(ToolCall {
                    id: "call_b".into(),
                    name: "glob".into(),
                    arguments_json: "{}".into()
                }),
                StreamEvent::Usage(Usage {
                    input_tokens: 3,
                    output_tokens: 4,
                    reasoning_tokens: 0,
                    cache_read_tokens: 0,
                    cache_write_tokens: 0,
                }),
                StreamEvent::Finish(FinishReason::ToolCalls),
            ])
        );
    }

    #[test]
    fn tolerates_what_local_servers_do() {
        // No index, no id, whole arguments at once, `stop` after a tool call, no [DONE], CRLF.
        let wire = concat!(
            "data: {\"choices\":[{\"delta\":{\"reasoning\":\"hmm\"}}]}\r\n\r\n",
            "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\" ok\",\"content\":null}}]}\r\n\r\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":{\"name\":\"bash\",\"arguments\":\"{\\\"command\\\":\\\"ls\\\"}\"}}]}}]}\r\n\r\n",
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\r\n\r\n",
        );
        let events = decode(wire).expect("decodes");
        assert_eq!(
            debug(&events),
            debug(&[
                StreamEvent::ReasoningDelta("hmm".into()),
                StreamEvent::ReasoningDelta(" ok".into()),
                StreamEvent::ToolCallStart(ToolCallStart {
                    id: "call_0".into(),
                    name: "bash".into()
                }),
                StreamEvent::ToolCall(ToolCall {
                    id: "call_0".into(),
                    name: "bash".into(),
                    arguments_json: "{\"command\":\"ls\"}".into()
                }),
                StreamEvent::Finish(FinishReason::ToolCalls),
            ])
        );
    }

    #[test]
    fn maps_finish_reasons() {
        for (wire, expected) in [
            ("length", FinishReason::Length),
            ("content_filter", FinishReason::ContentFilter),
            ("something_new", FinishReason::Other),
        ] {
            let events = decode(&format!(
                "data: {{\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"{wire}\"}}]}}\n\ndata: [DONE]\n\n"
            ))
            .expect("decodes");
            assert_eq!(debug(&events), debug(&[StreamEvent::Finish(expected)]));
        }
    }

    #[test]
    fn a_stream_cut_short_is_a_connection_error() {
        let wire = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n";
        assert!(matches!(decode(wire), Err(ProviderError::Connection(_))));
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        assert!(
            matches!(decode("data: {not json\n\n"), Err(ProviderError::Protocol(m)) if m.contains("{not json"))
        );
        assert!(matches!(
            decode("data: [1, 2]\n\n"),
            Err(ProviderError::Protocol(_))
        ));
    }

    #[test]
    fn an_error_chunk_is_a_status() {
        let wire = "data: {\"error\":{\"code\":429,\"message\":\"Rate limit exceeded\"}}\n\n";
        match decode(wire) {
            Err(ProviderError::Status(status)) => {
                assert_eq!(status.status, 429);
                assert!(status.body.contains("Rate limit exceeded"));
            }
            other => panic!("expected a status error, got {other:?}"),
        }
    }
}
