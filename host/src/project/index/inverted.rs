//! The inverted index itself: for each trigram, the files that contain it; for each file id, its
//! path. It only stores and answers; reading files and deciding which ones belong is
//! [`super::build`]'s business.
//!
//! Files are never renumbered in place: a removed file leaves its id dead (its path is dropped at
//! once, its postings stay until [`InvertedIndex::compact_if_wasteful`] rewrites the lists), and
//! a changed file is removed and added again under the next id, so lists only grow at the end.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use super::plan::Query;
use super::postings::{FileId, IdSet, PostingList};
use super::trigram::Trigram;

/// What the index keeps of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Its distinct trigrams (of the bytes a search can report: up to the first NUL).
    Trigrams(Vec<Trigram>),
    /// Searched by every query instead: too large to index, UTF-16 (the searcher transcodes
    /// it, so its bytes are not what is matched), or unreadable when it was indexed.
    AlwaysScan,
}

/// Compaction runs once dead postings reach this many and half the live ones.
const COMPACT_MIN_DEAD: usize = 1 << 16;

/// Sizes, for logs and the memory bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexStats {
    /// Live files, `always_scan` included.
    pub files: usize,
    pub always_scan: usize,
    /// Distinct trigrams.
    pub trigrams: usize,
    /// Postings of live files.
    pub postings: usize,
    /// Postings of removed files not compacted away yet.
    pub dead_postings: usize,
    /// An estimate of the heap the index holds.
    pub heap_bytes: usize,
}

#[derive(Debug, Clone)]
struct Slot {
    /// `None` once the file is removed.
    path: Option<Arc<Path>>,
    /// How many postings the file has (to count them dead when it goes).
    postings: u32,
}

/// Mixes a trigram into a well-spread hash: `HashMap`'s default SipHash is several times slower
/// and its protection against chosen keys buys nothing here.
#[derive(Default)]
pub struct TrigramHasher(u64);

impl Hasher for TrigramHasher {
    fn finish(&self) -> u64 {
        // The splitmix64 finaliser.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 << 8) | u64::from(byte);
        }
    }

    fn write_u32(&mut self, value: u32) {
        self.0 = u64::from(value);
    }
}

type Postings = HashMap<Trigram, PostingList, BuildHasherDefault<TrigramHasher>>;

#[derive(Debug, Default)]
pub struct InvertedIndex {
    slots: Vec<Slot>,
    by_path: BTreeMap<Arc<Path>, FileId>,
    postings: Postings,
    always_scan: BTreeSet<FileId>,
    live_postings: usize,
    dead_postings: usize,
}

impl InvertedIndex {
    /// Adds (or replaces) the file at `path`.
    pub fn insert(&mut self, path: &Path, entry: Entry) {
        self.remove(path);
        let Ok(id) = FileId::try_from(self.slots.len()) else {
            // Four billion files: not indexable; the caller's memory bound trips long before.
            return;
        };
        let path: Arc<Path> = Arc::from(path);
        let postings = match entry {
            Entry::Trigrams(trigrams) => {
                for &trigram in &trigrams {
                    self.postings.entry(trigram).or_default().push(id);
                }
                trigrams.len()
            }
            Entry::AlwaysScan => {
                self.always_scan.insert(id);
                0
            }
        };
        self.live_postings += postings;
        self.slots.push(Slot {
            path: Some(path.clone()),
            postings: u32::try_from(postings).unwrap_or(u32::MAX),
        });
        self.by_path.insert(path, id);
    }

    /// Forgets the file at `path`, if indexed.
    pub fn remove(&mut self, path: &Path) {
        let Some(id) = self.by_path.remove(path) else {
            return;
        };
        self.always_scan.remove(&id);
        if let Some(slot) = self.slots.get_mut(id as usize) {
            slot.path = None;
            let postings = slot.postings as usize;
            self.live_postings = self.live_postings.saturating_sub(postings);
            self.dead_postings += postings;
        }
    }

    /// Forgets `path` and every file below it.
    pub fn remove_tree(&mut self, path: &Path) {
        self.remove(path);
        for below in self.paths_below(path) {
            self.remove(&below);
        }
    }

    /// Postings of live files (what the memory bound counts).
    pub fn live_postings(&self) -> usize {
        self.live_postings
    }

    pub fn contains(&self, path: &Path) -> bool {
        self.by_path.contains_key(path)
    }

    /// The indexed files strictly below the directory `dir` (every file for the root, `""`).
    pub fn paths_below(&self, dir: &Path) -> Vec<Arc<Path>> {
        // Component-wise order keeps a directory's subtree contiguous, right after it.
        self.by_path
            .range::<Path, _>((Bound::Excluded(dir), Bound::Unbounded))
            .map(|(path, _)| path)
            .take_while(|path| path.starts_with(dir))
            .cloned()
            .collect()
    }

    /// Appends `other`, whose files must all be new here, renumbering its ids after this
    /// index's: how the per-thread indexes of a build are joined. Only the first gap of each
    /// list is re-encoded.
    pub fn absorb(&mut self, other: InvertedIndex) {
        let Ok(offset) = FileId::try_from(self.slots.len()) else {
            return;
        };
        for (trigram, list) in &other.postings {
            self.postings
                .entry(*trigram)
                .or_default()
                .append_shifted(list, offset);
        }
        self.by_path
            .extend(other.by_path.into_iter().map(|(path, id)| (path, id + offset)));
        self.always_scan
            .extend(other.always_scan.into_iter().map(|id| id + offset));
        self.slots.extend(other.slots);
        self.live_postings += other.live_postings;
        self.dead_postings += other.dead_postings;
    }

    /// The files that may match `query`, always-scanned files included, sorted by path.
    pub fn candidates(&self, query: &Query) -> Vec<Arc<Path>> {
        let mut ids = self.eval(query);
        for &id in &self.always_scan {
            ids.insert(id);
        }
        let mut paths: Vec<Arc<Path>> = ids
            .iter()
            .filter_map(|id| self.slots.get(id as usize)?.path.clone())
            .collect();
        paths.sort_unstable();
        paths
    }

    fn eval(&self, query: &Query) -> IdSet {
        let bound = self.slots.len();
        match query {
            Query::All => IdSet::full(bound),
            Query::Trigram(trigram) => match self.postings.get(trigram) {
                Some(list) => IdSet::from_postings(bound, list),
                None => IdSet::empty(bound),
            },
            Query::And(parts) => {
                // Rarest first: a trigram no file has ends the evaluation at once.
                let mut parts: Vec<&Query> = parts.iter().collect();
                parts.sort_by_cached_key(|part| self.estimate(part));
                let mut parts = parts.into_iter();
                let mut ids = parts
                    .next()
                    .map_or_else(|| IdSet::full(bound), |part| self.eval(part));
                for part in parts {
                    if ids.is_empty() {
                        break;
                    }
                    ids.intersect(&self.eval(part));
                }
                ids
            }
            Query::Or(parts) => {
                let mut ids = IdSet::empty(bound);
                for part in parts {
                    ids.union(&self.eval(part));
                }
                ids
            }
        }
    }

    /// An upper bound of how many files `query` can match.
    fn estimate(&self, query: &Query) -> usize {
        match query {
            Query::All => self.slots.len(),
            Query::Trigram(trigram) => self.postings.get(trigram).map_or(0, PostingList::len),
            Query::And(parts) => parts.iter().map(|part| self.estimate(part)).min().unwrap_or(0),
            Query::Or(parts) => parts.iter().map(|part| self.estimate(part)).sum(),
        }
    }

    /// Rewrites the lists without the postings of removed files once those are many.
    pub fn compact_if_wasteful(&mut self) {
        if self.dead_postings >= COMPACT_MIN_DEAD && self.dead_postings >= self.live_postings / 2 {
            self.compact();
        }
    }

    /// Renumbers the live files densely and drops dead postings.
    pub fn compact(&mut self) {
        let mut renumbered: Vec<Option<FileId>> = Vec::with_capacity(self.slots.len());
        let mut slots = Vec::new();
        for slot in std::mem::take(&mut self.slots) {
            if slot.path.is_some() {
                renumbered.push(FileId::try_from(slots.len()).ok());
                slots.push(slot);
            } else {
                renumbered.push(None);
            }
        }
        let new_id = |id: FileId| renumbered.get(id as usize).copied().flatten();
        self.postings = std::mem::take(&mut self.postings)
            .into_iter()
            .filter_map(|(trigram, list)| {
                let mut kept = PostingList::default();
                for id in list.iter().filter_map(new_id) {
                    kept.push(id);
                }
                kept.shrink_to_fit();
                (!kept.is_empty()).then_some((trigram, kept))
            })
            .collect();
        for id in self.by_path.values_mut() {
            *id = new_id(*id).unwrap_or(*id);
        }
        self.always_scan = self.always_scan.iter().filter_map(|&id| new_id(id)).collect();
        self.slots = slots;
        self.dead_postings = 0;
    }

    /// Releases the spare capacity the build left (lists grow by doubling).
    pub fn shrink_to_fit(&mut self) {
        for list in self.postings.values_mut() {
            list.shrink_to_fit();
        }
        self.postings.shrink_to_fit();
        self.slots.shrink_to_fit();
    }

    pub fn stats(&self) -> IndexStats {
        let lists: usize = self.postings.values().map(PostingList::heap_bytes).sum();
        // Each table bucket holds a key and a list header, plus a control byte.
        let table = self.postings.capacity() * (size_of::<(Trigram, PostingList)>() + 1);
        let slots = self.slots.capacity() * size_of::<Slot>();
        // Each path is one allocation (two counters and the bytes) shared by the slot and the
        // map; a B-tree entry costs about its key and value plus a third for the nodes' slack.
        let paths: usize = self
            .by_path
            .keys()
            .map(|path| 2 * size_of::<usize>() + path.as_os_str().len())
            .sum();
        let map = self.by_path.len() * (size_of::<(Arc<Path>, FileId)>() * 4 / 3);
        let always = self.always_scan.len() * size_of::<FileId>() * 2;
        IndexStats {
            files: self.by_path.len(),
            always_scan: self.always_scan.len(),
            trigrams: self.postings.len(),
            postings: self.live_postings,
            dead_postings: self.dead_postings,
            heap_bytes: lists + table + slots + paths + map + always,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::index::plan::plan;
    use crate::project::index::trigram::TrigramCollector;

    fn entry(text: &str) -> Entry {
        Entry::Trigrams(TrigramCollector::default().collect(text.as_bytes()).to_vec())
    }

    fn found(index: &InvertedIndex, pattern: &str) -> Vec<String> {
        let query = plan(pattern).expect("narrowable");
        index
            .candidates(&query)
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn add_remove_and_update_files() {
        let mut index = InvertedIndex::default();
        index.insert(Path::new("b.txt"), entry("hello world"));
        index.insert(Path::new("a.txt"), entry("say hello"));
        index.insert(Path::new("big.bin"), Entry::AlwaysScan);
        assert_eq!(found(&index, "hello"), ["a.txt", "b.txt", "big.bin"]);
        assert_eq!(found(&index, "world"), ["b.txt", "big.bin"]);
        assert_eq!(found(&index, "(?i)WORLD"), ["b.txt", "big.bin"]);
        assert_eq!(found(&index, "absent"), ["big.bin"]);

        // Update: the old text no longer finds the file, the new one does.
        index.insert(Path::new("b.txt"), entry("goodbye"));
        assert_eq!(found(&index, "world"), ["big.bin"]);
        assert_eq!(found(&index, "goodbye"), ["b.txt", "big.bin"]);

        index.remove(Path::new("a.txt"));
        index.remove(Path::new("big.bin"));
        index.remove(Path::new("never.txt"));
        assert_eq!(found(&index, "hello"), Vec::<String>::new());
        let stats = index.stats();
        assert_eq!((stats.files, stats.always_scan), (1, 0));
        assert!(stats.dead_postings > 0);

        index.compact();
        assert_eq!(index.stats().dead_postings, 0);
        assert_eq!(found(&index, "goodbye"), ["b.txt"]);
        index.insert(Path::new("c.txt"), entry("goodbye again"));
        assert_eq!(found(&index, "goodbye"), ["b.txt", "c.txt"]);
    }

    #[test]
    fn remove_tree_takes_the_subtree_only() {
        let mut index = InvertedIndex::default();
        for path in ["src/a.rs", "src/sub/b.rs", "src.rs", "srcx/c.rs", "src/sub"] {
            index.insert(Path::new(path), entry("needle"));
        }
        let below: Vec<String> = index
            .paths_below(Path::new("src"))
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        assert_eq!(below, ["src/a.rs", "src/sub", "src/sub/b.rs"]);
        index.remove_tree(Path::new("src"));
        assert_eq!(found(&index, "needle"), ["src.rs", "srcx/c.rs"]);
        assert_eq!(index.paths_below(Path::new("")).len(), 2);
    }

    #[test]
    fn absorb_renumbers_after_the_existing_files() {
        let mut first = InvertedIndex::default();
        first.insert(Path::new("x/1.txt"), entry("alpha beta"));
        first.insert(Path::new("x/2.txt"), entry("beta gamma"));
        let mut second = InvertedIndex::default();
        second.insert(Path::new("a/3.txt"), entry("gamma delta"));
        second.insert(Path::new("a/4.txt"), Entry::AlwaysScan);
        first.absorb(second);
        assert_eq!(found(&first, "gamma"), ["a/3.txt", "a/4.txt", "x/2.txt"]);
        assert_eq!(found(&first, "beta"), ["a/4.txt", "x/1.txt", "x/2.txt"]);
        first.insert(Path::new("a/5.txt"), entry("beta"));
        assert_eq!(
            found(&first, "beta"),
            ["a/4.txt", "a/5.txt", "x/1.txt", "x/2.txt"]
        );
        assert_eq!(first.stats().files, 5);
    }
}
