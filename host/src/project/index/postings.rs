//! Posting lists, the sorted file ids of one trigram, and [`IdSet`], the bitmap queries combine
//! them in.
//!
//! A list is stored as the gaps between consecutive ids, each a LEB128 varint: ids are given out
//! in walk order, so the files of one trigram are close together and most gaps fit in one byte —
//! about a byte per posting instead of four. Lists only grow at the end (a new file gets the
//! next id), which is all the index needs: a changed file is removed and added again.

/// A file's number in the index.
pub type FileId = u32;

/// The ids of the files that contain one trigram, ascending.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PostingList {
    /// The first id, then the gap to each next one, as varints.
    bytes: Vec<u8>,
    /// The last id (meaningless while `len` is 0).
    last: FileId,
    len: u32,
}

impl PostingList {
    /// Appends `id`, which must be greater than every id in the list. An id out of order is
    /// dropped (and is a bug: debug builds assert).
    pub fn push(&mut self, id: FileId) {
        let gap = if self.len == 0 {
            id
        } else if id > self.last {
            id - self.last
        } else {
            debug_assert!(false, "posting {id} after {}", self.last);
            return;
        };
        write_varint(&mut self.bytes, gap);
        self.last = id;
        self.len += 1;
    }

    /// Appends every id of `other` plus `offset`; they must all be greater than this list's ids
    /// (merging per-thread lists whose ids were numbered from 0). Only the first gap is
    /// re-encoded; the rest of `other` is copied as it is.
    pub fn append_shifted(&mut self, other: &PostingList, offset: FileId) {
        let Some((first, used)) = read_varint(&other.bytes) else {
            return;
        };
        let first = first.saturating_add(offset);
        let last = other.last.saturating_add(offset);
        let gap = if self.len == 0 {
            first
        } else if first > self.last {
            first - self.last
        } else {
            debug_assert!(false, "merged posting {first} after {}", self.last);
            return;
        };
        write_varint(&mut self.bytes, gap);
        self.bytes.extend_from_slice(&other.bytes[used..]);
        self.last = last;
        self.len += other.len;
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The ids, ascending.
    pub fn iter(&self) -> PostingIter<'_> {
        PostingIter {
            bytes: &self.bytes,
            previous: None,
        }
    }

    /// Bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
    }

    pub fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
    }
}

pub struct PostingIter<'a> {
    bytes: &'a [u8],
    previous: Option<FileId>,
}

impl Iterator for PostingIter<'_> {
    type Item = FileId;

    fn next(&mut self) -> Option<FileId> {
        let (gap, used) = read_varint(self.bytes)?;
        self.bytes = &self.bytes[used..];
        let id = match self.previous {
            None => gap,
            Some(previous) => previous.checked_add(gap)?,
        };
        self.previous = Some(id);
        Some(id)
    }
}

fn write_varint(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The varint at the start of `bytes` and its length; `None` at the end (or on a truncated
/// varint, which `write_varint` never produces).
fn read_varint(bytes: &[u8]) -> Option<(u32, usize)> {
    let mut value: u32 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(5) {
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Some((value, i + 1));
        }
    }
    None
}

/// A set of file ids below a fixed bound, as a bitmap: a query's lists are decoded into these
/// and combined word by word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdSet {
    words: Vec<u64>,
}

impl IdSet {
    /// The empty set of ids below `bound`.
    pub fn empty(bound: usize) -> Self {
        Self {
            words: vec![0; bound.div_ceil(64)],
        }
    }

    /// Every id below `bound`.
    pub fn full(bound: usize) -> Self {
        let mut set = Self {
            words: vec![u64::MAX; bound.div_ceil(64)],
        };
        if let Some(last) = set.words.last_mut()
            && !bound.is_multiple_of(64)
        {
            *last = (1u64 << (bound % 64)) - 1;
        }
        set
    }

    /// The ids of `list` below this set's bound.
    pub fn from_postings(bound: usize, list: &PostingList) -> Self {
        let mut set = Self::empty(bound);
        for id in list.iter() {
            set.insert(id);
        }
        set
    }

    /// Adds `id`; ids beyond the bound are ignored.
    pub fn insert(&mut self, id: FileId) {
        if let Some(word) = self.words.get_mut(id as usize / 64) {
            *word |= 1 << (id % 64);
        }
    }

    pub fn remove(&mut self, id: FileId) {
        if let Some(word) = self.words.get_mut(id as usize / 64) {
            *word &= !(1 << (id % 64));
        }
    }

    pub fn contains(&self, id: FileId) -> bool {
        self.words
            .get(id as usize / 64)
            .is_some_and(|word| word & (1 << (id % 64)) != 0)
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&word| word == 0)
    }

    pub fn intersect(&mut self, other: &IdSet) {
        for (word, other) in self
            .words
            .iter_mut()
            .zip(other.words.iter().chain(std::iter::repeat(&0)))
        {
            *word &= other;
        }
    }

    pub fn union(&mut self, other: &IdSet) {
        for (word, other) in self.words.iter_mut().zip(&other.words) {
            *word |= other;
        }
    }

    /// The ids, ascending.
    pub fn iter(&self) -> impl Iterator<Item = FileId> + '_ {
        self.words.iter().enumerate().flat_map(|(index, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.trailing_zeros();
                rest &= rest - 1;
                Some(index as u32 * 64 + bit)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_small_and_large_gaps() {
        let ids = [0, 1, 2, 130, 131, 20_000, 2_000_000, u32::MAX - 1];
        let mut list = PostingList::default();
        for id in ids {
            list.push(id);
        }
        assert_eq!(list.iter().collect::<Vec<_>>(), ids);
        assert_eq!(list.len(), ids.len());
        // Gaps of 1 cost a byte each.
        let mut dense = PostingList::default();
        for id in 0..1000 {
            dense.push(id);
        }
        assert_eq!(dense.bytes.len(), 1000);
    }

    #[test]
    fn append_shifted_merges_numbered_from_zero() {
        let mut a = PostingList::default();
        for id in [3, 7, 9] {
            a.push(id);
        }
        let mut b = PostingList::default();
        for id in [0, 2, 300] {
            b.push(id);
        }
        a.append_shifted(&b, 10);
        assert_eq!(a.iter().collect::<Vec<_>>(), [3, 7, 9, 10, 12, 310]);
        assert_eq!(a.len(), 6);
        let mut empty = PostingList::default();
        empty.append_shifted(&b, 5);
        assert_eq!(empty.iter().collect::<Vec<_>>(), [5, 7, 305]);
        empty.append_shifted(&PostingList::default(), 1000);
        assert_eq!(empty.len(), 3);
        empty.push(306);
        assert_eq!(empty.iter().last(), Some(306));
    }

    #[test]
    fn id_sets_combine() {
        let mut a = IdSet::empty(130);
        for id in [0, 64, 129, 500] {
            a.insert(id);
        }
        assert_eq!(a.iter().collect::<Vec<_>>(), [0, 64, 129]);
        let full = IdSet::full(130);
        assert_eq!(full.iter().count(), 130);
        assert_eq!(IdSet::full(128).iter().count(), 128);
        let mut b = full.clone();
        b.remove(64);
        b.intersect(&a);
        assert_eq!(b.iter().collect::<Vec<_>>(), [0, 129]);
        let mut c = IdSet::empty(130);
        c.insert(5);
        c.union(&b);
        assert_eq!(c.iter().collect::<Vec<_>>(), [0, 5, 129]);
        assert!(c.contains(5) && !c.contains(6));
        assert!(IdSet::empty(10).is_empty() && !c.is_empty());
    }
}
