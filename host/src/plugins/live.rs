//! An instance's tools as they are now: a [`ToolRegistry`] replaced whole when the plugins change
//! (an install, a removal, a trust, a grant). A call takes the registry of the moment and keeps it
//! (and the plugin it runs on) until it ends, so a swap never disturbs a call in flight; calls
//! that start after the swap see the new set.
//!
//! An instance starts before its plugins are loaded (on a first run, compiling them takes
//! seconds): until the first set is in place, readers wait for it, and only they do.

use std::sync::Arc;

use tokio::sync::watch;

use super::ToolRegistry;

pub struct LiveTools {
    current: Current<ToolRegistry>,
}

/// What makes two registries the same set of tools: each plugin's name, content, grants,
/// limits and tools, in order.
#[derive(Debug, PartialEq, Eq)]
pub struct Fingerprint(Vec<String>);

impl LiveTools {
    /// Tools still loading: readers wait until [`LiveTools::replace`] puts the first set in place.
    pub fn loading() -> Self {
        Self {
            current: Current::loading(),
        }
    }

    /// The registry now, once there is one.
    pub async fn current(&self) -> Arc<ToolRegistry> {
        self.current.get().await
    }

    /// Puts `registry` in place if it differs from the current one (or there was none yet);
    /// whether it did.
    pub fn replace(&self, registry: ToolRegistry) -> bool {
        let mut replaced = false;
        self.current.value.send_if_modified(|current| {
            if current
                .as_ref()
                .is_some_and(|current| fingerprint(current) == fingerprint(&registry))
            {
                return false;
            }
            *current = Some(Arc::new(registry));
            replaced = true;
            true
        });
        replaced
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
/// moment and keep it; while there is none yet (still loading), they wait for it.
pub struct Current<T> {
    value: watch::Sender<Option<Arc<T>>>,
}

impl<T> Current<T> {
    /// None yet: [`Current::get`] waits for the first [`Current::set`].
    pub fn loading() -> Self {
        Self {
            value: watch::Sender::new(None),
        }
    }

    pub async fn get(&self) -> Arc<T> {
        if let Some(value) = self.value.borrow().as_ref() {
            return value.clone();
        }
        let mut updates = self.value.subscribe();
        loop {
            if let Some(value) = updates.borrow_and_update().as_ref() {
                return value.clone();
            }
            // Never fails: the sender lives in `self`, which this wait borrows.
            let _ = updates.changed().await;
        }
    }

    pub fn set(&self, value: T) {
        self.value.send_replace(Some(Arc::new(value)));
    }
}
