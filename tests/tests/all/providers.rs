//! The first-party provider components (`openai`, `anthropic`) run through the real runtime
//! against the fake LLM upstream: what they stream, what they send, how they fail, and what the
//! host lets them reach.

use std::time::Duration;

use serde_json::{Value, json};
use wasmcode::runtime::{
    ChatMessage, CompletionRequest, CompletionStream, ContentPart, FinishReason, Limits, LoadError,
    ModelInfo, ProviderCallError, ProviderConfig, ProviderPlugin, StreamEvent, ToolDefinition,
    ToolInvocation, ToolResult, Usage,
};
use wasmcode_tests::fake_llm::{FakeLlm, Reply, Wire};
use wasmcode_tests::guests;

use crate::harness::{first_party_provider, first_party_provider_with, runtime};

const PROVIDERS: [&str; 2] = ["openai", "anthropic"];

fn config(llm: &FakeLlm) -> ProviderConfig {
    ProviderConfig {
        base_url: llm.url(),
        api_key: Some("sk-fake".into()),
        headers: vec![("x-session-affinity".into(), "ses_test".into())],
        options: json!({}),
    }
}

fn ask(llm: &FakeLlm, text: &str) -> CompletionRequest {
    CompletionRequest::new(config(llm), "fake-model", vec![ChatMessage::user(text)])
}

async fn start(
    plugin: &ProviderPlugin,
    request: CompletionRequest,
) -> Result<CompletionStream, ProviderCallError> {
    runtime().provider_stream(plugin, &request).await
}

/// Every event of a stream that must succeed.
async fn collect(mut stream: CompletionStream) -> Vec<StreamEvent> {
    let mut events = Vec::new();
    while let Some(event) = tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .expect("the stream makes progress")
    {
        events.push(event.expect("the stream succeeds"));
    }
    events
}

/// The events before the stream failed, and its error.
async fn collect_until_error(mut stream: CompletionStream) -> (Vec<StreamEvent>, ProviderCallError) {
    let mut events = Vec::new();
    loop {
        match stream.next().await {
            Some(Ok(event)) => events.push(event),
            Some(Err(error)) => return (events, error),
            None => panic!("the stream ended without the expected error after {events:?}"),
        }
    }
}

fn usage(input_tokens: u64, output_tokens: u64) -> StreamEvent {
    StreamEvent::Usage(Usage {
        input_tokens,
        output_tokens,
        ..Usage::default()
    })
}

#[tokio::test]
async fn both_providers_stream_text_and_usage() {
    for name in PROVIDERS {
        let llm = FakeLlm::start().await;
        llm.push(Reply::text(["Done.", " The", " tool"]).usage(1200, 9));
        let plugin = first_party_provider(name).await;
        let stream = start(&plugin, ask(&llm, "hi")).await.expect("the stream starts");
        assert_eq!(
            collect(stream).await,
            vec![
                StreamEvent::TextDelta("Done.".into()),
                StreamEvent::TextDelta(" The".into()),
                StreamEvent::TextDelta(" tool".into()),
                usage(1200, 9),
                StreamEvent::Finish(FinishReason::Stop),
            ],
            "{name}"
        );
        let requests = llm.turn_requests();
        assert_eq!(requests.len(), 1, "{name}");
        let expected_wire = if name == "openai" {
            Wire::OpenAi
        } else {
            Wire::Anthropic
        };
        assert_eq!(requests[0].wire, Some(expected_wire), "{name}");
    }
}

#[tokio::test]
async fn both_providers_assemble_a_fragmented_tool_call() {
    let arguments = json!({"filePath": "/project/README.md", "offset": 1, "limit": 2000});
    for name in PROVIDERS {
        let llm = FakeLlm::start().await;
        llm.push(Reply::tool_call("call_1", "read", arguments.clone()));
        let plugin = first_party_provider(name).await;
        let stream = start(&plugin, ask(&llm, "read it"))
            .await
            .expect("the stream starts");
        let events = collect(stream).await;
        assert_eq!(events.len(), 4, "{name}: {events:?}");
        assert_eq!(
            events[0],
            StreamEvent::ToolCallStart {
                id: "call_1".into(),
                name: "read".into()
            },
            "{name}"
        );
        let StreamEvent::ToolCall(call) = &events[1] else {
            panic!("{name}: expected a tool call, got {:?}", events[1]);
        };
        assert_eq!(
            (call.id.as_str(), call.name.as_str()),
            ("call_1", "read"),
            "{name}"
        );
        let parsed: Value = serde_json::from_str(&call.arguments_json).expect("the arguments are JSON");
        assert_eq!(parsed, arguments, "{name}");
        assert_eq!(events[2], usage(120, 17), "{name}");
        assert_eq!(events[3], StreamEvent::Finish(FinishReason::ToolCalls), "{name}");
    }
}

#[tokio::test]
async fn both_providers_stream_reasoning_before_the_answer() {
    for name in PROVIDERS {
        let llm = FakeLlm::start().await;
        llm.push(Reply::reasoning(["Let me", " think."]).then_text(["42"]));
        let plugin = first_party_provider(name).await;
        let stream = start(&plugin, ask(&llm, "why?"))
            .await
            .expect("the stream starts");
        assert_eq!(
            collect(stream).await,
            vec![
                StreamEvent::ReasoningDelta("Let me".into()),
                StreamEvent::ReasoningDelta(" think.".into()),
                StreamEvent::TextDelta("42".into()),
                usage(120, 17),
                StreamEvent::Finish(FinishReason::Stop),
            ],
            "{name}"
        );
    }
}

/// A whole conversation: system prompts, a tool call and its result, and a follow-up.
fn conversation(llm: &FakeLlm) -> CompletionRequest {
    let mut request = CompletionRequest::new(
        config(llm),
        "fake-model",
        vec![
            ChatMessage::user("Please read the README file."),
            ChatMessage::assistant(vec![
                ContentPart::Reasoning("The user wants the README.".into()),
                ContentPart::ToolCall(ToolInvocation {
                    id: "call_1".into(),
                    name: "read".into(),
                    arguments_json: r#"{"filePath":"README.md"}"#.into(),
                }),
            ]),
            ChatMessage::tool_results(vec![ToolResult {
                call_id: "call_1".into(),
                name: "read".into(),
                output: "# Hello".into(),
                is_error: false,
            }]),
        ],
    );
    request.system = vec!["You are opencode.".into(), "Working directory: /project".into()];
    request.tools = vec![ToolDefinition {
        name: "read".into(),
        description: "Reads a file".into(),
        parameters: json!({"type": "object", "properties": {"filePath": {"type": "string"}}, "required": ["filePath"]}),
    }];
    request.max_tokens = Some(4096);
    request
}

#[tokio::test]
async fn openai_sends_what_the_chat_completions_api_expects() {
    let llm = FakeLlm::start().await;
    llm.push(Reply::text(["ok"]));
    let plugin = first_party_provider("openai").await;
    collect(start(&plugin, conversation(&llm)).await.expect("starts")).await;

    let request = &llm.turn_requests()[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(request.header("authorization"), Some("Bearer sk-fake"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("accept"), Some("text/event-stream"));
    assert_eq!(request.header("x-session-affinity"), Some("ses_test"));
    assert_eq!(request.header("x-api-key"), None);
    assert_eq!(
        request.body,
        json!({
            "model": "fake-model",
            "max_tokens": 4096,
            "messages": [
                {"role": "system", "content": "You are opencode."},
                {"role": "system", "content": "Working directory: /project"},
                {"role": "user", "content": "Please read the README file."},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "read", "arguments": "{\"filePath\":\"README.md\"}"}},
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "# Hello"},
            ],
            "stream": true,
            "stream_options": {"include_usage": true},
            "tools": [{"type": "function", "function": {
                "name": "read",
                "description": "Reads a file",
                "parameters": {"type": "object", "properties": {"filePath": {"type": "string"}}, "required": ["filePath"]},
            }}],
            "tool_choice": "auto",
        })
    );
}

#[tokio::test]
async fn anthropic_sends_what_the_messages_api_expects() {
    let llm = FakeLlm::start().await;
    llm.push(Reply::text(["ok"]));
    let plugin = first_party_provider("anthropic").await;
    let mut request = conversation(&llm);
    request.messages.push(ChatMessage::user("Now summarize it."));
    request.options = json!({"thinking": {"type": "enabled", "budget_tokens": 1024}});
    collect(start(&plugin, request).await.expect("starts")).await;

    let request = &llm.turn_requests()[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_eq!(request.header("x-api-key"), Some("sk-fake"));
    assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-session-affinity"), Some("ses_test"));
    assert_eq!(request.header("authorization"), None);
    assert_eq!(
        request.body,
        json!({
            "model": "fake-model",
            "max_tokens": 4096,
            "stream": true,
            "system": [
                {"type": "text", "text": "You are opencode."},
                {"type": "text", "text": "Working directory: /project"},
            ],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Please read the README file."}]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_1", "name": "read", "input": {"filePath": "README.md"}},
                ]},
                // The tool result and the next user text merge into one user message, result first.
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "# Hello"},
                    {"type": "text", "text": "Now summarize it."},
                ]},
            ],
            "tools": [{
                "name": "read",
                "description": "Reads a file",
                "input_schema": {"type": "object", "properties": {"filePath": {"type": "string"}}, "required": ["filePath"]},
            }],
            "thinking": {"type": "enabled", "budget_tokens": 1024},
        })
    );
}

#[tokio::test]
async fn a_tool_call_round_trips_through_both_providers() {
    for name in PROVIDERS {
        let llm = FakeLlm::start().await;
        llm.push(Reply::tool_call("call_7", "glob", json!({"pattern": "**/*.rs"})));
        llm.push(Reply::text(["Found", " 3 files."]));
        let plugin = first_party_provider(name).await;

        let mut request = ask(&llm, "list the Rust files");
        let events = collect(start(&plugin, request.clone()).await.expect("starts")).await;
        let call = events
            .iter()
            .find_map(|e| match e {
                StreamEvent::ToolCall(call) => Some(call.clone()),
                _ => None,
            })
            .expect("a tool call");
        request
            .messages
            .push(ChatMessage::assistant(vec![ContentPart::ToolCall(call.clone())]));
        request.messages.push(ChatMessage::tool_results(vec![ToolResult {
            call_id: call.id.clone(),
            name: call.name.clone(),
            output: "a.rs\nb.rs\nc.rs".into(),
            is_error: false,
        }]));
        let events = collect(start(&plugin, request).await.expect("starts")).await;
        assert_eq!(
            events.last(),
            Some(&StreamEvent::Finish(FinishReason::Stop)),
            "{name}"
        );

        let second = &llm.turn_requests()[1].body["messages"];
        let (call_message, result_message) = (&second[1], &second[2]);
        if name == "openai" {
            assert_eq!(call_message["tool_calls"][0]["id"], "call_7");
            assert_eq!(
                serde_json::from_str::<Value>(
                    call_message["tool_calls"][0]["function"]["arguments"]
                        .as_str()
                        .unwrap_or_default()
                )
                .expect("JSON arguments"),
                json!({"pattern": "**/*.rs"})
            );
            assert_eq!(
                result_message,
                &json!({"role": "tool", "tool_call_id": "call_7", "content": "a.rs\nb.rs\nc.rs"})
            );
        } else {
            assert_eq!(
                call_message,
                &json!({"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_7", "name": "glob", "input": {"pattern": "**/*.rs"}},
                ]})
            );
            assert_eq!(
                result_message,
                &json!({"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_7", "content": "a.rs\nb.rs\nc.rs"},
                ]})
            );
        }
    }
}

#[tokio::test]
async fn a_429_carries_its_status_body_and_retry_after() {
    for name in PROVIDERS {
        let llm = FakeLlm::start().await;
        llm.push(Reply::status(429).retry_after_secs(1));
        llm.push(Reply::status(503).retry_after_ms(250));
        let plugin = first_party_provider(name).await;

        let error = start(&plugin, ask(&llm, "hi")).await.expect_err("rate limited");
        let ProviderCallError::Status {
            status,
            body,
            retry_after,
            ..
        } = &error
        else {
            panic!("{name}: expected a status error, got {error:?}");
        };
        assert_eq!(*status, 429, "{name}");
        assert_eq!(*retry_after, Some(Duration::from_secs(1)), "{name}");
        assert!(body.contains("Rate limit reached"), "{name}: {body}");
        assert!(error.is_retryable(), "{name}");
        assert_eq!(error.retry_after(), Some(Duration::from_secs(1)), "{name}");

        let error = start(&plugin, ask(&llm, "hi")).await.expect_err("unavailable");
        assert!(
            matches!(error, ProviderCallError::Status { status: 503, retry_after: Some(d), .. } if d == Duration::from_millis(250)),
            "{name}: {error:?}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_connection_error() {
    for name in PROVIDERS {
        let mut llm = FakeLlm::start().await;
        llm.stop().await;
        let plugin = first_party_provider(name).await;
        let error = start(&plugin, ask(&llm, "hi")).await.expect_err("upstream down");
        assert!(
            matches!(&error, ProviderCallError::Connection { plugin, message } if plugin == name && message.contains(&llm.authority())),
            "{name}: {error:?}"
        );
        assert!(error.is_retryable());
    }
}

#[tokio::test]
async fn a_connection_cut_mid_stream_is_a_connection_error() {
    for name in PROVIDERS {
        let llm = FakeLlm::start().await;
        llm.push(Reply::text(["one", " two", " three", " four", " five", " six"]).drop_connection_midway());
        let plugin = first_party_provider(name).await;
        let stream = start(&plugin, ask(&llm, "hi")).await.expect("the stream starts");
        let (events, error) = collect_until_error(stream).await;
        assert!(
            events.iter().all(|e| matches!(e, StreamEvent::TextDelta(_))),
            "{name}: {events:?}"
        );
        assert!(
            matches!(error, ProviderCallError::Connection { .. }),
            "{name}: {error:?}"
        );
    }
}

#[tokio::test]
async fn an_answer_that_is_not_an_event_stream_is_a_protocol_error() {
    for name in PROVIDERS {
        let llm = FakeLlm::start().await;
        llm.push(Reply::status(200).body(r#"{"error": "streaming is not supported"}"#));
        let plugin = first_party_provider(name).await;
        let stream = start(&plugin, ask(&llm, "hi"))
            .await
            .expect("a 200 starts the stream");
        let (events, error) = collect_until_error(stream).await;
        assert!(events.is_empty(), "{name}: {events:?}");
        assert!(
            matches!(&error, ProviderCallError::Protocol { message, .. } if message.contains("streaming is not supported")),
            "{name}: {error:?}"
        );
    }
}

#[tokio::test]
async fn dropping_a_stream_closes_the_upstream_connection() {
    for name in PROVIDERS {
        let llm = FakeLlm::start().await;
        llm.push(Reply::text(["Partial", " answer"]).then_hang());
        llm.push(Reply::hang());
        let plugin = first_party_provider(name).await;

        // Mid-answer: an event was read, the upstream is still sending.
        let mut stream = start(&plugin, ask(&llm, "hi")).await.expect("the stream starts");
        let first = stream.next().await.expect("an event").expect("a text delta");
        assert_eq!(first, StreamEvent::TextDelta("Partial".into()), "{name}");
        drop(stream);
        assert!(
            llm.wait_for_disconnects(1, Duration::from_secs(5)).await,
            "{name}: the upstream never saw the client go away"
        );

        // Before any event: only the response head arrived.
        let stream = start(&plugin, ask(&llm, "hi")).await.expect("the stream starts");
        drop(stream);
        assert!(
            llm.wait_for_disconnects(2, Duration::from_secs(5)).await,
            "{name}: the upstream never saw the client go away"
        );
    }
}

#[tokio::test]
async fn a_cancelled_read_ends_the_stream_and_the_connection() {
    let llm = FakeLlm::start().await;
    llm.push(Reply::text(["slow", " answer"]).delay_between_chunks(2_000));
    let plugin = first_party_provider("openai").await;
    let mut stream = start(&plugin, ask(&llm, "hi")).await.expect("the stream starts");
    assert_eq!(
        stream.next().await.expect("an event").expect("text"),
        StreamEvent::TextDelta("slow".into())
    );
    // The next chunk is two seconds away: give up on it.
    let cancelled = tokio::time::timeout(Duration::from_millis(100), stream.next()).await;
    assert!(cancelled.is_err(), "the read was still waiting");
    let after = stream.next().await.expect("an error");
    assert!(
        matches!(after, Err(ProviderCallError::Interrupted { .. })),
        "{after:?}"
    );
    assert!(stream.next().await.is_none(), "the stream is over");
    assert!(
        llm.wait_for_disconnects(1, Duration::from_secs(5)).await,
        "the interrupted stream released its connection"
    );
}

#[tokio::test]
async fn waiting_for_the_network_does_not_count_against_the_time_limit() {
    let llm = FakeLlm::start().await;
    llm.push(Reply::text(["a", "b", "c", "d", "e"]).delay_between_chunks(150));
    // 300 ms of guest time; the stream takes about 600 ms of wall time, nearly all waiting.
    let limits = Limits {
        timeout_ms: 300,
        ..Limits::default()
    };
    let plugin = first_party_provider_with("openai", limits).await;
    let started = std::time::Instant::now();
    let events = collect(start(&plugin, ask(&llm, "hi")).await.expect("starts")).await;
    assert!(
        started.elapsed() > Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(events.last(), Some(&StreamEvent::Finish(FinishReason::Stop)));
}

async fn probe(limits: Limits) -> ProviderPlugin {
    let bytes = std::fs::read(guests::FIXTURE_PROVIDER_PROBE).expect("the fixture was built");
    let hash = wasmcode::runtime::sha256(&bytes);
    runtime()
        .load_provider_plugin("provider-probe", &bytes, &hash, limits)
        .await
        .expect("the provider probe loads")
}

#[tokio::test]
async fn a_provider_may_reach_only_its_base_urls_authority() {
    let allowed = FakeLlm::start().await;
    let other = FakeLlm::start().await;
    allowed.push(Reply::text(["hello"]));
    let plugin = probe(Limits::default()).await;

    // The base URL's authority works...
    let events = collect(start(&plugin, ask(&allowed, "hi")).await.expect("starts")).await;
    assert_eq!(events.last(), Some(&StreamEvent::Finish(FinishReason::Stop)));

    // ...another port on the same host does not, nor another host.
    for target in [
        format!("{}/chat/completions", other.url()),
        format!(
            "http://localhost:{}/v1/chat/completions",
            allowed.authority().rsplit(':').next().unwrap_or_default()
        ),
    ] {
        let mut request = ask(&allowed, "hi");
        request.options = json!({"target": target});
        let error = start(&plugin, request).await.expect_err("another authority");
        assert!(
            matches!(&error, ProviderCallError::Denied { plugin, .. } if plugin == "provider-probe"),
            "{target}: {error:?}"
        );
    }
    assert!(other.requests().is_empty(), "the other upstream was reached");
    assert_eq!(allowed.requests().len(), 1);
}

#[tokio::test]
async fn a_spinning_provider_is_stopped_at_its_time_limit() {
    let llm = FakeLlm::start().await;
    let plugin = probe(Limits {
        timeout_ms: 300,
        ..Limits::default()
    })
    .await;
    let mut request = ask(&llm, "hi");
    request.options = json!({"spin": true});
    let started = std::time::Instant::now();
    let error = start(&plugin, request).await.expect_err("stopped");
    assert!(
        matches!(error, ProviderCallError::Timeout { timeout_ms: 300, .. }),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_trapping_provider_fails_alone() {
    let llm = FakeLlm::start().await;
    llm.push(Reply::text(["still fine"]));
    let plugin = probe(Limits::default()).await;
    let mut request = ask(&llm, "hi");
    request.options = json!({"trap": true});
    let error = start(&plugin, request).await.expect_err("trapped");
    assert!(matches!(error, ProviderCallError::Trap { .. }), "{error:?}");
    // The same plugin serves the next stream from a fresh instance.
    let events = collect(start(&plugin, ask(&llm, "hi")).await.expect("starts")).await;
    assert_eq!(events.last(), Some(&StreamEvent::Finish(FinishReason::Stop)));
}

#[tokio::test]
async fn models_come_from_the_configured_map_without_the_network() {
    for name in PROVIDERS {
        let mut llm = FakeLlm::start().await;
        llm.stop().await;
        let plugin = first_party_provider(name).await;
        let mut config = config(&llm);
        config.options = json!({"models": {
            "fake-model": {"name": "Fake Model", "tool_call": true, "limit": {"context": 128000, "output": 4096}},
            "thinker": {"reasoning": true, "attachment": true},
        }});
        let models = runtime().provider_models(&plugin, &config).await.expect("models");
        assert_eq!(
            models,
            vec![
                ModelInfo {
                    id: "fake-model".into(),
                    name: "Fake Model".into(),
                    context_limit: 128000,
                    output_limit: 4096,
                    tool_call: true,
                    reasoning: false,
                    attachment: false,
                },
                ModelInfo {
                    id: "thinker".into(),
                    name: "thinker".into(),
                    context_limit: 0,
                    output_limit: 0,
                    tool_call: true,
                    reasoning: true,
                    attachment: true,
                },
            ],
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_base_url_that_is_not_http_is_refused_before_running() {
    let plugin = first_party_provider("openai").await;
    let mut request = CompletionRequest::new(ProviderConfig::default(), "m", vec![ChatMessage::user("hi")]);
    request.config.base_url = "file:///etc/passwd".into();
    let error = start(&plugin, request).await.expect_err("refused");
    assert!(
        matches!(error, ProviderCallError::InvalidBaseUrl { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn title_requests_never_consume_the_script() {
    let llm = FakeLlm::start().await;
    llm.push(Reply::text(["the turn"]));
    let plugin = first_party_provider("openai").await;
    let mut request = ask(&llm, "Generate a title for this conversation");
    request.system = vec!["You are a title generator. You output ONLY a thread title.".into()];
    let events = collect(start(&plugin, request).await.expect("starts")).await;
    assert_eq!(events[0], StreamEvent::TextDelta("Probe title".into()));
    assert_eq!(llm.pending_replies(), 1);
    let recorded = llm.requests();
    assert!(recorded[0].is_title);
    assert!(llm.turn_requests().is_empty());
}

#[tokio::test]
async fn an_empty_script_answers_500_with_an_explanation() {
    let llm = FakeLlm::start().await;
    let plugin = first_party_provider("anthropic").await;
    let error = start(&plugin, ask(&llm, "hi"))
        .await
        .expect_err("nothing scripted");
    assert!(
        matches!(&error, ProviderCallError::Status { status: 500, body, .. } if body.contains("script is empty")),
        "{error:?}"
    );
}

#[tokio::test]
async fn tools_and_providers_load_only_as_what_they_are() {
    let provider = wasmcode::plugins::first_party::provider("openai").expect("embedded");
    let error = runtime()
        .load_tool_plugin(
            "openai",
            provider.bytes,
            &provider.sha256,
            wasmcode::runtime::Grants::read_only(),
            Limits::default(),
            true,
        )
        .await
        .expect_err("a provider is not a tool");
    assert!(matches!(error, LoadError::WrongWorld { .. }), "{error}");

    let tool = wasmcode::plugins::first_party::FIRST_PARTY_TOOLS
        .iter()
        .find(|e| e.name == "read")
        .expect("embedded");
    let error = runtime()
        .load_provider_plugin("read", tool.bytes, &tool.sha256, Limits::default())
        .await
        .expect_err("a tool is not a provider");
    assert!(matches!(error, LoadError::NotAProvider { .. }), "{error}");
    assert!(error.to_string().contains("not a provider plugin"), "{error}");

    let mut names: Vec<&str> = wasmcode::plugins::first_party::FIRST_PARTY_PROVIDERS
        .iter()
        .map(|e| e.name)
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["anthropic", "openai"]);
    assert!(
        wasmcode::plugins::first_party::FIRST_PARTY_TOOLS
            .iter()
            .all(|e| !names.contains(&e.name)),
        "tool loading never sees a provider"
    );
}

/// The runtime's HTTP client keeps upstream connections in a pool shared by every store: a
/// session's successive model calls go over one connection, even back to back.
#[tokio::test]
async fn successive_streams_reuse_one_upstream_connection() {
    for name in PROVIDERS {
        let llm = FakeLlm::start().await;
        let plugin = first_party_provider(name).await;
        for turn in 0..5 {
            llm.push(Reply::text([format!("turn {turn}")]));
            let events = collect(start(&plugin, ask(&llm, "hi")).await.expect("the stream starts")).await;
            assert_eq!(
                events[0],
                StreamEvent::TextDelta(format!("turn {turn}")),
                "{name}"
            );
        }
        assert_eq!(llm.turn_requests().len(), 5, "{name}");
        assert_eq!(llm.connections(), 1, "{name}: five streams, one connection");
    }
}

/// A stream dropped mid-answer takes its connection down with it (the upstream stops sending,
/// and nothing half-read goes back to the pool); the next streams work, over a new connection.
#[tokio::test]
async fn an_aborted_stream_leaves_no_half_read_connection_to_reuse() {
    for name in PROVIDERS {
        let llm = FakeLlm::start().await;
        let plugin = first_party_provider(name).await;
        llm.push(Reply::text(["first"]));
        collect(start(&plugin, ask(&llm, "hi")).await.expect("the stream starts")).await;

        // Aborted mid-answer, on the pooled connection.
        llm.push(Reply::text(["Partial", " answer"]).then_hang());
        let mut stream = start(&plugin, ask(&llm, "hi")).await.expect("the stream starts");
        let first = stream.next().await.expect("an event").expect("a text delta");
        assert_eq!(first, StreamEvent::TextDelta("Partial".into()), "{name}");
        assert_eq!(
            llm.connections(),
            1,
            "{name}: the second stream reused the first connection"
        );
        drop(stream);
        assert!(
            llm.wait_for_disconnects(1, Duration::from_secs(5)).await,
            "{name}: the upstream never saw the client go away"
        );

        for turn in 0..2 {
            llm.push(Reply::text([format!("after {turn}")]));
            let events = collect(start(&plugin, ask(&llm, "hi")).await.expect("the stream starts")).await;
            assert_eq!(
                events.last(),
                Some(&StreamEvent::Finish(FinishReason::Stop)),
                "{name}"
            );
        }
        assert_eq!(
            llm.connections(),
            2,
            "{name}: one new connection after the aborted one"
        );
    }
}
