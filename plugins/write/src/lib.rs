//! The `write` tool: creates or overwrites a file (and its missing parent directories) after
//! asking the `edit` permission with the diff. Behaves like OpenCode's `write`, inside the
//! component's project sandbox.

// The diff code is `edit`'s, so both tools show identical diffs in their permission prompts.
use wasmcode_tool_support::{diff, edit};

use std::fs;
use std::io::ErrorKind;

use serde::Deserialize;
use wasmcode_plugin::{Context, JsonSchema, Output, Tool, ToolError};

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Args {
    /// The content to write to the file
    content: String,
    /// The absolute path to the file to write (must be absolute, not relative)
    file_path: String,
}

pub struct WriteTool;

impl Tool for WriteTool {
    const ID: &'static str = "write";
    const DESCRIPTION: &'static str = include_str!("write.txt");
    type Args = Args;

    fn execute(args: Args, ctx: &Context) -> Result<Output, ToolError> {
        let relative = ctx.resolve(&args.file_path)?;
        let shown = ctx.display(&relative);

        let before = match fs::metadata(&relative) {
            Ok(meta) if meta.is_dir() => {
                return Err(ToolError::failed(format!(
                    "Path is a directory, not a file: {shown}"
                )));
            }
            // Only the diff needs the old text, so bytes that are not UTF-8 need not stop the write.
            Ok(_) => Some(
                fs::read(&relative)
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                    .map_err(|e| ToolError::failed(format!("Cannot read {shown}: {e}")))?,
            ),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(ToolError::failed(format!("Cannot read {shown}: {e}"))),
        };
        let exists = before.is_some();

        let diff = diff::file_diff(&shown, before.as_deref().unwrap_or(""), &args.content);
        edit::ask_and_write(ctx, &relative, &shown, &diff, &args.content)?;

        Ok(
            Output::new(edit::project_path(&relative), "Wrote file successfully.")
                .metadata(metadata(&shown, exists))
                .changed(shown),
        )
    }
}

/// The call's metadata, as OpenCode reports it (no language server, so no diagnostics).
fn metadata(shown: &str, exists: bool) -> serde_json::Value {
    serde_json::json!({
        "diagnostics": {},
        "filepath": shown,
        "exists": exists,
        "truncated": false,
    })
}

wasmcode_plugin::export_tools!(WriteTool);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_matches_the_reference() {
        assert_eq!(
            metadata("/home/dev/project/generated.txt", false),
            serde_json::json!({
                "diagnostics": {},
                "filepath": "/home/dev/project/generated.txt",
                "exists": false,
                "truncated": false,
            })
        );
    }

    #[test]
    fn schema_matches_the_reference() {
        // `parameters` of `write` in OpenCode's `GET /experimental/tool` answer.
        let reference: serde_json::Value = serde_json::from_str(
            r#"{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "properties": {"content": {"type": "string", "description": "The content to write to the file"}, "filePath": {"type": "string", "description": "The absolute path to the file to write (must be absolute, not relative)"}}, "required": ["content", "filePath"]}"#,
        )
        .expect("valid JSON");
        assert_eq!(wasmcode_plugin::schema_of::<Args>(), reference);
    }
}
