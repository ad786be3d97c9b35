//! The on-disk compile cache: a component is compiled by Cranelift once, then loaded with a
//! near-free `deserialize` on every later start. Entries are keyed by the component's SHA-256
//! and by the engine's compatibility hash, since a `.cwasm` only loads into an identically
//! configured engine of the same wasmtime version.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

pub type ContentHash = [u8; 32];

pub fn sha256(bytes: &[u8]) -> ContentHash {
    Sha256::digest(bytes).into()
}

#[derive(Clone)]
pub struct CompileCache {
    /// `None` disables the cache (every load compiles).
    dir: Option<PathBuf>,
}

impl CompileCache {
    /// A cache under `root`, in a subdirectory specific to this engine's configuration.
    pub fn new(engine: &Engine, root: Option<&Path>) -> Self {
        let dir = root.map(|root| {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            engine.precompile_compatibility_hash().hash(&mut hasher);
            root.join(format!("wasmtime-48-{:016x}", hasher.finish()))
        });
        Self { dir }
    }

    fn entry(&self, hash: &ContentHash, extension: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|dir| dir.join(format!("{}.{extension}", hex::encode(hash))))
    }

    /// The compiled component of `hash` from the cache, when present and valid. An entry that
    /// fails to load is discarded (and then replaced by a fresh compile), never trusted.
    pub fn cached(&self, engine: &Engine, hash: &ContentHash) -> Option<Component> {
        let path = self.entry(hash, "cwasm").filter(|path| path.exists())?;
        match deserialize(engine, &path) {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), "discarding unusable compile cache entry: {e}");
                None
            }
        }
    }

    /// Compiles `bytes` and stores the result under `hash`.
    pub fn compile(&self, engine: &Engine, bytes: &[u8], hash: &ContentHash) -> wasmtime::Result<Component> {
        let component = Component::new(engine, bytes)?;
        if let Some(path) = self.entry(hash, "cwasm") {
            match component.serialize() {
                Ok(compiled) => {
                    if let Err(e) = crate::atomic::write(&path, &compiled, crate::atomic::Access::Private) {
                        tracing::warn!(path = %path.display(), "cannot write compile cache entry: {e}");
                    }
                }
                Err(e) => tracing::warn!("cannot serialize compiled component: {e}"),
            }
        }
        Ok(component)
    }

    /// Side data stored with a component (e.g. its `describe()` result), by content hash.
    pub fn read_side(&self, hash: &ContentHash, extension: &str) -> Option<Vec<u8>> {
        std::fs::read(self.entry(hash, extension)?).ok()
    }

    pub fn write_side(&self, hash: &ContentHash, extension: &str, data: &[u8]) {
        if let Some(path) = self.entry(hash, extension)
            && let Err(e) = crate::atomic::write(&path, data, crate::atomic::Access::Private)
        {
            tracing::warn!(path = %path.display(), "cannot write compile cache entry: {e}");
        }
    }
}

#[allow(
    unsafe_code,
    reason = "loading precompiled code is unsafe by nature; see the safety note"
)]
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file was written atomically from `Component::serialize` of this
    // same engine configuration (the directory name pins wasmtime's version and the engine's
    // compatibility hash), in a cache directory created with mode 0700 for this user only.
    // wasmtime still checks the header and refuses a mismatched or corrupt artifact.
    unsafe { Component::deserialize_file(engine, path) }
}
