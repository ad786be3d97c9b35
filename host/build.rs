//! Builds the first-party plugins in `plugins/` for wasm32-wasip2 and embeds them: the binary
//! carries its tools, LLM providers and formatters, so `wasmcode serve` works with nothing installed. Their SHA-256 is computed
//! here so start-up does not hash megabytes of Wasm to find the compile cache entries.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir.parent().expect("host/ lives in the workspace root");
    let artifacts = wasmcode_guest_build::build_workspace(
        &root.join("plugins"),
        &[&root.join("wit"), &root.join("sdk-guest")],
    );

    // Crates are named `wasmcode-tool-<name>`, `wasmcode-provider-<name>` or
    // `wasmcode-formatter-<name>`; each kind gets its own list, so tool loading never sees another.
    let mut tools = String::new();
    let mut providers = String::new();
    let mut formatters = String::new();
    for artifact in &artifacts {
        let (list, name) = if let Some(name) = artifact.name.strip_prefix("wasmcode_provider_") {
            (&mut providers, name)
        } else if let Some(name) = artifact.name.strip_prefix("wasmcode_formatter_") {
            (&mut formatters, name)
        } else {
            (
                &mut tools,
                artifact
                    .name
                    .strip_prefix("wasmcode_tool_")
                    .unwrap_or(&artifact.name),
            )
        };
        let bytes = std::fs::read(&artifact.path).expect("the guest build just wrote it");
        let hash = Sha256::digest(&bytes);
        writeln!(
            list,
            "    Embedded {{ name: {name:?}, bytes: include_bytes!({path:?}), sha256: {hash:?} }},",
            path = artifact.path.display(),
            hash = hash.as_slice(),
        )
        .expect("writing to a String");
    }
    let generated = format!(
        "/// The first-party tool plugins, built from `plugins/`.\n\
         pub static FIRST_PARTY_TOOLS: &[Embedded] = &[\n{tools}];\n\
         /// The first-party provider plugins, built from `plugins/provider-*`.\n\
         pub static FIRST_PARTY_PROVIDERS: &[Embedded] = &[\n{providers}];\n\
         /// The first-party formatter plugins, built from `plugins/formatter-*`.\n\
         pub static FIRST_PARTY_FORMATTERS: &[Embedded] = &[\n{formatters}];\n"
    );
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    write_if_changed(&out.join("first_party.rs"), &generated);
}

fn write_if_changed(path: &Path, content: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(content) {
        std::fs::write(path, content).expect("OUT_DIR is writable");
    }
}
