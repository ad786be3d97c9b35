//! A `completion-request` as an Anthropic Messages API request body: system prompts in `system`,
//! tool calls as `tool_use` blocks, tool results as `tool_result` blocks of a user message, and
//! consecutive messages of one role merged, as the API requires alternating roles.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use wasmcode_provider_support::wit::{CompletionRequest, ContentPart, ProviderError, Role};
use wasmcode_provider_support::{RequestBody, add_options, models, parse_json, request_options};

/// What to ask for when neither the request nor the configured model says: the API requires a
/// value, and every Claude model accepts this one.
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The body of `request`: its messages encoded from the request as they are (see
/// [`RequestBody`]).
pub fn body(request: &CompletionRequest) -> Result<RequestBody<Vec<ApiMessage<'_>>>, ProviderError> {
    let max_tokens = request
        .max_tokens
        .or_else(|| models::output_limit(&request.config, &request.model))
        .unwrap_or(DEFAULT_MAX_TOKENS);
    let mut fields = Map::new();
    fields.insert("model".into(), json!(request.model));
    fields.insert("max_tokens".into(), json!(max_tokens));
    fields.insert("stream".into(), json!(true));
    let system: Vec<Value> = request
        .system
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| json!({"type": "text", "text": s}))
        .collect();
    if !system.is_empty() {
        fields.insert("system".into(), Value::Array(system));
    }
    if let Some(temperature) = request.temperature {
        fields.insert("temperature".into(), json!(decimal(temperature)));
    }
    if !request.tools.is_empty() {
        let tools = request
            .tools
            .iter()
            .map(|tool| {
                let schema = parse_json(
                    &tool.parameters_schema,
                    &format!("the parameter schema of tool `{}`", tool.name),
                )?;
                Ok(json!({"name": tool.name, "description": tool.description, "input_schema": schema}))
            })
            .collect::<Result<Vec<_>, ProviderError>>()?;
        fields.insert("tools".into(), Value::Array(tools));
    }
    add_options(&mut fields, request_options(request)?);
    Ok(RequestBody {
        fields,
        messages: messages(request)?,
    })
}

/// An `f32` as the decimal it was written as (`0.7`, not `0.699999988079071`).
fn decimal(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

/// One message of the API's `messages`, borrowing the request's text.
#[derive(Debug, Serialize)]
pub struct ApiMessage<'a> {
    role: &'static str,
    content: Vec<Block<'a>>,
}

/// A content block.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block<'a> {
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        /// The arguments as the JSON the model wrote, embedded as they are.
        input: &'a RawValue,
    },
    ToolResult {
        tool_use_id: &'a str,
        content: &'a str,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
}

/// The API's role for a message: tool results travel in user messages.
fn api_role(role: Role) -> &'static str {
    match role {
        Role::Assistant => "assistant",
        Role::User | Role::Tool => "user",
    }
}

fn messages(request: &CompletionRequest) -> Result<Vec<ApiMessage<'_>>, ProviderError> {
    let mut out: Vec<ApiMessage<'_>> = Vec::new();
    for message in &request.messages {
        let role = api_role(message.role);
        let mut blocks = Vec::with_capacity(message.content.len());
        for part in &message.content {
            if let Some(block) = block(message.role, part)? {
                blocks.push(block);
            }
        }
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => out.push(ApiMessage {
                role,
                content: blocks,
            }),
        }
    }
    for message in &mut out {
        // A user message that answers tool calls must start with the results.
        message
            .content
            .sort_by_key(|b| !matches!(b, Block::ToolResult { .. }));
    }
    Ok(out)
}

/// The empty object, for a tool call the model gave no arguments.
fn no_arguments() -> &'static RawValue {
    static EMPTY: std::sync::OnceLock<Box<RawValue>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| RawValue::from_string("{}".into()).unwrap_or_default())
}

fn block(role: Role, part: &ContentPart) -> Result<Option<Block<'_>>, ProviderError> {
    Ok(match part {
        // The API refuses empty text blocks.
        ContentPart::Text(text) if text.is_empty() => None,
        ContentPart::Text(text) => Some(Block::Text { text }),
        // Thinking blocks can only be sent back with the signature the API gave them, which the
        // session does not keep; the API accepts a history without them.
        ContentPart::Reasoning(_) => None,
        ContentPart::ToolCall(call) if matches!(role, Role::Assistant) => {
            let input = if call.arguments_json.trim().is_empty() {
                no_arguments()
            } else {
                serde_json::from_str::<&RawValue>(&call.arguments_json).map_err(|e| {
                    ProviderError::InvalidRequest(format!(
                        "the arguments of tool call `{}` are not JSON: {e}",
                        call.id
                    ))
                })?
            };
            Some(Block::ToolUse {
                id: &call.id,
                name: &call.name,
                input,
            })
        }
        ContentPart::ToolCall(_) => None,
        ContentPart::ToolResult(result) => Some(Block::ToolResult {
            tool_use_id: &result.call_id,
            content: &result.output,
            is_error: result.is_error,
        }),
    })
}

#[cfg(test)]
mod tests {
    use wasmcode_provider_support::wit::{Message, ProviderConfig, ToolCall, ToolDefinition, ToolResult};

    use super::*;

    /// The body as the JSON it is sent as.
    fn encoded(request: &CompletionRequest) -> Result<Value, ProviderError> {
        body(request).map(|body| serde_json::to_value(&body).unwrap_or_default())
    }

    fn config(options: Value) -> ProviderConfig {
        ProviderConfig {
            base_url: "https://api.anthropic.com/v1".into(),
            api_key: Some("sk-ant".into()),
            headers: Vec::new(),
            options_json: options.to_string(),
        }
    }

    fn conversation() -> CompletionRequest {
        CompletionRequest {
            config: config(json!({})),
            model: "claude-sonnet-4-5".into(),
            system: vec!["You are helpful.".into(), "".into(), "Project: /p".into()],
            messages: vec![
                Message {
                    role: Role::User,
                    content: vec![ContentPart::Text("Read the README.".into())],
                },
                Message {
                    role: Role::Assistant,
                    content: vec![
                        ContentPart::Reasoning("I will read it.".into()),
                        ContentPart::Text("Reading.".into()),
                        ContentPart::ToolCall(ToolCall {
                            id: "toolu_1".into(),
                            name: "read".into(),
                            arguments_json: r#"{"filePath":"README.md"}"#.into(),
                        }),
                        ContentPart::ToolCall(ToolCall {
                            id: "toolu_2".into(),
                            name: "list".into(),
                            arguments_json: String::new(),
                        }),
                    ],
                },
                Message {
                    role: Role::Tool,
                    content: vec![
                        ContentPart::ToolResult(ToolResult {
                            call_id: "toolu_1".into(),
                            name: "read".into(),
                            output: "# Hello".into(),
                            is_error: false,
                        }),
                        ContentPart::ToolResult(ToolResult {
                            call_id: "toolu_2".into(),
                            name: "list".into(),
                            output: "permission denied".into(),
                            is_error: true,
                        }),
                    ],
                },
                Message {
                    role: Role::User,
                    content: vec![ContentPart::Text("And now?".into())],
                },
            ],
            tools: vec![ToolDefinition {
                name: "read".into(),
                description: "Reads a file".into(),
                parameters_schema: r#"{"type":"object"}"#.into(),
            }],
            max_tokens: None,
            temperature: None,
            options_json: String::new(),
        }
    }

    #[test]
    fn builds_a_messages_request() {
        let body = encoded(&conversation()).expect("a valid request");
        assert_eq!(
            body,
            json!({
                "model": "claude-sonnet-4-5",
                "max_tokens": 4096,
                "stream": true,
                "system": [
                    {"type": "text", "text": "You are helpful."},
                    {"type": "text", "text": "Project: /p"},
                ],
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "Read the README."}]},
                    {"role": "assistant", "content": [
                        {"type": "text", "text": "Reading."},
                        {"type": "tool_use", "id": "toolu_1", "name": "read", "input": {"filePath": "README.md"}},
                        {"type": "tool_use", "id": "toolu_2", "name": "list", "input": {}},
                    ]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "# Hello"},
                        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "permission denied", "is_error": true},
                        {"type": "text", "text": "And now?"},
                    ]},
                ],
                "tools": [{"name": "read", "description": "Reads a file", "input_schema": {"type": "object"}}],
            })
        );
    }

    #[test]
    fn tool_results_come_first_in_a_merged_user_message() {
        let mut request = conversation();
        request.messages.swap(2, 3);
        let body = encoded(&request).expect("a valid request");
        let types: Vec<&str> = body["messages"][2]["content"]
            .as_array()
            .expect("blocks")
            .iter()
            .filter_map(|b| b["type"].as_str())
            .collect();
        assert_eq!(types, ["tool_result", "tool_result", "text"]);
    }

    #[test]
    fn max_tokens_from_the_request_then_the_configured_model() {
        let mut request = conversation();
        request.config = config(json!({"models": {"claude-sonnet-4-5": {"limit": {"output": 64000}}}}));
        assert_eq!(encoded(&request).expect("valid")["max_tokens"], 64000);
        request.max_tokens = Some(100);
        assert_eq!(encoded(&request).expect("valid")["max_tokens"], 100);
    }

    #[test]
    fn options_reach_the_body() {
        let mut request = conversation();
        request.options_json = r#"{"thinking":{"type":"enabled","budget_tokens":1024}}"#.into();
        request.temperature = Some(0.3);
        let body = encoded(&request).expect("valid");
        assert_eq!(body["thinking"]["budget_tokens"], 1024);
        assert_eq!(body["temperature"], 0.3);
    }

    #[test]
    fn unparseable_tool_arguments_are_an_invalid_request() {
        let mut request = conversation();
        request.messages[1].content[2] = ContentPart::ToolCall(ToolCall {
            id: "toolu_1".into(),
            name: "read".into(),
            arguments_json: "{broken".into(),
        });
        assert!(matches!(encoded(&request), Err(ProviderError::InvalidRequest(m)) if m.contains("toolu_1")));
    }
}
