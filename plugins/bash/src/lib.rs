//! The `bash` tool: runs a command with `bash -c` in the project (or a `workdir` inside it)
//! through the host's `process` capability, after asking the `bash` permission. Output is
//! stdout and stderr interleaved, capped at 2000 lines / 50 KiB; a command that fails still
//! returns its output, with the exit code in the metadata. Behaves like OpenCode's `bash`.

mod external;

use std::borrow::Cow;
use std::path::Path;

use serde::Deserialize;
use wasmcode_plugin::process::{self, ProcessError, RunOutput, RunRequest};
use wasmcode_plugin::schemars::{Schema, SchemaGenerator, json_schema};
use wasmcode_plugin::{Context, JsonSchema, Output, Permission, Tool, ToolError};

/// Commands are killed after this long unless the call sets `timeout`.
const DEFAULT_TIMEOUT_MS: u32 = 2 * 60 * 1000;
/// Output beyond this many bytes is dropped by the host.
const MAX_BYTES: usize = 50 * 1024;
/// Output beyond this many lines is dropped here.
const MAX_LINES: usize = 2000;
/// The copy of the output in the metadata (for clients) is cut at this many characters.
const MAX_METADATA_LENGTH: usize = 30_000;

#[derive(Deserialize, JsonSchema)]
pub struct Args {
    /// The command to execute
    command: String,
    /// Optional timeout in milliseconds
    timeout: Option<Timeout>,
    /// The working directory to run the command in. Defaults to the current directory. Use this instead of 'cd' commands.
    workdir: Option<String>,
    /// A few words on what the command does. Models trained on OpenCode send it; it is accepted
    /// but, as in the reference schema, not advertised.
    #[serde(default)]
    #[schemars(skip)]
    description: Option<String>,
}

/// A timeout in milliseconds; its own type only to give it the reference's schema.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct Timeout(i64);

impl JsonSchema for Timeout {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Timeout".into()
    }

    /// A positive integer within JavaScript's safe range, as zod describes OpenCode's parameter.
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "integer",
            "exclusiveMinimum": 0,
            "minimum": -9_007_199_254_740_991_i64,
            "maximum": 9_007_199_254_740_991_i64,
        })
    }
}

pub struct BashTool;

impl Tool for BashTool {
    const ID: &'static str = "bash";
    const DESCRIPTION: &'static str = include_str!("bash.txt");
    type Args = Args;

    fn execute(args: Args, ctx: &Context) -> Result<Output, ToolError> {
        let timeout_ms = match args.timeout.map(|t| t.0) {
            None => DEFAULT_TIMEOUT_MS,
            Some(ms) if ms > 0 => u32::try_from(ms).unwrap_or(u32::MAX),
            Some(ms) => {
                return Err(ToolError::invalid_args(format!(
                    "Invalid timeout value: {ms}. Timeout must be a positive number."
                )));
            }
        };
        let workdir = ctx.resolve(args.workdir.as_deref().unwrap_or("."))?;

        // Directories outside the project the command names are the user's to allow first; the
        // host's sandbox then opens exactly those to the command.
        let outside = external::directories(
            &args.command,
            Path::new(&ctx.display(&workdir)),
            Path::new(&ctx.directory),
        );
        if !outside.is_empty() {
            let patterns: Vec<String> = outside.iter().map(|dir| format!("{}/*", dir.display())).collect();
            ctx.ask(
                Permission::new("external_directory", patterns.clone())
                    .always(patterns)
                    .metadata(serde_json::json!({ "command": args.command })),
            )?;
        }

        let mut asked = serde_json::json!({ "command": args.command });
        let mut running = serde_json::json!({ "output": "" });
        if let Some(description) = &args.description {
            asked["description"] = description.clone().into();
            running["description"] = description.clone().into();
        }
        ctx.ask(
            Permission::new("bash", vec![args.command.clone()])
                .always(vec![always_pattern(&args.command)])
                .metadata(asked),
        )?;
        ctx.progress(&args.command, running);

        let run = process::run(&RunRequest {
            command: args.command.clone(),
            workdir: workdir.to_string_lossy().into_owned(),
            timeout_ms,
            output_limit: MAX_BYTES as u32,
        })
        .map_err(process_error)?;

        let result = Formatted::new(&run, timeout_ms);
        Ok(
            Output::new(args.command, result.output).metadata(serde_json::json!({
                "output": result.metadata_output,
                "exit": run.exit_code,
                "truncated": result.truncated,
            })),
        )
    }
}

/// What "always allow" remembers: the command's program with any arguments (`git *`).
fn always_pattern(command: &str) -> String {
    match command.split_whitespace().next() {
        Some(program) => format!("{program} *"),
        None => command.to_string(),
    }
}

fn process_error(error: ProcessError) -> ToolError {
    match error {
        ProcessError::Denied(m) => ToolError::failed(format!("This plugin may not run commands: {m}")),
        ProcessError::InvalidWorkdir(m) => ToolError::failed(format!("Invalid workdir: {m}")),
        ProcessError::SpawnFailed(m) => ToolError::failed(format!("Cannot run the command: {m}")),
    }
}

/// A finished command's output, as the model and clients see it.
#[derive(Debug, PartialEq)]
struct Formatted {
    /// For the model: the output (or `(no output)`) and notes on truncation and timeout.
    output: String,
    /// For clients: the output with the notes, cut at `MAX_METADATA_LENGTH` characters.
    metadata_output: String,
    truncated: bool,
}

impl Formatted {
    fn new(run: &RunOutput, timeout_ms: u32) -> Self {
        let (text, cut_lines) = first_lines(&run.output, MAX_LINES);
        let truncated = run.truncated || cut_lines;
        let mut notes = String::new();
        if truncated {
            notes.push_str(&format!(
                "\n\n...output truncated...\n\nThe output exceeded {MAX_LINES} lines or {MAX_BYTES} bytes and only its beginning \
                 is shown; the rest was not kept. To see all of it, rerun the command with its output redirected to a file \
                 and search that file with the Grep and Read tools."
            ));
        }
        if run.timed_out {
            notes.push_str(&format!(
                "\n\n<shell_metadata>\nshell tool terminated command after exceeding timeout {timeout_ms} ms. If this \
                 command is expected to take longer and is not waiting for interactive input, retry with a larger \
                 timeout value in milliseconds.\n</shell_metadata>"
            ));
        }
        let body = if text.is_empty() { "(no output)" } else { text };
        let full = format!("{text}{notes}");
        let metadata_output = match full.char_indices().nth(MAX_METADATA_LENGTH) {
            Some((cut, _)) => format!("{}\n\n...", &full[..cut]),
            None => full,
        };
        Self {
            output: format!("{body}{notes}"),
            metadata_output,
            truncated,
        }
    }
}

/// The first `max` lines of `text` (with their line endings) and whether any were dropped.
fn first_lines(text: &str, max: usize) -> (&str, bool) {
    match text.match_indices('\n').nth(max - 1) {
        Some((end, _)) if end + 1 < text.len() => (&text[..=end], true),
        _ => (text, false),
    }
}

wasmcode_plugin::export_tools!(BashTool);

#[cfg(test)]
mod tests {
    use super::*;

    fn run(output: &str, exit: Option<i32>, truncated: bool, timed_out: bool) -> RunOutput {
        RunOutput {
            exit_code: exit,
            output: output.into(),
            truncated,
            timed_out,
        }
    }

    #[test]
    fn plain_output_is_passed_through() {
        let f = Formatted::new(&run("hello-from-bash\n", Some(0), false, false), 1000);
        assert_eq!(f.output, "hello-from-bash\n");
        assert_eq!(f.metadata_output, "hello-from-bash\n");
        assert!(!f.truncated);
    }

    #[test]
    fn empty_output_says_so_to_the_model_only() {
        let f = Formatted::new(&run("", Some(1), false, false), 1000);
        assert_eq!(f.output, "(no output)");
        assert_eq!(f.metadata_output, "");
    }

    #[test]
    fn timeout_adds_a_note() {
        let f = Formatted::new(&run("partial\n", None, false, true), 120_000);
        assert!(f.output.starts_with(
            "partial\n\n\n<shell_metadata>\nshell tool terminated command after exceeding timeout 120000 ms."
        ));
        assert!(f.output.ends_with("\n</shell_metadata>"));
        assert!(f.metadata_output.contains("exceeding timeout 120000 ms"));
    }

    #[test]
    fn host_truncation_and_line_cap_are_reported() {
        let f = Formatted::new(&run("abc", Some(0), true, false), 1000);
        assert!(f.truncated);
        assert!(f.output.starts_with("abc\n\n...output truncated...\n\n"));

        let many = "x\n".repeat(MAX_LINES + 5);
        let f = Formatted::new(&run(&many, Some(0), false, false), 1000);
        assert!(f.truncated);
        assert_eq!(f.output.matches("x\n").count(), MAX_LINES);

        let exact = "x\n".repeat(MAX_LINES);
        assert!(!Formatted::new(&run(&exact, Some(0), false, false), 1000).truncated);
    }

    #[test]
    fn metadata_copy_is_capped() {
        let long = "y".repeat(MAX_METADATA_LENGTH + 10);
        let f = Formatted::new(&run(&long, Some(0), false, false), 1000);
        assert_eq!(f.metadata_output.len(), MAX_METADATA_LENGTH + 5);
        assert!(f.metadata_output.ends_with("y\n\n..."));
        assert_eq!(f.output, long);
    }

    #[test]
    fn always_pattern_is_the_program() {
        assert_eq!(always_pattern("git status --short"), "git *");
        assert_eq!(always_pattern("  ls"), "ls *");
    }

    #[test]
    fn schema_matches_the_reference() {
        let schema = wasmcode_plugin::schema_of::<Args>();
        let reference = serde_json::json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "command": { "type": "string", "description": "The command to execute" },
                "timeout": {
                    "minimum": -9007199254740991_i64,
                    "exclusiveMinimum": 0,
                    "type": "integer",
                    "maximum": 9007199254740991_i64,
                    "description": "Optional timeout in milliseconds"
                },
                "workdir": {
                    "type": "string",
                    "description": "The working directory to run the command in. Defaults to the current directory. Use this instead of 'cd' commands."
                }
            },
            "required": ["command"]
        });
        assert_eq!(schema, reference);
    }

    #[test]
    fn description_is_accepted_though_not_advertised() {
        let args: Args =
            serde_json::from_str(r#"{"command":"ls","description":"Lists files"}"#).expect("valid");
        assert_eq!(args.description.as_deref(), Some("Lists files"));
    }
}
