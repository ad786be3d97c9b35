//! The typed protocol against the real binary: a run that makes the server send every event type
//! it has, each validated (by the harness's `SseStream`, as every stream of the suite is) against
//! the `Event` and `GlobalEvent` schemas of the server's OpenAPI document, and the union covering
//! exactly what was sent.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use wasmcode::protocol::Event;
use wasmcode_tests::fake_llm::{FakeLlm, Reply};

use crate::harness::{Server, SseStream, TestEnv, fake_model_config, git};

fn text(prompt: &str) -> Value {
    json!({"parts": [{"type": "text", "text": prompt}]})
}

/// Reads both streams until `stop` holds for an event of the instance stream, collecting every
/// type seen on either.
async fn collect(events: &mut SseStream, seen: &mut BTreeSet<String>, stop: impl Fn(&Value) -> bool) {
    let messages = events.until(stop).await;
    for data in messages {
        seen.insert(data["type"].as_str().unwrap_or_default().to_string());
    }
}

#[tokio::test]
async fn every_event_the_server_sends_is_in_the_documented_union() {
    let llm = FakeLlm::start().await;
    let env = TestEnv::new();
    env.write("README.md", "# Sample\n");
    env.write(".env", "SECRET=1\n");
    let config = fake_model_config(
        &llm,
        json!({"wasmcode": {"session": {"retryAttempts": 2, "retryInitialDelayMs": 20, "retryMaxDelayMs": 50}}}),
    );
    env.write("opencode.json", &config.to_string());
    let server: Server = env.serve_with(|c| {
        c.env("WASMCODE_HEARTBEAT_MS", "100");
    });
    let mut seen = BTreeSet::new();
    let mut events = SseStream::open(&server, "/event", None).await;
    let mut global = SseStream::open(&server, "/global/event", None).await;
    seen.insert(
        events.next().await.data["type"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    );
    // A cursor no bus ever gave: the stream starts with a resync.
    let mut resynced = SseStream::open(&server, "/event", Some(u64::MAX - 1)).await;
    for _ in 0..2 {
        seen.insert(
            resynced.next().await.data["type"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    // A heartbeat, then a session.
    seen.insert(
        events.next().await.data["type"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    );
    let (_, session) = server.post("/session", json!({})).await;
    let id = session["id"].as_str().expect("a session id").to_string();

    // A turn that writes a file and answers in text.
    llm.push(Reply::tool_call(
        "call_1",
        "write",
        json!({"filePath": "notes.txt", "content": "hi\n"}),
    ));
    llm.push(Reply::text(["Wrote", " it."]));
    let (status, answer) = server
        .post(&format!("/session/{id}/message"), text("write notes"))
        .await;
    assert_eq!(status, 200, "{answer}");
    collect(&mut events, &mut seen, |e| e["type"] == "session.idle").await;

    // A turn that asks the user (reading `.env`), answered once.
    llm.push(Reply::tool_call("call_2", "read", json!({"filePath": ".env"})));
    llm.push(Reply::text(["Read."]));
    let (status, _) = server
        .post(&format!("/session/{id}/prompt_async"), text("read .env"))
        .await;
    assert_eq!(status, 204);
    let asked = events.until(|e| e["type"] == "permission.asked").await;
    let request = asked.last().expect("an ask")["properties"]["id"]
        .as_str()
        .expect("a request id")
        .to_string();
    seen.extend(
        asked
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default().to_string()),
    );
    let (status, _) = server
        .post(&format!("/permission/{request}/reply"), json!({"reply": "once"}))
        .await;
    assert_eq!(status, 200);
    collect(&mut events, &mut seen, |e| e["type"] == "session.idle").await;

    // A slash command whose model call fails for good: `command.executed`, then `session.error`.
    let (status, _) = server
        .post(
            &format!("/session/{id}/command"),
            json!({"command": "init", "arguments": ""}),
        )
        .await;
    assert_eq!(status, 200);
    collect(&mut events, &mut seen, |e| e["type"] == "session.idle").await;

    // Removing a part, then a message.
    let (_, messages) = server.get(&format!("/session/{id}/message")).await;
    let first = &messages[0];
    let (message, part) = (
        first["info"]["id"].as_str().expect("a message id"),
        first["parts"][0]["id"].as_str().expect("a part id"),
    );
    let (status, body) = server
        .delete(&format!("/session/{id}/message/{message}/part/{part}"))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.delete(&format!("/session/{id}/message/{message}")).await;
    assert_eq!(status, 200, "{body}");
    collect(&mut events, &mut seen, |e| e["type"] == "message.removed").await;

    // The TUI's events.
    server.post("/tui/append-prompt", json!({"text": "one"})).await;
    server
        .post("/tui/execute-command", json!({"command": "session.list"}))
        .await;
    server
        .post("/tui/show-toast", json!({"message": "hi", "variant": "info"}))
        .await;
    let (status, body) = server.post("/tui/select-session", json!({"sessionID": id})).await;
    assert_eq!(status, 200, "{body}");
    collect(&mut events, &mut seen, |e| e["type"] == "tui.session.select").await;

    // A plugin switched off in the configuration while the server runs.
    let mut reconfigured = config.clone();
    reconfigured["wasmcode"]["plugins"] = json!({"list": {"enabled": false}});
    env.write("opencode.json", &reconfigured.to_string());
    collect(&mut events, &mut seen, |e| {
        e["type"] == "wasmcode.plugins.updated"
    })
    .await;

    // The directory becomes a repository, and the project gets a name.
    git(&env.project, &["init", "-q"]);
    git(&env.project, &["add", "README.md"]);
    git(&env.project, &["commit", "-qm", "init"]);
    let (_, project) = server.get("/project/current").await;
    let project_id = project["id"].as_str().expect("a project id").to_string();
    let (status, body) = server
        .patch(&format!("/project/{project_id}"), json!({"name": "Sample"}))
        .await;
    assert_eq!(status, 200, "{body}");
    collect(&mut events, &mut seen, |e| e["type"] == "project.updated").await;

    // A terminal opens, is renamed, ends on its own; another is closed.
    let (status, pty) = server
        .post("/pty", json!({"command": "sh", "args": ["-c", "sleep 1"]}))
        .await;
    assert_eq!(status, 200, "{pty}");
    let (status, body) = server
        .send(
            reqwest::Method::PUT,
            &format!("/pty/{}", pty["id"].as_str().expect("a pty id")),
            Some(json!({"title": "short"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    collect(&mut events, &mut seen, |e| e["type"] == "pty.deleted").await;
    let (_, pty) = server.post("/pty", json!({"command": "sh"})).await;
    let (status, _) = server
        .delete(&format!("/pty/{}", pty["id"].as_str().expect("a pty id")))
        .await;
    assert_eq!(status, 200);
    collect(&mut events, &mut seen, |e| e["type"] == "pty.deleted").await;

    // An MCP server is added, then dies.
    let tag = crate::mcp::tag();
    let (status, body) = server
        .post(
            "/mcp",
            json!({"name": "demo", "config": crate::mcp::local_block(&tag)}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for pid in crate::mcp::processes_tagged(&tag) {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    collect(&mut events, &mut seen, |e| e["type"] == "mcp.tools.changed").await;

    // The session goes, then the instance, then every instance.
    let (status, _) = server.delete(&format!("/session/{id}")).await;
    assert_eq!(status, 200);
    collect(&mut events, &mut seen, |e| e["type"] == "session.deleted").await;
    let (status, _) = server.post("/instance/dispose", json!({})).await;
    assert_eq!(status, 200);
    collect(&mut events, &mut seen, |e| {
        e["type"] == "server.instance.disposed"
    })
    .await;
    let (status, _) = server.post("/global/dispose", json!({})).await;
    assert_eq!(status, 200);
    let global_seen = global.until(|e| e["payload"]["type"] == "global.disposed").await;
    seen.extend(
        global_seen
            .iter()
            .map(|e| e["payload"]["type"].as_str().unwrap_or_default().to_string()),
    );

    let documented: BTreeSet<String> = Event::NAMES.iter().map(|n| n.to_string()).collect();
    assert_eq!(seen, documented, "sent and documented event types differ");
    assert!(documented.len() >= 25, "{documented:?}");
}
