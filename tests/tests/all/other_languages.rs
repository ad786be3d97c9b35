//! Plugins written in Python and JavaScript, as their authors would build them: the examples in
//! `examples/` built with componentize-py (from PyPI, into a virtualenv beside the build) and
//! componentize-js (from npm, beside the build), installed with `wasmcode plugin install`, and
//! driven through the real server against the fake upstream.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde_json::{Value, json};
use wasmcode_tests::fake_llm::{FakeLlm, Reply};

use crate::harness::{Server, TestEnv, answer_texts, build_dir, install_once};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn wit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit")
}

/// A short content hash of these files, in order: a build's or an install's cache key.
fn fingerprint(files: &[PathBuf]) -> String {
    let mut all = Vec::new();
    for file in files {
        all.extend_from_slice(file.to_string_lossy().as_bytes());
        all.extend(std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display())));
    }
    hex::encode(&wasmcode::runtime::sha256(&all)[..8])
}

/// The contract as `wasmcode plugin wit` hands it to plugin authors: the examples are built
/// against it, as an author outside this repository would build them.
fn contract() -> PathBuf {
    static WRITTEN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    WRITTEN
        .get_or_init(|| {
            let dir = build_dir().join("plugin-wit");
            run(
                Command::new(env!("CARGO_BIN_EXE_wasmcode-e2e"))
                    .args(["plugin", "wit"])
                    .arg(&dir),
                "wasmcode plugin wit",
            );
            for file in wit_files() {
                let relative = file.strip_prefix(wit()).expect("inside wit/");
                let written = std::fs::read(dir.join(relative))
                    .unwrap_or_else(|e| panic!("plugin wit wrote no {}: {e}", relative.display()));
                assert_eq!(
                    written,
                    std::fs::read(&file).expect("wit file"),
                    "{}",
                    relative.display()
                );
            }
            dir
        })
        .clone()
}

fn wit_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["", "deps"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(wit().join(dir)).expect("wit/").flatten())
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "wit"))
        .collect();
    files.sort();
    files
}

fn run(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// componentize-py, pinned by the Python examples' `requirements.txt`, in a virtualenv made once
/// per version of that file.
fn componentize_py() -> PathBuf {
    let requirements = examples().join("provider-openai-py/requirements.txt");
    let venv = build_dir().join("componentize-py-venv");
    let key = std::fs::read(&requirements).expect("requirements.txt");
    install_once(&venv, &key, &["bin/componentize-py"], || {
        run(
            Command::new("python3").args(["-m", "venv", "--clear"]).arg(&venv),
            "python3 -m venv (the Python plugin tests need Python 3)",
        );
        run(
            Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
                .arg(&requirements),
            "pip install componentize-py",
        );
    });
    venv.join("bin/componentize-py")
}

/// componentize-js, pinned by the JavaScript example's `package.json`, installed with npm once per
/// version of that file.
fn componentize_js() -> PathBuf {
    let manifest = examples().join("provider-openai-js/package.json");
    let dir = build_dir().join("componentize-js");
    let key = std::fs::read(&manifest).expect("package.json");
    install_once(&dir, &key, &["node_modules/.bin/componentize-js"], || {
        std::fs::create_dir_all(&dir).expect("npm dir");
        std::fs::copy(&manifest, dir.join("package.json")).expect("package.json");
        run(
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--silent"])
                .current_dir(&dir),
            "npm install componentize-js (needs node and npm)",
        );
    });
    dir.join("node_modules/.bin/componentize-js")
}

/// An example's component, built unless a build of the same sources (and WIT) is already there.
fn built(example: &str, source: &str, build: impl FnOnce(&Path, &Path)) -> PathBuf {
    // One build at a time: they are CPU-bound, and two tests may want the same one.
    static BUILDING: Mutex<()> = Mutex::new(());
    let _building = BUILDING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // Written (and checked against `wit/`) even when the build is cached.
    let _ = contract();
    let dir = examples().join(example);
    let mut inputs = vec![dir.join(source)];
    inputs.extend(wit_files());
    let out_dir = build_dir().join("other-language-examples");
    let out = out_dir.join(format!("{example}-{}.wasm", fingerprint(&inputs)));
    if !out.exists() {
        std::fs::create_dir_all(&out_dir).expect("output dir");
        let partial = out.with_extension("wasm.partial");
        build(&dir, &partial);
        std::fs::rename(&partial, &out).expect("rename the build");
    }
    out
}

fn python_component(example: &str, world: &str) -> PathBuf {
    built(example, "app.py", |dir, out| {
        run(
            Command::new(componentize_py())
                .arg("-d")
                .arg(contract())
                .args(["-w", world, "componentize", "-p"])
                .arg(dir)
                .arg("app")
                .arg("-o")
                .arg(out),
            &format!("componentize-py {}", dir.display()),
        );
    })
}

fn javascript_component(example: &str, source: &str, world: &str) -> PathBuf {
    built(example, source, |dir, out| {
        run(
            Command::new(componentize_js())
                .arg(dir.join(source))
                .arg("--wit")
                .arg(contract())
                .args(["--world-name", world, "--disable", "fetch-event", "-o"])
                .arg(out),
            &format!("componentize-js {}", dir.display()),
        );
    })
}

fn provider_block(llm: &FakeLlm, plugin: &str) -> Value {
    json!({
        "provider": {"poly": {
            "name": "Polyglot", "plugin": plugin,
            "options": {"baseURL": llm.url(), "apiKey": "sk-poly"},
            "models": {"m": {"name": "M", "tool_call": true, "limit": {"context": 64000, "output": 4096}}}}},
        "model": "poly/m",
        "small_model": "poly/m",
        "permission": {"read": "allow"},
    })
}

/// A session turn and a `/v1/chat` turn, each with a tool call, through the installed provider
/// `plugin`; a 429 on the way is retried after the provider reported its `retry-after-ms`.
async fn a_provider_plugin_drives_tool_turns(component: &Path, plugin: &str) {
    let env = TestEnv::new();
    env.install_plugin(component, plugin, "provider");
    env.write("hello.txt", "hello from the project\n");
    let llm = FakeLlm::start().await;
    llm.push(Reply::status(429).retry_after_ms(50));
    llm.push(
        Reply::reasoning(["Look at ", "the file."])
            .then_tool_call("call_1", "read", json!({"filePath": "hello.txt"}))
            .usage(300, 20),
    );
    llm.push(Reply::text(["It says ", "hello."]).usage(340, 9));
    llm.push(Reply::tool_call(
        "call_2",
        "read",
        json!({"filePath": "hello.txt"}),
    ));
    llm.push(Reply::text(["Through /v1 too."]));
    env.write("opencode.json", &provider_block(&llm, plugin).to_string());
    let server = env.serve();

    let (_, models) = server.get("/v1/models").await;
    let model = &models["data"][0];
    assert_eq!(
        (&model["id"], &model["name"]),
        (&json!("poly/m"), &json!("M")),
        "{models}"
    );
    assert_eq!(model["context_length"], 64000, "{models}");

    let (_, session) = server.post("/session", json!({})).await;
    let id = session["id"].as_str().expect("a session id");
    let (status, answer) = server
        .post(
            &format!("/session/{id}/message"),
            json!({"parts": [{"type": "text", "text": "What does hello.txt say?"}]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["info"]["providerID"], "poly", "{answer}");
    assert_eq!(answer_texts(&answer), ["It says hello."], "{answer}");
    assert_eq!(answer["info"]["tokens"]["input"], 340, "{answer}");
    let tool = server.last_tool_part(id).await;
    assert_eq!(tool["state"]["status"], "completed", "{tool}");
    assert!(
        tool["state"]["output"]
            .as_str()
            .expect("output")
            .contains("hello from the project"),
        "{tool}"
    );
    let (_, messages) = server.get(&format!("/session/{id}/message")).await;
    let reasoning: Vec<&Value> = messages
        .as_array()
        .expect("messages")
        .iter()
        .flat_map(|m| m["parts"].as_array().expect("parts"))
        .filter(|p| p["type"] == "reasoning")
        .collect();
    assert_eq!(reasoning[0]["text"], "Look at the file.", "{messages}");

    // What the component sent: the key, the tools, and the tool's result on the next request.
    let requests = llm.turn_requests();
    assert_eq!(requests.len(), 3, "a retry, then the two steps of the turn");
    let first = &requests[1];
    assert_eq!(first.header("authorization"), Some("Bearer sk-poly"));
    assert_eq!(first.body["model"], "m");
    assert_eq!(first.body["stream"], true);
    assert!(
        first.body["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .any(|t| t["function"]["name"] == "read"),
        "{}",
        first.body
    );
    let followup = requests[2].body["messages"].as_array().expect("messages");
    let assistant = followup
        .iter()
        .find(|m| m["role"] == "assistant")
        .expect("the assistant's tool call");
    assert_eq!(assistant["tool_calls"][0]["id"], "call_1");
    assert_eq!(
        serde_json::from_str::<Value>(
            assistant["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .expect("arguments")
        )
        .expect("JSON arguments"),
        json!({"filePath": "hello.txt"})
    );
    let result = followup
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("the tool's result");
    assert_eq!(result["tool_call_id"], "call_1");
    assert!(
        result["content"]
            .as_str()
            .expect("content")
            .contains("hello from the project")
    );

    let (status, answer) = server
        .post(
            "/v1/chat",
            json!({"messages": [{"role": "user", "content": "Read hello.txt again."}]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["choices"][0]["message"]["content"], "Through /v1 too.",
        "{answer}"
    );
    assert_eq!(answer["model"], "poly/m");
    server.assert_healthy().await;
}

#[tokio::test]
async fn a_python_provider_answers_sessions_and_v1_chat_with_tool_turns() {
    let component = python_component("provider-openai-py", "provider-plugin");
    a_provider_plugin_drives_tool_turns(&component, "oai-py").await;
}

#[tokio::test]
async fn a_javascript_provider_answers_sessions_and_v1_chat_with_tool_turns() {
    let component = javascript_component("provider-openai-js", "provider.js", "provider-plugin");
    a_provider_plugin_drives_tool_turns(&component, "oai-js").await;
}

async fn write_in_a_turn(server: &Server, llm: &FakeLlm, path: &str, content: &str) -> Value {
    llm.push(Reply::tool_call(
        "call_w",
        "write",
        json!({"filePath": path, "content": content}),
    ));
    llm.push(Reply::text(["Written."]));
    let (_, session) = server.post("/session", json!({})).await;
    let id = session["id"].as_str().expect("a session id");
    let (status, answer) = server
        .post(
            &format!("/session/{id}/message"),
            json!({"parts": [{"type": "text", "text": format!("Write {path}.")}]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer_texts(&answer), ["Written."], "{answer}");
    server.last_tool_part(id).await
}

#[tokio::test]
async fn a_python_formatter_formats_what_the_agent_writes() {
    let component = python_component("formatter-ini-py", "formatter-plugin");
    let env = TestEnv::new();
    env.install_plugin(&component, "ini", "formatter");
    let llm = FakeLlm::start().await;
    env.write(
        "opencode.json",
        &json!({
            "provider": {"fake": {"npm": "@ai-sdk/openai-compatible",
                "options": {"baseURL": llm.url(), "apiKey": "k"}, "models": {"m": {}}}},
            "model": "fake/m",
            "small_model": "fake/m",
        })
        .to_string(),
    );
    let server = env.serve();
    let (_, formatters) = server.get("/formatter").await;
    assert!(
        formatters
            .as_array()
            .expect("a list")
            .contains(&json!({"name": "ini", "extensions": [".ini", ".cfg", ".conf"], "enabled": true})),
        "{formatters}"
    );

    let written = "; settings  \n[ server ]\nhost=127.0.0.1\nport:8080\n\n\n[paths]\nroot =   /srv  \n";
    let tool = write_in_a_turn(&server, &llm, "app.ini", written).await;
    assert_eq!(tool["state"]["status"], "completed", "{tool}");
    assert_eq!(
        tool["state"]["metadata"]["format"][0]["result"], "changed",
        "{tool}"
    );
    assert_eq!(
        std::fs::read_to_string(env.project.join("app.ini")).expect("written"),
        "; settings\n[server]\nhost = 127.0.0.1\nport : 8080\n\n[paths]\nroot = /srv\n"
    );

    // A syntax error leaves the file as the tool wrote it, and the call still succeeds.
    let broken = "[server]\nthis line has no value\n";
    let tool = write_in_a_turn(&server, &llm, "broken.cfg", broken).await;
    assert_eq!(tool["state"]["status"], "completed", "{tool}");
    let format = &tool["state"]["metadata"]["format"][0];
    assert_eq!(
        (&format["formatter"], &format["result"]),
        (&json!("ini"), &json!("failed")),
        "{tool}"
    );
    assert!(
        format["reason"]
            .as_str()
            .expect("a reason")
            .contains("broken.cfg:2"),
        "{tool}"
    );
    assert_eq!(
        std::fs::read_to_string(env.project.join("broken.cfg")).expect("written"),
        broken
    );
}
