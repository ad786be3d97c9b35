//! The plugin contract as this server speaks it (`wit/`, with the WASI interfaces it imports),
//! built into the binary so `wasmcode plugin wit` can hand plugin authors exactly the contract
//! their components will be checked against, for any toolchain.

use std::path::{Path, PathBuf};

/// The package every plugin world lives in.
pub const PACKAGE: &str = "wasmcode:plugin@0.1.0";

/// Each file of the contract, by its path inside the WIT directory.
pub const FILES: &[(&str, &str)] = &[
    ("types.wit", include_str!("../../../wit/types.wit")),
    ("tool.wit", include_str!("../../../wit/tool.wit")),
    ("provider.wit", include_str!("../../../wit/provider.wit")),
    ("formatter.wit", include_str!("../../../wit/formatter.wit")),
    ("host.wit", include_str!("../../../wit/host.wit")),
    ("worlds.wit", include_str!("../../../wit/worlds.wit")),
    ("deps/cli.wit", include_str!("../../../wit/deps/cli.wit")),
    ("deps/clocks.wit", include_str!("../../../wit/deps/clocks.wit")),
    (
        "deps/filesystem.wit",
        include_str!("../../../wit/deps/filesystem.wit"),
    ),
    ("deps/http.wit", include_str!("../../../wit/deps/http.wit")),
    ("deps/io.wit", include_str!("../../../wit/deps/io.wit")),
    ("deps/random.wit", include_str!("../../../wit/deps/random.wit")),
    ("deps/sockets.wit", include_str!("../../../wit/deps/sockets.wit")),
];

/// Writes the contract into `dir` (made if missing), replacing earlier copies of its files; the
/// paths written.
pub fn write(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (relative, text) in FILES {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new file in `wit/` must be listed here, or `plugin wit` would hand out half a contract.
    #[test]
    fn every_file_of_the_contract_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
        let mut on_disk = Vec::new();
        for dir in ["", "deps"] {
            for entry in std::fs::read_dir(root.join(dir)).expect("wit/").flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "wit") {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    on_disk.push(if dir.is_empty() {
                        name
                    } else {
                        format!("{dir}/{name}")
                    });
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(p, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
        assert!(
            FILES
                .iter()
                .any(|(_, text)| text.contains(&format!("package {PACKAGE};")))
        );
    }
}
