//! The `glob` tool: the files under a directory whose path matches a glob pattern, newest first,
//! at most 100. Matching follows ripgrep's `--glob` rules (a pattern without `/` matches at any
//! depth) and `.gitignore`, as OpenCode's ripgrep-backed `glob` does.

use std::path::PathBuf;
use std::time::SystemTime;

use serde::Deserialize;
use wasmcode_plugin::{Context, JsonSchema, Output, Permission, Tool, ToolError};
use wasmcode_tool_support::walk;

/// At most this many files are listed.
const LIMIT: usize = 100;

#[derive(Deserialize, JsonSchema)]
pub struct Args {
    /// The glob pattern to match files against
    pattern: String,
    /// The directory to search in. If not specified, the current working directory will be used. IMPORTANT: Omit this field to use the default directory. DO NOT enter "undefined" or "null" - simply omit it for the default behavior. Must be a valid directory path if provided.
    path: Option<String>,
}

pub struct GlobTool;

impl Tool for GlobTool {
    const ID: &'static str = "glob";
    const DESCRIPTION: &'static str = include_str!("glob.txt");
    type Args = Args;

    fn execute(args: Args, ctx: &Context) -> Result<Output, ToolError> {
        let mut asked = serde_json::json!({ "pattern": args.pattern });
        if let Some(path) = &args.path {
            asked["path"] = path.clone().into();
        }
        ctx.ask(
            Permission::new("glob", vec![args.pattern.clone()])
                .always(vec!["*".into()])
                .metadata(asked),
        )?;

        let search = ctx.resolve(args.path.as_deref().unwrap_or("."))?;
        let shown = ctx.display(&search);
        match std::fs::metadata(&search) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(ToolError::failed(format!(
                    "glob path must be a directory: {shown}"
                )));
            }
            Err(_) => return Err(ToolError::failed(format!("Search path not found: {shown}"))),
        }

        let walk = walk::walk(&search, std::slice::from_ref(&args.pattern)).map_err(ToolError::failed)?;
        let found: Vec<(Option<SystemTime>, PathBuf)> =
            walk::files(walk).map(|path| (walk::mtime(&path), path)).collect();
        let listing = Listing::new(found);
        let paths: Vec<String> = listing.files.iter().map(|path| ctx.display(path)).collect();

        Ok(
            Output::new(walk::title(&search), render(&paths, listing.truncated)).metadata(
                serde_json::json!({
                    "count": listing.files.len(),
                    "truncated": listing.truncated,
                }),
            ),
        )
    }
}

/// The files to show: the newest `LIMIT` of everything that matched.
struct Listing {
    files: Vec<PathBuf>,
    truncated: bool,
}

impl Listing {
    fn new(mut found: Vec<(Option<SystemTime>, PathBuf)>) -> Self {
        walk::sort_newest_first(&mut found, |(time, path)| (*time, path.as_path()));
        let truncated = found.len() > LIMIT;
        found.truncate(LIMIT);
        Self {
            files: found.into_iter().map(|(_, path)| path).collect(),
            truncated,
        }
    }
}

/// OpenCode's output: one absolute path per line, a note when the list was cut.
fn render(paths: &[String], truncated: bool) -> String {
    if paths.is_empty() {
        return "No files found".into();
    }
    let mut out = paths.join("\n");
    if truncated {
        out.push_str(&format!(
            "\n\n(Results are truncated: showing first {LIMIT} results. Consider using a more specific path or pattern.)"
        ));
    }
    out
}

wasmcode_plugin::export_tools!(GlobTool);

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use wasmcode_tool_support::walk::Scratch;

    fn at(secs: u64) -> Option<SystemTime> {
        Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
    }

    #[test]
    fn caps_at_the_newest_hundred() {
        let found: Vec<_> = (0..150u64)
            .map(|i| (at(i), PathBuf::from(format!("f{i:03}"))))
            .collect();
        let listing = Listing::new(found);
        assert!(listing.truncated);
        assert_eq!(listing.files.len(), LIMIT);
        assert_eq!(listing.files[0], Path::new("f149"));
        assert_eq!(listing.files[99], Path::new("f050"));
    }

    #[test]
    fn exactly_the_limit_is_not_truncated() {
        let found: Vec<_> = (0..100u64)
            .map(|i| (at(i), PathBuf::from(format!("f{i}"))))
            .collect();
        assert!(!Listing::new(found).truncated);
    }

    #[test]
    fn renders_paths_and_the_truncation_note() {
        assert_eq!(render(&[], false), "No files found");
        assert_eq!(render(&["/p/a".into(), "/p/b".into()], false), "/p/a\n/p/b");
        assert!(render(&["/p/a".into()], true).ends_with(
            "/p/a\n\n(Results are truncated: showing first 100 results. Consider using a more specific path or pattern.)"
        ));
    }

    #[test]
    fn matches_like_ripgrep_globs() {
        let dir = Scratch::new("glob");
        dir.file("a.ts", "")
            .file("src/b.ts", "")
            .file("src/deep/c.ts", "")
            .file("src/d.js", "");
        assert_eq!(dir.walk(&["*.ts"]), ["a.ts", "src/b.ts", "src/deep/c.ts"]);
        assert_eq!(dir.walk(&["src/**/*.ts"]), ["src/b.ts", "src/deep/c.ts"]);
        assert_eq!(dir.walk(&["*.{js,ts}"]).len(), 4);
    }

    #[test]
    fn schema_matches_the_reference() {
        // `parameters` of `glob` in OpenCode's `GET /experimental/tool` answer.
        let reference: serde_json::Value = serde_json::from_str(
            r#"{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "properties": {"pattern": {"type": "string", "description": "The glob pattern to match files against"}, "path": {"type": "string", "description": "The directory to search in. If not specified, the current working directory will be used. IMPORTANT: Omit this field to use the default directory. DO NOT enter \"undefined\" or \"null\" - simply omit it for the default behavior. Must be a valid directory path if provided."}}, "required": ["pattern"]}"#,
        )
        .expect("valid JSON");
        assert_eq!(wasmcode_plugin::schema_of::<Args>(), reference);
    }
}
