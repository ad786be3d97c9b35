//! MCP servers, end to end: a real FastMCP server (PyPI's `mcp`, in a virtualenv beside the
//! build) started by the configuration over stdio, or reached over streamable HTTP; its tool
//! called by the agent in a turn against the fake upstream; its death, disconnects, reconnects
//! and additions seen in `/mcp`, with everything else going on.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmcode_tests::fake_llm::{FakeLlm, Reply};

use crate::harness::{Server, SseStream, TestEnv, answer_texts, build_dir, fake_model_config, install_once};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mcp")
}

/// The Python of a virtualenv with the pinned `mcp`, made once per version of the pin.
pub fn python() -> PathBuf {
    let requirements = fixtures().join("requirements.txt");
    let venv = build_dir().join("mcp-venv");
    let key = std::fs::read(&requirements).expect("requirements.txt");
    install_once(&venv, &key, &["bin/python"], || {
        let made = Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv)
            .status()
            .expect("python3 runs (the MCP tests need Python 3)");
        assert!(made.success(), "python3 -m venv");
        let installed = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&requirements)
            .status()
            .expect("pip runs");
        assert!(installed.success(), "pip install mcp");
    });
    venv.join("bin/python")
}

/// A fresh tag, so a test finds its own server process among others.
pub fn tag() -> String {
    format!("tag-{}", wasmcode::protocol::Identifier::ascending("tst"))
}

/// The configuration block of a local server run from the fixture.
pub fn local_block(tag: &str) -> Value {
    json!({
        "type": "local",
        "command": [python().display().to_string(), fixtures().join("server.py").display().to_string(), tag],
        "environment": {"DEMO": "from-config"},
    })
}

fn config(llm: &FakeLlm, mcp: Value) -> String {
    fake_model_config(llm, json!({ "mcp": mcp })).to_string()
}

/// The pids of processes whose command line contains `tag`.
pub fn processes_tagged(tag: &str) -> Vec<u32> {
    let output = Command::new("pgrep")
        .args(["-f", tag])
        .stderr(Stdio::null())
        .output()
        .expect("pgrep runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "{what} within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn status_of(server: &Server, name: &str) -> Value {
    let (status, body) = server.get("/mcp").await;
    assert_eq!(status, 200, "{body}");
    body[name].clone()
}

async fn prompt(server: &Server, text: &str) -> Value {
    let (_, session) = server.post("/session", json!({})).await;
    let id = session["id"].as_str().expect("a session id").to_string();
    let (status, answer) = server
        .post(
            &format!("/session/{id}/message"),
            json!({"parts": [{"type": "text", "text": text}]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    json!({"answer": answer, "session": id})
}

/// A prompt whose turn calls one tool: the answer and the tool part.
async fn tool_turn(server: &Server, text: &str) -> Value {
    let mut turn = prompt(server, text).await;
    let session = turn["session"].as_str().expect("a session id").to_string();
    turn["tool"] = server.last_tool_part(&session).await;
    turn
}

#[tokio::test]
async fn a_configured_server_s_tool_is_called_in_a_turn_and_its_death_is_seen() {
    let tag = tag();
    let llm = FakeLlm::start().await;
    let env = TestEnv::new();
    env.write("opencode.json", &config(&llm, json!({"demo": local_block(&tag)})));
    let server = env.serve();
    let mut events = SseStream::open(&server, "/event", None).await;

    assert_eq!(status_of(&server, "demo").await, json!({"status": "connected"}));
    let (_, tools) = server
        .get("/experimental/tool?provider=fake&model=fake-model")
        .await;
    let add = tools
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["id"] == "demo_add")
        .unwrap_or_else(|| panic!("demo_add is listed: {tools}"))
        .clone();
    assert_eq!(add["description"], "Add two integers.");
    assert_eq!(add["parameters"]["required"], json!(["a", "b"]));
    assert_eq!(add["parameters"]["additionalProperties"], false);
    let (_, resources) = server.get("/experimental/resource").await;
    assert_eq!(
        resources["demo:demo://greeting"],
        json!({"name": "greeting", "uri": "demo://greeting", "description": "A greeting.",
               "mimeType": "text/plain", "client": "demo"})
    );

    // The model calls the server's tools; their output reaches it.
    llm.push(Reply::tool_call("call_1", "demo_add", json!({"a": 2, "b": 3})));
    llm.push(Reply::text(["It is 5."]));
    let turn = tool_turn(&server, "What is 2 + 3?").await;
    assert_eq!(answer_texts(&turn["answer"]), ["It is 5."], "{turn}");
    assert_eq!(turn["tool"]["state"]["status"], "completed", "{turn}");
    assert_eq!(turn["tool"]["state"]["output"], "5");
    let requests = llm.turn_requests();
    let offered = &requests[0].body["tools"];
    assert!(
        offered
            .as_array()
            .expect("tools")
            .iter()
            .any(|t| t["function"]["name"] == "demo_add"),
        "{offered}"
    );
    let result = requests[1].body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("the tool's result")
        .clone();
    assert_eq!(result["content"], "5");

    // It runs in the project with its configured environment; a failure is the tool's error.
    llm.push(Reply::tool_call("call_2", "demo_whereami", json!({})));
    llm.push(Reply::text(["Noted."]));
    let turn = tool_turn(&server, "Where?").await;
    assert_eq!(
        turn["tool"]["state"]["output"],
        format!("cwd={} DEMO=from-config", env.project.display())
    );
    llm.push(Reply::tool_call(
        "call_3",
        "demo_fail",
        json!({"reason": "on purpose"}),
    ));
    llm.push(Reply::text(["It failed."]));
    let turn = tool_turn(&server, "Fail").await;
    assert_eq!(turn["tool"]["state"]["status"], "error", "{turn}");
    assert!(
        turn["tool"]["state"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("on purpose")),
        "{turn}"
    );

    // Killed, the server shows as failed; the rest goes on without its tools.
    let pids = processes_tagged(&tag);
    assert!(!pids.is_empty(), "the server runs");
    for pid in &pids {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    eventually("the server's status turns failed", async || {
        status_of(&server, "demo").await["status"] == "failed"
    })
    .await;
    assert_eq!(
        status_of(&server, "demo").await,
        json!({"status": "failed", "error": "Connection closed"})
    );
    events
        .until(|e| e["type"] == "mcp.tools.changed" && e["properties"]["server"] == "demo")
        .await;
    llm.push(Reply::text(["Still here."]));
    let turn = prompt(&server, "Hello?").await;
    assert_eq!(answer_texts(&turn["answer"]), ["Still here."]);
    let last = llm.turn_requests();
    let offered = last.last().expect("a request").body["tools"].to_string();
    assert!(!offered.contains("demo_add"), "{offered}");
    server.assert_healthy().await;

    // Reconnecting starts it again.
    let (status, connected) = server.post("/mcp/demo/connect", json!({})).await;
    assert_eq!((status, connected), (200, json!(true)));
    assert_eq!(status_of(&server, "demo").await, json!({"status": "connected"}));
}

#[tokio::test]
async fn servers_are_disconnected_added_and_stopped_with_their_instance() {
    let (local_tag, http_tag) = (tag(), tag());
    let llm = FakeLlm::start().await;
    let env = TestEnv::new();
    env.write(
        "opencode.json",
        &config(
            &llm,
            json!({
                "demo": local_block(&local_tag),
                "off": {"type": "local", "command": ["true"], "enabled": false},
                "missing": {"type": "local", "command": ["/no/such/mcp-server"]},
                "broken": {"type": "local"},
            }),
        ),
    );
    let server = env.serve();
    let (_, all) = server.get("/mcp").await;
    assert_eq!(all["demo"], json!({"status": "connected"}));
    assert_eq!(all["off"], json!({"status": "disabled"}));
    assert_eq!(all["missing"]["status"], "failed");
    assert!(
        all["missing"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("/no/such/mcp-server")),
        "{all}"
    );
    assert_eq!(all["broken"]["status"], "failed");
    let order: Vec<&String> = all.as_object().expect("a map").keys().collect();
    assert_eq!(order, ["demo", "off", "missing", "broken"]);

    // Disconnect stops the program; connect starts it again.
    assert!(!processes_tagged(&local_tag).is_empty());
    let (status, done) = server.post("/mcp/demo/disconnect", json!({})).await;
    assert_eq!((status, done), (200, json!(true)));
    assert_eq!(status_of(&server, "demo").await, json!({"status": "disabled"}));
    eventually("the program stops", async || {
        processes_tagged(&local_tag).is_empty()
    })
    .await;
    let (_, tools) = server
        .get("/experimental/tool?provider=fake&model=fake-model")
        .await;
    assert!(!tools.to_string().contains("demo_add"));
    let (status, _) = server.post("/mcp/demo/connect", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(status_of(&server, "demo").await, json!({"status": "connected"}));
    let (status, body) = server.post("/mcp/nope/connect", json!({})).await;
    assert_eq!(
        (status, &body["name"]),
        (404, &json!("McpServerNotFoundError")),
        "{body}"
    );

    // Servers over HTTP, added while the instance runs: streamable HTTP, and the older event
    // stream, which is tried when streamable HTTP is not spoken.
    for (flag, path, name) in [("--http", "/mcp", "web"), ("--sse", "/sse", "legacy")] {
        let port = free_port();
        let mut remote = Command::new(python())
            .arg(fixtures().join("server.py"))
            .args([flag, &http_tag])
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the HTTP server starts");
        eventually("the HTTP server listens", async || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .await;
        let url = format!("http://127.0.0.1:{port}{path}");
        let (status, all) = server
            .post(
                "/mcp",
                json!({"name": name, "config": {"type": "remote", "url": url, "headers": {"X-Test": "1"}}}),
            )
            .await;
        assert_eq!(status, 200, "{all}");
        assert_eq!(all[name], json!({"status": "connected"}), "{all}");
        assert_eq!(all["demo"], json!({"status": "connected"}));
        llm.push(Reply::tool_call(
            "call_1",
            format!("{name}_add"),
            json!({"a": 20, "b": 22}),
        ));
        llm.push(Reply::text(["42."]));
        let turn = tool_turn(&server, "20 + 22?").await;
        assert_eq!(turn["tool"]["state"]["output"], "42", "{turn}");
        let _ = remote.kill();
        let _ = remote.wait();
    }
    // Nothing listening: both transports were tried, and both failures are told.
    let url = format!("http://127.0.0.1:{}/mcp", free_port());
    let (status, all) = server
        .post(
            "/mcp",
            json!({"name": "gone", "config": {"type": "remote", "url": url}}),
        )
        .await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["gone"]["status"], "failed", "{all}");
    let error = all["gone"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("streamable HTTP") && error.contains("SSE"),
        "{error}"
    );

    // Bad additions are 400s; OAuth is refused clearly.
    let (status, body) = server
        .post(
            "/mcp",
            json!({"name": "x", "config": {"type": "remote", "url": "ftp://x"}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = server
        .post("/mcp", json!({"name": "x", "config": {"type": "carrier-pigeon"}}))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = server.post("/mcp/web/auth", json!({})).await;
    assert_eq!(
        (status, &body["name"]),
        (400, &json!("McpUnsupportedOAuthError")),
        "{body}"
    );
    let (status, body) = server.delete("/mcp/web/auth").await;
    assert_eq!((status, body), (200, json!({"success": true})));

    // The instance goes, and its servers with it.
    let (status, _) = server.post("/instance/dispose", json!({})).await;
    assert_eq!(status, 200);
    eventually("the program stops with its instance", async || {
        processes_tagged(&local_tag).is_empty()
    })
    .await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}
