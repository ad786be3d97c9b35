//! OpenCode's own clients against wasmcode: the pinned `@opencode-ai/sdk` from npm (v1 and v2
//! exports), installed beside the build, drives the real binary (`tests/clients/sdk-smoke.mjs`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{TestEnv, git};

fn clients_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// `tests/clients/` installed with npm into a directory beside the build, once per version of
/// its package.json.
fn installed_clients() -> PathBuf {
    let dir = crate::harness::build_dir().join("npm-clients");
    let manifest = std::fs::read(clients_source().join("package.json")).expect("tests/clients/package.json");
    let marker = dir.join(format!(
        ".installed-{}",
        hex::encode(&wasmcode::runtime::sha256(&manifest)[..8])
    ));
    if !marker.exists() {
        std::fs::create_dir_all(&dir).expect("npm dir");
        std::fs::write(dir.join("package.json"), &manifest).expect("package.json");
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "npm install of OpenCode's clients failed (needs node and npm)"
        );
        std::fs::write(&marker, "").expect("marker");
    }
    // The scripts run from the install so their imports resolve; they are copied every run.
    for script in ["sdk-smoke.mjs", "sdk-sessions.mjs"] {
        std::fs::copy(clients_source().join(script), dir.join(script)).expect("copy script");
    }
    dir
}

#[tokio::test]
async fn the_opencode_sdk_reads_our_responses() {
    let env = TestEnv::new();
    env.write("src/main.rs", "fn main() {}\n");
    git(&env.project, &["init", "-q"]);
    git(&env.project, &["add", "-A"]);
    git(&env.project, &["commit", "-qm", "init"]);
    let clients = tokio::task::spawn_blocking(installed_clients)
        .await
        .expect("joined");
    let server = env.serve();
    let (base, project) = (server.base.clone(), env.project.clone());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("sdk-smoke.mjs")
            .arg(base)
            .arg(project)
            .current_dir(clients)
            .output()
    })
    .await
    .expect("joined")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(" passed, 0 failed"),
        "the SDK smoke test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn the_opencode_sdk_drives_sessions() {
    use serde_json::json;
    use wasmcode_tests::fake_llm::{FakeLlm, Reply};

    let llm = FakeLlm::start().await;
    // In the order `sdk-sessions.mjs` prompts.
    llm.push(Reply::tool_call(
        "call_1",
        "read",
        json!({"filePath": "src/main.rs"}),
    ));
    llm.push(Reply::text(["The file", " has main."]));
    llm.push(Reply::text(["Hello", " from v2"]));
    llm.push(Reply::text(["async", " answer"]));
    llm.push(Reply::tool_call("call_2", "read", json!({"filePath": ".env"})));
    llm.push(Reply::text(["ok once"]));
    llm.push(Reply::tool_call("call_3", "read", json!({"filePath": ".env"})));
    let env = TestEnv::new();
    env.write("src/main.rs", "fn main() {}\n");
    env.write(".env", "SECRET=1\n");
    let config = json!({"provider": llm.opencode_provider("fake", "fake-model"), "model": "fake/fake-model"});
    env.write("opencode.json", &config.to_string());
    let clients = tokio::task::spawn_blocking(installed_clients)
        .await
        .expect("joined");
    let server = env.serve();
    let (base, project) = (server.base.clone(), env.project.clone());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("sdk-sessions.mjs")
            .arg(base)
            .arg(project)
            .current_dir(clients)
            .output()
    })
    .await
    .expect("joined")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success() && stdout.contains(" passed, 0 failed"),
        "the SDK session flows failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(llm.pending_replies(), 0, "every scripted answer was used");
}
