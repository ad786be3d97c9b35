//! Property-based testing of the HTTP API against its own OpenAPI document with schemathesis
//! (from PyPI, pinned, installed into a virtualenv beside the build): no 5xx, and every response
//! matches the documented status codes, content types and schemas. Operations tagged
//! `unimplemented` (501 by design) and the never-ending streams are left out.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::TestEnv;

const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// A virtualenv with schemathesis, made once per build directory and pin.
fn schemathesis() -> PathBuf {
    let venv = crate::harness::build_dir().join("schemathesis-venv");
    crate::harness::install_once(&venv, SCHEMATHESIS.as_bytes(), &["bin/schemathesis"], || {
        let created = Command::new("python3").args(["-m", "venv"]).arg(&venv).status();
        assert!(
            created.is_ok_and(|s| s.success()),
            "python3 -m venv failed: the API fuzz test needs Python 3"
        );
        let pip = venv.join("bin").join("pip");
        let installed = Command::new(pip)
            .args(["install", "--quiet", "--disable-pip-version-check", SCHEMATHESIS])
            .status();
        assert!(
            installed.is_ok_and(|s| s.success()),
            "pip install {SCHEMATHESIS} failed"
        );
    });
    venv.join("bin").join("schemathesis")
}

#[tokio::test]
async fn the_api_matches_its_openapi_document() {
    let env = TestEnv::new();
    env.write("src/main.rs", "fn main() {}\n");
    let server = env.serve();
    let bin = schemathesis();
    let base = server.base.clone();
    // Schemathesis and Hypothesis keep state in the working directory: not in the repository.
    let scratch = tempfile::tempdir().expect("a scratch dir");
    let cwd = scratch.path().to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .current_dir(cwd)
            .args(["run", &format!("{base}/doc")])
            .args(["--checks", "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"])
            .args(["--exclude-tag", "unimplemented"])
            .args(["--exclude-path-regex", "^/(event|global/event|tui/control/next)$"])
            // They start the program the request names: a fuzzer must not run programs here.
            .args(["--exclude-operation-id", "pty.create", "--exclude-operation-id", "mcp.add"])
            .args(["--max-examples", "25", "--seed", "20261122", "--request-timeout", "20", "--no-color"])
            .output()
            .expect("schemathesis runs")
    })
    .await
    .expect("joined");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("passed"),
        "schemathesis ran no test case:\n{stdout}"
    );
}
