//! The provider components, each loaded (compiled or read from the compile cache, pre-linked,
//! trial-instantiated) once per server on first use and shared by every call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;

use crate::plugins::first_party;
use crate::runtime::{ProviderPlugin, Runtime};

#[derive(Default)]
pub(super) struct Components {
    loaded: Mutex<HashMap<String, Arc<OnceCell<Arc<ProviderPlugin>>>>>,
}

impl Components {
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
            let embedded = first_party::provider(name)
                .ok_or_else(|| format!("no provider component named `{name}` is installed"))?;
            runtime
                .load_provider_plugin(name, embedded.bytes, &embedded.sha256, Default::default())
                .await
                .map(Arc::new)
                .map_err(|e| format!("provider component `{name}` failed to load: {e}"))
        })
        .await
        .cloned()
    }
}
