//! Changing a file the way `edit` and `write` do: ask the `edit` permission with the diff of the
//! change, then write the new content (creating parent directories).

use std::fs;
use std::path::Path;

use wasmcode_plugin::{Context, Permission, ToolError};

use crate::diff::FileDiff;

/// A project-relative path as OpenCode's permission patterns spell it (forward slashes).
pub fn project_path(relative: &Path) -> String {
    relative.to_string_lossy().replace('\\', "/")
}

/// Asks `edit` on `relative` (with the diff for the user to review), then writes `content`.
pub fn ask_and_write(
    ctx: &Context,
    relative: &Path,
    shown: &str,
    diff: &FileDiff,
    content: &str,
) -> Result<(), ToolError> {
    ctx.ask(
        Permission::new("edit", vec![project_path(relative)])
            .always(vec!["*".into()])
            .metadata(serde_json::json!({ "filepath": shown, "diff": diff.patch })),
    )?;
    if let Some(parent) = relative.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)
            .map_err(|e| ToolError::failed(format!("Cannot create {}: {e}", ctx.display(parent))))?;
    }
    fs::write(relative, content).map_err(|e| ToolError::failed(format!("Cannot write {shown}: {e}")))
}
