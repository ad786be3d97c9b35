//! `wasmcode plugin ...`: a third-party tool built with the SDK installs and is served; broken
//! components are refused with a message that says what is wrong; project plugins wait for trust.

use crate::harness::TestEnv;
use serde_json::json;
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
        stdout(&install).contains("installed plugin `wasmcode-example-wordcount`"),
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
fn a_component_of_the_wrong_world_is_refused() {
    let env = TestEnv::new();
    let output = env.run(&["plugin", "install", guests::FIXTURE_WRONG_WORLD]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("not a tool plugin"), "{message}");
    assert!(
        message.contains("wasmcode:plugin/formatter@0.1.0"),
        "names what it does export: {message}"
    );
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
