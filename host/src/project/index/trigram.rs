//! Trigrams: three consecutive bytes of a file, ASCII letters folded to lower case, packed into
//! a `u32`. Folding costs case-sensitive queries a little precision (`Foo` also finds files with
//! only `foo`, which the real search then rejects) and lets case-insensitive queries use the
//! index at all, without enumerating every spelling.

/// Three bytes, folded, as `0x00AABBCC`.
pub type Trigram = u32;

/// Every trigram value is below this.
const TRIGRAM_SPACE: usize = 1 << 24;

/// The byte as the index stores it.
pub fn fold(byte: u8) -> u8 {
    byte.to_ascii_lowercase()
}

/// The trigram of three bytes (folded here).
pub fn pack(a: u8, b: u8, c: u8) -> Trigram {
    (u32::from(fold(a)) << 16) | (u32::from(fold(b)) << 8) | u32::from(fold(c))
}

/// The trigrams of `text`, in order of first appearance, repeats included.
pub fn trigrams_of(text: &[u8]) -> impl Iterator<Item = Trigram> + '_ {
    text.windows(3).map(|w| pack(w[0], w[1], w[2]))
}

/// Collects the distinct trigrams of one text after another, reusing a bitmap of every possible
/// trigram (2 MiB) to drop repeats without sorting or hashing.
pub struct TrigramCollector {
    seen: Vec<u64>,
    found: Vec<Trigram>,
}

impl Default for TrigramCollector {
    fn default() -> Self {
        Self {
            seen: vec![0; TRIGRAM_SPACE / 64],
            found: Vec::new(),
        }
    }
}

impl TrigramCollector {
    /// The distinct trigrams of `text`, in order of first appearance.
    pub fn collect(&mut self, text: &[u8]) -> &[Trigram] {
        for &trigram in &self.found {
            self.seen[trigram as usize / 64] &= !(1 << (trigram % 64));
        }
        self.found.clear();
        let mut window: u32 = 0;
        for (i, &byte) in text.iter().enumerate() {
            window = ((window << 8) | u32::from(fold(byte))) & 0x00ff_ffff;
            if i < 2 {
                continue;
            }
            let (word, bit) = (window as usize / 64, 1u64 << (window % 64));
            if self.seen[word] & bit == 0 {
                self.seen[word] |= bit;
                self.found.push(window);
            }
        }
        &self.found
    }
}

/// A trigram as text, for diagnostics and tests: printable ASCII as is, other bytes as `\xNN`.
pub fn display(trigram: Trigram) -> String {
    let bytes = [(trigram >> 16) as u8, (trigram >> 8) as u8, trigram as u8];
    bytes
        .iter()
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_distinct_folded_trigrams() {
        let mut collector = TrigramCollector::default();
        let found: Vec<String> = collector
            .collect(b"AbcABCabcd")
            .iter()
            .map(|&t| display(t))
            .collect();
        assert_eq!(found, ["abc", "bca", "cab", "bcd"]);
        // The bitmap is reset between texts.
        let again: Vec<String> = collector.collect(b"abc").iter().map(|&t| display(t)).collect();
        assert_eq!(again, ["abc"]);
        assert!(collector.collect(b"ab").is_empty());
        assert_eq!(
            collector.collect("é\0x".as_bytes()),
            [pack(0xc3, 0xa9, 0), pack(0xa9, 0, b'x')]
        );
        assert_eq!(display(pack(b'a', b'\n', 0xff)), "a\\n\\xff");
    }

    #[test]
    fn trigrams_of_matches_the_collector() {
        let text = b"Hello, hello world";
        let mut all: Vec<Trigram> = trigrams_of(text).collect();
        all.sort_unstable();
        all.dedup();
        let mut collector = TrigramCollector::default();
        let mut distinct = collector.collect(text).to_vec();
        distinct.sort_unstable();
        assert_eq!(all, distinct);
    }
}
