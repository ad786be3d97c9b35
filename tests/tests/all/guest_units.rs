//! The guest workspaces (first-party plugins, examples) have unit tests of their own, run
//! natively; this runs them as part of the one test command.

use std::path::Path;
use std::process::Command;

fn cargo_test(workspace: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = root.join(workspace).join("Cargo.toml");
    // Native builds of guest crates go to their own directory beside this build's target dir.
    let target = crate::harness::build_dir()
        .join("guest-native")
        .join(workspace.replace('/', "-"));
    let output = Command::new(env!("CARGO"))
        .args(["test", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "unit tests of {workspace} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("test result: ok"),
        "no test ran in {workspace}:\n{stdout}"
    );
}

#[test]
fn first_party_plugin_unit_tests_pass() {
    cargo_test("plugins");
}

#[test]
fn example_plugin_unit_tests_pass() {
    cargo_test("examples");
}
