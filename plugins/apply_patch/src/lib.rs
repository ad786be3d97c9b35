//! The `apply_patch` tool: adds, updates, moves and deletes several files in one patch (see
//! `patch.rs` for the language), after asking the `edit` permission once with the diff of every
//! file. All or nothing: every hunk is checked against the files before anything is written, and
//! a write that fails undoes the ones before it.

mod patch;

use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;

use serde::Deserialize;
use wasmcode_plugin::{Context, JsonSchema, Output, Permission, Tool, ToolError};
use wasmcode_tool_support::diff::{FileDiff, file_diff};
use wasmcode_tool_support::edit::project_path;

use crate::patch::FileOp;

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Args {
    /// The full patch text that describes all changes to be made
    patch_text: String,
}

/// One file's change, planned: what it holds now (`None`: absent) and what it will hold.
struct Change {
    relative: PathBuf,
    shown: String,
    before: Option<String>,
    after: Option<String>,
}

impl Change {
    /// `A`, `M` or `D` in the summary, and the kind in the metadata.
    fn kind(&self) -> (char, &'static str) {
        match (&self.before, &self.after) {
            (None, _) => ('A', "add"),
            (_, None) => ('D', "delete"),
            _ => ('M', "update"),
        }
    }
}

pub struct ApplyPatchTool;

impl Tool for ApplyPatchTool {
    const ID: &'static str = "apply_patch";
    const DESCRIPTION: &'static str = include_str!("apply_patch.txt");
    type Args = Args;

    fn execute(args: Args, ctx: &Context) -> Result<Output, ToolError> {
        if args.patch_text.trim().is_empty() {
            return Err(ToolError::invalid_args("patchText is required"));
        }
        let ops = patch::parse(&args.patch_text)
            .map_err(|e| ToolError::failed(format!("apply_patch verification failed: {e}")))?;
        let changes = plan(&ops, ctx)?;

        let diffs: Vec<FileDiff> = changes
            .iter()
            .map(|c| {
                file_diff(
                    &c.shown,
                    c.before.as_deref().unwrap_or(""),
                    c.after.as_deref().unwrap_or(""),
                )
            })
            .collect();
        let patch = diffs
            .iter()
            .map(|d| d.patch.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let mut paths: Vec<String> = changes.iter().map(|c| project_path(&c.relative)).collect();
        paths.dedup();
        ctx.ask(
            Permission::new("edit", paths)
                .always(vec!["*".into()])
                .metadata(serde_json::json!({ "filepath": changes[0].shown, "diff": patch })),
        )?;
        write_all(&changes)?;

        let mut summary = String::from("Success. Updated the following files:");
        let mut files = Vec::new();
        for (change, diff) in changes.iter().zip(&diffs) {
            let (mark, kind) = change.kind();
            summary.push_str(&format!("\n{mark} {}", change.shown));
            files.push(serde_json::json!({
                "filePath": change.shown,
                "type": kind,
                "additions": diff.additions,
                "deletions": diff.deletions,
            }));
        }
        let mut output = Output::new(format!("{} files changed", changes.len()), summary)
            .metadata(serde_json::json!({ "diff": patch, "files": files, "truncated": false }));
        for change in &changes {
            output = output.changed(change.shown.clone());
        }
        Ok(output)
    }
}

/// Every file's change, checked against the files as they are: nothing is written yet.
fn plan(ops: &[FileOp], ctx: &Context) -> Result<Vec<Change>, ToolError> {
    let failed = |message: String| ToolError::failed(format!("apply_patch verification failed: {message}"));
    let mut changes: Vec<Change> = Vec::new();
    for op in ops {
        let relative = ctx.resolve(op.path())?;
        let shown = ctx.display(&relative);
        if changes.iter().any(|c| c.relative == relative) {
            return Err(failed(format!("{shown} is changed twice in one patch")));
        }
        match op {
            FileOp::Add { contents, .. } => {
                if relative.exists() {
                    return Err(failed(format!("{shown} already exists (update it instead)")));
                }
                changes.push(Change {
                    relative,
                    shown,
                    before: None,
                    after: Some(contents.clone()),
                });
            }
            FileOp::Delete { .. } => {
                let before = read(&relative, &shown).map_err(failed)?;
                changes.push(Change {
                    relative,
                    shown,
                    before: Some(before),
                    after: None,
                });
            }
            FileOp::Update { move_to, chunks, .. } => {
                let before = read(&relative, &shown).map_err(failed)?;
                let crlf = before.contains("\r\n");
                let after = patch::apply(&before.replace("\r\n", "\n"), chunks, &shown).map_err(failed)?;
                let after = if crlf { after.replace('\n', "\r\n") } else { after };
                match move_to {
                    None => changes.push(Change {
                        relative,
                        shown,
                        before: Some(before),
                        after: Some(after),
                    }),
                    Some(to) => {
                        let target = ctx.resolve(to)?;
                        let target_shown = ctx.display(&target);
                        if target.exists() {
                            return Err(failed(format!(
                                "cannot move {shown} to {target_shown}: it exists"
                            )));
                        }
                        changes.push(Change {
                            relative,
                            shown,
                            before: Some(before),
                            after: None,
                        });
                        changes.push(Change {
                            relative: target,
                            shown: target_shown,
                            before: None,
                            after: Some(after),
                        });
                    }
                }
            }
        }
    }
    Ok(changes)
}

fn read(relative: &PathBuf, shown: &str) -> Result<String, String> {
    match fs::metadata(relative) {
        Ok(meta) if meta.is_dir() => return Err(format!("{shown} is a directory, not a file")),
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(format!("{shown} does not exist")),
        Err(e) => return Err(format!("cannot read {shown}: {e}")),
    }
    fs::read_to_string(relative).map_err(|e| format!("cannot read {shown}: {e}"))
}

/// Writes every change; when one fails, the ones already made are undone.
fn write_all(changes: &[Change]) -> Result<(), ToolError> {
    for (done, change) in changes.iter().enumerate() {
        if let Err(e) = put(change.relative.clone(), change.after.as_deref()) {
            for earlier in changes[..done].iter().rev() {
                // Best effort: the file held `before` a moment ago.
                let _ = put(earlier.relative.clone(), earlier.before.as_deref());
            }
            return Err(ToolError::failed(format!(
                "apply_patch failed at {}: {e}; no file was changed",
                change.shown
            )));
        }
    }
    Ok(())
}

/// Makes `relative` hold `content`, or removes it.
fn put(relative: PathBuf, content: Option<&str>) -> std::io::Result<()> {
    match content {
        Some(content) => {
            if let Some(parent) = relative.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent)?;
            }
            fs::write(&relative, content)
        }
        None => match fs::remove_file(&relative) {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            other => other,
        },
    }
}

wasmcode_plugin::export_tools!(ApplyPatchTool);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_matches_the_reference() {
        let schema = wasmcode_plugin::schema_of::<Args>();
        assert_eq!(schema["required"], serde_json::json!(["patchText"]));
        assert_eq!(
            schema["properties"]["patchText"]["description"],
            "The full patch text that describes all changes to be made"
        );
    }
}
