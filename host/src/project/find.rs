//! `/find` (regex search of the project's text), the tree listing `/find/file` ranks (in
//! [`super::fuzzy`]) and `/find/symbol` (no LSP: always empty).
//!
//! Both walks honour `.gitignore`/`.ignore` (also outside a git repository), include hidden files,
//! skip `.git` and do not follow symlinks, as the reference's `rg --hidden --glob=!.git/*` does.
//! They run on all cores and block; call them from a blocking task.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Mutex, PoisonError};

use grep_matcher::Matcher as _;
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkMatch};
use ignore::{DirEntry, ParallelVisitor, ParallelVisitorBuilder, WalkBuilder, WalkState};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::sandbox::{ProjectRoot, to_slash};

/// How many matches `text` returns when the caller does not say (the reference caps at 10).
pub const DEFAULT_TEXT_LIMIT: usize = 100;
/// The bounds of `/find/file`'s `limit`.
pub const MAX_FILES_LIMIT: usize = 200;

/// Why a text search could not run.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    /// The pattern is not a valid regex (a 400).
    #[error("invalid pattern: {0}")]
    InvalidPattern(String),
}

/// `{"text": …}`, as ripgrep's JSON wraps strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MatchText {
    pub text: String,
}

/// One match inside a line: byte offsets into `lines.text`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SubMatch {
    #[serde(rename = "match")]
    #[schema(inline)]
    pub matched: MatchText,
    pub start: u64,
    pub end: u64,
}

/// One matching line of `GET /find?pattern=…`, shaped as ripgrep's JSON `match` data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Match {
    /// Relative to the project root.
    #[schema(inline)]
    pub path: MatchText,
    /// The whole line, with its line terminator.
    #[schema(inline)]
    pub lines: MatchText,
    /// 1-based.
    pub line_number: u64,
    /// Byte offset of the line's start in the file.
    pub absolute_offset: u64,
    #[schema(inline)]
    pub submatches: Vec<SubMatch>,
}

/// `type` of `/find/file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Directory,
}

/// An LSP `Position` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Position {
    pub line: u64,
    pub character: u64,
}

/// An LSP `Range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Range {
    pub start: Position,
    pub end: Position,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SymbolLocation {
    pub uri: String,
    pub range: Range,
}

/// An LSP workspace symbol, the item type of `GET /find/symbol`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Symbol {
    pub name: String,
    /// LSP `SymbolKind`.
    pub kind: u32,
    #[schema(inline)]
    pub location: SymbolLocation,
}

/// `GET /find/symbol`: there is no language server here, so `[]`, as the reference answers
/// with its LSPs disabled.
pub fn symbols(_query: &str) -> Vec<Symbol> {
    Vec::new()
}

/// The walker both searches (and the search index) share: gitignore rules apply even outside a
/// git repository, hidden files are included, `.git` is skipped, symlinks are not followed.
pub(crate) fn walker(root: &ProjectRoot) -> WalkBuilder {
    walker_where(root, |_| true)
}

/// [`walker`], visiting only the entries `keep` accepts (a rejected directory is not entered).
/// `filter_entry` replaces any earlier filter, so the `.git` rule is applied here, in one place.
pub(crate) fn walker_where(
    root: &ProjectRoot,
    keep: impl Fn(&DirEntry) -> bool + Send + Sync + 'static,
) -> WalkBuilder {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut builder = WalkBuilder::new(root.path());
    builder
        .hidden(false)
        .require_git(false)
        .follow_links(false)
        .threads(threads)
        .filter_entry(move |entry| entry.file_name() != ".git" && keep(entry));
    builder
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Searches the project's text files for `pattern` (a Rust regex, as ripgrep's default engine
/// takes; case-sensitive). Binary files (a NUL byte) are skipped. Results are sorted by path
/// (component-wise), then line number, and the first `limit` (default [`DEFAULT_TEXT_LIMIT`]) are
/// returned; the reference returns at most 10 in no particular order.
///
/// This scans the whole tree; `/find` answers from the search index ([`super::index`]) when it can.
pub fn text(root: &ProjectRoot, pattern: &str, limit: Option<usize>) -> Result<Vec<Match>, FindError> {
    let matcher = matcher(pattern)?;
    Ok(scan(root, &matcher, limit.unwrap_or(DEFAULT_TEXT_LIMIT)))
}

/// The line-oriented matcher of `pattern`, as [`text`] uses it.
pub(crate) fn matcher(pattern: &str) -> Result<RegexMatcher, FindError> {
    RegexMatcherBuilder::new()
        .line_terminator(Some(b'\n'))
        .build(pattern)
        .map_err(|err| FindError::InvalidPattern(err.to_string()))
}

/// The first `limit` matches of `matcher` in the whole tree: one parallel walk (every core),
/// searching each file as the walk reaches it.
pub(crate) fn scan(root: &ProjectRoot, matcher: &RegexMatcher, limit: usize) -> Vec<Match> {
    if limit == 0 {
        return Vec::new();
    }
    let shared = TextShared::new(limit);
    let mut builder = TextVisitorBuilder {
        root,
        matcher,
        shared: &shared,
    };
    walker(root).build_parallel().visit(&mut builder);
    shared.into_matches()
}

/// Below this many files, [`search_files`] searches on the calling thread: starting threads
/// would cost more than it saves.
const PARALLEL_SEARCH_MIN_FILES: usize = 32;

/// The first `limit` matches of `matcher` in `paths` (relative, sorted component-wise, as
/// [`Path`]'s `Ord`), searched on every core. Paths that no longer exist are skipped.
pub(crate) fn search_files<P: AsRef<Path> + Sync>(
    root: &ProjectRoot,
    matcher: &RegexMatcher,
    paths: &[P],
    limit: usize,
) -> Vec<Match> {
    if limit == 0 || paths.is_empty() {
        return Vec::new();
    }
    let shared = TextShared::new(limit);
    let next = AtomicUsize::new(0);
    let work = || {
        let mut searcher = FileSearcher::new(matcher);
        while let Some(path) = paths.get(next.fetch_add(1, AtomicOrdering::Relaxed)) {
            // Paths come in order: once one cannot make the cut, none after it can.
            if searcher.search(root, path.as_ref(), &shared) == Searched::Excluded {
                break;
            }
        }
    };
    let threads = if paths.len() < PARALLEL_SEARCH_MIN_FILES {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        work();
    });
    shared.into_matches()
}

/// The first `limit` matches in path order seen so far, grouped by file.
struct TopFiles {
    files: BTreeMap<PathBuf, Vec<Match>>,
    count: usize,
    limit: usize,
}

impl TopFiles {
    fn new(limit: usize) -> Self {
        Self {
            files: BTreeMap::new(),
            count: 0,
            limit,
        }
    }

    fn is_full(&self) -> bool {
        self.count >= self.limit
    }

    /// Whether a file at `path` can no longer make the cut.
    fn excludes(&self, path: &Path) -> bool {
        self.is_full()
            && self
                .files
                .last_key_value()
                .is_some_and(|(last, _)| path > last.as_path())
    }

    fn insert(&mut self, path: PathBuf, matches: Vec<Match>) {
        if self.excludes(&path) {
            return;
        }
        self.count += matches.len();
        self.files.insert(path, matches);
        // Drop whole files from the end while the rest still fill the limit.
        while let Some((_, last)) = self.files.last_key_value() {
            if self.count - last.len() < self.limit {
                break;
            }
            self.count -= last.len();
            self.files.pop_last();
        }
    }

    fn into_matches(self) -> Vec<Match> {
        let mut out: Vec<Match> = self.files.into_values().flatten().collect();
        out.truncate(self.limit);
        out
    }
}

struct TextShared {
    top: Mutex<TopFiles>,
    /// Set once `top` is full: only then do searchers take the lock before searching a file.
    full: AtomicBool,
    limit: usize,
}

impl TextShared {
    fn new(limit: usize) -> Self {
        Self {
            top: Mutex::new(TopFiles::new(limit)),
            full: AtomicBool::new(false),
            limit,
        }
    }

    fn into_matches(self) -> Vec<Match> {
        let top = self.top.into_inner().unwrap_or_else(PoisonError::into_inner);
        top.into_matches()
    }
}

struct TextVisitorBuilder<'a> {
    root: &'a ProjectRoot,
    matcher: &'a RegexMatcher,
    shared: &'a TextShared,
}

impl<'a> ParallelVisitorBuilder<'a> for TextVisitorBuilder<'a> {
    fn build(&mut self) -> Box<dyn ParallelVisitor + 'a> {
        Box::new(TextVisitor {
            root: self.root,
            searcher: FileSearcher::new(self.matcher),
            shared: self.shared,
        })
    }
}

/// One per walker thread.
struct TextVisitor<'a> {
    root: &'a ProjectRoot,
    searcher: FileSearcher,
    shared: &'a TextShared,
}

impl ParallelVisitor for TextVisitor<'_> {
    fn visit(&mut self, entry: Result<DirEntry, ignore::Error>) -> WalkState {
        let Ok(entry) = entry else {
            return WalkState::Continue;
        };
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            return WalkState::Continue;
        }
        if let Ok(rel) = entry.path().strip_prefix(self.root.path()) {
            self.searcher.search(self.root, rel, self.shared);
        }
        WalkState::Continue
    }
}

/// What [`FileSearcher::search`] did with a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Searched {
    /// Searched (or unreadable, or binary): whatever it matched is in the shared results.
    Done,
    /// Not searched: the results are full with files that sort before it.
    Excluded,
}

/// One per searching thread: its own searcher (and its buffers) and matcher, reused for every
/// file.
struct FileSearcher {
    matcher: RegexMatcher,
    searcher: Searcher,
    found: Vec<Match>,
}

impl FileSearcher {
    fn new(matcher: &RegexMatcher) -> Self {
        let searcher = SearcherBuilder::new()
            .line_number(true)
            .binary_detection(BinaryDetection::quit(b'\0'))
            .build();
        Self {
            matcher: matcher.clone(),
            searcher,
            found: Vec::new(),
        }
    }

    /// Searches the file at `rel` and adds its matches to `shared`.
    fn search(&mut self, root: &ProjectRoot, rel: &Path, shared: &TextShared) -> Searched {
        if shared.full.load(AtomicOrdering::Relaxed) && lock(&shared.top).excludes(rel) {
            return Searched::Excluded;
        }
        // Opened through the capability directory: a file swapped for a symlink after the walk
        // saw it still cannot lead outside.
        let Ok(file) = root.dir().open(rel) else {
            return Searched::Done;
        };
        let file = file.into_std();
        let path_text = rel.to_string_lossy();
        let mut sink = FileSink {
            matcher: &self.matcher,
            path: &path_text,
            out: &mut self.found,
            limit: shared.limit,
            binary: false,
        };
        let result = self.searcher.search_file(&self.matcher, &file, &mut sink);
        let binary = sink.binary;
        if result.is_err() || binary {
            self.found.clear();
        } else if !self.found.is_empty() {
            let matches = std::mem::take(&mut self.found);
            let mut top = lock(&shared.top);
            top.insert(rel.to_path_buf(), matches);
            if top.is_full() {
                shared.full.store(true, AtomicOrdering::Relaxed);
            }
        }
        Searched::Done
    }
}

/// Collects the matches of one file, at most `limit` (later lines cannot make the cut).
struct FileSink<'a> {
    matcher: &'a RegexMatcher,
    path: &'a str,
    out: &'a mut Vec<Match>,
    limit: usize,
    binary: bool,
}

impl Sink for FileSink<'_> {
    type Error = io::Error;

    fn matched(&mut self, _searcher: &Searcher, mat: &SinkMatch<'_>) -> Result<bool, io::Error> {
        let mut offset = mat.absolute_byte_offset();
        for (line_number, line) in (mat.line_number().unwrap_or(0)..).zip(mat.lines()) {
            let body = line.strip_suffix(b"\n").unwrap_or(line);
            let body = body.strip_suffix(b"\r").unwrap_or(body);
            let mut submatches = Vec::new();
            self.matcher
                .find_iter(body, |m| {
                    if m.start() < m.end() {
                        submatches.push(SubMatch {
                            matched: MatchText {
                                text: String::from_utf8_lossy(&body[m]).into_owned(),
                            },
                            start: m.start() as u64,
                            end: m.end() as u64,
                        });
                    }
                    true
                })
                .map_err(io::Error::other)?;
            self.out.push(Match {
                path: MatchText {
                    text: self.path.to_owned(),
                },
                lines: MatchText {
                    text: String::from_utf8_lossy(line).into_owned(),
                },
                line_number,
                absolute_offset: offset,
                submatches,
            });
            if self.out.len() >= self.limit {
                return Ok(false);
            }
            offset += line.len() as u64;
        }
        Ok(true)
    }

    fn binary_data(&mut self, _searcher: &Searcher, _offset: u64) -> Result<bool, io::Error> {
        self.binary = true;
        Ok(false)
    }
}

/// Every file and directory below the root (not the root) that `/find/file` can return,
/// relative, `/`-separated, directories with a trailing `/`.
pub fn listing(root: &ProjectRoot) -> Vec<String> {
    let all = Mutex::new(Vec::new());
    let mut builder = PathVisitorBuilder { root, all: &all };
    walker(root).build_parallel().visit(&mut builder);
    all.into_inner().unwrap_or_else(PoisonError::into_inner)
}

struct PathVisitorBuilder<'a> {
    root: &'a ProjectRoot,
    all: &'a Mutex<Vec<String>>,
}

impl<'a> ParallelVisitorBuilder<'a> for PathVisitorBuilder<'a> {
    fn build(&mut self) -> Box<dyn ParallelVisitor + 'a> {
        Box::new(PathVisitor {
            root: self.root,
            local: Vec::new(),
            all: self.all,
        })
    }
}

/// Collects into a per-thread vector, handed over when the thread's walk ends.
struct PathVisitor<'a> {
    root: &'a ProjectRoot,
    local: Vec<String>,
    all: &'a Mutex<Vec<String>>,
}

impl ParallelVisitor for PathVisitor<'_> {
    fn visit(&mut self, entry: Result<DirEntry, ignore::Error>) -> WalkState {
        let Ok(entry) = entry else {
            return WalkState::Continue;
        };
        if entry.depth() == 0 {
            return WalkState::Continue;
        }
        let Some(file_type) = entry.file_type() else {
            return WalkState::Continue;
        };
        let is_dir = file_type.is_dir();
        if !(is_dir || file_type.is_file()) {
            return WalkState::Continue;
        }
        let Ok(rel) = entry.path().strip_prefix(self.root.path()) else {
            return WalkState::Continue;
        };
        let mut path = to_slash(rel);
        if is_dir {
            path.push('/');
        }
        self.local.push(path);
        WalkState::Continue
    }
}

impl Drop for PathVisitor<'_> {
    fn drop(&mut self) {
        lock(self.all).append(&mut self.local);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    fn match_order(a: &Match, b: &Match) -> Ordering {
        Path::new(&a.path.text)
            .cmp(Path::new(&b.path.text))
            .then(a.line_number.cmp(&b.line_number))
    }

    use crate::project::testing::project;

    const MAIN_RS: &str = "fn main() {\n    println!(\"{}\", greet(\"world\"));\n}\n\nfn greet(name: &str) -> String {\n    format!(\"Hello, {}!\", name)\n}\n\nstruct Counter { n: u32 }\n\nimpl Counter {\n    fn inc(&mut self) { self.n += 1; }\n}";

    fn reference_project() -> (tempfile::TempDir, ProjectRoot) {
        project(&[
            ("src/main.rs", MAIN_RS),
            ("src/util.py", "def util():\n    return 1\n"),
            ("notes.txt", "line one\nline two\nfn appears here too\nmodified\n"),
            ("README.md", "# Demo\n"),
            ("untracked.txt", "new\n"),
        ])
    }

    #[test]
    fn text_matches_the_reference_sample() {
        let (_dir, root) = reference_project();
        let found = text(&root, "fn", None).expect("search");
        let expected: serde_json::Value = serde_json::json!([
            {"path":{"text":"notes.txt"},"lines":{"text":"fn appears here too\n"},"line_number":3,
             "absolute_offset":18,"submatches":[{"match":{"text":"fn"},"start":0,"end":2}]},
            {"path":{"text":"src/main.rs"},"lines":{"text":"fn main() {\n"},"line_number":1,
             "absolute_offset":0,"submatches":[{"match":{"text":"fn"},"start":0,"end":2}]},
            {"path":{"text":"src/main.rs"},"lines":{"text":"fn greet(name: &str) -> String {\n"},"line_number":5,
             "absolute_offset":51,"submatches":[{"match":{"text":"fn"},"start":0,"end":2}]},
            {"path":{"text":"src/main.rs"},"lines":{"text":"    fn inc(&mut self) { self.n += 1; }\n"},
             "line_number":12,"absolute_offset":161,"submatches":[{"match":{"text":"fn"},"start":4,"end":6}]},
        ]);
        assert_eq!(serde_json::to_value(&found).expect("json"), expected);

        let regex = text(&root, "gr.et", None).expect("search");
        assert_eq!(
            serde_json::to_value(&regex).expect("json"),
            serde_json::json!([
                {"path":{"text":"src/main.rs"},"lines":{"text":"    println!(\"{}\", greet(\"world\"));\n"},
                 "line_number":2,"absolute_offset":12,"submatches":[{"match":{"text":"greet"},"start":19,"end":24}]},
                {"path":{"text":"src/main.rs"},"lines":{"text":"fn greet(name: &str) -> String {\n"},
                 "line_number":5,"absolute_offset":51,"submatches":[{"match":{"text":"greet"},"start":3,"end":8}]},
            ])
        );
        assert!(text(&root, "zzzzqqq", None).expect("search").is_empty());
    }

    #[test]
    fn text_reports_every_submatch_and_keeps_crlf() {
        let (_dir, root) = project(&[("a.txt", "ab ab\r\nx\n")]);
        let found = text(&root, "ab", None).expect("search");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].lines.text, "ab ab\r\n");
        let spans: Vec<(u64, u64)> = found[0].submatches.iter().map(|s| (s.start, s.end)).collect();
        assert_eq!(spans, vec![(0, 2), (3, 5)]);
    }

    #[test]
    fn text_honours_ignores_and_skips_binary_git_and_symlinks() {
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::write(outside.path().join("secret.txt"), "needle outside\n").expect("write");
        let (dir, root) = project(&[
            (".gitignore", "target/\n*.log\n"),
            ("target/out.txt", "needle\n"),
            ("debug.log", "needle\n"),
            ("sub/.ignore", "skip.txt\n"),
            ("sub/skip.txt", "needle\n"),
            (".hidden/found.txt", "needle\n"),
            (".git/config", "needle\n"),
            ("keep.txt", "needle\n"),
        ]);
        std::fs::write(dir.path().join("blob.bin"), b"needle\n\0\0binary").expect("write");
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), dir.path().join("link.txt"))
            .expect("ln");
        std::os::unix::fs::symlink(outside.path(), dir.path().join("linkdir")).expect("ln");
        let found = text(&root, "needle", None).expect("search");
        let paths: Vec<&str> = found.iter().map(|m| m.path.text.as_str()).collect();
        assert_eq!(paths, vec![".hidden/found.txt", "keep.txt"]);
    }

    #[test]
    fn text_limit_and_ordering_are_deterministic() {
        let mut files = Vec::new();
        for i in 0..40 {
            files.push((format!("d{}/f{:02}.txt", i % 4, i), "hit\nmiss\nhit\n".to_owned()));
        }
        let refs: Vec<(&str, &str)> = files.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect();
        let (_dir, root) = project(&refs);
        let all = text(&root, "hit", Some(1000)).expect("search");
        assert_eq!(all.len(), 80);
        assert!(
            all.windows(2)
                .all(|w| match_order(&w[0], &w[1]) == Ordering::Less),
            "sorted"
        );
        assert_eq!(all[0].path.text, "d0/f00.txt");
        assert_eq!((all[0].line_number, all[1].line_number), (1, 3));
        for limit in [1, 3, 10, 79] {
            let some = text(&root, "hit", Some(limit)).expect("search");
            assert_eq!(some, all[..limit].to_vec(), "limit {limit}");
        }
        assert_eq!(
            text(&root, "hit", None).expect("search").len(),
            80.min(DEFAULT_TEXT_LIMIT)
        );
        assert!(text(&root, "hit", Some(0)).expect("search").is_empty());
    }

    #[test]
    fn text_rejects_invalid_regex() {
        let (_dir, root) = reference_project();
        for pattern in ["(", "[a-", "a{2,1}"] {
            match text(&root, pattern, None) {
                Err(FindError::InvalidPattern(message)) => assert!(!message.is_empty()),
                other => panic!("{pattern}: expected InvalidPattern, got {other:?}"),
            }
        }
    }

    #[test]
    fn symbols_are_empty() {
        assert!(symbols("greet").is_empty());
    }
}
