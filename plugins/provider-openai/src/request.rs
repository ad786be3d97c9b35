//! A `completion-request` as an OpenAI chat-completions request body, the shape
//! `@ai-sdk/openai-compatible` sends: `{model, max_tokens, messages, stream: true,
//! stream_options: {include_usage: true}, tools, tool_choice: "auto"}`.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Map, Value, json};
use wasmcode_provider_support::wit::{CompletionRequest, ContentPart, Message, ProviderError, Role};
use wasmcode_provider_support::{RequestBody, add_options, parse_json, request_options};

/// The body of `request`: its messages encoded from the request as they are (see
/// [`RequestBody`]).
pub fn body(request: &CompletionRequest) -> Result<RequestBody<Vec<ChatMessage<'_>>>, ProviderError> {
    let mut messages = Vec::with_capacity(request.system.len() + request.messages.len());
    for system in request.system.iter().filter(|s| !s.is_empty()) {
        messages.push(ChatMessage::System { content: system });
    }
    for message in &request.messages {
        push_message(message, &mut messages);
    }
    let mut fields = Map::new();
    fields.insert("model".into(), json!(request.model));
    fields.insert("stream".into(), json!(true));
    // Without it, most servers never report usage on a stream.
    fields.insert("stream_options".into(), json!({"include_usage": true}));
    if let Some(max_tokens) = request.max_tokens {
        fields.insert("max_tokens".into(), json!(max_tokens));
    }
    if let Some(temperature) = request.temperature {
        fields.insert("temperature".into(), json!(decimal(temperature)));
    }
    if !request.tools.is_empty() {
        let tools = request
            .tools
            .iter()
            .map(|tool| {
                let parameters = parse_json(
                    &tool.parameters_schema,
                    &format!("the parameter schema of tool `{}`", tool.name),
                )?;
                Ok(json!({
                    "type": "function",
                    "function": {"name": tool.name, "description": tool.description, "parameters": parameters},
                }))
            })
            .collect::<Result<Vec<_>, ProviderError>>()?;
        fields.insert("tools".into(), Value::Array(tools));
        fields.insert("tool_choice".into(), json!("auto"));
    }
    add_options(&mut fields, request_options(request)?);
    Ok(RequestBody { fields, messages })
}

/// An `f32` as the decimal it was written as (`0.7`, not `0.699999988079071`).
fn decimal(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

/// One message of the API's `messages`, borrowing the request's text.
#[derive(Debug, Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum ChatMessage<'a> {
    System {
        content: &'a str,
    },
    User {
        content: UserContent<'a>,
    },
    Assistant {
        /// `null` when the message only calls tools.
        content: Option<Cow<'a, str>>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCallOut<'a>>,
    },
    Tool {
        tool_call_id: &'a str,
        content: &'a str,
    },
}

/// A user message's content: one text as a string, several as text parts.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum UserContent<'a> {
    Text(&'a str),
    Parts(Vec<TextPart<'a>>),
}

#[derive(Debug, Serialize)]
pub struct TextPart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Debug, Serialize)]
pub struct ToolCallOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionCall<'a>,
}

#[derive(Debug, Serialize)]
pub struct FunctionCall<'a> {
    name: &'a str,
    /// The arguments as the JSON text the model wrote.
    arguments: &'a str,
}

fn push_message<'a>(message: &'a Message, out: &mut Vec<ChatMessage<'a>>) {
    // Tool results are messages of their own in this API, whichever message carried them.
    for part in &message.content {
        if let ContentPart::ToolResult(result) = part {
            out.push(ChatMessage::Tool {
                tool_call_id: &result.call_id,
                content: &result.output,
            });
        }
    }
    match message.role {
        Role::User => {
            // Most user messages are one text: sent as a string, without collecting anything.
            let mut texts = message.content.iter().filter_map(|part| match part {
                ContentPart::Text(text) => Some(text.as_str()),
                _ => None,
            });
            match (texts.next(), texts.next()) {
                (None, _) => {}
                (Some(one), None) => out.push(ChatMessage::User {
                    content: UserContent::Text(one),
                }),
                (Some(first), Some(second)) => out.push(ChatMessage::User {
                    content: UserContent::Parts(
                        [first, second]
                            .into_iter()
                            .chain(texts)
                            .map(|text| TextPart { kind: "text", text })
                            .collect(),
                    ),
                }),
            }
        }
        Role::Assistant => {
            // One text part (the usual case) is borrowed; several are joined.
            let mut text: Cow<'a, str> = Cow::Borrowed("");
            let mut tool_calls = Vec::new();
            for part in &message.content {
                match part {
                    ContentPart::Text(t) if text.is_empty() => text = Cow::Borrowed(t),
                    ContentPart::Text(t) => text.to_mut().push_str(t),
                    ContentPart::ToolCall(call) => {
                        let arguments = if call.arguments_json.trim().is_empty() {
                            "{}"
                        } else {
                            call.arguments_json.as_str()
                        };
                        tool_calls.push(ToolCallOut {
                            id: &call.id,
                            kind: "function",
                            function: FunctionCall {
                                name: &call.name,
                                arguments,
                            },
                        });
                    }
                    // Reasoning is not sent back: the API has no field for it, and some
                    // compatible servers refuse one.
                    ContentPart::Reasoning(_) | ContentPart::ToolResult(_) => {}
                }
            }
            if tool_calls.is_empty() && text.is_empty() {
                return;
            }
            out.push(ChatMessage::Assistant {
                content: (!text.is_empty()).then_some(text),
                tool_calls,
            });
        }
        // Only the tool results above: a tool message has nothing else.
        Role::Tool => {}
    }
}

#[cfg(test)]
mod tests {
    use wasmcode_provider_support::wit::{ProviderConfig, ToolCall, ToolDefinition, ToolResult};

    use super::*;

    /// The body as the JSON it is sent as.
    fn encoded(request: &CompletionRequest) -> Result<Value, ProviderError> {
        body(request).map(|body| serde_json::to_value(&body).unwrap_or_default())
    }

    fn request() -> CompletionRequest {
        CompletionRequest {
            config: ProviderConfig {
                base_url: "http://127.0.0.1:1/v1".into(),
                api_key: Some("sk-test".into()),
                headers: Vec::new(),
                options_json: "{}".into(),
            },
            model: "fake-model".into(),
            system: vec!["You are helpful.".into(), "Project: /p".into()],
            messages: vec![
                Message {
                    role: Role::User,
                    content: vec![ContentPart::Text("Please read the README file.".into())],
                },
                Message {
                    role: Role::Assistant,
                    content: vec![
                        ContentPart::Reasoning("I should read it.".into()),
                        ContentPart::ToolCall(ToolCall {
                            id: "call_1".into(),
                            name: "read".into(),
                            arguments_json: r#"{"filePath":"README.md"}"#.into(),
                        }),
                    ],
                },
                Message {
                    role: Role::Tool,
                    content: vec![ContentPart::ToolResult(ToolResult {
                        call_id: "call_1".into(),
                        name: "read".into(),
                        output: "# Hello".into(),
                        is_error: false,
                    })],
                },
            ],
            tools: vec![ToolDefinition {
                name: "read".into(),
                description: "Reads a file".into(),
                parameters_schema: r#"{"type":"object","properties":{"filePath":{"type":"string"}}}"#.into(),
            }],
            max_tokens: Some(4096),
            temperature: Some(0.7),
            options_json: r#"{"reasoning_effort":"low","stream":false}"#.into(),
        }
    }

    #[test]
    fn builds_the_body_opencode_sends() {
        let body = encoded(&request()).expect("a valid request");
        assert_eq!(
            body,
            json!({
                "model": "fake-model",
                "max_tokens": 4096,
                "temperature": 0.7,
                "messages": [
                    {"role": "system", "content": "You are helpful."},
                    {"role": "system", "content": "Project: /p"},
                    {"role": "user", "content": "Please read the README file."},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "read", "arguments": "{\"filePath\":\"README.md\"}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "# Hello"},
                ],
                "stream": true,
                "stream_options": {"include_usage": true},
                "tools": [{"type": "function", "function": {
                    "name": "read",
                    "description": "Reads a file",
                    "parameters": {"type": "object", "properties": {"filePath": {"type": "string"}}},
                }}],
                "tool_choice": "auto",
                "reasoning_effort": "low",
            })
        );
    }

    #[test]
    fn several_texts_become_parts_and_empty_messages_vanish() {
        let mut request = request();
        request.tools.clear();
        request.messages = vec![
            Message {
                role: Role::User,
                content: vec![ContentPart::Text("a".into()), ContentPart::Text("b".into())],
            },
            Message {
                role: Role::Assistant,
                content: vec![ContentPart::Reasoning("only thoughts".into())],
            },
            Message {
                role: Role::Assistant,
                content: vec![ContentPart::Text("Done.".into())],
            },
        ];
        let body = encoded(&request).expect("a valid request");
        assert_eq!(
            body["messages"].as_array().expect("messages")[2..],
            [
                json!({"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}),
                json!({"role": "assistant", "content": "Done."}),
            ]
        );
        assert!(body.get("tools").is_none() && body.get("tool_choice").is_none());
    }

    #[test]
    fn a_schema_that_is_not_json_is_an_invalid_request() {
        let mut request = request();
        request.tools[0].parameters_schema = "{oops".into();
        assert!(matches!(encoded(&request), Err(ProviderError::InvalidRequest(m)) if m.contains("`read`")));
    }
}
