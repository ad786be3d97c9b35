//! The `grep` tool: searches file contents for a regular expression with ripgrep's own crates
//! (`.gitignore` honoured, binary files skipped, an optional `include` glob), and lists the
//! matching lines grouped by file, newest file first, at most 100 lines. Behaves like
//! OpenCode's ripgrep-backed `grep`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use grep_regex::RegexMatcherBuilder;
use grep_searcher::{BinaryDetection, SearcherBuilder, sinks};
use serde::Deserialize;
use wasmcode_plugin::{Context, JsonSchema, Output, Permission, Tool, ToolError};
use wasmcode_tool_support::walk;

/// At most this many matching lines are shown.
const LIMIT: usize = 100;
/// Longer matching lines are cut to this many characters.
const MAX_LINE_LENGTH: usize = 2000;

#[derive(Deserialize, JsonSchema)]
pub struct Args {
    /// The regex pattern to search for in file contents
    pattern: String,
    /// The directory to search in. Defaults to the current working directory.
    path: Option<String>,
    /// File pattern to include in the search (e.g. "*.js", "*.{ts,tsx}")
    include: Option<String>,
}

pub struct GrepTool;

impl Tool for GrepTool {
    const ID: &'static str = "grep";
    const DESCRIPTION: &'static str = include_str!("grep.txt");
    type Args = Args;

    fn execute(args: Args, ctx: &Context) -> Result<Output, ToolError> {
        if args.pattern.is_empty() {
            return Err(ToolError::invalid_args("pattern is required"));
        }
        let mut asked = serde_json::json!({ "pattern": args.pattern });
        if let Some(path) = &args.path {
            asked["path"] = path.clone().into();
        }
        if let Some(include) = &args.include {
            asked["include"] = include.clone().into();
        }
        ctx.ask(
            Permission::new("grep", vec![args.pattern.clone()])
                .always(vec!["*".into()])
                .metadata(asked),
        )?;

        let search = ctx.resolve(args.path.as_deref().unwrap_or("."))?;
        if std::fs::metadata(&search).is_err() {
            let requested = args.path.clone().unwrap_or_else(|| ctx.directory.clone());
            return Err(ToolError::failed(format!("Search path not found: {requested}")));
        }
        let result =
            search_tree(&search, &args.pattern, args.include.as_deref()).map_err(ToolError::failed)?;
        let output = render(&result, |path| ctx.display(path));
        Ok(Output::new(args.pattern, output).metadata(serde_json::json!({
            "matches": result.total,
            "truncated": result.total > LIMIT,
        })))
    }
}

/// The matching lines of one file.
#[derive(Debug)]
struct FileMatches {
    path: PathBuf,
    mtime: Option<SystemTime>,
    /// `(line number, text)`, at most `LIMIT` of them: no file can show more.
    lines: Vec<(u64, String)>,
}

/// Everything a search found.
#[derive(Debug, Default)]
struct SearchResult {
    /// Files with matches, newest first.
    files: Vec<FileMatches>,
    /// Matching lines in all files, shown or not.
    total: usize,
    /// Some files could not be read.
    partial: bool,
}

/// Searches the files under `root` (or `root` itself, if it is a file) for `pattern`.
fn search_tree(root: &Path, pattern: &str, include: Option<&str>) -> Result<SearchResult, String> {
    // Matches never span lines, as with ripgrep's default line-oriented search.
    let matcher = RegexMatcherBuilder::new()
        .line_terminator(Some(b'\n'))
        .build(pattern)
        .map_err(|e| e.to_string())?;
    let mut searcher = SearcherBuilder::new()
        .line_number(true)
        .binary_detection(BinaryDetection::quit(b'\x00'))
        .build();
    let globs: Vec<String> = include.map(str::to_string).into_iter().collect();
    let mut result = SearchResult::default();
    for path in walk::files(walk::walk(root, &globs)?) {
        let mut lines = Vec::new();
        let mut count = 0usize;
        let searched = searcher.search_path(
            &matcher,
            &path,
            sinks::Lossy(|number, line| {
                count += 1;
                if lines.len() < LIMIT {
                    lines.push((number, clip_line(line)));
                }
                Ok(true)
            }),
        );
        if searched.is_err() {
            result.partial = true;
            continue;
        }
        if count > 0 {
            result.total += count;
            result.files.push(FileMatches {
                mtime: walk::mtime(&path),
                path,
                lines,
            });
        }
    }
    walk::sort_newest_first(&mut result.files, |f| (f.mtime, f.path.as_path()));
    Ok(result)
}

/// A matching line without its line ending, cut at `MAX_LINE_LENGTH` characters.
fn clip_line(line: &str) -> String {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    match line.char_indices().nth(MAX_LINE_LENGTH) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line.to_string(),
    }
}

/// OpenCode's output: a count, then the first `LIMIT` lines grouped under each file's path.
fn render(result: &SearchResult, display: impl Fn(&Path) -> String) -> String {
    if result.total == 0 {
        return "No files found".into();
    }
    let truncated = result.total > LIMIT;
    let mut out = vec![format!(
        "Found {} matches{}",
        result.total,
        if truncated {
            format!(" (showing first {LIMIT})")
        } else {
            String::new()
        }
    )];
    let mut shown = 0;
    for file in &result.files {
        if shown == LIMIT {
            break;
        }
        if shown > 0 {
            out.push(String::new());
        }
        out.push(format!("{}:", display(&file.path)));
        for (number, text) in file.lines.iter().take(LIMIT - shown) {
            out.push(format!("  Line {number}: {text}"));
            shown += 1;
        }
    }
    if truncated {
        out.push(String::new());
        out.push(format!(
            "(Results truncated: showing {LIMIT} of {} matches ({} hidden). Consider using a more specific path or pattern.)",
            result.total,
            result.total - LIMIT
        ));
    }
    if result.partial {
        out.push(String::new());
        out.push("(Some paths were inaccessible and skipped)".into());
    }
    out.join("\n")
}

wasmcode_plugin::export_tools!(GrepTool);

#[cfg(test)]
mod tests {
    use super::*;
    use wasmcode_tool_support::walk::Scratch;

    fn shown(path: &Path) -> String {
        format!("/p/{}", path.display())
    }

    fn search(dir: &Scratch, pattern: &str, include: Option<&str>) -> SearchResult {
        let mut result = search_tree(&dir.0, pattern, include).expect("valid search");
        for file in &mut result.files {
            file.path = file.path.strip_prefix(&dir.0).expect("inside").to_path_buf();
        }
        result
    }

    #[test]
    fn groups_lines_by_file() {
        let dir = Scratch::new("grep-format");
        dir.file("a.rs", "fn main() {}\nlet x = 1;\nfn other() {}\n")
            .file("b.txt", "no match here\n");
        let result = search(&dir, r"fn \w+", None);
        assert_eq!(result.total, 2);
        assert_eq!(
            render(&result, shown),
            "Found 2 matches\n/p/a.rs:\n  Line 1: fn main() {}\n  Line 3: fn other() {}"
        );
    }

    #[test]
    fn include_filters_files() {
        let dir = Scratch::new("grep-include");
        dir.file("a.ts", "needle\n")
            .file("b.tsx", "needle\n")
            .file("c.js", "needle\n")
            .file("d/e.ts", "needle\n");
        let names = |r: SearchResult| {
            let mut names: Vec<String> = r.files.iter().map(|f| f.path.display().to_string()).collect();
            names.sort();
            names
        };
        assert_eq!(
            names(search(&dir, "needle", Some("*.{ts,tsx}"))),
            ["a.ts", "b.tsx", "d/e.ts"]
        );
        assert_eq!(names(search(&dir, "needle", Some("*.js"))), ["c.js"]);
        assert_eq!(search(&dir, "needle", None).total, 4);
    }

    #[test]
    fn skips_binary_files_and_reports_no_matches() {
        let dir = Scratch::new("grep-binary");
        dir.file("bin.dat", "needle\0\x01\x02").file("text.txt", "hay\n");
        let result = search(&dir, "needle", None);
        assert_eq!(result.total, 0);
        assert_eq!(render(&result, shown), "No files found");
    }

    #[test]
    fn caps_output_at_a_hundred_lines() {
        let result = SearchResult {
            files: vec![
                FileMatches {
                    path: "a".into(),
                    mtime: None,
                    lines: (1..=80).map(|n| (n, "x".into())).collect(),
                },
                FileMatches {
                    path: "b".into(),
                    mtime: None,
                    lines: (1..=40).map(|n| (n, "y".into())).collect(),
                },
            ],
            total: 120,
            partial: false,
        };
        let text = render(&result, shown);
        assert!(text.starts_with("Found 120 matches (showing first 100)\n/p/a:\n  Line 1: x\n"));
        assert_eq!(text.matches("  Line ").count(), LIMIT);
        assert!(text.contains("\n\n/p/b:\n  Line 1: y\n"));
        assert!(text.contains("  Line 20: y\n\n(Results truncated: showing 100 of 120 matches (20 hidden)."));
        assert!(!text.contains("Line 21: y"));
    }

    #[test]
    fn clips_long_lines_and_line_endings() {
        assert_eq!(clip_line("abc\r\n"), "abc");
        let long = "é".repeat(MAX_LINE_LENGTH + 1);
        assert_eq!(clip_line(&long), format!("{}...", "é".repeat(MAX_LINE_LENGTH)));
    }

    #[test]
    fn bad_regex_is_an_error() {
        let dir = Scratch::new("grep-regex");
        assert!(search_tree(&dir.0, "(unclosed", None).is_err());
    }

    #[test]
    fn schema_matches_the_reference() {
        // `parameters` of `grep` in OpenCode's `GET /experimental/tool` answer.
        let reference: serde_json::Value = serde_json::from_str(
            r#"{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "properties": {"pattern": {"type": "string", "description": "The regex pattern to search for in file contents"}, "path": {"type": "string", "description": "The directory to search in. Defaults to the current working directory."}, "include": {"type": "string", "description": "File pattern to include in the search (e.g. \"*.js\", \"*.{ts,tsx}\")"}}, "required": ["pattern"]}"#,
        )
        .expect("valid JSON");
        assert_eq!(wasmcode_plugin::schema_of::<Args>(), reference);
    }
}
