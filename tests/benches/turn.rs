//! What the server adds to a session turn, measured end to end over loopback against the real
//! binary and a local fake upstream, with the upstream's own cost measured in the same run:
//!
//! - `stream_through_server`: a 1,000-chunk answer from the fake upstream, through the provider
//!   component, the loop (parts, deltas, store) and `/event`, until `session.idle`; against
//!   `stream_direct`: the same answer read straight from the fake upstream. Their difference
//!   divided by 1,000 is the server's added latency per streamed chunk.
//! - `turn_with_a_tool_call`: a prompt whose answer calls `read`, then answers in text (two
//!   model calls, one tool component call, every part stored and published); against
//!   `turn_upstream_only`: the same two answers fetched straight from the fake upstream. The
//!   difference is the cost of a whole turn excluding upstream time.

use std::process::{Command, Stdio};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use wasmcode_tests::fake_llm::{FakeLlm, Reply};

const CHUNKS: usize = 1000;

struct Server {
    child: std::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(llm: &FakeLlm) -> Server {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("temp dir");
    let project = dir.path().join("project");
    std::fs::create_dir_all(&project).expect("project");
    std::fs::write(project.join("README.md"), "# Bench\nA small file to read.\n").expect("readme");
    let config = json!({"provider": llm.opencode_provider("fake", "fake-model"), "model": "fake/fake-model"});
    std::fs::write(project.join("opencode.json"), config.to_string()).expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasmcode-e2e"))
        .args(["serve", "--port", "0"])
        .current_dir(&project)
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env(
            "XDG_CACHE_HOME",
            std::env::temp_dir().join("wasmcode-bench-cache"),
        )
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the server starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut base = String::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(url) = line.strip_prefix("wasmcode server listening on ") {
            base = url.trim().to_string();
            break;
        }
    }
    assert!(!base.is_empty(), "the server printed its address");
    Server {
        child,
        base,
        _dir: dir,
    }
}

async fn new_session(http: &reqwest::Client, base: &str) -> String {
    // A title of our own: no title request to the upstream during the measurement.
    let session: Value = http
        .post(format!("{base}/session"))
        .json(&json!({"title": "bench"}))
        .send()
        .await
        .expect("session")
        .json()
        .await
        .expect("json");
    session["id"].as_str().expect("id").to_string()
}

/// Prompts asynchronously and reads `/event` until the session is idle; returns the deltas seen.
async fn stream_turn(http: &reqwest::Client, base: &str) -> usize {
    let id = new_session(http, base).await;
    let mut events = http
        .get(format!("{base}/event"))
        .send()
        .await
        .expect("event stream");
    let prompt = json!({"parts": [{"type": "text", "text": "stream"}]});
    let status = http
        .post(format!("{base}/session/{id}/prompt_async"))
        .json(&prompt)
        .send()
        .await
        .expect("prompt")
        .status();
    assert_eq!(status.as_u16(), 204);
    let (mut buffer, mut deltas) = (String::new(), 0);
    loop {
        let chunk = events.chunk().await.expect("readable").expect("open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if frame.contains("\"message.part.delta\"") {
                deltas += 1;
            } else if frame.contains("\"session.idle\"") {
                return deltas;
            }
        }
    }
}

/// Reads one streamed answer straight from the fake upstream.
async fn direct(http: &reqwest::Client, llm: &FakeLlm) -> usize {
    let body = json!({"model": "fake-model", "stream": true, "messages": [{"role": "user", "content": "x"}]});
    let mut response = http
        .post(format!("{}/chat/completions", llm.url()))
        .json(&body)
        .send()
        .await
        .expect("upstream");
    let mut bytes = 0;
    while let Some(chunk) = response.chunk().await.expect("readable") {
        bytes += chunk.len();
    }
    bytes
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    let llm = runtime.block_on(FakeLlm::start());
    let server = start_server(&llm);
    let http = reqwest::Client::new();
    let words: Vec<String> = (0..CHUNKS).map(|i| format!(" w{i}")).collect();
    let base = server.base.clone();

    let mut group = c.benchmark_group("turn");
    group.sample_size(20).measurement_time(Duration::from_secs(15));
    group.bench_function("stream_direct", |b| {
        b.to_async(&runtime).iter(|| async {
            llm.push(Reply::text(words.clone()));
            direct(&http, &llm).await
        })
    });
    group.bench_function("stream_through_server", |b| {
        b.to_async(&runtime).iter(|| async {
            llm.push(Reply::text(words.clone()));
            let deltas = stream_turn(&http, &base).await;
            assert_eq!(deltas, CHUNKS);
        })
    });
    group.bench_function("turn_upstream_only", |b| {
        b.to_async(&runtime).iter(|| async {
            llm.push(Reply::tool_call(
                "call_1",
                "read",
                json!({"filePath": "README.md"}),
            ));
            llm.push(Reply::text(["Done."]));
            direct(&http, &llm).await + direct(&http, &llm).await
        })
    });
    group.bench_function("turn_with_a_tool_call", |b| {
        b.to_async(&runtime).iter(|| async {
            llm.push(Reply::tool_call(
                "call_1",
                "read",
                json!({"filePath": "README.md"}),
            ));
            llm.push(Reply::text(["Done."]));
            let id = new_session(&http, &base).await;
            let answer: Value = http
                .post(format!("{base}/session/{id}/message"))
                .json(&json!({"parts": [{"type": "text", "text": "read the README"}]}))
                .send()
                .await
                .expect("prompt")
                .json()
                .await
                .expect("json");
            assert_eq!(answer["info"]["finish"], "stop");
        })
    });
    group.finish();
    drop(server);
}

criterion_group!(turn, benches);
criterion_main!(turn);
