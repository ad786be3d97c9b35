//! The project's changes as patches, from the `git` CLI: per-file diffs of the working tree
//! against `HEAD` or against where the branch left the default branch (`/vcs/diff`), the raw patch
//! of everything uncommitted (`/vcs/diff/raw`), and applying a patch (`/vcs/apply`).
//!
//! Untracked files count as added, as in the reference. Only the files under the project
//! directory (which may be a subdirectory of the repository), with paths from the repository's
//! top, as `/vcs/status` reports them. Every function runs `git` synchronously: call them from a
//! blocking task.

use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::files::ChangeStatus;
use super::vcs;

/// Git's empty tree: the base of a repository without a first commit.
const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

/// What `/vcs/diff` compares the working tree with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DiffMode {
    /// `HEAD`: what is not committed yet.
    Git,
    /// The merge base with the default branch: everything this branch changed. Nothing on the
    /// default branch itself.
    Branch,
}

/// One file of `GET /vcs/diff` (the reference's `VcsFileDiff`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct VcsFileDiff {
    /// From the repository's top.
    pub file: String,
    /// The file's part of a unified diff, from its `diff --git` line.
    pub patch: String,
    pub additions: u64,
    pub deletions: u64,
    pub status: ChangeStatus,
}

/// Why a patch was not applied (the reference's `VcsApplyError` reasons).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("Patch can't be applied because the project is not git-based")]
    NonGit,
    /// The patch does not apply to the files as they are; carries git's reason.
    #[error("Patch can't be applied: {0}")]
    NotClean(String),
}

impl ApplyError {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NonGit => "non-git",
            Self::NotClean(_) => "not-clean",
        }
    }
}

/// The per-file diffs of `dir` in `mode`, with `context` lines around each change (git's
/// default, 3, when `None`), sorted by file. `[]` outside git.
pub fn diff(dir: &Path, mode: DiffMode, context: Option<u32>) -> Vec<VcsFileDiff> {
    let Some(top) = vcs::toplevel(dir) else {
        return Vec::new();
    };
    let base = match mode {
        DiffMode::Git => head_or_empty(dir),
        DiffMode::Branch => match branch_base(dir) {
            Some(base) => base,
            None => return Vec::new(),
        },
    };
    let unified = format!("-U{}", context.unwrap_or(3));
    let mut diffs = Vec::new();
    let tracked = vcs::git(
        dir,
        [
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-renames",
            &unified,
            &base,
            "--",
            ".",
        ],
    );
    if let Some(out) = tracked {
        diffs.extend(split(&String::from_utf8_lossy(&out)));
    }
    for file in untracked(dir) {
        if let Some(out) = no_index(&top, &["--no-color", "--no-ext-diff", &unified], &file) {
            diffs.extend(split(&String::from_utf8_lossy(&out)));
        }
    }
    diffs.sort_by(|a, b| a.file.cmp(&b.file));
    diffs
}

/// Everything uncommitted under `dir` as one patch `git apply` takes back: changes to tracked
/// files against `HEAD`, then each untracked file, binary files included. Empty outside git.
pub fn raw(dir: &Path) -> Vec<u8> {
    let Some(top) = vcs::toplevel(dir) else {
        return Vec::new();
    };
    let base = head_or_empty(dir);
    let mut patches = Vec::new();
    if let Some(out) = vcs::git(
        dir,
        [
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--binary",
            &base,
            "--",
            ".",
        ],
    ) {
        patches.push(out);
    }
    for file in untracked(dir) {
        if let Some(out) = no_index(&top, &["--no-color", "--no-ext-diff", "--binary"], &file) {
            patches.push(out);
        }
    }
    patches.retain(|patch| !patch.is_empty());
    patches.join(&b'\n')
}

/// Applies `patch` to the working tree of `dir` (`git apply`, paths from the repository's top).
pub fn apply(dir: &Path, patch: &str) -> Result<(), ApplyError> {
    if vcs::toplevel(dir).is_none() {
        return Err(ApplyError::NonGit);
    }
    let child = vcs::git_command(dir)
        .args(["apply", "--whitespace=nowarn", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = child.map_err(|e| ApplyError::NotClean(format!("git could not run: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A refused patch may close the pipe early; what git says then is the reason.
        let _ = stdin.write_all(patch.as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|e| ApplyError::NotClean(format!("git could not run: {e}")))?;
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr);
    let reason = said
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("git apply failed");
    Err(ApplyError::NotClean(reason.trim().to_string()))
}

/// `HEAD`, or the empty tree before the first commit.
fn head_or_empty(dir: &Path) -> String {
    match vcs::git(dir, ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]) {
        Some(_) => "HEAD".to_string(),
        None => EMPTY_TREE.to_string(),
    }
}

/// Where the current branch left the default branch; `None` on the default branch itself, or
/// when there is none or no common history.
fn branch_base(dir: &Path) -> Option<String> {
    let default = vcs::default_branch(dir)?;
    if vcs::branch(dir).as_deref() == Some(default.as_str()) {
        return None;
    }
    // The default branch may be known only from a remote (`origin/main`).
    let mut candidates = vec![default.clone()];
    candidates.extend(
        String::from_utf8_lossy(&vcs::git(dir, ["remote"]).unwrap_or_default())
            .lines()
            .map(|remote| format!("{}/{default}", remote.trim())),
    );
    candidates.into_iter().find_map(|reference| {
        let out = vcs::git(dir, ["merge-base", "HEAD", reference.as_str()])?;
        let base = String::from_utf8_lossy(&out).trim().to_string();
        (!base.is_empty()).then_some(base)
    })
}

/// The untracked, not ignored files under `dir`, from the repository's top.
fn untracked(dir: &Path) -> Vec<String> {
    vcs::git(
        dir,
        [
            "ls-files",
            "--others",
            "--exclude-standard",
            "--full-name",
            "-z",
            "--",
            ".",
        ],
    )
    .map(|out| {
        out.split(|b| *b == 0)
            .filter(|name| !name.is_empty())
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .collect()
    })
    .unwrap_or_default()
}

/// A new file's patch: `git diff --no-index /dev/null <file>`, run at the repository's top. Git
/// exits 1 when the two differ, which is the point here.
fn no_index(top: &Path, options: &[&str], file: &str) -> Option<Vec<u8>> {
    let output = vcs::git_command(top)
        .args(["diff", "--no-index"])
        .args(options)
        .args(["--", "/dev/null", file])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    matches!(output.status.code(), Some(0 | 1)).then_some(output.stdout)
}

/// A unified diff cut into its files, each with its counts and change.
fn split(diff: &str) -> Vec<VcsFileDiff> {
    let mut files = Vec::new();
    let mut rest = diff;
    while let Some(start) = rest.find("diff --git ") {
        let body = &rest[start..];
        let end = body[1..].find("\ndiff --git ").map_or(body.len(), |at| at + 2);
        files.push(file_diff(&body[..end]));
        rest = &body[end..];
    }
    files
}

fn file_diff(patch: &str) -> VcsFileDiff {
    let mut status = ChangeStatus::Modified;
    let (mut old, mut new) = (None, None);
    let (mut additions, mut deletions) = (0, 0);
    let mut in_hunks = false;
    for line in patch.lines() {
        if in_hunks {
            if line.starts_with('+') {
                additions += 1;
            } else if line.starts_with('-') {
                deletions += 1;
            }
            continue;
        }
        if line.starts_with("@@") {
            in_hunks = true;
        } else if line.starts_with("new file mode") {
            status = ChangeStatus::Added;
        } else if line.starts_with("deleted file mode") {
            status = ChangeStatus::Deleted;
        } else if let Some(path) = line.strip_prefix("--- ") {
            old = path.strip_prefix("a/");
        } else if let Some(path) = line.strip_prefix("+++ ") {
            new = path.strip_prefix("b/");
        }
    }
    // A binary file has no `---`/`+++` lines: its path is the header's `b/` side.
    let header = patch.lines().next().unwrap_or_default();
    let from_header = header.rfind(" b/").map(|at| &header[at + 3..]);
    let file = new.or(old).or(from_header).unwrap_or_default();
    VcsFileDiff {
        file: file.trim_end_matches('\t').to_string(),
        patch: patch.to_string(),
        additions,
        deletions,
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_a_diff_into_files_with_their_counts() {
        let diff = "diff --git a/notes.txt b/notes.txt\nindex 292cb11..b17fc7f 100644\n--- a/notes.txt\n\
                    +++ b/notes.txt\n@@ -1,3 +1,4 @@\n line one\n-line two\n+line 2\n+added\n\
                    diff --git a/gone.txt b/gone.txt\ndeleted file mode 100644\nindex 3e75765..0000000\n\
                    --- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-old\n\
                    diff --git a/img.png b/img.png\nnew file mode 100644\nindex 0000000..1234567\n\
                    Binary files /dev/null and b/img.png differ\n";
        let files = split(diff);
        let summary: Vec<(&str, u64, u64, ChangeStatus)> = files
            .iter()
            .map(|f| (f.file.as_str(), f.additions, f.deletions, f.status))
            .collect();
        assert_eq!(
            summary,
            [
                ("notes.txt", 2, 1, ChangeStatus::Modified),
                ("gone.txt", 0, 1, ChangeStatus::Deleted),
                ("img.png", 0, 0, ChangeStatus::Added),
            ]
        );
        assert!(files[0].patch.starts_with("diff --git a/notes.txt"));
        assert!(files[0].patch.ends_with("+added\n"));
        assert!(files[1].patch.ends_with("-old\n"));
    }

    #[test]
    fn a_line_that_looks_like_a_header_inside_a_hunk_is_counted() {
        let diff = "diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n---- x\n+++ y\n";
        let file = &split(diff)[0];
        assert_eq!((file.additions, file.deletions), (1, 1));
    }
}
