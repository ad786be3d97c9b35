//! One file watcher per project, shared by everything that keeps derived state of the tree (the
//! `/find/file` listing, the search index): it reports changes below the root to listeners, and
//! offers [`ProjectWatcher::sync`], a barrier after which every change made before the call has
//! been reported.
//!
//! The barrier relies on the watcher having one ordered queue (Linux inotify: one FIFO per
//! instance). Besides the project, the watcher watches a private marker directory outside it;
//! `sync` renames the marker file there and waits until the watcher thread reports the rename.
//! Events are handed to listeners in queue order, so by then every event queued before the
//! rename — every change whose system call returned before `sync` was called — has been handed
//! to the listeners. Elsewhere (FSEvents, kqueue) notify offers no such order; there `sync` is
//! best effort.
//!
//! This module reports; it must not interpret (which paths matter, what a change means is the
//! listener's business), and listeners must be quick and must never call back into the watcher
//! (they run on its only thread).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{EventKind, EventKindMask, RecursiveMode, Watcher};

/// One change below the project root, as a listener sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// Something at `rel` (relative to the root; empty for the root) was created, removed,
    /// renamed, written or had its metadata changed. `structural`: created or renamed, so it may
    /// be a directory that the watcher is not watching yet.
    Path { rel: &'a Path, structural: bool },
    /// Events were lost (the queue overflowed): anything may have changed.
    Rescan,
    /// The watcher cannot follow the tree any more (the watch limit was reached): changes from
    /// now on may go unreported.
    Broken,
}

type Listener = Box<dyn Fn(Change<'_>) + Send + Sync>;

/// What the watcher thread and the watcher's owner share.
struct Shared {
    root: PathBuf,
    /// The directory of the barrier's marker file.
    marker_dir: Option<PathBuf>,
    listeners: RwLock<Vec<Listener>>,
    /// The highest marker generation the watcher thread has reported.
    seen: Mutex<u64>,
    seen_changed: Condvar,
}

/// The barrier's marker: a file in a private directory, renamed to its next generation number.
struct Marker {
    dir: tempfile::TempDir,
    /// The generation in the file's current name; held while renaming.
    issued: Mutex<u64>,
    /// Whether a failed rename was logged (once is enough: every later one fails too).
    warned: AtomicBool,
}

/// A project's file watcher. Without one (no inotify instances left, an exotic filesystem)
/// [`ProjectWatcher::is_watching`] is false, nothing is ever reported and `sync` fails: callers
/// must then treat what they derived from the tree as possibly stale.
pub struct ProjectWatcher {
    shared: Arc<Shared>,
    /// Declared before `marker` so the watcher stops before the marker directory is removed.
    watcher: Option<Mutex<notify::RecommendedWatcher>>,
    marker: Option<Marker>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ProjectWatcher {
    /// Starts watching `root` (recursively, not following symlinks). Failures are logged and
    /// leave a watcher that reports nothing.
    pub fn start(root: &Path) -> Self {
        let marker = match Marker::create() {
            Ok(marker) => Some(marker),
            Err(e) => {
                tracing::warn!("no watcher barrier (marker directory: {e}): /find scans the tree");
                None
            }
        };
        let shared = Arc::new(Shared {
            root: root.to_path_buf(),
            marker_dir: marker.as_ref().map(|m| m.dir.path().to_path_buf()),
            listeners: RwLock::new(Vec::new()),
            seen: Mutex::new(0),
            seen_changed: Condvar::new(),
        });
        let handler = {
            let shared = shared.clone();
            move |event: notify::Result<notify::Event>| shared.handle(event)
        };
        // Opens and reads are not changes: without the mask every file anyone reads in the
        // project (a build, our own `/file/content`) wakes this thread.
        let config = notify::Config::default()
            .with_follow_symlinks(false)
            .with_event_kinds(EventKindMask::CORE | EventKindMask::ACCESS_CLOSE);
        let watcher = notify::RecommendedWatcher::new(handler, config).and_then(|mut watcher| {
            watcher.watch(root, RecursiveMode::Recursive)?;
            Ok(watcher)
        });
        let mut watcher = match watcher {
            Ok(watcher) => watcher,
            Err(e) => {
                tracing::warn!(root = %root.display(), "no file watcher ({e}): derived state is rebuilt per query");
                return Self {
                    shared,
                    watcher: None,
                    marker: None,
                };
            }
        };
        let marker =
            marker.and_then(
                |marker| match watcher.watch(marker.dir.path(), RecursiveMode::NonRecursive) {
                    Ok(()) => Some(marker),
                    Err(e) => {
                        tracing::warn!("no watcher barrier (watching the marker: {e}): /find scans the tree");
                        None
                    }
                },
            );
        Self {
            shared,
            watcher: Some(Mutex::new(watcher)),
            marker,
        }
    }

    /// Whether changes are being reported.
    pub fn is_watching(&self) -> bool {
        self.watcher.is_some()
    }

    /// Calls `listener` (on the watcher thread) for every change from now on.
    pub fn listen(&self, listener: impl Fn(Change<'_>) + Send + Sync + 'static) {
        self.shared
            .listeners
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(listener));
    }

    /// Waits until every change made before this call has been handed to the listeners; false
    /// when that cannot be known (no watcher or barrier, or `timeout` passed first).
    pub fn sync(&self, timeout: Duration) -> bool {
        let (Some(marker), Some(_)) = (&self.marker, &self.watcher) else {
            return false;
        };
        let target = {
            let mut issued = lock(&marker.issued);
            let next = *issued + 1;
            let from = marker.dir.path().join(issued.to_string());
            let to = marker.dir.path().join(next.to_string());
            if let Err(e) = std::fs::rename(from, to) {
                if !marker.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!("watcher barrier: renaming the marker failed ({e}): /find scans the tree");
                }
                return false;
            }
            *issued = next;
            next
        };
        let seen = lock(&self.shared.seen);
        let (seen, _) = self
            .shared
            .seen_changed
            .wait_timeout_while(seen, timeout, |seen| *seen < target)
            .unwrap_or_else(PoisonError::into_inner);
        *seen >= target
    }

    /// Makes sure the directory `rel` (and everything below it) is watched before the caller
    /// walks it. The watcher adds a watch for a new directory only after reporting its creation,
    /// so files created in it in between are never reported; a caller that calls this first and
    /// walks the directory after misses nothing. Never call it from a listener.
    pub fn watch_dir(&self, rel: &Path) {
        let Some(watcher) = &self.watcher else {
            return;
        };
        let path = self.shared.root.join(rel);
        if let Err(e) = lock(watcher).watch(&path, RecursiveMode::Recursive) {
            // Gone already (its removal is reported), or the watch limit (reported as Broken).
            tracing::debug!(path = %path.display(), "watching a new directory: {e}");
        }
    }
}

impl Marker {
    fn create() -> std::io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("wasmcode-watch-").tempdir()?;
        std::fs::write(dir.path().join("0"), b"")?;
        Ok(Self {
            dir,
            issued: Mutex::new(0),
            warned: AtomicBool::new(false),
        })
    }
}

impl Shared {
    fn handle(&self, event: notify::Result<notify::Event>) {
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                let broken = matches!(e.kind, notify::ErrorKind::MaxFilesWatch);
                tracing::warn!(root = %self.root.display(), "file watcher: {e}");
                self.emit(if broken { Change::Broken } else { Change::Rescan });
                return;
            }
        };
        if event.need_rescan() {
            self.emit(Change::Rescan);
        }
        let relevant = match event.kind {
            // A close after writing matters: writes through a memory map report nothing else.
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
            EventKind::Access(_) => false,
            _ => true,
        };
        let structural = matches!(
            event.kind,
            EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(_)) | EventKind::Any | EventKind::Other
        );
        for path in &event.paths {
            // The marker first: the marker directory may lie inside the project (a project at
            // the temp directory itself).
            if self
                .marker_dir
                .as_deref()
                .is_some_and(|dir| path.parent() == Some(dir))
            {
                self.observe_marker(path);
            } else if relevant && let Ok(rel) = path.strip_prefix(&self.root) {
                self.emit(Change::Path { rel, structural });
            }
        }
    }

    fn emit(&self, change: Change<'_>) {
        let listeners = self.listeners.read().unwrap_or_else(PoisonError::into_inner);
        for listener in listeners.iter() {
            listener(change);
        }
    }

    fn observe_marker(&self, path: &Path) {
        let generation = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.parse::<u64>().ok());
        if let Some(generation) = generation {
            let mut seen = lock(&self.seen);
            if generation > *seen {
                *seen = generation;
                self.seen_changed.notify_all();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn recorder(watcher: &ProjectWatcher) -> Arc<Mutex<Vec<PathBuf>>> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        watcher.listen(move |change| {
            if let Change::Path { rel, .. } = change {
                lock(&sink).push(rel.to_path_buf());
            }
        });
        seen
    }

    #[test]
    fn sync_returns_after_earlier_writes_were_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical");
        let watcher = ProjectWatcher::start(&root);
        assert!(watcher.is_watching());
        let seen = recorder(&watcher);
        for i in 0..20 {
            let name = format!("f{i}.txt");
            std::fs::write(root.join(&name), "x").expect("write");
            // No sleeping: the barrier alone must make the write visible.
            assert!(watcher.sync(Duration::from_secs(5)), "sync {i}");
            assert!(
                lock(&seen).contains(&PathBuf::from(&name)),
                "{name} not reported before sync returned"
            );
        }
    }

    #[test]
    fn marker_events_are_not_reported_as_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical");
        let watcher = ProjectWatcher::start(&root);
        let count = Arc::new(AtomicUsize::new(0));
        let counter = count.clone();
        watcher.listen(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        for _ in 0..5 {
            assert!(watcher.sync(Duration::from_secs(5)));
        }
        assert_eq!(count.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn files_in_a_new_directory_are_reported_once_it_is_watched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical");
        let watcher = ProjectWatcher::start(&root);
        let seen = recorder(&watcher);
        std::fs::create_dir(root.join("new")).expect("mkdir");
        watcher.watch_dir(Path::new("new"));
        std::fs::write(root.join("new/inside.txt"), "x").expect("write");
        assert!(watcher.sync(Duration::from_secs(5)));
        assert!(lock(&seen).contains(&PathBuf::from("new/inside.txt")));
    }
}
