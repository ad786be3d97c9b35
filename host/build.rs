//! Builds the first-party plugins in `plugins/` for wasm32-wasip2 and embeds them: the binary
//! carries its tools, so `wasmcode serve` works with nothing installed. Their SHA-256 is computed
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

    let mut generated = String::from("/// The first-party tool plugins, built from `plugins/`.\n");
    generated.push_str("pub static FIRST_PARTY: &[Embedded] = &[\n");
    for artifact in &artifacts {
        let bytes = std::fs::read(&artifact.path).expect("the guest build just wrote it");
        let name = artifact
            .name
            .strip_prefix("wasmcode_tool_")
            .unwrap_or(&artifact.name);
        let hash = Sha256::digest(&bytes);
        writeln!(
            generated,
            "    Embedded {{ name: {name:?}, bytes: include_bytes!({path:?}), sha256: {hash:?} }},",
            path = artifact.path.display(),
            hash = hash.as_slice(),
        )
        .expect("writing to a String");
    }
    generated.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    write_if_changed(&out.join("first_party.rs"), &generated);
}

fn write_if_changed(path: &Path, content: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(content) {
        std::fs::write(path, content).expect("OUT_DIR is writable");
    }
}
