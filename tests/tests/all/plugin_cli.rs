//! `wasmcode plugin ...`: a third-party tool built with the SDK installs and is served; broken
//! components are refused with a message that says what is wrong; project plugins wait for trust.

use crate::harness::{TestEnv, answer_texts};
use serde_json::json;
use wasmcode_tests::fake_llm::{FakeLlm, Reply};
use wasmcode_tests::guests;

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn a_third_party_tool_installs_and_is_served() {
    let env = TestEnv::new();
    let install = env.run(&["plugin", "install", guests::WORDCOUNT]);
    assert!(install.status.success(), "{}", stderr(&install));
    assert!(
        stdout(&install).contains("installed tool plugin `wasmcode-example-wordcount`"),
        "{}",
        stdout(&install)
    );
    assert!(
        stdout(&install).contains("tools: wordcount"),
        "{}",
        stdout(&install)
    );

    let listed = env.run(&["plugin", "list"]);
    assert!(stdout(&listed).contains("wasmcode-example-wordcount") && stdout(&listed).contains("installed"));

    let server = env.serve();
    let (_, ids) = server.get("/experimental/tool/ids").await;
    assert!(
        ids.as_array().expect("ids").contains(&json!("wordcount")),
        "{ids}"
    );
    let (status, body) = server
        .post("/v1/tools/wordcount/execute", json!({"filePath": "hello.txt"}))
        .await;
    assert_eq!(
        (status, &body["content"]),
        (200, &json!("2 lines, 2 words, 12 bytes")),
        "{body}"
    );
    drop(server);

    let removed = env.run(&["plugin", "remove", "wasmcode-example-wordcount"]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    let again = env.run(&["plugin", "remove", "wasmcode-example-wordcount"]);
    assert!(!again.status.success() && stderr(&again).contains("no installed plugin"));
}

#[test]
fn a_core_module_is_refused() {
    let env = TestEnv::new();
    let module = env.dir.path().join("module.wasm");
    // `(module)`: a valid core module, not a component.
    std::fs::write(&module, b"\0asm\x01\0\0\0").expect("write module");
    let output = env.run(&["plugin", "install", &module.to_string_lossy()]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("core WebAssembly module, not a component"),
        "{}",
        stderr(&output)
    );
    assert!(!env.paths.plugins_dir().join("module").exists());
}

#[test]
fn a_component_of_no_plugin_world_is_refused() {
    let env = TestEnv::new();
    // An empty component: valid, and exporting nothing a plugin exports.
    let component = env.dir.path().join("empty.wasm");
    std::fs::write(&component, b"\0asm\x0d\0\x01\0").expect("write component");
    let output = env.run(&["plugin", "install", &component.to_string_lossy()]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("not a wasmcode plugin: it exports nothing"),
        "{message}"
    );
    assert!(
        message.contains("wasmcode:plugin/formatter-plugin"),
        "names the worlds: {message}"
    );
    assert!(!env.paths.plugins_dir().join("empty").exists());
}

#[test]
fn a_formatter_component_installs_as_a_formatter() {
    let env = TestEnv::new();
    // The `wrong-world` fixture is a formatter: refused as a tool, installed as what it is.
    let output = env.run(&["plugin", "install", guests::FIXTURE_WRONG_WORLD, "--name", "trim"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("installed formatter plugin `trim`"), "{text}");
    assert!(text.contains("extensions: txt, md"), "{text}");
    let listed = stdout(&env.run(&["plugin", "list"]));
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("trim ") && l.contains("formatter") && l.contains("extensions: txt, md")),
        "{listed}"
    );
    let inspected = stdout(&env.run(&["plugin", "inspect", "trim"]));
    assert!(inspected.contains("kind:    formatter"), "{inspected}");
    // It is no tool: the tools are what they were.
    let manifest =
        std::fs::read_to_string(env.paths.plugins_dir().join("trim/manifest.json")).expect("manifest");
    assert!(manifest.contains("\"kind\": \"formatter\""), "{manifest}");
}

#[test]
fn a_truncated_file_is_refused() {
    let env = TestEnv::new();
    let bytes = std::fs::read(guests::WORDCOUNT).expect("built");
    let truncated = env.dir.path().join("truncated.wasm");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    let output = env.run(&["plugin", "install", &truncated.to_string_lossy()]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("not a valid WebAssembly component"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_component_that_traps_on_instantiation_is_refused() {
    let env = TestEnv::new();
    let output = env.run(&["plugin", "install", guests::FIXTURE_TRAP_ON_INIT]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("trapped while being instantiated"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_tool_id_clash_is_refused() {
    let env = TestEnv::new();
    let first = env.run(&["plugin", "install", guests::WORDCOUNT, "--name", "counter"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let second = env.run(&["plugin", "install", guests::WORDCOUNT, "--name", "counter-two"]);
    assert!(!second.status.success());
    assert!(
        stderr(&second).contains("tool `wordcount` is already provided by plugin `counter`"),
        "{}",
        stderr(&second)
    );
}

#[test]
fn inspect_shows_the_world_imports_and_tools() {
    let env = TestEnv::new();
    let output = env.run(&["plugin", "inspect", guests::WORDCOUNT]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("exports: wasmcode:plugin/tool@0.1.0"), "{text}");
    assert!(text.contains("wasmcode:plugin/host@0.1.0"), "{text}");
    assert!(text.contains("capabilities requested: filesystem"), "{text}");
    assert!(
        text.contains("tool `wordcount`") && text.contains("\"filePath\""),
        "{text}"
    );
}

#[tokio::test]
async fn project_plugins_load_only_once_trusted() {
    let env = TestEnv::new();
    let dir = env.project.join(".wasmcode/plugins");
    std::fs::create_dir_all(&dir).expect("plugin dir");
    let local = dir.join("counter.wasm");
    std::fs::copy(guests::WORDCOUNT, &local).expect("copy");

    let server = env.serve();
    let (_, ids) = server.get("/experimental/tool/ids").await;
    assert!(
        !ids.as_array().expect("ids").contains(&json!("wordcount")),
        "loaded untrusted: {ids}"
    );
    drop(server);

    let trust = env.run(&["plugin", "trust", &local.to_string_lossy()]);
    assert!(trust.status.success(), "{}", stderr(&trust));
    let server = env.serve();
    let (_, ids) = server.get("/experimental/tool/ids").await;
    assert!(
        ids.as_array().expect("ids").contains(&json!("wordcount")),
        "trusted but not loaded: {ids}"
    );
    drop(server);

    // Changing the component revokes the trust: it is the exact bytes that were trusted.
    let mut bytes = std::fs::read(&local).expect("read");
    bytes.extend_from_slice(b"\0");
    std::fs::write(&local, bytes).expect("modify");
    let server = env.serve();
    let (_, ids) = server.get("/experimental/tool/ids").await;
    assert!(
        !ids.as_array().expect("ids").contains(&json!("wordcount")),
        "modified plugin loaded: {ids}"
    );
}

/// The first-party OpenAI-compatible provider, built from `plugins/`, written out as a third
/// party's component would be, and installed under `name`.
fn install_openai_as(env: &TestEnv, name: &str) {
    let component = env.dir.path().join(format!("{name}.wasm"));
    let embedded =
        wasmcode::plugins::first_party::provider("openai").expect("the openai provider is embedded");
    std::fs::write(&component, embedded.bytes).expect("write component");
    env.install_plugin(&component, name, "provider");
}

fn provider_config(url: &str, plugin: &str) -> serde_json::Value {
    json!({
        "provider": {"mine": {
            "name": "Mine", "plugin": plugin,
            "options": {"baseURL": url, "apiKey": "sk-mine"},
            "models": {"m": {"name": "M", "tool_call": true}}}},
        "model": "mine/m",
        "small_model": "mine/m",
    })
}

#[tokio::test]
async fn an_installed_provider_runs_the_models_of_a_block_naming_it() {
    let env = TestEnv::new();
    install_openai_as(&env, "my-openai");
    let listed = stdout(&env.run(&["plugin", "list"]));
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("my-openai ") && l.contains("provider") && l.contains("installed")),
        "{listed}"
    );
    assert!(stdout(&env.run(&["plugin", "inspect", "my-openai"])).contains("kind:    provider"));

    let llm = FakeLlm::start().await;
    llm.push(Reply::tool_call(
        "call_1",
        "read",
        json!({"filePath": "hello.txt"}),
    ));
    llm.push(Reply::text(["It says hello."]));
    llm.push(Reply::text(["Through /v1 too."]));
    env.write(
        "opencode.json",
        &provider_config(&llm.url(), "my-openai").to_string(),
    );
    let server = env.serve();
    let (_, session) = server.post("/session", json!({})).await;
    let id = session["id"].as_str().expect("a session id");
    let (status, answer) = server
        .post(
            &format!("/session/{id}/message"),
            json!({"parts": [{"type": "text", "text": "What does hello.txt say?"}]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["info"]["providerID"], "mine", "{answer}");
    assert_eq!(answer_texts(&answer), ["It says hello."], "{answer}");
    let tool = server.last_tool_part(id).await;
    assert_eq!(tool["state"]["status"], "completed", "{tool}");
    assert!(
        tool["state"]["output"]
            .as_str()
            .expect("output")
            .contains("hello")
    );
    // The component sent the block's key to the block's base URL.
    let requests = llm.turn_requests();
    assert!(
        requests[0]
            .headers
            .iter()
            .any(|(k, v)| k == "authorization" && v == "Bearer sk-mine")
    );

    let (status, answer) = server
        .post(
            "/v1/chat",
            json!({"messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["choices"][0]["message"]["content"], "Through /v1 too.");
}

#[test]
fn a_provider_block_naming_no_installed_provider_is_refused_when_the_configuration_loads() {
    let env = TestEnv::new();
    let install = env.run(&["plugin", "install", guests::WORDCOUNT]);
    assert!(install.status.success(), "{}", stderr(&install));
    for (plugin, expected) in [
        (
            "wasmcode-example-wordcount",
            "provider `mine`: `wasmcode-example-wordcount` is a tool plugin, not a provider plugin",
        ),
        (
            "oai-py",
            "provider `mine`: no provider plugin named `oai-py` is installed",
        ),
    ] {
        env.write(
            "opencode.json",
            &provider_config("http://127.0.0.1:9/v1", plugin).to_string(),
        );
        let output = env.run(&["serve", "--port", "0"]);
        assert!(!output.status.success(), "the server started with `{plugin}`");
        let message = stderr(&output);
        assert!(message.contains(expected), "{message}");
    }
}

/// The server's tool ids now.
async fn tool_ids(server: &crate::harness::Server) -> Vec<String> {
    let (_, ids) = server.get("/experimental/tool/ids").await;
    serde_json::from_value(ids).expect("a list of ids")
}

/// Waits (up to 10 s, a bound for loaded machines; it takes well under a second) until the
/// server's tools include `tool` or not.
async fn until_tool(server: &crate::harness::Server, tool: &str, present: bool) -> std::time::Duration {
    let start = std::time::Instant::now();
    while tool_ids(server).await.iter().any(|id| id == tool) != present {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "`{tool}` never {}",
            if present { "appeared" } else { "went away" }
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    start.elapsed()
}

#[tokio::test]
async fn plugins_installed_and_removed_while_the_server_runs_are_seen_without_a_restart() {
    let env = TestEnv::new();
    env.write(
        "opencode.json",
        &json!({"wasmcode": {"plugins": {"probe": {"grants": {"process": true}}}}}).to_string(),
    );
    let server = env.serve();
    let mut events = crate::harness::SseStream::open(&server, "/event", None).await;
    assert!(!tool_ids(&server).await.contains(&"process".to_string()));

    let install = env.run(&["plugin", "install", guests::FIXTURE_PROBE, "--name", "probe"]);
    assert!(install.status.success(), "{}", stderr(&install));
    let took = until_tool(&server, "process", true).await;
    eprintln!("the installed plugin was served after {took:?}");
    let updated = events
        .until(|e| e["type"] == "wasmcode.plugins.updated")
        .await
        .pop()
        .expect("the event");
    let tools = updated["properties"]["tools"].as_array().expect("tools");
    assert!(
        tools.contains(&json!("process")) && tools.contains(&json!("bash")),
        "{updated}"
    );

    // A call in flight when its plugin is removed finishes on the component it started with.
    let in_flight = {
        let http = server.http.clone();
        let url = server.url("/v1/tools/process/execute");
        tokio::spawn(async move {
            let response = http
                .post(url)
                .json(&json!({"command": "sleep 1; echo finished"}))
                .send()
                .await
                .expect("sent");
            let status = response.status().as_u16();
            (
                status,
                response.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let removed = env.run(&["plugin", "remove", "probe"]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    until_tool(&server, "process", false).await;
    let (status, body) = in_flight.await.expect("the call returns");
    assert_eq!(status, 200, "{body}");
    assert!(
        body["content"].as_str().is_some_and(|c| c.contains("finished")),
        "{body}"
    );
    let (status, _) = server
        .post("/v1/tools/process/execute", json!({"command": "true"}))
        .await;
    assert_eq!(status, 404);

    // A grant taken away in the configuration reaches the server too.
    let install = env.run(&["plugin", "install", guests::FIXTURE_PROBE, "--name", "probe"]);
    assert!(install.status.success(), "{}", stderr(&install));
    until_tool(&server, "process", true).await;
    env.write(
        "opencode.json",
        &json!({"wasmcode": {"plugins": {"probe": {"enabled": false}}}}).to_string(),
    );
    until_tool(&server, "process", false).await;
}

#[tokio::test]
async fn files_the_agent_writes_are_formatted_by_the_installed_formatter_of_their_extension() {
    let env = TestEnv::new();
    let install = env.run(&["plugin", "install", guests::FIXTURE_WRONG_WORLD, "--name", "trim"]);
    assert!(install.status.success(), "{}", stderr(&install));
    let llm = FakeLlm::start().await;
    llm.push(Reply::tool_call(
        "call_1",
        "write",
        json!({"filePath": "notes.txt", "content": "first  \nsecond\t\n"}),
    ));
    llm.push(Reply::text(["Written."]));
    let config = provider_config(&llm.url(), "openai");
    env.write("opencode.json", &config.to_string());
    let server = env.serve();
    let (_, formatters) = server.get("/formatter").await;
    let listed = formatters.as_array().expect("a list");
    assert!(
        listed.contains(&json!({"name": "trim", "extensions": [".txt", ".md"], "enabled": true})),
        "{formatters}"
    );
    // The first-party formatters come first: `.md` is the `markdown` formatter's, `.txt` trim's.
    assert!(listed.iter().any(|f| f["name"] == "markdown"), "{formatters}");

    // Through the agent's own `write` in a turn.
    let (_, session) = server.post("/session", json!({})).await;
    let id = session["id"].as_str().expect("a session id");
    let (status, answer) = server
        .post(
            &format!("/session/{id}/message"),
            json!({"parts": [{"type": "text", "text": "Write the notes."}]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        std::fs::read_to_string(env.project.join("notes.txt")).expect("written"),
        "first\nsecond\n"
    );
    let tool = server.last_tool_part(id).await;
    assert_eq!(tool["state"]["status"], "completed", "{tool}");
    assert_eq!(
        tool["state"]["metadata"]["format"][0]["result"], "changed",
        "{tool}"
    );

    // A file of another extension is left alone; a formatter that fails leaves the file as
    // written, and the call succeeds and says why.
    let write = |path: &str, content: &str| json!({"filePath": path, "content": content});
    for (path, content, result, reason) in [
        ("main.rs", "fn main() {}  \n", None, None),
        (
            "broken.txt",
            "not valid  \n",
            Some("failed"),
            Some("syntax error: line 1: not valid"),
        ),
        (
            "trap.txt",
            "panic, formatter  \n",
            Some("failed"),
            Some("the fixture formatter was told to panic"),
        ),
    ] {
        let (status, body) = server.post("/v1/tools/write/execute", write(path, content)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            std::fs::read_to_string(env.project.join(path)).expect("written"),
            content
        );
        let format = &body["metadata"]["format"][0];
        assert_eq!(format["result"].as_str(), result, "{body}");
        if let Some(reason) = reason {
            assert!(
                format["reason"].as_str().is_some_and(|r| r.contains(reason)),
                "{body}"
            );
        }
    }
    // The formatter still works after its crash.
    let (status, body) = server
        .post("/v1/tools/write/execute", write("again.txt", "x  \n"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        std::fs::read_to_string(env.project.join("again.txt")).expect("written"),
        "x\n"
    );

    // `"formatter": false` turns it off, in the running server.
    let mut off = config.clone();
    off["formatter"] = json!(false);
    env.write("opencode.json", &off.to_string());
    let start = std::time::Instant::now();
    while server
        .get("/formatter")
        .await
        .1
        .as_array()
        .expect("a list")
        .iter()
        .any(|f| f["enabled"] == true)
    {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "never turned off"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (status, body) = server
        .post("/v1/tools/write/execute", write("late.txt", "y  \n"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        std::fs::read_to_string(env.project.join("late.txt")).expect("written"),
        "y  \n"
    );
    assert!(body["metadata"].get("format").is_none(), "{body}");
}

#[tokio::test]
async fn the_first_party_formatters_format_what_the_write_tool_writes() {
    let env = TestEnv::new();
    let server = env.serve();
    for (path, written, formatted) in [
        (
            "data.json",
            "{\"a\":1,   \"b\":[1,2]}",
            "{ \"a\": 1, \"b\": [1, 2] }\n",
        ),
        (
            "README.md",
            "# Title\n* one\n* two\n",
            "# Title\n\n- one\n- two\n",
        ),
        (
            "Cargo.toml",
            "[package]\nname=\"x\"\n",
            "[package]\nname = \"x\"\n",
        ),
        ("ci.yaml", "a:    1\nlist:\n    -   x\n", "a: 1\nlist:\n  - x\n"),
        (
            "site.css",
            "a{color:red;margin:0}",
            "a {\n  color: red;\n  margin: 0;\n}\n",
        ),
        (
            "app.ts",
            "const x:number=1\nfunction f( a ){return a}",
            "const x: number = 1;\nfunction f(a) {\n  return a;\n}\n",
        ),
        (
            "index.html",
            "<div><p>a</p><p>b</p></div>\n<script>const x={a:1}</script>\n<style>p{margin:0}</style>\n",
            "<div>\n  <p>a</p>\n  <p>b</p>\n</div>\n<script>\nconst x = { a: 1 };\n</script>\n<style>\np {\n  margin: 0;\n}\n</style>\n",
        ),
    ] {
        let (status, body) = server
            .post(
                "/v1/tools/write/execute",
                json!({"filePath": path, "content": written}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            std::fs::read_to_string(env.project.join(path)).expect("written"),
            formatted,
            "{path}: {body}"
        );
        assert_eq!(body["metadata"]["format"][0]["result"], "changed", "{body}");
    }
    let (_, formatters) = server.get("/formatter").await;
    let names: Vec<&str> = formatters
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["css", "json", "markdown", "markup", "toml", "typescript", "yaml"],
        "{formatters}"
    );
}
