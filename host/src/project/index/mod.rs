//! The search index behind `/find`: a trigram index of the project's text, so that a search reads
//! only the files that can match instead of the whole tree.
//!
//! * [`plan`]: regex → the trigrams a matching file must contain (an AND/OR [`plan::Query`]);
//! * [`inverted`]: trigram → files (compact [`postings`]), file → path;
//! * [`build`]: filling it from the tree (a parallel walk), and refreshing changed paths;
//! * [`changes`]: what the file watcher reported since the index last caught up.
//!
//! Lifecycle. The index is built on the first `/find` of an instance, in a background thread
//! (instances are made for every directory a client names, most never search, and the index
//! costs memory); until it is ready, and whenever it cannot be used, `/find` scans the tree in
//! parallel as before. It is kept current by the project's watcher: a search first waits on the
//! watcher's barrier, then applies every change reported so far (re-reading the files named,
//! walking the directories named), then answers. A lost event (queue overflow) or a flood of
//! changes starts a rebuild; a watcher that stops following the tree turns the index off.
//!
//! Guarantee. A search sees every change whose system call returned before the request began
//! (on Linux, where the watcher's queue is ordered: see [`crate::project::watch`]): the barrier
//! makes sure those changes were reported, and they are applied before the index is consulted.
//! The index only narrows the set of files; the regular search runs on the candidates, so
//! results are exactly those of a scan. Not covered: ignore files outside the project (the
//! global git excludes, `.gitignore`s above the root), which are read when the index is built,
//! and platforms without an ordered watcher queue, where the barrier is best effort.
//!
//! This module must not know about HTTP, and reads files only through the root's capability
//! directory.

pub mod build;
pub mod changes;
pub mod inverted;
pub mod plan;
pub mod postings;
pub mod trigram;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use self::build::Indexer;
use self::changes::Pending;
use self::inverted::{IndexStats, InvertedIndex};
use self::plan::Query;
use super::ProjectRoot;
use super::find::{self, DEFAULT_TEXT_LIMIT, FindError, Match};
use super::watch::ProjectWatcher;

/// How long a search waits for the watcher to report earlier changes before it scans instead.
const SYNC_TIMEOUT: Duration = Duration::from_millis(500);

/// One project's search index.
pub struct SearchIndex {
    root: Arc<ProjectRoot>,
    watcher: Arc<ProjectWatcher>,
    /// Changes reported since the index last caught up (filled by the watcher thread).
    pending: Arc<Mutex<Pending>>,
    state: Arc<RwLock<State>>,
}

enum State {
    /// Not built yet: the next search starts the build.
    Cold,
    /// A build runs in the background; searches scan.
    Building,
    Ready(Box<Ready>),
    /// No index (no watcher, the project is too large, the watcher broke): searches scan.
    Off,
}

struct Ready {
    index: InvertedIndex,
    /// Reused by every refresh (it holds a 2 MiB bitmap).
    indexer: Indexer,
}

/// Where a search's answer came from (for tests and diagnostics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The candidates the index gave.
    Index,
    /// A scan of the whole tree.
    Scan,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl SearchIndex {
    /// An index of `root`, not built yet, fed by `watcher` from now on.
    pub fn new(root: Arc<ProjectRoot>, watcher: Arc<ProjectWatcher>) -> Self {
        let pending = Arc::new(Mutex::new(Pending::default()));
        let sink = pending.clone();
        watcher.listen(move |change| lock(&sink).record(change));
        let state = if watcher.is_watching() {
            State::Cold
        } else {
            State::Off
        };
        Self {
            root,
            watcher,
            pending,
            state: Arc::new(RwLock::new(state)),
        }
    }

    /// `/find`: the first `limit` (default [`DEFAULT_TEXT_LIMIT`]) matches of `pattern`, exactly
    /// as [`find::text`] returns them.
    pub fn text(&self, pattern: &str, limit: Option<usize>) -> Result<Vec<Match>, FindError> {
        self.text_from(pattern, limit).map(|(matches, _)| matches)
    }

    /// [`Self::text`], saying where the answer came from.
    pub fn text_from(&self, pattern: &str, limit: Option<usize>) -> Result<(Vec<Match>, Source), FindError> {
        let matcher = find::matcher(pattern)?;
        let limit = limit.unwrap_or(DEFAULT_TEXT_LIMIT);
        if limit == 0 {
            return Ok((Vec::new(), Source::Index));
        }
        let candidates = plan::plan(pattern).and_then(|query| self.candidates(&query));
        Ok(match candidates {
            Some(paths) => (
                find::search_files(&self.root, &matcher, &paths, limit),
                Source::Index,
            ),
            None => (find::scan(&self.root, &matcher, limit), Source::Scan),
        })
    }

    /// Starts building the index in the background, if nothing has yet.
    pub fn start(&self) {
        if !matches!(*read(&self.state), State::Cold) {
            return;
        }
        let mut state = write(&self.state);
        if matches!(*state, State::Cold) {
            self.rebuild(&mut state);
        }
    }

    /// The index's sizes, once it is ready.
    pub fn stats(&self) -> Option<IndexStats> {
        match &*read(&self.state) {
            State::Ready(ready) => Some(ready.index.stats()),
            _ => None,
        }
    }

    /// The files that may match `query`, sorted by path; `None` when the index cannot answer
    /// (not ready, or the watcher could not confirm it is current).
    fn candidates(&self, query: &Query) -> Option<Vec<Arc<Path>>> {
        let ready = matches!(*read(&self.state), State::Ready(_));
        if !ready {
            // Starts the first build; nothing while one runs or when there is no index.
            self.start();
            return None;
        }
        if !self.watcher.sync(SYNC_TIMEOUT) {
            tracing::debug!(root = %self.root.path().display(), "the watcher did not confirm: scanning");
            return None;
        }
        self.catch_up();
        match &*read(&self.state) {
            State::Ready(ready) => Some(ready.index.candidates(query)),
            _ => None,
        }
    }

    /// Applies the changes reported so far. They are taken under the index's write lock, so a
    /// search that finds nothing pending and then reads the index waits for a refresh that took
    /// them to finish.
    fn catch_up(&self) {
        if lock(&self.pending).is_empty() {
            return;
        }
        let mut state = write(&self.state);
        let State::Ready(ready) = &mut *state else {
            // A build in progress: what it missed stays pending for when it is done.
            return;
        };
        let changes = lock(&self.pending).take();
        if changes.broken {
            tracing::warn!(root = %self.root.path().display(), "the file watcher broke: /find scans from now on");
            *state = State::Off;
        } else if changes.rescan {
            tracing::info!(root = %self.root.path().display(), "changes were lost: rebuilding the search index");
            self.rebuild(&mut state);
        } else {
            let started = Instant::now();
            let paths = changes.paths.len();
            build::refresh(
                &mut ready.index,
                &mut ready.indexer,
                &self.root,
                &self.watcher,
                changes,
            );
            tracing::debug!(
                paths,
                elapsed_us = started.elapsed().as_micros() as u64,
                "search index refreshed"
            );
            if ready.index.live_postings() > build::MAX_POSTINGS {
                tracing::warn!(root = %self.root.path().display(), "the project outgrew the search index: /find scans from now on");
                *state = State::Off;
            }
        }
    }

    /// Starts a build in the background (the caller holds the write lock). What is pending is
    /// dropped: the build's walk starts after this and sees all of it. A broken watcher is not a
    /// pending change but a lasting condition: then there is no index.
    fn rebuild(&self, state: &mut State) {
        if lock(&self.pending).take().broken {
            tracing::warn!(root = %self.root.path().display(), "the file watcher broke: /find scans from now on");
            *state = State::Off;
            return;
        }
        *state = State::Building;
        let root = self.root.clone();
        let shared = self.state.clone();
        let spawned = std::thread::Builder::new()
            .name("wasmcode-index".into())
            .spawn(move || {
                let started = Instant::now();
                let built = build::build(&root);
                let mut state = write(&shared);
                if !matches!(*state, State::Building) {
                    return;
                }
                *state = match built {
                    Ok(index) => {
                        let stats = index.stats();
                        tracing::info!(
                            root = %root.path().display(),
                            files = stats.files,
                            always_scanned = stats.always_scan,
                            trigrams = stats.trigrams,
                            postings = stats.postings,
                            heap_kib = stats.heap_bytes / 1024,
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "search index built"
                        );
                        State::Ready(Box::new(Ready {
                            index,
                            indexer: Indexer::default(),
                        }))
                    }
                    Err(e) => {
                        tracing::warn!(root = %root.path().display(), "no search index: {e}; /find scans");
                        State::Off
                    }
                };
            });
        if let Err(e) = spawned {
            tracing::warn!("no search index (thread: {e}); /find scans");
            *state = State::Off;
        }
    }

    /// Waits (polling) until the index is ready; false on timeout or when it never will be.
    #[cfg(test)]
    fn wait_ready(&self, timeout: Duration) -> bool {
        self.start();
        let deadline = Instant::now() + timeout;
        loop {
            match &*read(&self.state) {
                State::Ready(_) => return true,
                State::Off => return false,
                State::Cold | State::Building => {}
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[cfg(test)]
mod tests;
