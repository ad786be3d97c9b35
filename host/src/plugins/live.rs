//! An instance's tools as they are now: a [`ToolRegistry`] replaced whole when the plugins change
//! (an install, a removal, a trust, a grant). A call takes the registry of the moment and keeps it
//! (and the plugin it runs on) until it ends, so a swap never disturbs a call in flight; calls
//! that start after the swap see the new set.

use std::sync::{Arc, PoisonError, RwLock};

use super::ToolRegistry;

pub struct LiveTools {
    current: RwLock<Arc<ToolRegistry>>,
}

/// What makes two registries the same set of tools: each plugin's name, content, grants,
/// limits and tools, in order.
#[derive(Debug, PartialEq, Eq)]
pub struct Fingerprint(Vec<String>);

impl LiveTools {
    pub fn new(registry: ToolRegistry) -> Self {
        Self {
            current: RwLock::new(Arc::new(registry)),
        }
    }

    /// The registry now.
    pub fn current(&self) -> Arc<ToolRegistry> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts `registry` in place if it differs from the current one; whether it did.
    pub fn replace(&self, registry: ToolRegistry) -> bool {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if fingerprint(&current) == fingerprint(&registry) {
            return false;
        }
        *current = Arc::new(registry);
        true
    }
}

fn fingerprint(registry: &ToolRegistry) -> Fingerprint {
    Fingerprint(
        registry
            .plugins()
            .iter()
            .map(|loaded| {
                let plugin = &loaded.plugin;
                let tools: Vec<&str> = plugin.tools.iter().map(|t| t.id.as_str()).collect();
                format!(
                    "{} {} {:?} {:?} {}",
                    plugin.name,
                    loaded.sha256,
                    plugin.grants,
                    plugin.limits,
                    tools.join(",")
                )
            })
            .collect(),
    )
}

/// A value replaced whole when the plugins change (the formatters): readers take the one of the
/// moment and keep it.
pub struct Current<T> {
    value: RwLock<Arc<T>>,
}

impl<T> Current<T> {
    pub fn new(value: T) -> Self {
        Self {
            value: RwLock::new(Arc::new(value)),
        }
    }

    pub fn get(&self) -> Arc<T> {
        self.value.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn set(&self, value: T) {
        *self.value.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(value);
    }
}
