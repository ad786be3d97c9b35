//! The index end to end, in-process: a real tree, a real watcher, results compared with a scan.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::project::testing::{Rng, project};

fn ready_index(root: ProjectRoot) -> (Arc<ProjectRoot>, SearchIndex) {
    let root = Arc::new(root);
    let watcher = Arc::new(ProjectWatcher::start(root.path()));
    let index = SearchIndex::new(root.clone(), watcher);
    assert!(
        index.wait_ready(Duration::from_secs(10)),
        "the index was never built"
    );
    (root, index)
}

/// Searches through the index, asserting it answered (not a scan), and returns `path:line`s.
fn indexed(index: &SearchIndex, pattern: &str) -> Vec<String> {
    let (matches, source) = index.text_from(pattern, Some(1000)).expect("valid pattern");
    assert_eq!(source, Source::Index, "/{pattern}/ was not answered by the index");
    matches
        .iter()
        .map(|m| format!("{}:{}", m.path.text, m.line_number))
        .collect()
}

#[test]
fn answers_like_a_scan_with_binary_and_utf16_files() {
    let (dir, root) = project(&[
        ("src/main.rs", "fn main() {\n    greet(\"world\");\n}\n"),
        ("src/lib.rs", "pub fn greet(name: &str) {}\n"),
        ("README.md", "# Greeting\nSay Hello World\n"),
        (".gitignore", "target/\n"),
        ("target/debug.txt", "greet in build output\n"),
        (".hidden/notes.txt", "greet from a hidden directory\n"),
    ]);
    // Text before the first NUL can match (a limit reached before the NUL is seen); after it,
    // nothing can.
    std::fs::write(dir.path().join("early.bin"), b"greet early\n\0greet late\n").expect("write");
    let mut utf16 = vec![0xff, 0xfe];
    utf16.extend("greet in utf-16\n".encode_utf16().flat_map(u16::to_le_bytes));
    std::fs::write(dir.path().join("wide.txt"), utf16).expect("write");
    let (root, index) = ready_index(root);
    let stats = index.stats().expect("ready");
    assert_eq!((stats.files, stats.always_scan), (7, 1), "{stats:?}");
    for pattern in [
        "greet",
        "(?i)hello world",
        "gr[e]+t",
        "greet.*late",
        "utf-16",
        "fn (main|greet)",
        "zzz_nothing",
    ] {
        for limit in [1, 2, 1000] {
            let (matches, source) = index.text_from(pattern, Some(limit)).expect("valid");
            assert_eq!(source, Source::Index, "{pattern}");
            assert_eq!(
                matches,
                find::text(&root, pattern, Some(limit)).expect("valid"),
                "/{pattern}/ limit {limit}"
            );
        }
    }
    // Patterns the index cannot narrow are scanned.
    let (_, source) = index.text_from("gr.et", None).expect("valid");
    assert_eq!(source, Source::Scan);
    assert!(matches!(index.text("(", None), Err(FindError::InvalidPattern(_))));
}

#[test]
fn a_file_written_just_before_the_search_is_found() {
    let (dir, root) = project(&[("a.txt", "alpha\n")]);
    let (_root, index) = ready_index(root);
    for i in 0..20 {
        let name = format!("new_{i}.txt");
        std::fs::write(dir.path().join(&name), format!("fresh needle {i}\n")).expect("write");
        // No waiting: the search itself must catch up.
        assert_eq!(indexed(&index, &format!("needle {i}$")), [format!("{name}:1")]);
    }
    // Rewritten in place: the old content is gone, the new one found.
    std::fs::write(dir.path().join("a.txt"), "omega\n").expect("write");
    assert_eq!(indexed(&index, "alpha"), Vec::<String>::new());
    assert_eq!(indexed(&index, "omega"), ["a.txt:1"]);
}

#[test]
fn deleted_renamed_and_new_directories() {
    let (dir, root) = project(&[
        ("keep/a.txt", "needle a\n"),
        ("gone/b.txt", "needle b\n"),
        ("c.txt", "needle c\n"),
    ]);
    let (_root, index) = ready_index(root);
    assert_eq!(
        indexed(&index, "needle"),
        ["c.txt:1", "gone/b.txt:1", "keep/a.txt:1"]
    );
    std::fs::remove_dir_all(dir.path().join("gone")).expect("rm");
    std::fs::rename(dir.path().join("c.txt"), dir.path().join("keep/c2.txt")).expect("mv");
    // A new directory filled at once: created before the watcher could add a watch for it.
    std::fs::create_dir_all(dir.path().join("fresh/deep/er")).expect("mkdir");
    std::fs::write(dir.path().join("fresh/deep/er/d.txt"), "needle d\n").expect("write");
    assert_eq!(
        indexed(&index, "needle"),
        ["fresh/deep/er/d.txt:1", "keep/a.txt:1", "keep/c2.txt:1"]
    );
    // And files added to it later are reported through the watch that refresh made sure of.
    std::fs::write(dir.path().join("fresh/deep/er/e.txt"), "needle e\n").expect("write");
    assert_eq!(indexed(&index, "needle e"), ["fresh/deep/er/e.txt:1"]);
    // A directory renamed: its files move with it.
    std::fs::rename(dir.path().join("fresh"), dir.path().join("moved")).expect("mv");
    assert_eq!(
        indexed(&index, "needle [de]"),
        ["moved/deep/er/d.txt:1", "moved/deep/er/e.txt:1"]
    );
}

#[test]
fn ignore_rule_changes_apply_to_indexed_files() {
    let (dir, root) = project(&[
        ("logs/x.log", "needle in a log\n"),
        ("src/y.rs", "needle in code\n"),
    ]);
    let (_root, index) = ready_index(root);
    assert_eq!(indexed(&index, "needle"), ["logs/x.log:1", "src/y.rs:1"]);
    std::fs::write(dir.path().join(".gitignore"), "*.log\n").expect("write");
    assert_eq!(indexed(&index, "needle"), ["src/y.rs:1"]);
    std::fs::write(dir.path().join("logs/z.log"), "needle again\n").expect("write");
    assert_eq!(indexed(&index, "needle"), ["src/y.rs:1"]);
    std::fs::remove_file(dir.path().join(".gitignore")).expect("rm");
    assert_eq!(
        indexed(&index, "needle"),
        ["logs/x.log:1", "logs/z.log:1", "src/y.rs:1"]
    );
}

#[test]
fn a_flood_of_changes_rebuilds_and_scans_meanwhile() {
    let (dir, root) = project(&[("a.txt", "needle\n")]);
    let (root, index) = ready_index(root);
    let mut pending = lock(&index.pending);
    pending.record(crate::project::watch::Change::Rescan);
    drop(pending);
    std::fs::write(dir.path().join("b.txt"), "needle\n").expect("write");
    // The first search after the loss starts the rebuild and is answered by a scan.
    let (matches, source) = index.text_from("needle", None).expect("valid");
    assert_eq!(source, Source::Scan);
    assert_eq!(matches, find::text(&root, "needle", None).expect("valid"));
    assert!(index.wait_ready(Duration::from_secs(10)));
    assert_eq!(indexed(&index, "needle"), ["a.txt:1", "b.txt:1"]);
}

#[test]
fn a_broken_watcher_turns_the_index_off() {
    let (_dir, root) = project(&[("a.txt", "needle\n")]);
    let (_root, index) = ready_index(root);
    lock(&index.pending).record(crate::project::watch::Change::Broken);
    let (matches, source) = index.text_from("needle", None).expect("valid");
    assert_eq!((matches.len(), source), (1, Source::Scan));
    assert!(index.stats().is_none());
    assert!(!index.wait_ready(Duration::from_millis(10)));
}

#[test]
fn without_a_watcher_every_search_scans() {
    let (_dir, root) = project(&[("a.txt", "needle\n")]);
    let root = Arc::new(root);
    let watcher = ProjectWatcher::start(Path::new("/nonexistent/wasmcode/project"));
    assert!(!watcher.is_watching());
    let index = SearchIndex::new(root, Arc::new(watcher));
    let (matches, source) = index.text_from("needle", None).expect("valid");
    assert_eq!((matches.len(), source), (1, Source::Scan));
    assert!(!index.wait_ready(Duration::from_millis(10)));
}

const WORDS: [&str; 12] = [
    "alpha", "Beta", "gamma", "DELTA", "fn", "let", "x1", "zeta", "über", "ſtop", "\t", "_",
];

fn random_pattern(rng: &mut Rng) -> String {
    let pieces = [
        "alp",
        "ha",
        "beta",
        "(?i)beta",
        "gam+a",
        "del[tx]a",
        "ta ",
        "fn ",
        "x[0-9]",
        "ü",
        "(?i)STOP",
        ".",
        ".*",
        r"\w+",
        " ",
        "^",
        "$",
        "(alpha|zeta)",
        "a{2}",
        "et?a",
    ];
    let n = 1 + rng.below(3);
    (0..n).map(|_| rng.pick(&pieces)).collect::<Vec<_>>().join("")
}

/// No false negatives, property style: on a random tree, index-backed answers equal a scan's
/// for random patterns, also after random edits.
#[test]
fn index_and_scan_agree_on_random_trees_and_patterns() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (dir, root) = project(&[]);
    let write_random = |rng: &mut Rng, i: usize| {
        let lines = rng.below(6);
        let text: String = (0..lines)
            .map(|_| {
                let words = 1 + rng.below(6);
                let line: Vec<&str> = (0..words).map(|_| rng.pick(&WORDS)).collect();
                line.join(" ") + "\n"
            })
            .collect();
        let path = dir.path().join(format!("d{}/f{i}.txt", i % 5));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    for i in 0..60 {
        write_random(&mut rng, i);
    }
    let (root, index) = ready_index(root);
    for round in 0..4 {
        for _ in 0..60 {
            let pattern = random_pattern(&mut rng);
            let limit = [1, 3, 1000][rng.below(3)];
            let expected = find::text(&root, &pattern, Some(limit)).expect("valid");
            let (found, _) = index.text_from(&pattern, Some(limit)).expect("valid");
            assert_eq!(found, expected, "round {round}: /{pattern}/ limit {limit}");
        }
        // Edit: rewrite some files, delete some, add some.
        for _ in 0..10 {
            let i = rng.below(80);
            if rng.below(4) == 0 {
                let _ = std::fs::remove_file(dir.path().join(format!("d{}/f{i}.txt", i % 5)));
            } else {
                write_random(&mut rng, i);
            }
        }
    }
}
