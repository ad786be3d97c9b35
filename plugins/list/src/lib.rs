//! The `list` tool: an indented tree of the files under a directory (at most 100), leaving out
//! `.gitignore`d files, common dependency/build/cache directories and any extra `ignore` globs.
//! Behaves like OpenCode's `list` (`ls.ts`), inside the component's project sandbox.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use wasmcode_plugin::{Context, JsonSchema, Output, Permission, Tool, ToolError};
use wasmcode_tool_support::walk;

/// At most this many files are listed.
const LIMIT: usize = 100;

/// Directories and files left out of every listing: dependencies, build output, caches and
/// editor state, which would crowd out the project's own files.
const IGNORED: &[&str] = &[
    "node_modules/",
    "__pycache__/",
    ".git/",
    "dist/",
    "build/",
    "target/",
    "vendor/",
    "bin/",
    "obj/",
    ".idea/",
    ".vscode/",
    ".zig-cache/",
    "zig-out",
    ".coverage",
    "coverage/",
    "tmp/",
    "temp/",
    ".cache/",
    "cache/",
    "logs/",
    ".venv/",
    "venv/",
    "env/",
];

#[derive(Deserialize, JsonSchema)]
pub struct Args {
    /// The absolute path to the directory to list (must be absolute, not relative)
    path: Option<String>,
    /// List of glob patterns to ignore
    ignore: Option<Vec<String>>,
}

pub struct ListTool;

impl Tool for ListTool {
    const ID: &'static str = "list";
    const DESCRIPTION: &'static str = include_str!("list.txt");
    type Args = Args;

    fn execute(args: Args, ctx: &Context) -> Result<Output, ToolError> {
        let search = ctx.resolve(args.path.as_deref().unwrap_or("."))?;
        let shown = ctx.display(&search);
        ctx.ask(
            Permission::new("list", vec![shown.clone()])
                .always(vec!["*".into()])
                .metadata(serde_json::json!({ "path": shown })),
        )?;
        match std::fs::metadata(&search) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(ToolError::failed(format!("{shown} is not a directory"))),
            Err(_) => return Err(ToolError::failed(format!("Directory not found: {shown}"))),
        }

        let walk = walk::walk(&search, &ignore_globs(args.ignore.as_deref().unwrap_or_default()))
            .map_err(ToolError::failed)?;
        let files: Vec<String> = walk::files(walk)
            .take(LIMIT)
            .filter_map(|path| relative_to(&path, &search).map(|p| p.to_string_lossy().replace('\\', "/")))
            .collect();

        Ok(
            Output::new(walk::title(&search), format!("{shown}/\n{}", render_tree(&files))).metadata(
                serde_json::json!({
                    "count": files.len(),
                    "truncated": files.len() >= LIMIT,
                }),
            ),
        )
    }
}

/// `path` relative to the listed directory `base` (both project-relative).
fn relative_to<'a>(path: &'a Path, base: &Path) -> Option<&'a Path> {
    if walk::clean(base) == Path::new(".") {
        Some(path)
    } else {
        path.strip_prefix(base).ok()
    }
}

/// Ripgrep-style exclusion globs: the built-in directories, then the caller's patterns.
fn ignore_globs(extra: &[String]) -> Vec<String> {
    IGNORED
        .iter()
        .map(|p| format!("!{p}*"))
        .chain(extra.iter().map(|p| format!("!{p}")))
        .collect()
}

/// The directory part of a `/`-separated relative path, `.` at the top (like Node's
/// `path.dirname`).
fn dirname(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[..i],
        None => ".",
    }
}

/// The files as a tree: each directory's subdirectories first, then its files, both sorted,
/// indented two spaces per level.
fn render_tree(files: &[String]) -> String {
    let mut dirs: BTreeSet<&str> = BTreeSet::new();
    let mut by_dir: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for file in files {
        let dir = dirname(file);
        dirs.insert(".");
        let mut ancestor = dir;
        while ancestor != "." {
            dirs.insert(ancestor);
            ancestor = dirname(ancestor);
        }
        let name = if dir == "." {
            file.as_str()
        } else {
            &file[dir.len() + 1..]
        };
        by_dir.entry(dir).or_default().push(name);
    }
    let mut out = String::new();
    render_dir(".", 0, &dirs, &mut by_dir, &mut out);
    out
}

fn render_dir<'a>(
    dir: &'a str,
    depth: usize,
    dirs: &BTreeSet<&'a str>,
    by_dir: &mut BTreeMap<&'a str, Vec<&'a str>>,
    out: &mut String,
) {
    if depth > 0 {
        let name = dir.rsplit('/').next().unwrap_or(dir);
        out.push_str(&format!("{}{name}/\n", "  ".repeat(depth)));
    }
    for child in dirs.iter().filter(|d| **d != dir && dirname(d) == dir) {
        render_dir(child, depth + 1, dirs, by_dir, out);
    }
    if let Some(mut names) = by_dir.remove(dir) {
        names.sort_unstable();
        for name in names {
            out.push_str(&format!("{}{name}\n", "  ".repeat(depth + 1)));
        }
    }
}

wasmcode_plugin::export_tools!(ListTool);

#[cfg(test)]
mod tests {
    use super::*;
    use wasmcode_tool_support::walk::Scratch;

    #[test]
    fn renders_directories_before_files() {
        let files: Vec<String> = ["b.txt", "src/main.rs", "a.txt", "src/util/x.rs", "docs/guide.md"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            render_tree(&files),
            "  docs/\n    guide.md\n  src/\n    util/\n      x.rs\n    main.rs\n  a.txt\n  b.txt\n"
        );
    }

    #[test]
    fn empty_directory_renders_nothing() {
        assert_eq!(render_tree(&[]), "");
    }

    #[test]
    fn leaves_out_builtin_and_extra_ignores() {
        let dir = Scratch::new("list");
        dir.file("node_modules/pkg/index.js", "")
            .file("target/debug/app", "")
            .file("src/lib.rs", "")
            .file("notes.log", "")
            .file("README.md", "");
        let globs = ignore_globs(&["*.log".to_string()]);
        let globs: Vec<&str> = globs.iter().map(String::as_str).collect();
        assert_eq!(dir.walk(&globs), ["README.md", "src/lib.rs"]);
    }

    #[test]
    fn paths_are_relative_to_the_listed_directory() {
        assert_eq!(
            relative_to(Path::new("src/a.rs"), Path::new(".")),
            Some(Path::new("src/a.rs"))
        );
        assert_eq!(
            relative_to(Path::new("src/a.rs"), Path::new("src")),
            Some(Path::new("a.rs"))
        );
    }

    #[test]
    fn dirname_is_like_node() {
        assert_eq!(dirname("a/b/c.rs"), "a/b");
        assert_eq!(dirname("c.rs"), ".");
    }

    #[test]
    fn schema_matches_opencode() {
        let schema = wasmcode_plugin::schema_of::<Args>();
        assert!(
            schema
                .get("required")
                .is_none_or(|r| r.as_array().is_some_and(|r| r.is_empty()))
        );
        assert_eq!(schema["properties"]["ignore"]["type"], "array");
        assert_eq!(schema["properties"]["ignore"]["items"]["type"], "string");
    }
}
