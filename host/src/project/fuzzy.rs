//! `/find/file`'s ranking: a project listing prepared once for many fuzzy queries, and the query
//! itself (nucleo, fzf syntax).
//!
//! A query is scored against every path of the listing, so the per-path work is what counts. The
//! listing keeps, for each path, what every query would otherwise recompute (whether it is ASCII,
//! hidden, a directory) and the set of characters it contains: a path lacking a character some
//! atom of the query needs cannot match, and is passed over with one AND instead of a call into
//! the matcher.

use std::cmp::Reverse;

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};

use super::find::{Kind, MAX_FILES_LIMIT};

/// Every file and directory `/find/file` can return (directories with a trailing `/`), prepared
/// for [`rank`].
#[derive(Debug, Default)]
pub struct Listing {
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    path: String,
    /// [`CharSet`] of the path; every character for a non-ASCII path, whose characters the
    /// matcher may normalise (`é` matches `e`).
    chars: CharSet,
    ascii: bool,
    hidden: bool,
    dir: bool,
}

impl Listing {
    pub fn new(paths: Vec<String>) -> Self {
        let entries = paths
            .into_iter()
            .map(|path| {
                let ascii = path.is_ascii();
                Entry {
                    chars: if ascii { CharSet::of(&path) } else { CharSet::ALL },
                    ascii,
                    hidden: is_hidden(&path),
                    dir: path.ends_with('/'),
                    path,
                }
            })
            .collect();
        Self { entries }
    }

    /// The paths, in walk order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|entry| entry.path.as_str())
    }
}

/// Fuzzy-finds `query` in the listing (nucleo, fzf syntax: words are matched separately).
///
/// Files are `src/main.rs`, directories `src/` (with the trailing slash). `kind`:
/// `Some(File)` lists files only; `Some(Directory)` lists directories only, led by `/` (the root)
/// as the reference does; `None` lists files, plus directories when `include_dirs` (the reference
/// treats an absent `dirs` as true). Best score first; hidden paths (a component starting with
/// `.`) after the others unless the query asks for them (starts with `.` or contains `/.`); ties
/// by path. An empty query lists everything in that order. `limit` is clamped to 1..=200.
pub fn rank(
    listing: &Listing,
    query: &str,
    kind: Option<Kind>,
    limit: usize,
    include_dirs: bool,
) -> Vec<String> {
    let limit = limit.clamp(1, MAX_FILES_LIMIT);
    let (want_files, want_dirs) = match kind {
        Some(Kind::File) => (true, false),
        Some(Kind::Directory) => (false, true),
        None => (true, include_dirs),
    };
    let query = query.trim().replace('\\', "/");
    let prefer_hidden = query.starts_with('.') || query.contains("/.");
    let pattern = Pattern::parse(&query, CaseMatching::Smart, Normalization::Smart);
    let needed = CharSet::needed_by(&pattern);
    let mut matcher = Matcher::new(Config::DEFAULT.match_paths());
    let mut buf = Vec::new();
    let mut scored: Vec<(bool, Reverse<u32>, &str)> = listing
        .entries
        .iter()
        .filter(|entry| if entry.dir { want_dirs } else { want_files })
        .filter(|entry| entry.chars.contains(needed))
        .filter_map(|entry| {
            let haystack = if entry.ascii {
                Utf32Str::Ascii(entry.path.as_bytes())
            } else {
                Utf32Str::new(&entry.path, &mut buf)
            };
            let score = pattern.score(haystack, &mut matcher)?;
            Some((
                entry.hidden && !prefer_hidden,
                Reverse(score),
                entry.path.as_str(),
            ))
        })
        .collect();
    let cut = limit.min(scored.len());
    if cut < scored.len() {
        scored.select_nth_unstable(cut);
        scored.truncate(cut);
    }
    scored.sort_unstable();
    let mut out = Vec::with_capacity(limit);
    if kind == Some(Kind::Directory) {
        out.push("/".to_owned());
    }
    out.extend(scored.into_iter().map(|(_, _, path)| path.to_owned()));
    out.truncate(limit);
    out
}

fn is_hidden(path: &str) -> bool {
    path.trim_end_matches('/')
        .split('/')
        .any(|part| part.len() > 1 && part.starts_with('.'))
}

/// A set of ASCII characters, case folded, in 64 bits: letters and digits one bit each, other
/// printable characters sharing the rest. Two characters sharing a bit only make the test weaker,
/// never wrong: it answers "may contain", not "contains".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CharSet(u64);

impl CharSet {
    const EMPTY: Self = Self(0);
    const ALL: Self = Self(u64::MAX);

    fn of(text: &str) -> Self {
        Self(text.bytes().fold(0, |set, byte| set | Self::bit(byte)))
    }

    /// What a path must contain to match: the ASCII characters of the query's positive atoms.
    /// Path separators are left out (the path matcher treats `/` and `\` alike), as is anything
    /// not ASCII (normalisation may match it to other characters).
    fn needed_by(pattern: &Pattern) -> Self {
        let mut needed = Self::EMPTY;
        for atom in pattern.atoms.iter().filter(|atom| !atom.negative) {
            for c in atom.needle_text().chars() {
                if c.is_ascii() && c != '/' && c != '\\' {
                    needed.0 |= Self::bit(c as u8);
                }
            }
        }
        needed
    }

    fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    fn bit(byte: u8) -> u64 {
        match byte.to_ascii_lowercase() {
            c @ b'a'..=b'z' => 1 << (c - b'a'),
            c @ b'0'..=b'9' => 1 << (26 + c - b'0'),
            c @ 0x21..=0x7e => 1 << (36 + c % 28),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::ProjectRoot;
    use crate::project::find::listing as walk;
    use crate::project::testing::project;

    /// A fresh walk of `root`, ranked.
    fn files(
        root: &ProjectRoot,
        query: &str,
        kind: Option<Kind>,
        limit: usize,
        include_dirs: bool,
    ) -> Vec<String> {
        rank(&Listing::new(walk(root)), query, kind, limit, include_dirs)
    }

    #[test]
    fn files_fuzzy_like_the_reference() {
        // The reference sample's project (the contents do not matter here).
        let (_dir, root) = project(&[
            ("src/main.rs", "fn main() {}"),
            ("src/util.py", ""),
            ("notes.txt", ""),
            ("README.md", ""),
            ("untracked.txt", ""),
        ]);
        assert_eq!(files(&root, "main", None, 10, false), vec!["src/main.rs"]);
        let with_dirs = files(&root, "src", None, 10, true);
        assert_eq!(with_dirs[..3], ["src/", "src/main.rs", "src/util.py"]);
        assert_eq!(
            files(&root, "s", Some(Kind::Directory), 10, true),
            vec!["/", "src/"]
        );
        // type=file wins over dirs=true.
        assert!(
            files(&root, "src", Some(Kind::File), 10, true)
                .iter()
                .all(|p| !p.ends_with('/'))
        );
        assert!(files(&root, "zzzz", None, 10, true).is_empty());
    }

    #[test]
    fn files_ranking_limit_and_hidden() {
        let (_dir, root) = project(&[
            ("src/server/router.rs", ""),
            ("src/server/mod.rs", ""),
            ("docs/rough-outline.md", ""),
            ("router.rs", ""),
            (".github/router.yml", ""),
            ("ignored/router.rs", ""),
            (".gitignore", "ignored/\n"),
        ]);
        let found = files(&root, "router", Some(Kind::File), 10, false);
        assert_eq!(found.first().map(String::as_str), Some("router.rs"), "{found:?}");
        assert!(found.contains(&"src/server/router.rs".to_owned()));
        assert_eq!(
            found.last().map(String::as_str),
            Some(".github/router.yml"),
            "hidden last: {found:?}"
        );
        assert!(
            !found.iter().any(|p| p.starts_with("ignored/")),
            "gitignored: {found:?}"
        );
        // Asking for a hidden path ranks it normally.
        assert_eq!(
            files(&root, ".github", None, 10, true)
                .first()
                .map(String::as_str),
            Some(".github/")
        );
        assert_eq!(
            files(&root, "router", Some(Kind::File), 1, false),
            vec!["router.rs"]
        );
        // Limits clamp to 1..=200; an empty query lists everything.
        assert_eq!(files(&root, "", Some(Kind::File), 0, false).len(), 1);
        assert_eq!(files(&root, "", None, 1000, true).len(), 10);
        let dirs = files(&root, "", Some(Kind::Directory), 10, false);
        assert_eq!(dirs, vec!["/", "docs/", "src/", "src/server/", ".github/"]);
    }

    fn listing(paths: &[&str]) -> Listing {
        Listing::new(paths.iter().map(|p| (*p).to_owned()).collect())
    }

    /// The ranking without the character test: every path goes to the matcher.
    fn rank_unfiltered(paths: &[&str], query: &str) -> Vec<String> {
        let mut listing = listing(paths);
        for entry in &mut listing.entries {
            entry.chars = CharSet::ALL;
        }
        rank(&listing, query, None, MAX_FILES_LIMIT, true)
    }

    #[test]
    fn the_character_test_never_drops_a_match() {
        let paths = [
            "src/Main.rs",
            "src/main_test.rs",
            "docs/café.md",
            "docs/cafe.md",
            "a/b/c.txt",
            "src/",
            ".github/ci.yml",
            "weird name!.txt",
            "under_score-dash.rs",
        ];
        let queries = [
            "main",
            "MAIN",
            "Main",
            "src/main",
            "src\\main",
            "cafe",
            "café",
            "abc",
            "a/b",
            "!main",
            "^src",
            "rs$",
            "'test",
            "main !test",
            "ci yml",
            "name!",
            "_-",
            "zzz",
            "",
            "CAFÉ",
        ];
        for query in queries {
            assert_eq!(
                rank(&listing(&paths), query, None, MAX_FILES_LIMIT, true),
                rank_unfiltered(&paths, query),
                "{query:?}"
            );
        }
    }

    #[test]
    fn paths_lacking_a_needed_character_are_passed_over() {
        let pattern = Pattern::parse("handler_07", CaseMatching::Smart, Normalization::Smart);
        let needed = CharSet::needed_by(&pattern);
        assert!(CharSet::of("src/pkg_07/api/handler_x.rs").contains(needed));
        assert!(!CharSet::of("src/pkg_01/api/handler_x.rs").contains(needed));
        assert!(CharSet::of("SRC/PKG_07/HANDLER").contains(needed), "case folded");
        let negative = Pattern::parse("!zzz", CaseMatching::Smart, Normalization::Smart);
        assert_eq!(CharSet::needed_by(&negative), CharSet::EMPTY);
    }
}
