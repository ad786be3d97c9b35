//! The server over loopback: the tool endpoints in the reference's shapes, JSON errors, and a
//! server that keeps answering whatever a plugin does.

use crate::harness::TestEnv;
use serde_json::json;
use wasmcode_tests::guests;

const FIRST_PARTY: [&str; 7] = ["bash", "read", "glob", "grep", "edit", "write", "list"];

#[tokio::test]
async fn tool_ids_list_the_first_party_tools() {
    let env = TestEnv::new();
    let server = env.serve();
    let (status, ids) = server.get("/experimental/tool/ids").await;
    assert_eq!(status, 200);
    assert_eq!(ids, json!(FIRST_PARTY));
}

#[tokio::test]
async fn tool_list_has_the_reference_shape() {
    let env = TestEnv::new();
    let server = env.serve();
    let (status, tools) = server
        .get("/experimental/tool?provider=fake&model=fake-model")
        .await;
    assert_eq!(status, 200);
    let tools = tools.as_array().expect("an array");
    assert_eq!(tools.len(), FIRST_PARTY.len());
    for tool in tools {
        let object = tool.as_object().expect("an object");
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["description", "id", "parameters"]);
        assert_eq!(
            tool["parameters"]["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(tool["parameters"]["type"], "object");
    }
    let read = tools.iter().find(|t| t["id"] == "read").expect("read is listed");
    assert_eq!(read["parameters"]["required"], json!(["filePath"]));
    assert_eq!(read["parameters"]["properties"]["offset"]["type"], "integer");
    let edit = tools.iter().find(|t| t["id"] == "edit").expect("edit is listed");
    assert_eq!(
        edit["parameters"]["required"],
        json!(["filePath", "oldString", "newString"])
    );
}

#[tokio::test]
async fn tool_list_requires_provider_and_model() {
    let env = TestEnv::new();
    let server = env.serve();
    let (status, body) = server.get("/experimental/tool").await;
    assert_eq!(status, 400);
    // As the reference answers (samples/tool_list_noparams.json).
    assert_eq!(
        body,
        json!({"name": "BadRequest", "data": {"message": "Missing key\n  at [\"provider\"]", "kind": "Query"}})
    );
    let (status, body) = server.get("/experimental/tool?provider=fake").await;
    assert_eq!(
        (status, &body["data"]["message"]),
        (400, &json!("Missing key\n  at [\"model\"]"))
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json_errors() {
    let env = TestEnv::new();
    let server = env.serve();
    let (status, body) = server.get("/nonexistent").await;
    assert_eq!((status, &body["name"]), (404, &json!("NotFoundError")));
    let (status, body) = server.post("/global/health", json!({})).await;
    assert_eq!((status, &body["name"]), (405, &json!("MethodNotAllowed")));
}

#[tokio::test]
async fn tools_execute_directly_under_the_permission_rules() {
    let env = TestEnv::new();
    env.write(".env", "API_KEY=hunter2\n");
    let server = env.serve();
    let path = env.project.join("hello.txt").to_string_lossy().into_owned();
    let (status, body) = server
        .post("/v1/tools/read/execute", json!({"filePath": path}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["content"]
            .as_str()
            .expect("text")
            .contains("1: hello\n2: world"),
        "{body}"
    );
    // The seed's `read_file` alias with its `path` argument.
    let (status, body) = server
        .post("/v1/tools/read_file/execute", json!({"path": "hello.txt"}))
        .await;
    assert_eq!((status, &body["tool"]), (200, &json!("read")), "{body}");
    // `.env` reads ask by default; with nobody to ask, they are refused, never hung.
    let (status, body) = server
        .post("/v1/tools/read/execute", json!({"filePath": ".env"}))
        .await;
    assert_eq!(
        (status, &body["name"]),
        (403, &json!("PermissionDeniedError")),
        "{body}"
    );
    assert!(
        body["data"]["message"]
            .as_str()
            .expect("text")
            .contains("approval"),
        "{body}"
    );
    // Bad input is a 400, an unknown tool a 404.
    let (status, _) = server.post("/v1/tools/read/execute", json!({"offset": 3})).await;
    assert_eq!(status, 400);
    let (status, _) = server.post("/v1/tools/nope/execute", json!({})).await;
    assert_eq!(status, 404);
    let response = server
        .http
        .post(server.url("/v1/tools/read/execute"))
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 400);
}

/// Every hostile behaviour of the probe, sent to a running server: each fails with the right
/// status, and after each the server is healthy and the next call succeeds.
#[tokio::test]
async fn the_server_survives_every_sandbox_failure() {
    let env = TestEnv::new();
    let install = env.run(&["plugin", "install", guests::FIXTURE_PROBE, "--name", "probe"]);
    assert!(
        install.status.success(),
        "{}",
        String::from_utf8_lossy(&install.stderr)
    );
    env.write(
        "opencode.json",
        r#"{"wasmcode": {"plugins": {"probe": {"limits": {"timeoutMs": 300}}}}}"#,
    );
    let server = env.serve();

    let cases = [
        ("fs", json!({"op": "read", "path": "../secret.txt"}), 422),
        (
            "fs",
            json!({"op": "read", "path": env.secret.to_string_lossy()}),
            422,
        ),
        ("fs", json!({"op": "write", "path": "x.txt", "content": "x"}), 422),
        ("spin", json!({}), 504),
        ("alloc", json!({"bytes": 1u64 << 30, "fallible": false}), 502),
        ("alloc", json!({"bytes": 1u64 << 30, "fallible": true}), 422),
        ("trap", json!({}), 502),
        ("panic", json!({}), 502),
        ("http", json!({"url": "http://127.0.0.1:9/"}), 422),
        ("process", json!({"command": "touch pwned"}), 422),
    ];
    for (tool, args, expected) in cases {
        let (status, body) = server
            .post(&format!("/v1/tools/{tool}/execute"), args.clone())
            .await;
        assert_eq!(status, expected, "{tool} {args}: {body}");
        assert!(
            body["data"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        server.assert_healthy().await;
        let (status, body) = server.post("/v1/tools/ok/execute", json!({})).await;
        assert_eq!(
            (status, &body["content"]),
            (200, &json!("ok")),
            "after {tool}: {body}"
        );
    }
    assert!(!env.project.join("pwned").exists() && !env.project.join("x.txt").exists());
}
