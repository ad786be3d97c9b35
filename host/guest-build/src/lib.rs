//! Compiles a workspace of guest crates (plugins, test fixtures, examples) to `wasm32-wasip2`
//! components from a build script, the way wasmtime's `test-programs` and Spin's test components
//! do: one nested `cargo build` per workspace, artifacts shared by every host profile.
//!
//! It installs the `wasm32-wasip2` target with rustup when it is missing, so a fresh machine
//! with only the Rust toolchain can build the host.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const TARGET: &str = "wasm32-wasip2";

/// A built component: the cargo package's library name and the `.wasm` file.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The crate's library name (`wasmcode_tool_read`).
    pub name: String,
    pub path: PathBuf,
}

/// Builds every package of the guest workspace at `workspace` in release mode and returns its
/// components, sorted by name. Emits `cargo:rerun-if-changed` for `workspace` and `extra_inputs`
/// (the WIT and the guest SDK), so the nested build reruns only when guest sources change.
///
/// Panics with a readable message on failure: this is meant for build scripts, where a panic
/// is how an error is reported.
pub fn build_workspace(workspace: &Path, extra_inputs: &[&Path]) -> Vec<Artifact> {
    for input in std::iter::once(workspace).chain(extra_inputs.iter().copied()) {
        println!("cargo:rerun-if-changed={}", input.display());
    }
    ensure_target();

    let target_dir = guest_target_dir(workspace);
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .arg("--release")
        .arg("--target")
        .arg(TARGET)
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .arg("--workspace")
        .env("CARGO_TARGET_DIR", &target_dir);
    // Flags meant for the host build (coverage, sanitizers, target-cpu) must not leak into the
    // guest build. Neither may `cargo clippy`'s driver and lint flags when the host workspace is
    // linted: they would lint the guests with the host's rules (each guest workspace has its own
    // clippy run) and, being part of cargo's fingerprint, make the next plain build compile every
    // guest crate again.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CLIPPY_ARGS",
    ] {
        command.env_remove(var);
    }
    let status = command.status().unwrap_or_else(|e| {
        panic!(
            "cannot run cargo to build the guests in {}: {e}",
            workspace.display()
        )
    });
    assert!(
        status.success(),
        "building the guest components in {} failed (see above)",
        workspace.display()
    );

    let release = target_dir.join(TARGET).join("release");
    let mut artifacts: Vec<Artifact> = package_lib_names(workspace)
        .into_iter()
        .map(|name| {
            let path = release.join(format!("{name}.wasm"));
            assert!(path.exists(), "guest build produced no {}", path.display());
            Artifact { name, path }
        })
        .collect();
    artifacts.sort_by(|a, b| a.name.cmp(&b.name));
    artifacts
}

/// `<outer target dir>/wasm-guests/<workspace name>`: outside any watched directory, and shared
/// by debug and release builds of the host so the guests compile once. `.ci/run` computes the
/// same directory for each guest workspace's clippy run, to reuse this build's proc macros.
fn guest_target_dir(workspace: &Path) -> PathBuf {
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR is set for build scripts"));
    // OUT_DIR = <target>/<profile>/build/<pkg>-<hash>/out
    let target = out_dir
        .ancestors()
        .nth(4)
        .map(Path::to_path_buf)
        .unwrap_or(out_dir);
    let name = workspace
        .components()
        .rev()
        .take(2)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("-");
    target.join("wasm-guests").join(name)
}

/// The library names of the workspace's component packages (members whose `[lib]` is a
/// `cdylib`; plain libraries shared by them are skipped): each package name with `-` mapped to
/// `_`.
fn package_lib_names(workspace: &Path) -> Vec<String> {
    let manifest = read_manifest(&workspace.join("Cargo.toml"));
    let members = manifest
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .cloned()
        .unwrap_or_default();
    members
        .iter()
        .filter_map(|m| m.as_str())
        .filter_map(|member| {
            let path = workspace.join(member).join("Cargo.toml");
            let package = read_manifest(&path);
            let crate_types = package
                .get("lib")
                .and_then(|lib| lib.get("crate-type"))
                .and_then(|types| types.as_array())
                .cloned()
                .unwrap_or_default();
            if !crate_types.iter().any(|t| t.as_str() == Some("cdylib")) {
                return None;
            }
            let name = package
                .get("package")
                .and_then(|p| p.get("name"))
                .and_then(|n| n.as_str())
                .unwrap_or_else(|| panic!("{} has no [package] name", path.display()))
                .replace('-', "_");
            Some(name)
        })
        .collect()
}

fn read_manifest(path: &Path) -> toml::Table {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("{} is not valid TOML: {e}", path.display()))
}

/// Installs the wasm32-wasip2 standard library with rustup if this toolchain lacks it.
fn ensure_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = sysroot.is_some_and(|root| root.join("lib/rustlib").join(TARGET).exists());
    if installed {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target with rustup (first build only)");
    let status = Command::new("rustup").args(["target", "add", TARGET]).status();
    match status {
        Ok(s) if s.success() => {}
        _ => panic!(
            "the {TARGET} target is missing and `rustup target add {TARGET}` failed; install it and rebuild"
        ),
    }
}
