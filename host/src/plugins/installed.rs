//! Installed third-party plugins: one directory each under the data dir, holding the component
//! and a manifest with its SHA-256, checked again at every load.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::runtime::{PluginKind, sha256};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub name: String,
    /// Which world it targets; manifests written before there were other kinds are tools'.
    #[serde(default)]
    pub kind: PluginKind,
    pub sha256: String,
    /// Where it was installed from.
    pub source: PathBuf,
    /// A tool plugin's tools.
    #[serde(default)]
    pub tools: Vec<String>,
    /// A formatter plugin's extensions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<String>,
    pub imports: Vec<String>,
}

pub struct InstalledPlugin {
    pub manifest: Manifest,
    pub component: PathBuf,
}

pub struct PluginStore {
    dir: PathBuf,
}

impl PluginStore {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn plugin_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn exists(&self, name: &str) -> bool {
        self.plugin_dir(name).join("manifest.json").exists()
    }

    /// Every installed plugin whose manifest can be read, sorted by name; unreadable entries are
    /// returned as errors so the caller can report them without failing the rest.
    pub fn list(&self) -> Vec<Result<InstalledPlugin, String>> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        dirs.into_iter()
            .map(|dir| {
                let manifest_path = dir.join("manifest.json");
                let manifest: Manifest = std::fs::read(&manifest_path)
                    .map_err(|e| format!("{}: {e}", manifest_path.display()))
                    .and_then(|b| {
                        serde_json::from_slice(&b).map_err(|e| format!("{}: {e}", manifest_path.display()))
                    })?;
                Ok(InstalledPlugin {
                    manifest,
                    component: dir.join("plugin.wasm"),
                })
            })
            .collect()
    }

    /// Reads an installed component and checks it is the one that was installed.
    pub fn read_verified(&self, plugin: &InstalledPlugin) -> Result<(Vec<u8>, [u8; 32]), String> {
        let bytes =
            std::fs::read(&plugin.component).map_err(|e| format!("{}: {e}", plugin.component.display()))?;
        let hash = sha256(&bytes);
        if hex::encode(hash) != plugin.manifest.sha256 {
            return Err(format!(
                "{}: content does not match the SHA-256 recorded at install; reinstall it",
                plugin.component.display()
            ));
        }
        Ok((bytes, hash))
    }

    /// The installed plugin named `name`, if its manifest can be read.
    pub fn find(&self, name: &str) -> Option<InstalledPlugin> {
        self.list()
            .into_iter()
            .flatten()
            .find(|p| p.manifest.name == name)
    }

    pub fn install(&self, manifest: &Manifest, bytes: &[u8]) -> std::io::Result<()> {
        let dir = self.plugin_dir(&manifest.name);
        std::fs::create_dir_all(&dir)?;
        crate::atomic::write(&dir.join("plugin.wasm"), bytes, crate::atomic::Access::Private)?;
        let json = serde_json::to_vec_pretty(manifest).map_err(std::io::Error::other)?;
        crate::atomic::write(&dir.join("manifest.json"), &json, crate::atomic::Access::Private)
    }

    pub fn remove(&self, name: &str) -> std::io::Result<bool> {
        let dir = self.plugin_dir(name);
        if !dir.join("manifest.json").exists() {
            return Ok(false);
        }
        std::fs::remove_dir_all(dir)?;
        Ok(true)
    }
}

/// A plugin name from a file name: `wasmcode_example_wordcount.wasm` → `wasmcode-example-wordcount`.
pub fn name_from_path(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().to_lowercase().replace('_', "-"))
        .unwrap_or_default()
}

pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
}
