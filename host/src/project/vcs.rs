//! Version control facts about a project directory, from the `git` CLI (no shell): the branch
//! (`/vcs`), the project identity (`/project`, `/project/current`) and the worktree (`/path`).
//!
//! Every function here runs `git` synchronously; call them from a blocking task. A directory that
//! is not in a git repository (or a machine without git) gets the reference's non-git answers.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;
use utoipa::ToSchema;

use crate::protocol::project::{Project, ProjectTime, ProjectVcs};

/// `GET /vcs`: `{"branch":"main","default_branch":"main"}`; both absent outside git.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct VcsInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub default_branch: Option<String>,
}

/// An item of `GET /project/{id}/directories`: a local directory the project lives in. The
/// reference also lists sandbox copies, each with the `strategy` that made it; none are made here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ProjectDirectory {
    pub directory: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub strategy: Option<String>,
}

/// `GET /path`: `{home, state, config, worktree, directory}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Path)]
pub struct PathInfo {
    pub home: String,
    pub state: String,
    pub config: String,
    pub worktree: String,
    pub directory: String,
}

/// The project ID the reference uses outside git.
pub const GLOBAL_PROJECT_ID: &str = "global";

/// `git -C <dir>`, run without a shell, a terminal prompt, optional locks or the fsmonitor, with
/// paths unquoted and messages in English; stdin and stderr are the caller's to set.
pub(crate) fn git_command(dir: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(dir)
        .args(["-c", "core.fsmonitor=false", "-c", "core.quotepath=false"])
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C");
    command
}

/// Runs `git -C <dir> <args>` ([`git_command`]); stdout when it exits 0, `None` when it fails or
/// git is missing.
pub(crate) fn git<I, S>(dir: &Path, args: I) -> Option<Vec<u8>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let output = git_command(dir)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output.status.success().then_some(output.stdout)
}

/// [`git`]'s stdout as one trimmed line, `None` when empty.
fn git_line<I, S>(dir: &Path, args: I) -> Option<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = git(dir, args)?;
    let text = String::from_utf8_lossy(&out);
    let line = text.lines().next().unwrap_or("").trim();
    (!line.is_empty()).then(|| line.to_owned())
}

fn git_lines(dir: &Path, args: &[&str]) -> Vec<String> {
    git(dir, args)
        .map(|out| {
            String::from_utf8_lossy(&out)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The top of the git worktree containing `dir`, or `None` outside git.
pub fn toplevel(dir: &Path) -> Option<PathBuf> {
    git_line(dir, ["rev-parse", "--show-toplevel"]).map(PathBuf::from)
}

/// Makes `dir` a git repository (`git init`, no commit) unless it is inside one already; whether
/// it is inside one now.
pub fn init(dir: &Path) -> bool {
    toplevel(dir).is_some() || (git(dir, ["init", "--quiet"]).is_some() && toplevel(dir).is_some())
}

/// The worktree `/path` and `/project` report: the git toplevel, or `/` outside git (as the
/// reference does for e.g. `/tmp`).
pub fn worktree(dir: &Path) -> PathBuf {
    toplevel(dir).unwrap_or_else(|| PathBuf::from("/"))
}

/// The project ID: the SHA of the repository's root commit (the first listed when there are
/// several), `None` outside git or before the first commit.
pub fn project_id(dir: &Path) -> Option<String> {
    git_line(dir, ["rev-list", "--max-parents=0", "HEAD"])
}

/// The current branch, `None` when detached or outside git.
pub fn branch(dir: &Path) -> Option<String> {
    git_line(dir, ["symbolic-ref", "--quiet", "--short", "HEAD"])
}

/// The default branch, as the reference picks it: the primary remote's `HEAD` (origin, else the
/// only remote, else upstream, else the first), else `init.defaultBranch` when that branch exists
/// locally, else `main`, else `master`.
pub fn default_branch(dir: &Path) -> Option<String> {
    let remotes = git_lines(dir, &["remote"]);
    let primary = if remotes.iter().any(|r| r == "origin") {
        Some("origin")
    } else if remotes.len() == 1 {
        remotes.first().map(String::as_str)
    } else if remotes.iter().any(|r| r == "upstream") {
        Some("upstream")
    } else {
        remotes.first().map(String::as_str)
    };
    if let Some(remote) = primary {
        let head = format!("refs/remotes/{remote}/HEAD");
        if let Some(target) = git_line(dir, ["symbolic-ref", head.as_str()]) {
            let prefix = format!("refs/remotes/{remote}/");
            if let Some(name) = target.strip_prefix(&prefix).filter(|n| !n.is_empty()) {
                return Some(name.to_owned());
            }
        }
    }
    let local = git_lines(dir, &["for-each-ref", "--format=%(refname:short)", "refs/heads"]);
    if let Some(configured) = git_line(dir, ["config", "init.defaultBranch"])
        && local.contains(&configured)
    {
        return Some(configured);
    }
    ["main", "master"]
        .into_iter()
        .find(|name| local.iter().any(|l| l == name))
        .map(str::to_owned)
}

/// `GET /vcs` for `dir`.
pub fn info(dir: &Path) -> VcsInfo {
    if toplevel(dir).is_none() {
        return VcsInfo::default();
    }
    VcsInfo {
        branch: branch(dir),
        default_branch: default_branch(dir),
    }
}

/// The project `dir` belongs to. `time` is supplied by the caller (the reference stores it when
/// it first sees the project). Outside git: id `global`, worktree `/`, no `vcs`. In a repository
/// with no commit yet the id is also `global`.
pub fn project(dir: &Path, time: ProjectTime) -> Project {
    let top = toplevel(dir);
    let id = top
        .as_ref()
        .and_then(|_| project_id(dir))
        .unwrap_or_else(|| GLOBAL_PROJECT_ID.to_owned());
    Project {
        id,
        vcs: top.as_ref().map(|_| ProjectVcs::Git),
        worktree: top
            .unwrap_or_else(|| PathBuf::from("/"))
            .to_string_lossy()
            .into_owned(),
        name: None,
        icon: None,
        commands: None,
        time,
        sandboxes: Vec::new(),
    }
}

/// `GET /path` for `directory`, with the worktree computed from git.
pub fn path_info(directory: &Path, home: &Path, state: &Path, config: &Path) -> PathInfo {
    let text = |p: &Path| p.to_string_lossy().into_owned();
    PathInfo {
        home: text(home),
        state: text(state),
        config: text(config),
        worktree: text(&worktree(directory)),
        directory: text(directory),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Runs git in `dir` for a test, with an identity and no global config.
    pub(crate) fn run_git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args([
                "-c",
                "user.name=Test",
                "-c",
                "user.email=test@example.com",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub(crate) fn init_repo(dir: &Path) {
        run_git(dir, &["init", "-q", "-b", "main"]);
    }

    #[test]
    fn non_git_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(info(dir.path()), VcsInfo::default());
        assert_eq!(serde_json::to_string(&info(dir.path())).expect("json"), "{}");
        assert_eq!(worktree(dir.path()), PathBuf::from("/"));
        let project = project(dir.path(), ProjectTime::at(5));
        assert_eq!(project.id, "global");
        assert_eq!(project.worktree, "/");
        assert_eq!(
            serde_json::to_value(&project).expect("json"),
            serde_json::json!({"id":"global","worktree":"/","time":{"created":5,"updated":5},"sandboxes":[]})
        );
    }

    #[test]
    fn git_repository() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical");
        init_repo(&root);
        // Before the first commit: a git project without an id.
        assert_eq!(project(&root, ProjectTime::at(1)).id, "global");
        std::fs::write(root.join("a.txt"), "a\n").expect("write");
        run_git(&root, &["add", "."]);
        run_git(&root, &["commit", "-q", "-m", "first"]);
        let first = run_git(&root, &["rev-parse", "HEAD"]);
        std::fs::write(root.join("b.txt"), "b\n").expect("write");
        run_git(&root, &["add", "."]);
        run_git(&root, &["commit", "-q", "-m", "second"]);

        let sub = root.join("sub");
        std::fs::create_dir(&sub).expect("mkdir");
        assert_eq!(
            serde_json::to_value(info(&sub)).expect("json"),
            serde_json::json!({"branch":"main","default_branch":"main"})
        );
        let project = project(&sub, ProjectTime::at(7));
        assert_eq!(project.id, first, "the id is the root commit, not HEAD");
        assert_eq!(project.worktree, root.to_string_lossy());
        assert_eq!(
            serde_json::to_value(&project).expect("json"),
            serde_json::json!({"id": first, "worktree": root.to_string_lossy(), "vcs": "git",
                "time": {"created": 7, "updated": 7}, "sandboxes": []})
        );
        let paths = path_info(&sub, Path::new("/h"), Path::new("/h/s"), Path::new("/h/c"));
        assert_eq!(
            serde_json::to_value(&paths).expect("json"),
            serde_json::json!({"home":"/h","state":"/h/s","config":"/h/c",
                "worktree": root.to_string_lossy(), "directory": sub.to_string_lossy()})
        );

        // A feature branch keeps main as the default; a detached HEAD has no branch.
        run_git(&root, &["checkout", "-q", "-b", "feature"]);
        assert_eq!(
            info(&root),
            VcsInfo {
                branch: Some("feature".into()),
                default_branch: Some("main".into())
            }
        );
        run_git(&root, &["checkout", "-q", "--detach"]);
        assert_eq!(info(&root).branch, None);
    }
}
