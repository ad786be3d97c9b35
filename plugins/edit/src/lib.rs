//! The `edit` tool: replaces `oldString` with `newString` in a file, exactly or through
//! OpenCode's lenient matchers, after asking the `edit` permission with the diff. An empty
//! `oldString` writes `newString` as the whole file. Behaves like OpenCode's `edit`, inside the
//! component's project sandbox.

use wasmcode_tool_support::{diff, edit};
mod replace;

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use serde::Deserialize;
use wasmcode_plugin::{Context, JsonSchema, Output, Tool, ToolError};

use crate::replace::{ReplaceError, replace};

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Args {
    /// The absolute path to the file to modify
    file_path: String,
    /// The text to replace
    old_string: String,
    /// The text to replace it with (must be different from oldString)
    new_string: String,
    /// Replace all occurrences of oldString (default false)
    replace_all: Option<bool>,
}

pub struct EditTool;

impl Tool for EditTool {
    const ID: &'static str = "edit";
    const DESCRIPTION: &'static str = include_str!("edit.txt");
    type Args = Args;

    fn execute(args: Args, ctx: &Context) -> Result<Output, ToolError> {
        if args.old_string == args.new_string {
            return Err(ToolError::failed(ReplaceError::Identical.message()));
        }
        let relative = ctx.resolve(&args.file_path)?;
        let shown = ctx.display(&relative);

        let (before, after) = if args.old_string.is_empty() {
            // Nothing to find: the new text becomes the file, which may not exist yet.
            (String::new(), args.new_string.clone())
        } else {
            let before = read_existing(&relative, &shown)?;
            let ending = if before.contains("\r\n") { "\r\n" } else { "\n" };
            let old = with_line_ending(&args.old_string, ending);
            let new = with_line_ending(&args.new_string, ending);
            let after = replace(&before, &old, &new, args.replace_all.unwrap_or(false))
                .map_err(|e| ToolError::failed(e.message()))?;
            (before, after)
        };

        let diff = diff::file_diff(
            &shown,
            &normalize_line_endings(&before),
            &normalize_line_endings(&after),
        );
        edit::ask_and_write(ctx, &relative, &shown, &diff, &after)?;

        Ok(
            Output::new(edit::project_path(&relative), "Edit applied successfully.")
                .metadata(serde_json::json!({
                    "diagnostics": {},
                    "diff": diff.patch,
                    "filediff": {
                        "file": shown,
                        "patch": diff.patch,
                        "additions": diff.additions,
                        "deletions": diff.deletions,
                    },
                    "truncated": false,
                }))
                .changed(shown),
        )
    }
}

/// The text of an existing regular file, or the error OpenCode gives for a missing file or a
/// directory.
fn read_existing(relative: &Path, shown: &str) -> Result<String, ToolError> {
    match fs::metadata(relative) {
        Ok(meta) if meta.is_dir() => {
            return Err(ToolError::failed(format!(
                "Path is a directory, not a file: {shown}"
            )));
        }
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(ToolError::failed(format!("File {shown} not found")));
        }
        Err(e) => return Err(ToolError::failed(format!("Cannot read {shown}: {e}"))),
    }
    fs::read_to_string(relative).map_err(|e| ToolError::failed(format!("Cannot read {shown}: {e}")))
}

fn normalize_line_endings(text: &str) -> String {
    text.replace("\r\n", "\n")
}

/// `text` with its line endings converted to `ending`, so a search written with `\n` still
/// matches a CRLF file and the replacement keeps the file's style.
fn with_line_ending(text: &str, ending: &str) -> String {
    let normalized = normalize_line_endings(text);
    if ending == "\n" {
        normalized
    } else {
        normalized.replace('\n', ending)
    }
}

wasmcode_plugin::export_tools!(EditTool);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_search_text_to_the_file_line_ending() {
        assert_eq!(with_line_ending("a\nb\r\nc", "\r\n"), "a\r\nb\r\nc");
        assert_eq!(with_line_ending("a\r\nb", "\n"), "a\nb");
    }

    #[test]
    fn edits_a_crlf_file_with_an_lf_search() {
        let before = "one\r\ntwo\r\nthree\r\n";
        let after = replace(
            before,
            &with_line_ending("one\ntwo", "\r\n"),
            &with_line_ending("1\n2", "\r\n"),
            false,
        );
        assert_eq!(after, Ok("1\r\n2\r\nthree\r\n".into()));
    }

    #[test]
    fn schema_matches_the_reference() {
        // `parameters` of `edit` in OpenCode's `GET /experimental/tool` answer.
        let reference: serde_json::Value = serde_json::from_str(
            r#"{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "properties": {"filePath": {"type": "string", "description": "The absolute path to the file to modify"}, "oldString": {"type": "string", "description": "The text to replace"}, "newString": {"type": "string", "description": "The text to replace it with (must be different from oldString)"}, "replaceAll": {"type": "boolean", "description": "Replace all occurrences of oldString (default false)"}}, "required": ["filePath", "oldString", "newString"]}"#,
        )
        .expect("valid JSON");
        assert_eq!(wasmcode_plugin::schema_of::<Args>(), reference);
    }
}
