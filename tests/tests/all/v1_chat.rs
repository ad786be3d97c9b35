//! The simple `/v1` surface end to end: chat with and without tools, the streamed variant's exact
//! events, a client that goes away mid-stream, `ask` rules refused, skills, models, sessions,
//! bearer auth and bad bodies; a fetch-based SSE client in node from another allowed origin; the
//! `EventSource`-style GET of the stream; and the seed's own client (`examples/client-js`).

use std::time::Duration;

use serde_json::{Value, json};
use wasmcode_tests::fake_llm::{FakeLlm, Reply};

use crate::harness::{Server, TestEnv};

fn project(llm: &FakeLlm, extra: Value) -> TestEnv {
    let env = TestEnv::new();
    env.write("README.md", "# Sample project\nA tiny sample.\n");
    env.write(".env", "SECRET=1\n");
    let mut config = json!({
        "provider": llm.opencode_provider("fake", "fake-model"),
        "model": "fake/fake-model",
    });
    if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
        config.extend(extra);
    }
    env.write("opencode.json", &config.to_string());
    env
}

/// Runs `tests/clients/<script>` with node against `server`, with one more argument.
async fn node(script: &str, server: &Server, argument: &str) -> std::process::Output {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("clients")
        .join(script);
    let (base, argument) = (server.base.clone(), argument.to_string());
    tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(script)
            .arg(base)
            .arg(argument)
            .output()
    })
    .await
    .expect("joined")
    .expect("node runs")
}

fn user(text: &str) -> Value {
    json!({"messages": [{"role": "user", "content": text}]})
}

#[tokio::test]
async fn chat_answers_in_the_chat_completion_shape() {
    let llm = FakeLlm::start().await;
    llm.push(Reply::text(["MCP is", " a protocol."]).usage(20, 150));
    let env = project(&llm, json!({}));
    let server = env.serve();
    let body = json!({"messages": [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What is MCP?"},
        {"role": "assistant", "content": "A question?"},
        {"role": "user", "content": "Explain MCP"}
    ], "model": "fake-model"});
    let (status, answer) = server.post("/v1/chat", body).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["id"].as_str().expect("id").starts_with("chatcmpl-"));
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["model"], "fake/fake-model");
    assert_eq!(answer["choices"][0]["index"], 0);
    assert_eq!(
        answer["choices"][0]["message"],
        json!({"role": "assistant", "content": "MCP is a protocol."})
    );
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        answer["usage"],
        json!({"prompt_tokens": 20, "completion_tokens": 150, "total_tokens": 170})
    );

    // The model saw the whole conversation and the system text.
    let request = &llm.turn_requests()[0].body;
    let sent = request.to_string();
    assert!(sent.contains("Answer briefly.") && sent.contains("A question?") && sent.contains("Explain MCP"));

    // The turn lives in a session of the main API.
    let session_id = answer["session_id"].as_str().expect("session id");
    let (_, messages) = server.get(&format!("/session/{session_id}/message")).await;
    assert_eq!(messages.as_array().expect("list").len(), 4);
    let (_, listed) = server.get("/v1/sessions").await;
    assert_eq!(listed[0]["id"], json!(session_id));
}

#[tokio::test]
async fn chat_runs_tools_and_continues_a_session() {
    let llm = FakeLlm::start().await;
    llm.push(Reply::tool_call(
        "call_1",
        "read",
        json!({"filePath": "README.md"}),
    ));
    llm.push(Reply::text(["It is a tiny sample."]));
    llm.push(Reply::text(["Still here."]));
    let env = project(&llm, json!({}));
    let server = env.serve();
    let (status, answer) = server.post("/v1/chat", user("What is in the README?")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["choices"][0]["message"]["content"], "It is a tiny sample.");
    assert!(llm.turn_requests()[1].body.to_string().contains("A tiny sample."));

    let session_id = answer["session_id"].clone();
    let (status, next) = server
        .post(
            "/v1/chat",
            json!({"messages": [{"role": "user", "content": "And now?"}], "session_id": session_id}),
        )
        .await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(next["session_id"], session_id);
    assert!(
        llm.turn_requests()[2]
            .body
            .to_string()
            .contains("What is in the README?")
    );
}

#[tokio::test]
async fn an_ask_rule_is_refused_with_a_clear_error_instead_of_waiting() {
    let llm = FakeLlm::start().await;
    llm.push(Reply::tool_call("call_env", "read", json!({"filePath": ".env"})));
    llm.push(Reply::text(["I may not read it."]));
    let env = project(&llm, json!({}));
    let server = env.serve();
    let (status, answer) = server.post("/v1/chat", user("Read .env")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["choices"][0]["message"]["content"], "I may not read it.");
    let told = llm.turn_requests()[1].body.to_string();
    assert!(told.contains("cannot be given on this surface"), "{told}");
    assert_eq!(server.get("/permission").await.1, json!([]));
}

/// Reads an SSE body into `(event, data)` pairs.
fn parse_sse(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter_map(|frame| {
            let mut name = None;
            let mut data = None;
            for line in frame.lines() {
                if let Some(value) = line
                    .strip_prefix("event: ")
                    .or_else(|| line.strip_prefix("event:"))
                {
                    name = Some(value.trim().to_string());
                } else if let Some(value) = line.strip_prefix("data: ").or_else(|| line.strip_prefix("data:"))
                {
                    data = serde_json::from_str(value.trim()).ok();
                }
            }
            Some((name?, data?))
        })
        .collect()
}

#[tokio::test]
async fn the_stream_sends_the_seed_s_events_in_order() {
    let llm = FakeLlm::start().await;
    llm.push(Reply::text(["def", " quicksort"]).usage(5, 2));
    let env = project(&llm, json!({}));
    let server = env.serve();
    let response = server
        .http
        .post(server.url("/v1/chat/stream"))
        .json(&user("Write quicksort"))
        .send()
        .await
        .expect("stream opens");
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/event-stream")
    );
    let body = response.text().await.expect("the stream ends");
    let events: Vec<(String, Value)> = parse_sse(&body)
        .into_iter()
        .filter(|(name, _)| name != "ping")
        .collect();
    let expected = [
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "delta": {"text": "def"}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "delta": {"text": " quicksort"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
    ];
    for (i, (name, data)) in expected.iter().enumerate() {
        assert_eq!(
            (events[i].0.as_str(), &events[i].1),
            (*name, data),
            "event {i} of {events:?}"
        );
    }
    assert_eq!(events[4].0, "message_delta");
    assert_eq!(events[4].1["usage"]["total_tokens"], 7);
    assert_eq!(
        events[5],
        ("message_stop".to_string(), json!({"type": "message_stop"}))
    );
    assert_eq!(events.len(), 6);
}

#[tokio::test]
async fn the_stream_reports_tool_activity() {
    let llm = FakeLlm::start().await;
    llm.push(Reply::tool_call(
        "call_1",
        "read",
        json!({"filePath": "README.md"}),
    ));
    llm.push(Reply::text(["Read it."]));
    let env = project(&llm, json!({}));
    let server = env.serve();
    let response = server
        .http
        .post(server.url("/v1/chat/stream"))
        .json(&user("read"))
        .send()
        .await
        .expect("opens");
    let events = parse_sse(&response.text().await.expect("ends"));
    let tools: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n == "tool_use")
        .map(|(_, d)| d)
        .collect();
    let statuses: Vec<&str> = tools
        .iter()
        .map(|d| d["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, ["pending", "running", "completed"]);
    assert_eq!(tools[2]["name"], "read");
    assert!(
        tools[2]["output"]
            .as_str()
            .expect("output")
            .contains("A tiny sample.")
    );
    assert_eq!(events.last().expect("events").0, "message_stop");
}

#[tokio::test]
async fn a_client_leaving_mid_stream_aborts_the_turn() {
    let llm = FakeLlm::start().await;
    llm.push(Reply::text(["First words"]).then_hang());
    let env = project(&llm, json!({}));
    let server = env.serve();
    let mut response = server
        .http
        .post(server.url("/v1/chat/stream"))
        .json(&user("talk"))
        .send()
        .await
        .expect("opens");
    let mut seen = String::new();
    while !seen.contains("content_block_delta") {
        let chunk = tokio::time::timeout(Duration::from_secs(20), response.chunk())
            .await
            .expect("a chunk in time")
            .expect("readable")
            .expect("not ended");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(response);
    assert!(
        llm.wait_for_disconnects(1, Duration::from_secs(10)).await,
        "the upstream stream was not closed"
    );
    let (_, sessions) = server.get("/session").await;
    let id = sessions[0]["id"].as_str().expect("id").to_string();
    let start = std::time::Instant::now();
    loop {
        let (_, messages) = server.get(&format!("/session/{id}/message")).await;
        if messages[1]["info"]["error"]["name"] == "MessageAbortedError" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the turn was not aborted: {messages}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.get("/session/status").await.1, json!({}));
}

#[tokio::test]
async fn skills_come_from_both_directories_and_reach_the_model() {
    let llm = FakeLlm::start().await;
    llm.push(Reply::text(["Reviewed."]));
    let env = project(&llm, json!({}));
    let global = env.paths.config.join("skill/reviewer/SKILL.md");
    std::fs::create_dir_all(global.parent().expect("parent")).expect("dirs");
    std::fs::write(
        &global,
        "---\nname: code-reviewer\ndescription: Reviews code\n---\nLook for bugs first.\n",
    )
    .expect("skill");
    env.write(
        ".opencode/skill/docs/SKILL.md",
        "---\nname: docs\ndescription: Writes docs\n---\nWrite short docs.\n",
    );
    let server = env.serve();
    let (status, skills) = server.get("/v1/skills").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = skills
        .as_array()
        .expect("list")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["code-reviewer", "docs"]);
    assert_eq!(skills[0]["description"], "Reviews code");
    assert_eq!(skills[0]["content"], "Look for bugs first.");
    assert_eq!(server.get("/skill").await.1, skills);

    let (status, _) = server
        .post(
            "/v1/chat",
            json!({"messages": [{"role": "user", "content": "review"}], "skills": ["code-reviewer"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        llm.turn_requests()[0]
            .body
            .to_string()
            .contains("Look for bugs first.")
    );
    let (status, body) = server
        .post(
            "/v1/chat",
            json!({"messages": [{"role": "user", "content": "x"}], "skills": ["nope"]}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["data"]["message"]
            .as_str()
            .expect("message")
            .contains("unknown skill")
    );
}

#[tokio::test]
async fn models_and_sessions_are_listed() {
    let llm = FakeLlm::start().await;
    let env = project(&llm, json!({}));
    let server = env.serve();
    let (status, models) = server.get("/v1/models").await;
    assert_eq!(status, 200);
    assert_eq!(models["object"], "list");
    let fake = models["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|m| m["id"] == "fake/fake-model")
        .expect("the fake model");
    assert_eq!(fake["owned_by"], "fake");
    assert_eq!(fake["default"], true);
    let (status, created) = server.post("/v1/sessions", json!({"title": "from v1"})).await;
    assert_eq!(status, 200);
    let (_, listed) = server.get("/session").await;
    assert_eq!(listed[0]["id"], created["id"]);
}

#[tokio::test]
async fn bad_bodies_are_400_with_a_message() {
    let llm = FakeLlm::start().await;
    let env = project(&llm, json!({}));
    let server = env.serve();
    for body in [
        json!({}),
        json!({"messages": []}),
        json!({"messages": [{"role": "assistant", "content": "hi"}]}),
        json!({"messages": [{"role": "robot", "content": "hi"}]}),
        json!({"messages": [{"role": "user", "content": 5}]}),
        json!({"messages": [{"role": "user", "content": "hi"}], "model": "nobody/none"}),
        json!({"messages": [{"role": "user", "content": "hi"}], "session_id": "nope"}),
    ] {
        let (status, answer) = server.post("/v1/chat", body.clone()).await;
        assert_eq!(status, 400, "{body} gave {answer}");
        assert!(
            !answer["data"]["message"].as_str().unwrap_or_default().is_empty(),
            "{answer}"
        );
        let (status, _) = server.post("/v1/chat/stream", body.clone()).await;
        assert_eq!(status, 400, "{body} on the stream");
    }
    assert!(llm.turn_requests().is_empty());
}

#[tokio::test]
async fn a_configured_bearer_token_is_required() {
    let llm = FakeLlm::start().await;
    llm.push(Reply::text(["ok"]));
    let env = project(
        &llm,
        json!({"server": {"auth": {"type": "bearer", "tokens": ["my-secret-token"]}}}),
    );
    let server: Server = env.serve();
    let (status, _) = server.post("/v1/chat", user("hi")).await;
    assert_eq!(status, 401);
    let response = server
        .http
        .post(server.url("/v1/chat"))
        .bearer_auth("my-secret-token")
        .json(&user("hi"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn a_page_on_another_allowed_origin_streams_with_fetch() {
    let llm = FakeLlm::start().await;
    llm.push(Reply::text(["def", " quicksort"]));
    let origin = "http://localhost:5173";
    let env = project(
        &llm,
        json!({"server": {"cors": {"origins": [origin], "methods": ["GET", "POST"],
                                                        "headers": ["Content-Type", "Authorization"]}}}),
    );
    let server = env.serve();
    let output = node("v1-stream.mjs", &server, origin).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("text: def quicksort") && stdout.contains("done"),
        "the fetch-based client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn an_event_source_gets_the_stream_with_the_prompt_in_the_query() {
    let llm = FakeLlm::start().await;
    llm.push(Reply::text(["def", " quicksort"]));
    llm.push(Reply::text(["Again."]));
    let env = project(&llm, json!({}));
    let server = env.serve();
    let stream = |query: &[(&str, &str)]| {
        server
            .http
            .get(server.url("/v1/chat/stream"))
            .header("accept", "text/event-stream")
            .query(query)
            .send()
    };
    let response = stream(&[("message", "Write quicksort")])
        .await
        .expect("stream opens");
    assert_eq!(response.status().as_u16(), 200);
    let events = parse_sse(&response.text().await.expect("the stream ends"));
    let text: String = events
        .iter()
        .filter(|(name, _)| name == "content_block_delta")
        .map(|(_, data)| data["delta"]["text"].as_str().expect("text"))
        .collect();
    assert_eq!(text, "def quicksort");
    let usage = events
        .iter()
        .find(|(name, _)| name == "message_delta")
        .expect("message_delta");
    let session = usage.1["session_id"].as_str().expect("a session id").to_string();
    assert_eq!(events.last().expect("events").0, "message_stop");
    assert_eq!(
        llm.turn_requests()[0].body["messages"]
            .as_array()
            .expect("messages")
            .last()
            .expect("the prompt")["content"],
        "Write quicksort"
    );

    // The same session continues with `session_id`; a missing message is a 400 that says so.
    let response = stream(&[("message", "Once more"), ("session_id", &session)])
        .await
        .expect("stream opens");
    let events = parse_sse(&response.text().await.expect("the stream ends"));
    assert!(events.iter().any(|(_, data)| data["delta"]["text"] == "Again."));
    let (_, messages) = server.get(&format!("/session/{session}/message")).await;
    assert_eq!(messages.as_array().expect("messages").len(), 4);
    let response = stream(&[("model", "fake/fake-model")]).await.expect("answered");
    assert_eq!(response.status().as_u16(), 400);
    assert!(response.text().await.expect("body").contains("message"));
}

#[tokio::test]
async fn the_seed_s_client_works_as_the_seed_shows() {
    let llm = FakeLlm::start().await;
    llm.push(Reply::text(["Looks ", "fine."]));
    llm.push(Reply::text(["# Title\n", "Body."]).usage(30, 4));
    let env = project(
        &llm,
        json!({"server": {"auth": {"type": "bearer", "tokens": ["seed-token"]}}}),
    );
    env.write("src/index.ts", "export const answer = 42;\n");
    let server = env.serve();
    let output = node("seed-client.mjs", &server, "seed-token").await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.ends_with("done\n"),
        "the seed's client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
