//! The provider components, first-party (embedded) or installed, each loaded (compiled or read
//! from the compile cache, pre-linked, trial-instantiated) once per server on first use and shared
//! by every call.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;

use crate::plugins::first_party;
use crate::plugins::installed::PluginStore;
use crate::runtime::{PluginKind, ProviderPlugin, Runtime};

pub(super) struct Components {
    /// Where installed plugins live.
    installed: PluginStore,
    loaded: Mutex<HashMap<String, Arc<OnceCell<Arc<ProviderPlugin>>>>>,
}

impl Components {
    pub(super) fn new(plugins_dir: PathBuf) -> Self {
        Self {
            installed: PluginStore::new(plugins_dir),
            loaded: Mutex::default(),
        }
    }

    /// The component named `name`, loading it if this is its first use. Concurrent first uses
    /// load it once.
    pub(super) async fn get(&self, runtime: &Runtime, name: &str) -> Result<Arc<ProviderPlugin>, String> {
        let cell = self
            .loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name.to_string())
            .or_default()
            .clone();
        cell.get_or_try_init(|| async {
            let (bytes, hash) = match first_party::provider(name) {
                Some(embedded) => (Cow::Borrowed(embedded.bytes), embedded.sha256),
                None => {
                    let (bytes, hash) = self.read_installed(name)?;
                    (Cow::Owned(bytes), hash)
                }
            };
            runtime
                .load_provider_plugin(name, &bytes, &hash, Default::default())
                .await
                .map(Arc::new)
                .map_err(|e| format!("provider component `{name}` failed to load: {e}"))
        })
        .await
        .cloned()
    }

    /// An installed provider component, checked against the hash recorded at install.
    fn read_installed(&self, name: &str) -> Result<(Vec<u8>, [u8; 32]), String> {
        let plugin = self
            .installed
            .find(name)
            .filter(|p| p.manifest.kind == PluginKind::Provider)
            .ok_or_else(|| format!("no provider component named `{name}` is installed"))?;
        self.installed.read_verified(&plugin)
    }
}
