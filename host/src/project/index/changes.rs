//! The changes reported since the index last caught up: which paths to look at again, and
//! whether only a rebuild can catch up. Recorded on the watcher thread, so recording is cheap
//! (no file system access): deciding what a path means is left to [`super::build::refresh`].

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use crate::project::watch::Change;

/// Past this many distinct paths a rebuild is cheaper than looking at each (and memory stays
/// bounded while nobody searches).
const MAX_PENDING_PATHS: usize = 100_000;

/// Files whose change can change which files the walk visits below their directory.
const IGNORE_FILES: [&str; 2] = [".gitignore", ".ignore"];

#[derive(Debug, Default)]
pub struct Pending {
    /// Paths to look at again, relative to the root; `true` if created or renamed (a new
    /// directory must be watched before it is walked).
    pub paths: HashMap<PathBuf, bool>,
    /// Events were lost or too many arrived: rebuild.
    pub rescan: bool,
    /// The watcher stopped following the tree: the index can no longer be trusted.
    pub broken: bool,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty() && !self.rescan && !self.broken
    }

    pub fn take(&mut self) -> Pending {
        std::mem::take(self)
    }

    pub fn record(&mut self, change: Change<'_>) {
        match change {
            Change::Rescan => {
                self.rescan = true;
                self.paths = HashMap::new();
            }
            Change::Broken => self.broken = true,
            Change::Path { rel, structural } => self.record_path(rel, structural),
        }
    }

    fn record_path(&mut self, rel: &Path, structural: bool) {
        if self.rescan {
            return;
        }
        if let Some(git) = git_boundary(rel) {
            // Inside `.git` nothing is searched; only the directory's own appearance (a nested
            // repository) or its exclude file changes what is visible, in the directory
            // holding it.
            if let Some(dir) = git {
                self.add(dir.to_path_buf(), false);
            }
            return;
        }
        self.add(rel.to_path_buf(), structural);
        if rel
            .file_name()
            .is_some_and(|name| IGNORE_FILES.iter().any(|f| name == OsStr::new(f)))
            && let Some(dir) = rel.parent()
        {
            self.add(dir.to_path_buf(), false);
        }
    }

    fn add(&mut self, path: PathBuf, structural: bool) {
        if self.paths.len() >= MAX_PENDING_PATHS && !self.paths.contains_key(&path) {
            self.rescan = true;
            self.paths = HashMap::new();
            return;
        }
        *self.paths.entry(path).or_insert(false) |= structural;
    }
}

/// `None` when `rel` is outside every `.git` directory. Otherwise `Some(dir)`: `dir` is the
/// directory whose visible files may have changed (the one holding `.git`, when `.git` itself or
/// its `info/exclude` changed), or `None` when nothing visible did.
fn git_boundary(rel: &Path) -> Option<Option<&Path>> {
    let components: Vec<Component<'_>> = rel.components().collect();
    let at = components.iter().position(|c| c.as_os_str() == ".git")?;
    let holder = match at {
        0 => Path::new(""),
        _ => rel.ancestors().nth(components.len() - at)?,
    };
    let inside: Vec<&OsStr> = components[at + 1..].iter().map(|c| c.as_os_str()).collect();
    let relevant = inside.is_empty() || inside == [OsStr::new("info"), OsStr::new("exclude")];
    Some(relevant.then_some(holder))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(changes: &[(&str, bool)]) -> Vec<(String, bool)> {
        let mut pending = Pending::default();
        for (rel, structural) in changes {
            pending.record(Change::Path {
                rel: Path::new(rel),
                structural: *structural,
            });
        }
        let mut out: Vec<(String, bool)> = pending
            .paths
            .into_iter()
            .map(|(p, s)| (p.to_string_lossy().into_owned(), s))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn paths_are_deduplicated_and_structural_sticks() {
        assert_eq!(
            recorded(&[
                ("a.txt", false),
                ("src/new", true),
                ("src/new", false),
                ("a.txt", false)
            ]),
            [("a.txt".into(), false), ("src/new".into(), true)]
        );
    }

    #[test]
    fn git_internals_are_skipped_but_repository_boundaries_are_not() {
        assert_eq!(
            recorded(&[
                (".git/index", false),
                (".git/objects/ab/cdef", true),
                ("vendor/lib/.git/HEAD", false)
            ]),
            []
        );
        assert_eq!(
            recorded(&[("vendor/lib/.git", true), (".git/info/exclude", false)]),
            [("".into(), false), ("vendor/lib".into(), false)]
        );
        // A name that merely contains ".git" is ordinary.
        assert_eq!(recorded(&[("a.github", false)]), [("a.github".into(), false)]);
    }

    #[test]
    fn ignore_files_also_mark_their_directory() {
        assert_eq!(
            recorded(&[("src/.gitignore", false), (".ignore", true)]),
            [
                ("".into(), false),
                (".ignore".into(), true),
                ("src".into(), false),
                ("src/.gitignore".into(), false)
            ]
        );
    }

    #[test]
    fn overflow_and_flooding_turn_into_a_rescan() {
        let mut pending = Pending::default();
        pending.record(Change::Path {
            rel: Path::new("a"),
            structural: false,
        });
        pending.record(Change::Rescan);
        assert!(pending.rescan && pending.paths.is_empty() && !pending.is_empty());
        let mut flooded = Pending::default();
        for i in 0..=MAX_PENDING_PATHS {
            flooded.record(Change::Path {
                rel: Path::new(&format!("f{i}")),
                structural: false,
            });
        }
        assert!(flooded.rescan && flooded.paths.is_empty());
        assert!(flooded.take().rescan);
        assert!(flooded.is_empty());
    }
}
