//! `wordcount`: an example wasmcode tool plugin. Counts the lines, words and bytes of a file in
//! the project, like `wc`, after asking for the `read` permission the way the built-in `read`
//! tool does.

use std::io::ErrorKind;

use serde::Deserialize;
use wasmcode_plugin::{Context, JsonSchema, Output, Permission, Tool, ToolError, export_tools};

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Args {
    /// The absolute path to the file to count, or a path relative to the project
    file_path: String,
}

/// Line, word and byte counts of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Lines, counting a last line that has no final newline.
    pub lines: usize,
    /// Runs of non-whitespace bytes.
    pub words: usize,
    pub bytes: usize,
}

/// Counts `data` the way `wc` does, except that a last line without a newline counts as a line.
pub fn count(data: &[u8]) -> Counts {
    let newlines = data.iter().filter(|&&b| b == b'\n').count();
    let unterminated = usize::from(data.last().is_some_and(|&b| b != b'\n'));
    let words = data
        .split(|b| b.is_ascii_whitespace())
        .filter(|word| !word.is_empty())
        .count();
    Counts {
        lines: newlines + unterminated,
        words,
        bytes: data.len(),
    }
}

pub struct WordCount;

impl Tool for WordCount {
    const ID: &'static str = "wordcount";
    const DESCRIPTION: &'static str = "Counts the lines, words and bytes of a file in the project.\n\n\
        Usage:\n\
        - The filePath parameter should be an absolute path, or a path relative to the project.\n\
        - Words are runs of non-whitespace characters; a last line without a newline counts as a line.";
    type Args = Args;

    fn execute(args: Args, ctx: &Context) -> Result<Output, ToolError> {
        // The component sees the project as `.`: turn the model's path into a relative one.
        let relative = ctx.resolve(&args.file_path)?;
        let shown = ctx.display(&relative);

        ctx.ask(Permission::new("read", vec![shown.clone()]).always(vec!["*".into()]))?;

        let data = std::fs::read(&relative).map_err(|e| match e.kind() {
            ErrorKind::NotFound => ToolError::failed(format!("File not found: {shown}")),
            ErrorKind::IsADirectory => ToolError::failed(format!("{shown} is a directory, not a file")),
            _ => ToolError::failed(format!("Cannot read {shown}: {e}")),
        })?;
        let counts = count(&data);
        Ok(Output::new(
            relative.to_string_lossy(),
            format!(
                "{} lines, {} words, {} bytes",
                counts.lines, counts.words, counts.bytes
            ),
        )
        .metadata(serde_json::json!({
            "lines": counts.lines,
            "words": counts.words,
            "bytes": counts.bytes,
        })))
    }
}

export_tools!(WordCount);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_like_wc() {
        assert_eq!(
            count(b""),
            Counts {
                lines: 0,
                words: 0,
                bytes: 0
            }
        );
        assert_eq!(
            count(b"one two\nthree\n"),
            Counts {
                lines: 2,
                words: 3,
                bytes: 14
            }
        );
        assert_eq!(
            count(b"no newline"),
            Counts {
                lines: 1,
                words: 2,
                bytes: 10
            }
        );
        assert_eq!(
            count(b"  \n\n\t x  \n"),
            Counts {
                lines: 3,
                words: 1,
                bytes: 10
            }
        );
    }
}
