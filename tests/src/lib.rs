//! Integration tests of wasmcode: their harness, and the WebAssembly components they load.
//!
//! The build script compiles the test fixtures in `tests/guests/` (`fixture-probe`,
//! `fixture-trap-on-init`, `fixture-wrong-world`, `fixture-provider-probe`) and the example
//! plugins in `examples/` to `wasm32-wasip2` components; [`guests`] holds the absolute path of each `.wasm` file. The tests
//! themselves are in `tests/all/`, one binary with one module per area. [`fake_llm`] is a
//! scripted LLM upstream (OpenAI and Anthropic streaming) for provider and session tests.

pub mod fake_llm;

/// The sandbox of a project with `settings`, as a server on this machine makes it: the process's
/// home and `PATH`, outside git.
pub fn sandbox(
    project: &std::path::Path,
    settings: wasmcode::sandbox::SandboxSettings,
) -> wasmcode::sandbox::Sandbox {
    use std::path::{Path, PathBuf};
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from);
    let search_path: Vec<PathBuf> =
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect();
    wasmcode::sandbox::Sandbox::new(
        settings,
        wasmcode::sandbox::Support::current(),
        project,
        Path::new("/"),
        &home,
        &search_path,
    )
    .expect("the sandbox is prepared")
}

/// Paths of the built guest components: `FIXTURE_PROBE`, `FIXTURE_TRAP_ON_INIT`,
/// `FIXTURE_WRONG_WORLD`, `FIXTURE_PROVIDER_PROBE`, and one constant per example (`WORDCOUNT`, ...).
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}
