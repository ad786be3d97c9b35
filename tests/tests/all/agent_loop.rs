//! The agent loop end to end: the real binary, the first-party provider components, and a fake
//! upstream speaking the OpenAI and Anthropic streaming formats. Covers a prompt with a tool
//! call (event order compared with the reference's), permission replies (once, always, reject,
//! reject with a message, the legacy route), abort during a tool and during a permission ask, a
//! prompt while busy, retries, an upstream that is down, a crash right after `prompt_async`, and
//! bodies with keys a route does not know (ignored, as the reference ignores them).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmcode_tests::fake_llm::{FakeLlm, Reply};

use crate::harness::{Server, SseStream, TestEnv};

/// Which provider component the session runs on.
#[derive(Clone, Copy, Debug)]
enum Api {
    OpenAi,
    Anthropic,
}

/// A project configured for `fake/fake-model` on the fake upstream, with fast retries.
fn project(llm: &FakeLlm, api: Api) -> TestEnv {
    let env = TestEnv::new();
    env.write("README.md", "# Sample project\nA tiny sample.\n");
    env.write(".env", "SECRET=1\n");
    let npm = match api {
        Api::OpenAi => "@ai-sdk/openai-compatible",
        Api::Anthropic => "@ai-sdk/anthropic",
    };
    let config = json!({
        "provider": {"fake": {
            "npm": npm, "name": "Fake",
            "options": {"baseURL": llm.url(), "apiKey": "sk-fake"},
            "models": {"fake-model": {"name": "Fake Model", "tool_call": true,
                                      "limit": {"context": 128000, "output": 4096}}}}},
        "model": "fake/fake-model",
        "small_model": "fake/fake-model",
        "wasmcode": {"session": {"retryAttempts": 3, "retryInitialDelayMs": 50, "retryMaxDelayMs": 200}},
    });
    env.write("opencode.json", &config.to_string());
    env
}

async fn new_session(server: &Server) -> String {
    let (status, session) = server.post("/session", json!({})).await;
    assert_eq!(status, 200, "{session}");
    session["id"].as_str().expect("a session id").to_string()
}

fn text(prompt: &str) -> Value {
    json!({"parts": [{"type": "text", "text": prompt}]})
}

/// Polls `check` every 20 ms until it holds; fails after `timeout`.
async fn eventually<F: std::future::Future<Output = bool>>(timeout: Duration, mut check: impl FnMut() -> F) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < timeout, "condition not met within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The events of one session that say what the loop did, in a form comparable with the
/// reference's recording: part updates with their type (and tool status), collapsed deltas,
/// assistant message updates, status changes and idle. Events the reference adds for features
/// not in this comparison (title and summary `session.updated`, `session.diff`, the user
/// message's summary updates) are left out on both sides, and repeats are collapsed.
fn normalize(events: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for event in events {
        if out.last() != Some(&event) {
            out.push(event);
        }
    }
    out
}

fn ours(event: &Value) -> Option<String> {
    let properties = &event["properties"];
    Some(match event["type"].as_str()? {
        "message.part.updated" => {
            let part = &properties["part"];
            match part["type"].as_str()? {
                "tool" => format!("part tool {}", part["state"]["status"].as_str()?),
                other => format!("part {other}"),
            }
        }
        "message.part.delta" => "delta".into(),
        "message.updated" if properties["info"]["role"] == "assistant" => {
            let info = &properties["info"];
            format!(
                "assistant finish={} completed={}",
                info["finish"].as_str().unwrap_or("none"),
                !info["time"]["completed"].is_null()
            )
        }
        "session.status" => format!("status {}", properties["status"]["type"].as_str()?),
        "session.idle" => "idle".into(),
        _ => return None,
    })
}

/// The same view of the reference's recording (`samples/prompt/A_event_sequence_tool_call.txt`).
fn reference() -> Vec<String> {
    let recording = include_str!("../../fixtures/reference/A_event_sequence_tool_call.txt");
    normalize(recording.lines().filter_map(|line| {
        let mut words = line.split_whitespace().skip(2);
        let kind = words.next()?;
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .map(str::to_string)
        };
        Some(match kind {
            "message.part.updated" => match field("type")?.as_str() {
                "tool" => format!("part tool {}", field("status")?),
                other => format!("part {other}"),
            },
            "message.part.delta" => "delta".into(),
            "message.updated" if field("role")? == "assistant" => {
                let finish = field("finish")?;
                format!(
                    "assistant finish={} completed={}",
                    if finish == "None" { "none".into() } else { finish },
                    field("completed")? != "None"
                )
            }
            "session.status" => {
                let status = line.split("\"type\": \"").nth(1)?.split('"').next()?;
                format!("status {status}")
            }
            "session.idle" => "idle".into(),
            _ => return None,
        })
    }))
}

async fn tool_call_then_text(api: Api) {
    let llm = FakeLlm::start().await;
    llm.push(Reply::tool_call("call_fake0003", "read", json!({"filePath": "README.md"})).usage(123, 17));
    llm.push(
        Reply::text(["Done.", " The", " tool", " returned", " the", " file."])
            .usage(124, 17)
            .delay_between_chunks(5),
    );
    let env = project(&llm, api);
    let server = env.serve();
    let id = new_session(&server).await;
    let mut events = SseStream::open(&server, "/event", None).await;
    assert_eq!(events.next().await.data["type"], "server.connected");

    let (status, answer) = server
        .post(
            &format!("/session/{id}/message"),
            text("Please read the README file."),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let info = &answer["info"];
    assert_eq!(info["role"], "assistant");
    assert_eq!(info["finish"], "stop");
    assert_eq!(info["providerID"], "fake");
    assert_eq!(info["modelID"], "fake-model");
    assert_eq!(info["tokens"]["input"], 124);
    assert_eq!(info["tokens"]["total"], 141);
    let kinds: Vec<&str> = answer["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .map(|p| p["type"].as_str().expect("type"))
        .collect();
    assert_eq!(kinds, ["step-start", "text", "step-finish"]);
    assert_eq!(answer["parts"][1]["text"], "Done. The tool returned the file.");
    assert_eq!(answer["parts"][2]["reason"], "stop");

    let seen = events.until(|e| e["type"] == "session.idle").await;
    let ours = normalize(
        seen.iter()
            .filter(|e| e["properties"]["sessionID"] == json!(id))
            .filter_map(ours),
    );
    assert_eq!(
        ours,
        reference(),
        "event order differs from the reference ({api:?})"
    );

    // The stored conversation: the tool part completed with the file's content.
    let (_, messages) = server.get(&format!("/session/{id}/message")).await;
    let messages = messages.as_array().expect("messages");
    assert_eq!(messages.len(), 3);
    let tool = &messages[1]["parts"][1];
    assert_eq!(tool["type"], "tool");
    assert_eq!(tool["callID"], "call_fake0003");
    assert_eq!(tool["state"]["status"], "completed");
    assert!(
        tool["state"]["output"]
            .as_str()
            .expect("output")
            .contains("A tiny sample.")
    );
    assert_eq!(messages[1]["info"]["finish"], "tool-calls");

    // What the model saw on the second call: the tool call and its result.
    let turns = llm.turn_requests();
    assert_eq!(turns.len(), 2);
    let second = turns[1].body.to_string();
    assert!(
        second.contains("call_fake0003") && second.contains("A tiny sample."),
        "{second}"
    );
    match api {
        Api::OpenAi => {
            assert_eq!(turns[0].header("authorization"), Some("Bearer sk-fake"));
            assert_eq!(turns[0].body["stream"], true);
            let tools: Vec<&str> = turns[0].body["tools"]
                .as_array()
                .expect("tools")
                .iter()
                .map(|t| t["function"]["name"].as_str().expect("name"))
                .collect();
            assert!(tools.contains(&"read") && tools.contains(&"bash"), "{tools:?}");
        }
        Api::Anthropic => {
            assert_eq!(turns[0].header("x-api-key"), Some("sk-fake"));
            assert!(turns[0].body["system"].to_string().contains("Working directory"));
        }
    }

    // The title comes from the small model, in parallel with the turn.
    eventually(Duration::from_secs(10), || async {
        server.get(&format!("/session/{id}")).await.1["title"] == "Probe title"
    })
    .await;
    let (_, session) = server.get(&format!("/session/{id}")).await;
    assert_eq!(session["tokens"]["input"], 247);
    assert_eq!(session["agent"], "build");
}

#[tokio::test]
async fn a_tool_call_then_text_streams_in_the_reference_order_openai() {
    tool_call_then_text(Api::OpenAi).await;
}

#[tokio::test]
async fn a_tool_call_then_text_streams_in_the_reference_order_anthropic() {
    tool_call_then_text(Api::Anthropic).await;
}

/// Starts a prompt that reads `.env` (which asks) and returns the pending request.
async fn prompt_env(server: &Server, id: &str) -> (tokio::task::JoinHandle<(u16, Value)>, Value) {
    let prompt = {
        let http = server.http.clone();
        let url = server.url(&format!("/session/{id}/message"));
        tokio::spawn(async move {
            let response = http
                .post(url)
                .json(&text("Read the .env file"))
                .send()
                .await
                .expect("prompt sent");
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        })
    };
    let start = Instant::now();
    let pending = loop {
        let (_, list) = server.get("/permission").await;
        if !list[0].is_null() {
            break list[0].clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no permission request within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    (prompt, pending)
}

async fn permission_case(api: Api, reply: Value, legacy: bool) -> (Value, Value, FakeLlm) {
    let llm = FakeLlm::start().await;
    llm.push(Reply::tool_call("call_env", "read", json!({"filePath": ".env"})));
    llm.push(Reply::text(["Handled."]));
    let env = project(&llm, api);
    let server = env.serve();
    let id = new_session(&server).await;
    let (prompt, pending) = prompt_env(&server, &id).await;
    assert_eq!(pending["permission"], "read");
    assert_eq!(pending["sessionID"], json!(id));
    assert_eq!(pending["patterns"], json!([".env"]));
    assert_eq!(pending["tool"]["callID"], "call_env");
    let (_, status) = server.get("/session/status").await;
    assert_eq!(status[&id]["type"], "busy");

    let request = pending["id"].as_str().expect("request id");
    let (code, body) = if legacy {
        let legacy_body = json!({"response": reply["reply"]});
        server
            .post(&format!("/session/{id}/permissions/{request}"), legacy_body)
            .await
    } else {
        server.post(&format!("/permission/{request}/reply"), reply).await
    };
    assert_eq!((code, body), (200, json!(true)));
    // The first reply wins; a second one is a conflict.
    let (code, _) = server
        .post(&format!("/permission/{request}/reply"), json!({"reply": "once"}))
        .await;
    assert_eq!(code, 409);
    let (status, answer) = prompt.await.expect("the prompt returns");
    assert_eq!(status, 200, "{answer}");
    let (_, messages) = server.get(&format!("/session/{id}/message")).await;
    let (_, permissions) = server.get("/permission").await;
    assert_eq!(permissions, json!([]));
    (answer, messages, llm)
}

fn tool_state(messages: &Value) -> Value {
    messages[1]["parts"][1]["state"].clone()
}

async fn permission_once_lets_the_tool_run(api: Api) {
    let (answer, messages, llm) = permission_case(api, json!({"reply": "once"}), false).await;
    assert_eq!(answer["info"]["finish"], "stop");
    assert_eq!(tool_state(&messages)["status"], "completed");
    assert!(
        tool_state(&messages)["output"]
            .as_str()
            .expect("output")
            .contains("SECRET=1")
    );
    assert_eq!(llm.turn_requests().len(), 2);
}

async fn permission_once_through_the_legacy_route(api: Api) {
    let (answer, messages, _llm) = permission_case(api, json!({"reply": "once"}), true).await;
    assert_eq!(answer["info"]["finish"], "stop");
    assert_eq!(tool_state(&messages)["status"], "completed");
}

async fn permission_always_covers_the_rest_of_the_session(api: Api) {
    let llm = FakeLlm::start().await;
    llm.push(Reply::tool_call("call_1", "read", json!({"filePath": ".env"})));
    llm.push(Reply::text(["First."]));
    llm.push(Reply::tool_call("call_2", "read", json!({"filePath": ".env"})));
    llm.push(Reply::text(["Second."]));
    let env = project(&llm, api);
    let server = env.serve();
    let id = new_session(&server).await;
    let (prompt, pending) = prompt_env(&server, &id).await;
    let request = pending["id"].as_str().expect("id");
    let (code, _) = server
        .post(
            &format!("/permission/{request}/reply"),
            json!({"reply": "always"}),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(prompt.await.expect("returns").0, 200);
    // The second read of .env in the same session does not ask.
    let (status, answer) = server
        .post(&format!("/session/{id}/message"), text("again"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["parts"][1]["text"], "Second.");
}

async fn reject_with_a_message_continues_the_loop(api: Api) {
    let reply = json!({"reply": "reject", "message": "not allowed in probe"});
    let (answer, messages, llm) = permission_case(api, reply, false).await;
    assert_eq!(answer["info"]["finish"], "stop");
    assert_eq!(tool_state(&messages)["status"], "error");
    assert_eq!(
        tool_state(&messages)["error"],
        "The user rejected permission to use this specific tool call with the following feedback: not allowed in probe"
    );
    let turns = llm.turn_requests();
    assert_eq!(turns.len(), 2);
    assert!(turns[1].body.to_string().contains("not allowed in probe"));
}

async fn reject_without_a_message_stops_the_loop(api: Api) {
    let (answer, messages, llm) = permission_case(api, json!({"reply": "reject"}), false).await;
    assert_eq!(answer["info"]["finish"], "tool-calls");
    assert_eq!(
        tool_state(&messages)["error"],
        "The user rejected permission to use this specific tool call."
    );
    assert_eq!(llm.turn_requests().len(), 1);
}

async fn abort_during_a_permission_ask_clears_it(api: Api) {
    let llm = FakeLlm::start().await;
    llm.push(Reply::tool_call("call_env", "read", json!({"filePath": ".env"})));
    let env = project(&llm, api);
    let server = env.serve();
    let id = new_session(&server).await;
    let mut events = SseStream::open(&server, "/event", None).await;
    let (prompt, pending) = prompt_env(&server, &id).await;
    let (code, body) = server.post(&format!("/session/{id}/abort"), json!({})).await;
    assert_eq!((code, body), (200, json!(true)));
    let (status, answer) = prompt.await.expect("the prompt returns");
    assert_eq!(status, 200);
    assert_eq!(
        answer["info"]["error"],
        json!({"name": "MessageAbortedError", "data": {"message": "Aborted"}})
    );
    let tool = &answer["parts"][1];
    assert_eq!(tool["state"]["status"], "error");
    assert_eq!(tool["state"]["error"], "Tool execution aborted");
    assert_eq!(tool["state"]["metadata"], json!({"interrupted": true}));
    assert_eq!(server.get("/permission").await.1, json!([]));
    let request = pending["id"].as_str().expect("id");
    let (code, _) = server
        .post(&format!("/permission/{request}/reply"), json!({"reply": "once"}))
        .await;
    assert_eq!(code, 404);
    let seen = events.until(|e| e["type"] == "session.idle").await;
    assert!(
        seen.iter().any(
            |e| e["type"] == "session.error" && e["properties"]["error"]["name"] == "MessageAbortedError"
        )
    );
}

async fn abort_during_a_tool_kills_it_within_two_seconds(api: Api) {
    let llm = FakeLlm::start().await;
    // A duration of its own per variant: the check below looks for this very process (and a
    // plain `sleep 60` of something else on the machine must not look like it).
    let seconds = match api {
        Api::OpenAi => "60.0417",
        Api::Anthropic => "61.0417",
    };
    let command = format!("trap '' TERM; echo started > started.txt; sleep {seconds}");
    llm.push(Reply::tool_call(
        "call_sleep",
        "bash",
        json!({"command": command, "description": "sleeps"}),
    ));
    let env = project(&llm, api);
    let server = env.serve();
    let id = new_session(&server).await;
    let (code, _) = server
        .send(
            reqwest::Method::POST,
            &format!("/session/{id}/prompt_async"),
            Some(text("sleep")),
        )
        .await;
    assert_eq!(code, 204);
    let started = env.project.join("started.txt");
    eventually(Duration::from_secs(20), || {
        let started = started.clone();
        async move { started.exists() }
    })
    .await;
    let at = Instant::now();
    let (code, _) = server.post(&format!("/session/{id}/abort"), json!({})).await;
    assert_eq!(code, 200);
    eventually(Duration::from_secs(2), || async {
        server.get("/session/status").await.1 == json!({})
    })
    .await;
    assert!(
        at.elapsed() < Duration::from_secs(2),
        "idle after {:?}",
        at.elapsed()
    );
    let (_, messages) = server.get(&format!("/session/{id}/message")).await;
    let tool = &messages[1]["parts"][1];
    assert_eq!(tool["state"]["status"], "error");
    assert_eq!(tool["state"]["metadata"]["interrupted"], true);
    // The sleeping shell is gone: nothing in the project's process group survives. The group
    // was sent SIGKILL when the turn ended; on a loaded machine its processes may take a moment
    // to be scheduled and die.
    let survivors = || {
        let output = std::process::Command::new("pgrep")
            .args(["-f", &format!("sleep {seconds}")])
            .output()
            .expect("pgrep runs");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    let start = Instant::now();
    while !survivors().is_empty() {
        if start.elapsed() > Duration::from_secs(2) {
            let ps = std::process::Command::new("ps")
                .args(["-eo", "pid,pgid,ppid,stat,cmd"])
                .output()
                .expect("ps runs");
            panic!(
                "the tool's process survived the abort: {}\n{}",
                survivors(),
                String::from_utf8_lossy(&ps.stdout)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_prompt_while_busy_is_queued_and_both_get_the_final_answer(api: Api) {
    let llm = FakeLlm::start().await;
    llm.push(Reply::text(["First", " answer."]).delay_between_chunks(150));
    llm.push(Reply::text(["Answer to the second."]));
    let env = project(&llm, api);
    let server = env.serve();
    let id = new_session(&server).await;
    let first = {
        let http = server.http.clone();
        let url = server.url(&format!("/session/{id}/message"));
        tokio::spawn(async move {
            http.post(url)
                .json(&text("first"))
                .send()
                .await
                .expect("sent")
                .json::<Value>()
                .await
                .expect("json")
        })
    };
    llm.wait_for_turn_requests(1, Duration::from_secs(20)).await;
    let (status, second) = server
        .post(&format!("/session/{id}/message"), text("second while busy"))
        .await;
    assert_eq!(status, 200);
    let first = first.await.expect("first returns");
    assert_eq!(first, second, "both callers get the loop's final message");
    assert_eq!(second["parts"][1]["text"], "Answer to the second.");
    // As the reference: the first step answers the first prompt, the next one the queued prompt.
    let (_, messages) = server.get(&format!("/session/{id}/message")).await;
    let roles: Vec<&str> = messages
        .as_array()
        .expect("list")
        .iter()
        .map(|m| m["info"]["role"].as_str().expect("role"))
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
    assert_eq!(messages[3]["info"]["parentID"], messages[2]["info"]["id"]);
    assert_eq!(messages[1]["info"]["parentID"], messages[0]["info"]["id"]);
}

async fn a_429_is_retried_after_its_retry_after(api: Api) {
    let llm = FakeLlm::start().await;
    llm.push(Reply::status(429).retry_after_ms(100));
    llm.push(Reply::text(["Recovered."]));
    let env = project(&llm, api);
    let server = env.serve();
    let id = new_session(&server).await;
    let mut events = SseStream::open(&server, "/event", None).await;
    let (status, answer) = server.post(&format!("/session/{id}/message"), text("hi")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["parts"][1]["text"], "Recovered.");
    let seen = events.until(|e| e["type"] == "session.idle").await;
    let retry = seen
        .iter()
        .find(|e| e["type"] == "session.status" && e["properties"]["status"]["type"] == "retry")
        .expect("a retry status");
    assert_eq!(retry["properties"]["status"]["attempt"], 1);
    assert!(
        retry["properties"]["status"]["message"]
            .as_str()
            .expect("message")
            .contains("429")
    );
    assert!(retry["properties"]["status"]["next"].as_u64().is_some());
}

async fn an_upstream_that_is_down_fails_the_turn_after_the_retries(api: Api) {
    let mut llm = FakeLlm::start().await;
    let env = project(&llm, api);
    llm.stop().await;
    let server = env.serve();
    let id = new_session(&server).await;
    let mut events = SseStream::open(&server, "/event", None).await;
    let (status, answer) = server.post(&format!("/session/{id}/message"), text("hi")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["info"]["error"]["name"], "APIError");
    assert!(
        answer["info"]["error"]["data"]["message"]
            .as_str()
            .expect("message")
            .contains("Cannot connect to API")
    );
    let seen = events.until(|e| e["type"] == "session.idle").await;
    let retries = seen
        .iter()
        .filter(|e| e["type"] == "session.status" && e["properties"]["status"]["type"] == "retry")
        .count();
    assert_eq!(retries, 2, "three attempts, two retries");
    assert!(seen.iter().any(|e| e["type"] == "session.error"));
    server.assert_healthy().await;
}

async fn a_prompt_survives_kill_9_right_after_prompt_async(api: Api) {
    let llm = FakeLlm::start().await;
    llm.push(Reply::hang());
    let env = project(&llm, api);
    let id;
    {
        let server = env.serve();
        id = new_session(&server).await;
        let (code, _) = server
            .send(
                reqwest::Method::POST,
                &format!("/session/{id}/prompt_async"),
                Some(text("remember me")),
            )
            .await;
        assert_eq!(code, 204);
        // Killed mid-turn: the model has been asked (so the assistant message exists) and hangs.
        let start = Instant::now();
        while llm.turn_requests().is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the model was never asked"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Dropping the server kills it with SIGKILL at once.
    }
    let server = env.serve();
    let (status, messages) = server.get(&format!("/session/{id}/message")).await;
    assert_eq!(status, 200);
    assert_eq!(messages[0]["info"]["role"], "user");
    assert_eq!(messages[0]["parts"][0]["text"], "remember me");
    // The turn the kill cut short is marked as such, not left looking busy.
    let turn = &messages[1];
    assert_eq!(turn["info"]["role"], "assistant");
    assert_eq!(turn["info"]["error"]["name"], "MessageAbortedError", "{turn}");
    assert!(turn["info"]["time"]["completed"].is_u64());
    assert_eq!(server.get("/session/status").await.1, json!({}));
}

async fn a_write_records_a_patch_and_announces_the_file(api: Api) {
    let llm = FakeLlm::start().await;
    llm.push(Reply::tool_call(
        "call_write",
        "write",
        json!({"filePath": "generated.txt", "content": "generated by fake model\n"}),
    ));
    llm.push(Reply::text(["Written."]));
    let env = project(&llm, api);
    let server = env.serve();
    let id = new_session(&server).await;
    let mut events = SseStream::open(&server, "/event", None).await;
    let (status, _) = server
        .post(&format!("/session/{id}/message"), text("write a file"))
        .await;
    assert_eq!(status, 200);
    let written = env.project.join("generated.txt");
    assert_eq!(
        std::fs::read_to_string(&written).expect("written"),
        "generated by fake model\n"
    );
    let (_, messages) = server.get(&format!("/session/{id}/message")).await;
    let parts = messages[1]["parts"].as_array().expect("parts");
    let kinds: Vec<&str> = parts.iter().map(|p| p["type"].as_str().expect("type")).collect();
    assert_eq!(kinds, ["step-start", "tool", "patch", "step-finish"]);
    assert_eq!(parts[2]["files"], json!([written.display().to_string()]));
    assert_eq!(parts[2]["hash"].as_str().expect("hash").len(), 40);
    let seen = events.until(|e| e["type"] == "session.idle").await;
    assert!(seen.iter().any(
        |e| e["type"] == "file.edited" && e["properties"]["file"] == json!(written.display().to_string())
    ));
}

#[tokio::test]
async fn anthropic_retries_a_529_and_honours_reject_with_a_message() {
    let llm = FakeLlm::start().await;
    llm.push(Reply::status(529).retry_after_ms(50));
    llm.push(Reply::tool_call("call_env", "read", json!({"filePath": ".env"})));
    llm.push(Reply::text(["Understood."]));
    let env = project(&llm, Api::Anthropic);
    let server = env.serve();
    let id = new_session(&server).await;
    let (prompt, pending) = prompt_env(&server, &id).await;
    let request = pending["id"].as_str().expect("id");
    let reply = json!({"reply": "reject", "message": "no secrets"});
    assert_eq!(
        server
            .post(&format!("/permission/{request}/reply"), reply)
            .await
            .0,
        200
    );
    let (status, answer) = prompt.await.expect("returns");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["parts"][1]["text"], "Understood.");
    let turns = llm.turn_requests();
    assert_eq!(turns.len(), 3);
    assert!(turns[2].body.to_string().contains("no secrets"));
}

/// Keys a route does not know are ignored, as the reference ignores them
/// (`samples/err_extra_field.json`): PyPI's `opencode-ai` SDK, for one, sends `providerID` and
/// `modelID` at the top of a prompt. Wrong types still answer 400.
#[tokio::test]
async fn bodies_with_keys_a_route_does_not_know_are_accepted() {
    let llm = FakeLlm::start().await;
    llm.push(Reply::text(["Hello from a lenient server."]));
    llm.push(Reply::text(["And from /v1."]));
    let env = project(&llm, Api::OpenAi);
    let server = env.serve();

    let (status, session) = server.post("/session", json!({"bogus": 1})).await;
    assert_eq!(status, 200, "{session}");
    let id = session["id"].as_str().expect("a session id");

    let (status, updated) = server
        .patch(
            &format!("/session/{id}"),
            json!({"title": "Renamed", "bogus": {"nested": true}}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["title"], "Renamed");

    let prompt = json!({
        "providerID": "fake", "modelID": "fake-model", "bogus": [1, 2],
        "parts": [{"type": "text", "text": "hi", "extra": "ignored"}],
    });
    let (status, answer) = server.post(&format!("/session/{id}/message"), prompt).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["parts"][1]["text"], "Hello from a lenient server.");

    let chat = json!({"messages": [{"role": "user", "content": "hi", "name": "me"}], "temperature": 0.2});
    let (status, answer) = server.post("/v1/chat", chat).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["choices"][0]["message"]["content"], "And from /v1.");

    let (status, error) = server.patch(&format!("/session/{id}"), json!({"title": 7})).await;
    assert_eq!(status, 400, "{error}");
    let (status, error) = server
        .post(
            &format!("/session/{id}/message"),
            json!({"providerID": "fake", "bogus": 1}),
        )
        .await;
    assert_eq!(status, 400, "a prompt without parts: {error}");
    server.assert_healthy().await;
}

/// One test per provider component for each scenario above.
/// A call of a tool the model does not have is answered by `invalid`, as OpenCode answers it; a
/// tool named in the wrong case is the tool.
#[tokio::test]
async fn an_unknown_tool_gets_the_invalid_answer_and_the_loop_goes_on() {
    let llm = FakeLlm::start().await;
    llm.push(Reply::tool_call("call_1", "teleport", json!({"to": "mars"})));
    llm.push(Reply::tool_call(
        "call_2",
        "READ",
        json!({"filePath": "hello.txt"}),
    ));
    llm.push(Reply::text(["Done."]));
    let env = project(&llm, Api::OpenAi);
    let server = env.serve();
    let id = new_session(&server).await;
    let (status, answer) = server
        .post(&format!("/session/{id}/message"), text("go to mars"))
        .await;
    assert_eq!(status, 200, "{answer}");
    let (_, messages) = server.get(&format!("/session/{id}/message")).await;
    let tools: Vec<&Value> = messages
        .as_array()
        .expect("messages")
        .iter()
        .flat_map(|m| m["parts"].as_array().expect("parts"))
        .filter(|p| p["type"] == "tool")
        .collect();
    assert_eq!(tools[0]["tool"], "invalid", "{messages}");
    assert_eq!(tools[0]["state"]["status"], "completed");
    assert_eq!(tools[0]["state"]["input"]["tool"], "teleport");
    let output = tools[0]["state"]["output"].as_str().expect("output");
    assert!(
        output.starts_with("The arguments provided to the tool are invalid: Model tried to call unavailable tool 'teleport'. Available tools: bash, read,"),
        "{output}"
    );
    assert_eq!(
        (&tools[1]["tool"], &tools[1]["state"]["status"]),
        (&json!("read"), &json!("completed"))
    );
    // The model was told.
    let requests = llm.turn_requests();
    let told = requests[1].body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .any(|m| {
            m["role"] == "tool"
                && m["content"]
                    .as_str()
                    .is_some_and(|c| c.contains("unavailable tool 'teleport'"))
        });
    assert!(told, "{}", requests[1].body);
}

macro_rules! for_both_providers {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn openai() {
                super::$name(super::Api::OpenAi).await;
            }

            #[tokio::test]
            async fn anthropic() {
                super::$name(super::Api::Anthropic).await;
            }
        }
    )*};
}

for_both_providers!(
    permission_once_lets_the_tool_run,
    permission_once_through_the_legacy_route,
    permission_always_covers_the_rest_of_the_session,
    reject_with_a_message_continues_the_loop,
    reject_without_a_message_stops_the_loop,
    abort_during_a_permission_ask_clears_it,
    abort_during_a_tool_kills_it_within_two_seconds,
    a_prompt_while_busy_is_queued_and_both_get_the_final_answer,
    a_429_is_retried_after_its_retry_after,
    an_upstream_that_is_down_fails_the_turn_after_the_retries,
    a_prompt_survives_kill_9_right_after_prompt_async,
    a_write_records_a_patch_and_announces_the_file,
);
