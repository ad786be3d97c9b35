//! The operator's trust list for project-local plugins: a plugin that came with a repository is
//! never loaded until the operator has trusted that exact component (by its SHA-256).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrustList {
    pub trusted: Vec<TrustEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustEntry {
    pub sha256: String,
    /// Where it was when trusted, for the operator's reference.
    pub path: PathBuf,
}

impl TrustList {
    pub fn load(file: &Path) -> std::io::Result<Self> {
        match std::fs::read(file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e),
        }
    }

    pub fn save(&self, file: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::atomic::write(file, &json, crate::atomic::Access::Private)
    }

    pub fn is_trusted(&self, sha256: &str) -> bool {
        self.trusted.iter().any(|t| t.sha256 == sha256)
    }

    pub fn trust(&mut self, sha256: String, path: PathBuf) {
        if !self.is_trusted(&sha256) {
            self.trusted.push(TrustEntry { sha256, path });
        }
    }
}
