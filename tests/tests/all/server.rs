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

fn encode(path: &std::path::Path) -> String {
    path.to_string_lossy().bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// Puts the wordcount example into `project/.wasmcode/plugins/` and trusts it.
fn add_trusted_project_plugin(env: &TestEnv, project: &std::path::Path) {
    let dir = project.join(".wasmcode/plugins");
    std::fs::create_dir_all(&dir).expect("plugin dir");
    let file = dir.join("counter.wasm");
    std::fs::copy(guests::WORDCOUNT, &file).expect("copy");
    let trust = env.run(&["plugin", "trust", &file.to_string_lossy()]);
    assert!(trust.status.success(), "{}", String::from_utf8_lossy(&trust.stderr));
}

#[tokio::test]
async fn requests_are_scoped_to_their_directory() {
    let env = TestEnv::new();
    let other = env.dir.path().join("other project");
    std::fs::create_dir_all(&other).expect("other project");
    add_trusted_project_plugin(&env, &other);
    let server = env.serve();
    let has_wordcount = |ids: &serde_json::Value| ids.as_array().expect("ids").contains(&json!("wordcount"));

    let (_, ids) = server.get("/experimental/tool/ids").await;
    assert!(!has_wordcount(&ids), "the default directory has no project plugin: {ids}");
    let (_, ids) = server.get(&format!("/experimental/tool/ids?directory={}", encode(&other))).await;
    assert!(has_wordcount(&ids), "?directory= selects the other project: {ids}");
    let response = server
        .http
        .get(server.url("/experimental/tool/ids"))
        .header("x-opencode-directory", encode(&other))
        .send()
        .await
        .expect("sent");
    let ids: serde_json::Value = response.json().await.expect("json");
    assert!(has_wordcount(&ids), "the header selects it too: {ids}");

    let (status, body) = server.get("/experimental/tool/ids?directory=%2Fno%2Fsuch%2Fdir").await;
    assert_eq!((status, &body["name"]), (400, &json!("BadRequest")), "{body}");
    let (status, _) = server.get("/experimental/tool/ids?directory=relative%2Fpath").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn dispose_releases_an_instance_so_it_is_made_afresh() {
    let env = TestEnv::new();
    let server = env.serve();
    let (_, before) = server.get("/experimental/tool/ids").await;
    add_trusted_project_plugin(&env, &env.project);
    let (_, cached) = server.get("/experimental/tool/ids").await;
    assert_eq!(before, cached, "an instance keeps its plugins until disposed");
    let (status, body) = server.post("/instance/dispose", json!({})).await;
    assert_eq!((status, body), (200, json!(true)));
    let (_, after) = server.get("/experimental/tool/ids").await;
    assert!(after.as_array().expect("ids").contains(&json!("wordcount")), "{after}");
}

#[test]
fn a_config_with_a_syntax_error_stops_the_start_up() {
    let env = TestEnv::new();
    let file = env.write("opencode.jsonc", "{\n  // comments are fine\n  \"model\": \"a/b\"\n  \"share\": \"disabled\",\n}\n");
    let output = env.command().args(["serve", "--port", "0"]).output().expect("runs");
    assert!(!output.status.success(), "started on a broken config");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("{}:3:17", file.display())), "no file:line:column in: {stderr}");
}
