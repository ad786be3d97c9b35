//! Walking the project the way OpenCode's ripgrep calls do (`rg --files --hidden --glob ...`):
//! hidden files included, `.gitignore`/`.ignore`/`.rgignore` honoured, `.git` skipped, and
//! `--glob` patterns applied with ripgrep's own override rules. Entries come in file-name order
//! so that the same tree always gives the same results.
//!
//! Used by the `glob`, `grep` and `list` tools.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ignore::overrides::OverrideBuilder;
use ignore::{Walk, WalkBuilder};

/// A walk of `root` (project-relative) restricted by ripgrep-style `globs`: a plain glob keeps
/// only matching files, a `!glob` drops matches. Errors name the glob that does not parse.
pub fn walk(root: &Path, globs: &[String]) -> Result<Walk, String> {
    let mut overrides = OverrideBuilder::new(root);
    for glob in globs {
        overrides
            .add(glob)
            .map_err(|e| format!("Invalid glob pattern {glob:?}: {e}"))?;
    }
    let overrides = overrides
        .build()
        .map_err(|e| format!("Invalid glob pattern: {e}"))?;
    let mut builder = WalkBuilder::new(root);
    builder
        .hidden(false)
        .add_custom_ignore_filename(".rgignore")
        .overrides(overrides)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|entry| {
            !(entry.file_name() == ".git" && entry.file_type().is_some_and(|t| t.is_dir()))
        });
    Ok(builder.build())
}

/// The regular files of a walk (ripgrep lists neither directories nor unfollowed symlinks),
/// as clean project-relative paths. Entries that cannot be read are skipped.
pub fn files(walk: Walk) -> impl Iterator<Item = PathBuf> {
    walk.flatten()
        .filter(|entry| entry.file_type().is_some_and(|t| t.is_file()))
        .map(|e| clean(e.path()))
}

/// `path` without `.` components (`./src/a.rs` becomes `src/a.rs`).
pub fn clean(path: &Path) -> PathBuf {
    let cleaned: PathBuf = path
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    if cleaned.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        cleaned
    }
}

/// When the file was last modified, if the filesystem says.
pub fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Newest first, as OpenCode lists results; files without a time go last, ties in path order.
pub fn sort_newest_first<T>(items: &mut [T], key: impl Fn(&T) -> (Option<SystemTime>, &Path)) {
    items.sort_by(|a, b| {
        let (time_a, path_a) = key(a);
        let (time_b, path_b) = key(b);
        time_b.cmp(&time_a).then_with(|| path_a.cmp(path_b))
    });
}

/// The title OpenCode gives a search: the directory relative to the project, empty for the
/// project itself.
pub fn title(relative: &Path) -> String {
    let text = relative.to_string_lossy().replace('\\', "/");
    if text == "." { String::new() } else { text }
}

/// A scratch project directory for tests, removed on drop.
#[cfg(any(test, feature = "testing"))]
pub struct Scratch(pub PathBuf);

#[cfg(any(test, feature = "testing"))]
impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("wasmcode-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Self(dir)
    }

    /// Writes `content` at `relative`, creating directories.
    pub fn file(&self, relative: &str, content: &str) -> &Self {
        let path = self.0.join(relative);
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("create dirs");
        std::fs::write(path, content).expect("write file");
        self
    }

    /// Paths of a walk of the whole scratch dir, relative to it.
    pub fn walk(&self, globs: &[&str]) -> Vec<String> {
        let globs: Vec<String> = globs.iter().map(|g| g.to_string()).collect();
        files(walk(&self.0, &globs).expect("valid globs"))
            .map(|p| {
                p.strip_prefix(&self.0)
                    .expect("inside")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }
}

#[cfg(any(test, feature = "testing"))]
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::time::SystemTime;

    use super::*;

    #[test]
    fn honours_gitignore_and_globs_and_skips_dot_git() {
        let dir = Scratch::new("walk");
        dir.file(".git/HEAD", "ref")
            .file(".gitignore", "ignored/\n")
            .file("ignored/x.rs", "")
            .file(".hidden.rs", "")
            .file("src/a.rs", "")
            .file("src/b.txt", "");
        assert_eq!(
            dir.walk(&[]),
            [".gitignore", ".hidden.rs", "src/a.rs", "src/b.txt"]
        );
        assert_eq!(dir.walk(&["*.rs"]), [".hidden.rs", "src/a.rs"]);
        assert_eq!(dir.walk(&["!*.rs"]), [".gitignore", "src/b.txt"]);
    }

    #[test]
    fn rejects_bad_globs() {
        let Err(err) = walk(Path::new("."), &["a[".to_string()]) else {
            panic!("an unclosed class is invalid")
        };
        assert!(err.starts_with("Invalid glob pattern"), "{err}");
    }

    #[test]
    fn sorts_newest_first_then_by_path() {
        let t = |s| Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s));
        let mut items = vec![
            (t(1), PathBuf::from("old")),
            (None, PathBuf::from("none")),
            (t(5), PathBuf::from("b")),
            (t(5), PathBuf::from("a")),
        ];
        sort_newest_first(&mut items, |(time, path)| (*time, path.as_path()));
        let order: Vec<_> = items
            .iter()
            .map(|(_, p)| p.to_string_lossy().into_owned())
            .collect();
        assert_eq!(order, ["a", "b", "old", "none"]);
    }

    #[test]
    fn cleans_dot_prefixes_and_titles_the_root_empty() {
        assert_eq!(clean(Path::new("./src/./a.rs")), PathBuf::from("src/a.rs"));
        assert_eq!(title(Path::new(".")), "");
        assert_eq!(title(Path::new("src")), "src");
    }
}
