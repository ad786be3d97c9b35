//! What a streamed completion costs per chunk through the `openai` provider component (fake
//! upstream → `wasi:http` → SSE parse and decode in the guest → `CompletionStream::next`), against
//! reading the same SSE bytes natively from the same upstream in the same run. One criterion
//! group, so the numbers are comparable. See `benches/README.md`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde::Deserialize;
use wasmcode::plugins::first_party;
use wasmcode::runtime::{
    ChatMessage, CompletionRequest, ContentPart, FinishReason, Limits, ProviderConfig, Runtime,
    RuntimeOptions, StreamEvent, ToolInvocation, ToolResult,
};
use wasmcode_tests::fake_llm::{FakeLlm, Reply};

/// Text deltas per streamed answer.
const CHUNKS: usize = 1000;

fn words() -> Vec<String> {
    (0..CHUNKS).map(|i| format!(" word{i}")).collect()
}

/// The same work done natively: POST, read the body as it arrives, split SSE events, decode each
/// chunk's JSON, and keep its text, as the guest does (minus the sandbox).
mod native {
    use super::*;

    #[derive(Deserialize)]
    struct Chunk {
        #[serde(default)]
        choices: Vec<Choice>,
    }

    #[derive(Deserialize)]
    struct Choice {
        #[serde(default)]
        delta: Delta,
    }

    #[derive(Default, Deserialize)]
    struct Delta {
        #[serde(default)]
        content: Option<String>,
    }

    /// Decodes every complete event in `buffer` (leaving a partial one), appending text deltas.
    pub fn decode_events(buffer: &mut Vec<u8>, texts: &mut Vec<String>) {
        let mut start = 0;
        while let Some(end) = buffer[start..].windows(2).position(|w| w == b"\n\n") {
            let event = &buffer[start..start + end];
            start += end + 2;
            let Some(data) = event.strip_prefix(b"data: ") else {
                continue;
            };
            if data == b"[DONE]" {
                continue;
            }
            let chunk: Chunk = serde_json::from_slice(data).expect("a chat completion chunk");
            for choice in chunk.choices {
                if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
                    texts.push(text);
                }
            }
        }
        buffer.drain(..start);
    }

    pub async fn stream(client: &reqwest::Client, url: &str) -> Vec<String> {
        let body = serde_json::json!({
            "model": "fake-model", "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "hi"}],
        });
        let mut response = client
            .post(format!("{url}/chat/completions"))
            .bearer_auth("sk-fake")
            .json(&body)
            .send()
            .await
            .expect("the fake upstream answers");
        let mut buffer = Vec::new();
        let mut texts = Vec::new();
        while let Some(bytes) = response.chunk().await.expect("the body reads") {
            buffer.extend_from_slice(&bytes);
            decode_events(&mut buffer, &mut texts);
        }
        texts
    }
}

/// A session's conversation after `turns` turns of the session benchmark (`bench/session.sh`):
/// each a user message, a `read` call, its result (a small numbered file), and a short answer;
/// then the next user message.
fn conversation(turns: usize) -> Vec<ChatMessage> {
    let output = "<path>/home/user/project/README.md</path>\n<type>file</type>\n<content>\n\
                  1: # Bench project\n2: \n3: A small project the session benchmark reads.\n\
                  4: BENCH-MARKER-7f3a\n5: \n6: Nothing else.\n\n(End of file - total 6 lines)\n</content>";
    let mut messages = Vec::with_capacity(turns * 4 + 1);
    for turn in 0..turns {
        let id = format!("call_{turn:06}");
        messages.push(ChatMessage::user(format!("turn {turn}")));
        messages.push(ChatMessage::assistant(vec![ContentPart::ToolCall(
            ToolInvocation {
                id: id.clone(),
                name: "read".into(),
                arguments_json: r#"{"filePath":"/home/user/project/README.md"}"#.into(),
            },
        )]));
        messages.push(ChatMessage::tool_results(vec![ToolResult {
            call_id: id,
            name: "read".into(),
            output: output.into(),
            is_error: false,
        }]));
        messages.push(ChatMessage::assistant(vec![ContentPart::Text(
            "Done. I read the README; it describes the bench project.".into(),
        )]));
    }
    messages.push(ChatMessage::user(format!("turn {turns}")));
    messages
}

fn bench(c: &mut Criterion) {
    if std::backtrace::Backtrace::capture().status() == std::backtrace::BacktraceStatus::Captured {
        eprintln!(
            "warning: RUST_BACKTRACE/RUST_LIB_BACKTRACE enable backtraces: every Store drop captures one; \
             run with RUST_LIB_BACKTRACE=0"
        );
    }
    let cache = tempfile::tempdir().expect("a temporary directory");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let runtime = Runtime::new(&RuntimeOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..RuntimeOptions::default()
    })
    .expect("the wasmtime runtime");
    let embedded = first_party::provider("openai").expect("the embedded openai provider");
    let openai = rt
        .block_on(runtime.load_provider_plugin("openai", embedded.bytes, &embedded.sha256, Limits::default()))
        .expect("loading openai");

    let llm = rt.block_on(FakeLlm::start());
    llm.set_fallback_reply(Reply::text(words()));
    let request = CompletionRequest::new(
        ProviderConfig {
            base_url: llm.url(),
            api_key: Some("sk-fake".into()),
            ..ProviderConfig::default()
        },
        "fake-model",
        vec![ChatMessage::user("hi")],
    );
    let component_stream = || async {
        let mut stream = runtime
            .provider_stream(&openai, black_box(&request))
            .await
            .expect("the stream starts");
        let mut texts = Vec::with_capacity(CHUNKS);
        let mut finished = false;
        while let Some(event) = stream.next().await {
            match event.expect("the stream succeeds") {
                StreamEvent::TextDelta(text) => texts.push(text),
                StreamEvent::Finish(reason) => finished = reason == FinishReason::Stop,
                _ => {}
            }
        }
        assert!(finished);
        texts
    };
    let client = reqwest::Client::new();
    let url = llm.url();

    // Both sides must see the same stream.
    let native_texts = rt.block_on(native::stream(&client, &url));
    assert_eq!(native_texts, words());
    assert_eq!(rt.block_on(component_stream()), native_texts);

    // The same bytes from memory: the decoding work alone, without the network.
    let wire: Vec<u8> = {
        let mut wire = Vec::new();
        for word in words() {
            let chunk = serde_json::json!({
                "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1, "model": "fake-model",
                "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": null}],
            });
            wire.extend_from_slice(format!("data: {chunk}\n\n").as_bytes());
        }
        wire.extend_from_slice(b"data: [DONE]\n\n");
        wire
    };

    let mut group = c.benchmark_group("provider_stream");
    group
        .throughput(Throughput::Elements(CHUNKS as u64))
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10))
        .sample_size(20);

    group.bench_function("native_decode_1000_chunks_in_memory", |b| {
        b.iter(|| {
            let mut buffer = black_box(wire.clone());
            let mut texts = Vec::with_capacity(CHUNKS);
            native::decode_events(&mut buffer, &mut texts);
            texts
        })
    });

    group.bench_function("native_http_1000_chunks", |b| {
        b.iter(|| rt.block_on(native::stream(&client, &url)))
    });

    group.bench_function("component_openai_1000_chunks", |b| {
        b.iter(|| rt.block_on(component_stream()))
    });
    group.finish();

    // What a step of a long session costs: the whole conversation goes to the plugin and out to
    // the upstream at every call, for a short answer.
    llm.set_fallback_reply(Reply::text(["Done.", " A short answer."]));
    llm.stop_recording();
    let mut group = c.benchmark_group("provider_request");
    group
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .sample_size(30);
    for turns in [1, 300] {
        let request = CompletionRequest::new(request.config.clone(), "fake-model", conversation(turns));
        group.bench_function(format!("component_openai_conversation_of_{turns}_turns"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut stream = runtime
                        .provider_stream(&openai, black_box(&request))
                        .await
                        .expect("the stream starts");
                    while let Some(event) = stream.next().await {
                        event.expect("the stream succeeds");
                    }
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
