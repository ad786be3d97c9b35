//! Filling the index from the tree: [`build`] walks everything (in parallel, with the walker
//! `/find` scans with, so both see the same files), [`refresh`] looks again at the paths the
//! watcher reported.

use std::collections::HashSet;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use ignore::{DirEntry, ParallelVisitor, ParallelVisitorBuilder, WalkState};

use super::changes::Pending;
use super::inverted::{Entry, InvertedIndex};
use super::trigram::TrigramCollector;
use crate::project::ProjectRoot;
use crate::project::find::{walker, walker_where};
use crate::project::sandbox::cap_path;
use crate::project::watch::ProjectWatcher;

/// Files larger than this are not indexed but searched by every query (reading them is what a
/// search would do anyway; indexing them would cost a buffer as large).
pub const MAX_INDEXED_FILE_BYTES: u64 = 16 << 20;

/// A build that reaches this many postings gives up: the project is too large to index in
/// memory (about a byte per posting, and roughly a posting per 10 bytes of source).
pub const MAX_POSTINGS: usize = 100_000_000;

/// Below this many files to read, [`refresh`] reads them on the calling thread.
const PARALLEL_READ_MIN_FILES: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("the project is too large to index (over {MAX_POSTINGS} postings)")]
    TooLarge,
}

/// Reads files into [`Entry`]s; one per thread, reusing its buffer and trigram bitmap.
pub struct Indexer {
    collector: TrigramCollector,
    buffer: Vec<u8>,
    /// Larger files are always scanned.
    max_file_bytes: u64,
}

impl Default for Indexer {
    fn default() -> Self {
        Self {
            collector: TrigramCollector::default(),
            buffer: Vec::new(),
            max_file_bytes: MAX_INDEXED_FILE_BYTES,
        }
    }
}

impl Indexer {
    /// What the index keeps of the file at `rel`; `None` if it is gone or not a regular file.
    pub fn read(&mut self, root: &ProjectRoot, rel: &Path) -> Option<Entry> {
        let mut file = match root.dir().open(cap_path(rel)) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            // Unreadable now; searched (and skipped, if still unreadable) by every query.
            Err(_) => return Some(Entry::AlwaysScan),
        };
        match file.metadata() {
            Ok(meta) if !meta.is_file() => return None,
            Ok(meta) if meta.len() > self.max_file_bytes => return Some(Entry::AlwaysScan),
            Ok(_) => {}
            Err(_) => return Some(Entry::AlwaysScan),
        }
        self.buffer.clear();
        let read = (&mut file)
            .take(self.max_file_bytes + 1)
            .read_to_end(&mut self.buffer);
        if read.is_err() || self.buffer.len() as u64 > self.max_file_bytes {
            return Some(Entry::AlwaysScan);
        }
        // The searcher transcodes UTF-16 (by its byte order mark) before matching.
        if self.buffer.starts_with(&[0xff, 0xfe]) || self.buffer.starts_with(&[0xfe, 0xff]) {
            return Some(Entry::AlwaysScan);
        }
        // The searcher stops at the first NUL (a binary file): nothing after it can match.
        let text = match self.buffer.iter().position(|&b| b == 0) {
            Some(nul) => &self.buffer[..nul],
            None => &self.buffer[..],
        };
        let trigrams = self.collector.collect(text).to_vec();
        if self.buffer.capacity() > 1 << 20 {
            // Don't keep a large file's buffer for the next small one.
            self.buffer = Vec::new();
        }
        Some(Entry::Trigrams(trigrams))
    }
}

/// Indexes every file the search walk visits, on every core.
pub fn build(root: &ProjectRoot) -> Result<InvertedIndex, BuildError> {
    let shared = BuildShared {
        parts: Mutex::new(Vec::new()),
        postings: AtomicUsize::new(0),
        too_large: AtomicBool::new(false),
    };
    walker(root).build_parallel().visit(&mut BuildVisitorBuilder {
        root,
        shared: &shared,
    });
    if shared.too_large.load(Ordering::Relaxed) {
        return Err(BuildError::TooLarge);
    }
    let mut parts = shared.parts.into_inner().unwrap_or_else(PoisonError::into_inner);
    let mut index = parts.pop().unwrap_or_default();
    for part in parts {
        index.absorb(part);
    }
    index.shrink_to_fit();
    Ok(index)
}

struct BuildShared {
    /// Each walker thread's index, handed over when the thread's walk ends.
    parts: Mutex<Vec<InvertedIndex>>,
    postings: AtomicUsize,
    too_large: AtomicBool,
}

struct BuildVisitorBuilder<'a> {
    root: &'a ProjectRoot,
    shared: &'a BuildShared,
}

impl<'a> ParallelVisitorBuilder<'a> for BuildVisitorBuilder<'a> {
    fn build(&mut self) -> Box<dyn ParallelVisitor + 'a> {
        Box::new(BuildVisitor {
            root: self.root,
            shared: self.shared,
            indexer: Indexer::default(),
            part: InvertedIndex::default(),
        })
    }
}

struct BuildVisitor<'a> {
    root: &'a ProjectRoot,
    shared: &'a BuildShared,
    indexer: Indexer,
    part: InvertedIndex,
}

impl ParallelVisitor for BuildVisitor<'_> {
    fn visit(&mut self, entry: Result<DirEntry, ignore::Error>) -> WalkState {
        let Ok(entry) = entry else {
            return WalkState::Continue;
        };
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            return WalkState::Continue;
        }
        let Ok(rel) = entry.path().strip_prefix(self.root.path()) else {
            return WalkState::Continue;
        };
        if let Some(entry) = self.indexer.read(self.root, rel) {
            if let Entry::Trigrams(trigrams) = &entry {
                let total = self.shared.postings.fetch_add(trigrams.len(), Ordering::Relaxed);
                if total + trigrams.len() > MAX_POSTINGS {
                    self.shared.too_large.store(true, Ordering::Relaxed);
                    return WalkState::Quit;
                }
            }
            self.part.insert(rel, entry);
        }
        WalkState::Continue
    }
}

impl Drop for BuildVisitor<'_> {
    fn drop(&mut self) {
        let part = std::mem::take(&mut self.part);
        self.shared
            .parts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(part);
    }
}

/// What a refresh walk must reach: the changed files, the changed directories' subtrees, and
/// the directories on the way to them.
struct Targets {
    root: PathBuf,
    files: HashSet<PathBuf>,
    dirs: HashSet<PathBuf>,
    ancestors: HashSet<PathBuf>,
}

impl Targets {
    fn new(root: &ProjectRoot, files: HashSet<PathBuf>, dirs: HashSet<PathBuf>) -> Self {
        let ancestors = files
            .iter()
            .chain(&dirs)
            .flat_map(|path| path.ancestors().skip(1))
            .map(Path::to_path_buf)
            .collect();
        Self {
            root: root.path().to_path_buf(),
            files,
            dirs,
            ancestors,
        }
    }

    fn admits(&self, entry: &DirEntry) -> bool {
        let Ok(rel) = entry.path().strip_prefix(&self.root) else {
            return false;
        };
        self.ancestors.contains(rel)
            || self.files.contains(rel)
            || rel.ancestors().any(|dir| self.dirs.contains(dir))
    }
}

/// What a walk over [`Targets`] found: regular files, and the directories it entered.
#[derive(Default)]
struct Visited {
    files: HashSet<PathBuf>,
    dirs: HashSet<PathBuf>,
}

/// One sequential walk of the search walker, entering only what `targets` admits.
fn walk(root: &ProjectRoot, targets: Targets) -> (Arc<Targets>, Visited) {
    let targets = Arc::new(targets);
    let filter = targets.clone();
    let mut visited = Visited::default();
    for entry in walker_where(root, move |entry| filter.admits(entry)).build() {
        let Ok(entry) = entry else {
            continue;
        };
        let Ok(rel) = entry.path().strip_prefix(root.path()) else {
            continue;
        };
        match entry.file_type() {
            Some(t) if t.is_file() => visited.files.insert(rel.to_path_buf()),
            Some(t) if t.is_dir() => visited.dirs.insert(rel.to_path_buf()),
            _ => false,
        };
    }
    (targets, visited)
}

/// Brings `index` up to date with the reported `changes` (which carry neither a rescan nor a
/// breakage: those are the caller's). Each path is looked at as it is now: a file is read again;
/// a directory's subtree is walked, and files in it that are not indexed yet are read (files
/// already indexed were reported themselves if they changed); a path that is gone takes its
/// subtree with it. Whether the search walk would visit a file at all (ignore rules, `.git`,
/// symlinks) is decided by walking with the same walker, entering only the directories on the
/// way to the changes.
///
/// A directory created or moved in may hold files the watcher never reported (it watches a new
/// directory only after reporting it). So each such directory that the walk entered is put under
/// watch and walked once more: a file created before the watch is found by that second walk, one
/// created after it is reported. (Directories the walk does not enter, such as ignored build
/// output, are not worth a watch.)
pub fn refresh(
    index: &mut InvertedIndex,
    indexer: &mut Indexer,
    root: &ProjectRoot,
    watcher: &ProjectWatcher,
    changes: Pending,
) {
    let mut files = HashSet::new();
    let mut dirs = HashSet::new();
    let mut new_dirs = Vec::new();
    for (rel, structural) in changes.paths {
        match root.dir().symlink_metadata(cap_path(&rel)) {
            Ok(meta) if meta.is_dir() => {
                if structural {
                    new_dirs.push(rel.clone());
                }
                dirs.insert(rel);
            }
            Ok(_) => {
                files.insert(rel);
            }
            Err(_) => index.remove_tree(&rel),
        }
    }
    if files.is_empty() && dirs.is_empty() {
        return;
    }
    let (targets, mut visited) = walk(root, Targets::new(root, files, dirs));
    new_dirs.retain(|dir| visited.dirs.contains(dir));
    if !new_dirs.is_empty() {
        for dir in &new_dirs {
            watcher.watch_dir(dir);
        }
        let (_, again) = walk(
            root,
            Targets::new(root, HashSet::new(), new_dirs.into_iter().collect()),
        );
        visited.files.extend(again.files);
    }
    // What the walks did not reach is gone, ignored now, or no longer a regular file.
    for file in &targets.files {
        if !visited.files.contains(file) {
            index.remove(file);
        }
    }
    for dir in &targets.dirs {
        // It may have been a file until now.
        index.remove(dir);
        for path in index.paths_below(dir) {
            if !visited.files.contains(path.as_ref()) {
                index.remove(&path);
            }
        }
    }
    let to_read: Vec<PathBuf> = visited
        .files
        .into_iter()
        .filter(|rel| targets.files.contains(rel) || !index.contains(rel))
        .collect();
    for (rel, entry) in read_all(indexer, root, to_read) {
        match entry {
            Some(entry) => index.insert(&rel, entry),
            None => index.remove(&rel),
        }
    }
    index.compact_if_wasteful();
}

/// Reads `paths`, on every core when there are many.
fn read_all(indexer: &mut Indexer, root: &ProjectRoot, paths: Vec<PathBuf>) -> Vec<(PathBuf, Option<Entry>)> {
    if paths.len() < PARALLEL_READ_MIN_FILES {
        return paths
            .into_iter()
            .map(|rel| {
                let entry = indexer.read(root, &rel);
                (rel, entry)
            })
            .collect();
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = paths.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = paths
            .chunks(chunk)
            .map(|chunk| {
                let worker = scope.spawn(move || {
                    let mut indexer = Indexer::default();
                    chunk
                        .iter()
                        .map(|rel| (rel.clone(), indexer.read(root, rel)))
                        .collect::<Vec<_>>()
                });
                (chunk, worker)
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|(chunk, worker)| {
                // A worker that failed leaves its files to be searched by every query.
                worker.join().unwrap_or_else(|_| {
                    chunk
                        .iter()
                        .map(|rel| (rel.clone(), Some(Entry::AlwaysScan)))
                        .collect()
                })
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::testing::project;

    fn trigrams(entry: Option<Entry>) -> Vec<String> {
        match entry {
            Some(Entry::Trigrams(trigrams)) => trigrams
                .into_iter()
                .map(crate::project::index::trigram::display)
                .collect(),
            other => panic!("not indexed: {other:?}"),
        }
    }

    #[test]
    fn reads_text_up_to_the_first_nul() {
        let (dir, root) = project(&[("a.txt", "Abcd"), ("sub/b.txt", "")]);
        std::fs::write(dir.path().join("bin"), b"xyz\0uvw").expect("write");
        let mut indexer = Indexer::default();
        assert_eq!(trigrams(indexer.read(&root, Path::new("a.txt"))), ["abc", "bcd"]);
        assert_eq!(trigrams(indexer.read(&root, Path::new("bin"))), ["xyz"]);
        assert!(trigrams(indexer.read(&root, Path::new("sub/b.txt"))).is_empty());
        assert_eq!(indexer.read(&root, Path::new("missing")), None);
        assert_eq!(indexer.read(&root, Path::new("sub")), None);
    }

    #[test]
    fn large_and_utf16_files_are_always_scanned() {
        let (dir, root) = project(&[("small.txt", "0123456789"), ("large.txt", "0123456789A")]);
        std::fs::write(dir.path().join("le.txt"), [0xff, 0xfe, b'a', 0]).expect("write");
        std::fs::write(dir.path().join("be.txt"), [0xfe, 0xff, 0, b'a']).expect("write");
        let mut indexer = Indexer {
            max_file_bytes: 10,
            ..Indexer::default()
        };
        assert!(matches!(
            indexer.read(&root, Path::new("small.txt")),
            Some(Entry::Trigrams(_))
        ));
        for path in ["large.txt", "le.txt", "be.txt"] {
            assert_eq!(
                indexer.read(&root, Path::new(path)),
                Some(Entry::AlwaysScan),
                "{path}"
            );
        }
    }
}
