//! The project's tree listing, kept between `/find/file` queries: walked once, then walked again
//! only after the project's file watcher reports a change. Without a watcher (inotify limits, an
//! exotic filesystem) every query walks, which is slower but never stale.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::ProjectRoot;
use super::find;
use super::fuzzy::Listing;
use super::watch::ProjectWatcher;

pub struct TreeCache {
    root: Arc<ProjectRoot>,
    listing: Mutex<Option<Arc<Listing>>>,
    /// Set by the watcher on any change; cleared when a walk starts.
    stale: Arc<AtomicBool>,
    /// Keeps `stale` maintained; if it is not watching, nothing is cached.
    watcher: Arc<ProjectWatcher>,
}

impl TreeCache {
    pub fn new(root: Arc<ProjectRoot>, watcher: Arc<ProjectWatcher>) -> Self {
        let stale = Arc::new(AtomicBool::new(true));
        let flag = stale.clone();
        watcher.listen(move |_| flag.store(true, Ordering::Release));
        Self {
            root,
            listing: Mutex::new(None),
            stale,
            watcher,
        }
    }

    /// The current listing: the cached one, or a fresh walk when something changed since.
    pub fn listing(&self) -> Arc<Listing> {
        if !self.watcher.is_watching() {
            return Arc::new(Listing::new(find::listing(&self.root)));
        }
        let mut cached = self
            .listing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Cleared before walking: a change during the walk marks it stale again.
        if self.stale.swap(false, Ordering::AcqRel) || cached.is_none() {
            *cached = Some(Arc::new(Listing::new(find::listing(&self.root))));
        }
        cached.clone().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_is_listed_after_the_watcher_sees_it() {
        let (dir, root) = crate::project::testing::project(&[("a.txt", "a")]);
        let watcher = Arc::new(ProjectWatcher::start(root.path()));
        let cache = TreeCache::new(Arc::new(root), watcher);
        assert_eq!(cache.listing().paths().collect::<Vec<_>>(), ["a.txt"]);
        std::fs::write(dir.path().join("b.txt"), "b").expect("write");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !cache.listing().paths().any(|path| path == "b.txt") {
            assert!(
                std::time::Instant::now() < deadline,
                "the new file never appeared"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // Once the events of that write have all arrived, an unchanged tree is served from the
        // cache: the same allocation comes back.
        std::thread::sleep(std::time::Duration::from_millis(300));
        cache.listing();
        let first = cache.listing();
        assert!(Arc::ptr_eq(&first, &cache.listing()));
    }
}
