//! The `read` tool: a text file with numbered lines (offset/limit, long-line and size caps), or a
//! directory's entries. Behaves like OpenCode's `read`, inside the component's project sandbox.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;
use wasmcode_plugin::{Context, JsonSchema, Output, Permission, Tool, ToolError, export_tools};

const DEFAULT_READ_LIMIT: usize = 2000;
const MAX_LINE_LENGTH: usize = 2000;
const MAX_BYTES: usize = 50 * 1024;
/// How much of a file's start decides whether it is binary.
const SAMPLE_BYTES: usize = 4096;

/// Extensions that are binary whatever their first bytes say.
const BINARY_EXTENSIONS: &[&str] = &[
    "zip", "tar", "gz", "exe", "dll", "so", "class", "jar", "war", "7z", "doc", "docx", "xls", "xlsx", "ppt",
    "pptx", "odt", "ods", "odp", "bin", "dat", "obj", "o", "a", "lib", "wasm", "pyc", "pyo",
];

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Args {
    /// The absolute path to the file or directory to read
    file_path: String,
    /// The line number to start reading from (1-indexed)
    offset: Option<u64>,
    /// The maximum number of lines to read (defaults to 2000)
    limit: Option<u64>,
}

pub struct ReadTool;

impl Tool for ReadTool {
    const ID: &'static str = "read";
    const DESCRIPTION: &'static str = include_str!("read.txt");
    type Args = Args;

    fn execute(args: Args, ctx: &Context) -> Result<Output, ToolError> {
        if args.offset == Some(0) {
            return Err(ToolError::failed("offset must be greater than or equal to 1"));
        }
        let relative = ctx.resolve(&args.file_path)?;
        let shown = ctx.display(&relative);
        let title = relative.to_string_lossy().into_owned();

        // Rules match project-relative paths (`*.env`), as OpenCode's patterns are.
        ctx.ask(Permission::new("read", vec![title.clone()]).always(vec!["*".into()]))?;

        let offset = usize::try_from(args.offset.unwrap_or(1)).unwrap_or(usize::MAX);
        let limit = usize::try_from(args.limit.unwrap_or(DEFAULT_READ_LIMIT as u64)).unwrap_or(usize::MAX);
        let cannot_read = |e: std::io::Error| ToolError::failed(format!("Cannot read {shown}: {e}"));

        // One open and one stat per call: every filesystem call crosses the sandbox boundary.
        let file = match fs::File::open(&relative) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(not_found(&relative, &shown, ctx));
            }
            Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => {
                return read_directory(&relative, &shown, title, offset, limit);
            }
            Err(e) => return Err(cannot_read(e)),
        };
        let meta = file.metadata().map_err(cannot_read)?;
        if meta.is_dir() {
            return read_directory(&relative, &shown, title, offset, limit);
        }
        let mut reader = BufReader::with_capacity(SAMPLE_BYTES * 2, file);
        let sample = reader.fill_buf().map_err(cannot_read)?;
        if is_binary(&relative, meta.len(), &sample[..sample.len().min(SAMPLE_BYTES)]) {
            return Err(ToolError::failed(format!("Cannot read binary file: {shown}")));
        }
        read_file(reader, &shown, title, offset, limit)
    }
}

fn not_found(relative: &Path, shown: &str, ctx: &Context) -> ToolError {
    let dir = relative
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = relative
        .file_name()
        .map(|b| b.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mut suggestions: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| {
            let lower = name.to_lowercase();
            !base.is_empty() && (lower.contains(&base) || base.contains(&lower))
        })
        .map(|name| ctx.display(&dir.join(name)))
        .collect();
    suggestions.sort();
    suggestions.truncate(3);
    if suggestions.is_empty() {
        ToolError::failed(format!("File not found: {shown}"))
    } else {
        ToolError::failed(format!(
            "File not found: {shown}\n\nDid you mean one of these?\n{}",
            suggestions.join("\n")
        ))
    }
}

fn read_directory(
    relative: &Path,
    shown: &str,
    title: String,
    offset: usize,
    limit: usize,
) -> Result<Output, ToolError> {
    let entries =
        fs::read_dir(relative).map_err(|e| ToolError::failed(format!("Cannot read {shown}: {e}")))?;
    let mut items: Vec<String> = entries
        .flatten()
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            // `metadata` follows symlinks, so a link to a directory is listed as one; a link that
            // leads out of the project cannot be followed and is listed as a plain entry.
            let is_dir = fs::metadata(entry.path()).map(|m| m.is_dir()).unwrap_or(false);
            if is_dir { format!("{name}/") } else { name }
        })
        .collect();
    items.sort_by_key(|item| item.to_lowercase());

    let start = offset - 1;
    let sliced: Vec<&String> = items.iter().skip(start).take(limit).collect();
    let truncated = start + sliced.len() < items.len();
    let listing = sliced.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n");
    let footer = if truncated {
        format!(
            "\n(Showing {} of {} entries. Use 'offset' parameter to read beyond entry {})",
            sliced.len(),
            items.len(),
            offset + sliced.len()
        )
    } else {
        format!("\n({} entries)", items.len())
    };
    let output =
        format!("<path>{shown}</path>\n<type>directory</type>\n<entries>\n{listing}\n{footer}\n</entries>");
    let preview = sliced
        .iter()
        .take(20)
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Output::new(title, output).metadata(serde_json::json!({
        "preview": preview,
        "truncated": truncated,
        "loaded": [],
    })))
}

/// Lines `offset..offset+limit` of a text file, each cut at `MAX_LINE_LENGTH` chars, stopping
/// once `MAX_BYTES` of output is reached.
struct Window {
    lines: Vec<String>,
    /// Total lines in the file (counted to the end unless the byte cap stopped reading).
    count: usize,
    /// More lines follow the window.
    more: bool,
    /// The byte cap cut the window short.
    cut: bool,
}

fn window(reader: impl BufRead, offset: usize, limit: usize) -> std::io::Result<Window> {
    let mut window = Window {
        lines: Vec::new(),
        count: 0,
        more: false,
        cut: false,
    };
    let mut bytes = 0usize;
    for line in reader.split(b'\n') {
        let mut line = line?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        window.count += 1;
        if window.count < offset {
            continue;
        }
        if window.lines.len() >= limit {
            window.more = true;
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        let text = if text.chars().count() > MAX_LINE_LENGTH {
            let cut: String = text.chars().take(MAX_LINE_LENGTH).collect();
            format!("{cut}... (line truncated to {MAX_LINE_LENGTH} chars)")
        } else {
            text.into_owned()
        };
        let size = text.len() + usize::from(!window.lines.is_empty());
        if bytes + size > MAX_BYTES {
            window.cut = true;
            window.more = true;
            break;
        }
        bytes += size;
        window.lines.push(text);
    }
    Ok(window)
}

fn read_file(
    reader: impl BufRead,
    shown: &str,
    title: String,
    offset: usize,
    limit: usize,
) -> Result<Output, ToolError> {
    let file =
        window(reader, offset, limit).map_err(|e| ToolError::failed(format!("Cannot read {shown}: {e}")))?;
    if file.count < offset && !(file.count == 0 && offset == 1) {
        return Err(ToolError::failed(format!(
            "Offset {offset} is out of range for this file ({} lines)",
            file.count
        )));
    }

    let mut output = format!("<path>{shown}</path>\n<type>file</type>\n<content>\n");
    for (i, line) in file.lines.iter().enumerate() {
        if i > 0 {
            output.push('\n');
        }
        output.push_str(&format!("{}: {line}", i + offset));
    }
    let last = offset + file.lines.len() - usize::from(!file.lines.is_empty());
    let next = last + 1;
    if file.cut {
        output.push_str(&format!(
            "\n\n(Output capped at {} KB. Showing lines {offset}-{last}. Use offset={next} to continue.)",
            MAX_BYTES / 1024
        ));
    } else if file.more {
        output.push_str(&format!(
            "\n\n(Showing lines {offset}-{last} of {}. Use offset={next} to continue.)",
            file.count
        ));
    } else {
        output.push_str(&format!("\n\n(End of file - total {} lines)", file.count));
    }
    output.push_str("\n</content>");

    let preview = file.lines.iter().take(20).cloned().collect::<Vec<_>>().join("\n");
    Ok(Output::new(title, output).metadata(serde_json::json!({
        "preview": preview,
        "truncated": file.more || file.cut,
        "loaded": [],
    })))
}

/// Binary when the extension says so, or the first 4 KiB hold a NUL byte or more than 30%
/// control characters.
fn is_binary(path: &Path, size: u64, sample: &[u8]) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if BINARY_EXTENSIONS.contains(&ext.as_str()) {
        return true;
    }
    if size == 0 || sample.is_empty() {
        return false;
    }
    if sample.contains(&0) {
        return true;
    }
    let control = sample.iter().filter(|&&b| b < 9 || (b > 13 && b < 32)).count();
    control * 10 > sample.len() * 3
}

export_tools!(ReadTool);

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str, offset: usize, limit: usize) -> Window {
        window(text.as_bytes(), offset, limit).expect("in-memory read")
    }

    #[test]
    fn windows_by_offset_and_limit() {
        let w = lines("a\nb\nc\nd\n", 2, 2);
        assert_eq!(w.lines, ["b", "c"]);
        assert!(w.more);
        assert_eq!(w.count, 4);
    }

    #[test]
    fn cuts_long_lines_and_crlf() {
        let long = "x".repeat(MAX_LINE_LENGTH + 5);
        let w = lines(&format!("{long}\r\nend\r\n"), 1, 10);
        assert!(w.lines[0].ends_with("... (line truncated to 2000 chars)"));
        assert_eq!(w.lines[1], "end");
    }

    #[test]
    fn caps_output_bytes() {
        let text = "y".repeat(1000) + "\n";
        let w = lines(&text.repeat(100), 1, 2000);
        assert!(w.cut);
        assert_eq!(w.lines.len(), 51);
    }
}
