//! The root of one project, and the only way a user-supplied path becomes a path in it.
//!
//! A [`ProjectRoot`] holds the canonical root path (for display and for `git -C`) and a cap-std
//! [`Dir`] opened on it. Every file-system access of this module goes through that `Dir`, which
//! cannot be walked out of: `..`, absolute symlinks and symlinks leading outside are refused by
//! the kernel (`openat2(RESOLVE_BENEATH)`) or by cap-std's own resolver, not by comparing strings.

use std::io;
use std::path::{Component, Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

/// Why a user-supplied path was not served.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// The path leaves the project: `..` past the root, an absolute path elsewhere, a NUL byte,
    /// or a symlink that points outside. (The reference answers these with a 500.)
    #[error("path escapes the project: {0}")]
    Forbidden(String),
    /// The project root itself does not exist or is not a directory.
    #[error("not found: {0}")]
    NotFound(String),
    /// The file is larger than the caller's cap; it was not read.
    #[error("file too large: {path} is {size} bytes, the limit is {limit}")]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// One project directory, opened once.
#[derive(Debug)]
pub struct ProjectRoot {
    path: PathBuf,
    dir: Dir,
}

impl ProjectRoot {
    /// Opens `path` (made canonical first, so symlinked roots such as `/tmp` on macOS work) as a
    /// capability directory.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, PathError> {
        let given = path.as_ref();
        let path = std::fs::canonicalize(given).map_err(|err| match err.kind() {
            io::ErrorKind::NotFound => PathError::NotFound(given.display().to_string()),
            _ => PathError::Io(err),
        })?;
        let dir = Dir::open_ambient_dir(&path, ambient_authority()).map_err(|err| match err.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => {
                PathError::NotFound(given.display().to_string())
            }
            _ => PathError::Io(err),
        })?;
        Ok(Self { path, dir })
    }

    /// The canonical absolute path of the root.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The capability directory every access goes through.
    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// The absolute path of `rel` (a path returned by [`resolve`](Self::resolve)), for display
    /// only: never open it, open `rel` through [`dir`](Self::dir).
    pub fn display_absolute(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.path.clone()
        } else {
            self.path.join(rel)
        }
    }

    /// Turns a user-supplied path into a normalised path relative to the root (empty for the
    /// root itself), with no `.` or `..` components left.
    ///
    /// Accepts relative paths and absolute paths inside the root. Refuses with
    /// [`PathError::Forbidden`] a NUL byte, a `..` that climbs above the root, an absolute path
    /// elsewhere, and a path whose resolution through the capability directory leaves it (a
    /// symlink to outside, an absolute symlink). A path that does not exist is accepted: whether
    /// that is an error is the caller's business.
    pub fn resolve(&self, user_path: &str) -> Result<PathBuf, PathError> {
        let rel = self.lexical(user_path)?;
        match self.dir.metadata(cap_path(&rel)) {
            Ok(_) => Ok(rel),
            Err(err) => match err.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => Ok(rel),
                io::ErrorKind::PermissionDenied => Err(PathError::Forbidden(format!("{user_path}: {err}"))),
                _ => Err(PathError::Io(err)),
            },
        }
    }

    /// The lexical half of [`resolve`](Self::resolve): refuses NUL bytes, `..` above the root and
    /// absolute paths elsewhere, without touching the file system. Only for callers that go on to
    /// open the result through [`dir`](Self::dir), whose resolver refuses symlinks leading out.
    pub(crate) fn lexical(&self, user_path: &str) -> Result<PathBuf, PathError> {
        let forbidden = || PathError::Forbidden(user_path.to_owned());
        if user_path.contains('\0') {
            return Err(forbidden());
        }
        let given = Path::new(user_path);
        let normalized;
        let relative = if given.is_absolute() {
            normalized = normalize(given).ok_or_else(forbidden)?;
            normalized.strip_prefix(&self.path).map_err(|_| forbidden())?
        } else {
            given
        };
        let rel = normalize(relative).ok_or_else(forbidden)?;
        if rel.is_absolute() {
            return Err(forbidden());
        }
        Ok(rel)
    }
}

/// `rel` as cap-std wants it: `.` for the root.
pub(crate) fn cap_path(rel: &Path) -> &Path {
    if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    }
}

/// Lexical normalisation: drops `.`, applies `..`. `None` when `..` climbs above the start of a
/// relative path. An absolute path keeps its root (`/..` is `/`).
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    let mut depth = 0usize;
    for component in path.components() {
        match component {
            Component::Prefix(_) => return None,
            Component::RootDir => out.push(component.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                if depth > 0 {
                    out.pop();
                    depth -= 1;
                } else if !out.has_root() {
                    return None;
                }
            }
            Component::Normal(name) => {
                out.push(name);
                depth += 1;
            }
        }
    }
    Some(out)
}

/// The relative path as the reference prints it: `/`-separated, lossy for non-UTF-8 names.
pub(crate) fn to_slash(rel: &Path) -> String {
    let mut out = String::new();
    for (i, component) in rel.components().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&component.as_os_str().to_string_lossy());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn fixture() -> (tempfile::TempDir, tempfile::TempDir, ProjectRoot) {
        let project = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(project.path().join("src")).expect("mkdir");
        std::fs::write(project.path().join("src/main.rs"), "fn main() {}\n").expect("write");
        std::fs::write(outside.path().join("secret.txt"), "secret").expect("write");
        let root = ProjectRoot::open(project.path()).expect("open root");
        (project, outside, root)
    }

    fn assert_forbidden(root: &ProjectRoot, path: &str) {
        match root.resolve(path) {
            Err(PathError::Forbidden(_)) => {}
            other => panic!("{path:?} should be forbidden, got {other:?}"),
        }
    }

    #[test]
    fn accepts_relative_and_inside_absolute_paths() {
        let (_p, _o, root) = fixture();
        assert_eq!(
            root.resolve("src/main.rs").expect("ok"),
            PathBuf::from("src/main.rs")
        );
        assert_eq!(
            root.resolve("./src/../src/main.rs").expect("ok"),
            PathBuf::from("src/main.rs")
        );
        assert_eq!(root.resolve(".").expect("ok"), PathBuf::new());
        assert_eq!(root.resolve("").expect("ok"), PathBuf::new());
        assert_eq!(root.resolve("src/").expect("ok"), PathBuf::from("src"));
        assert_eq!(root.resolve("src/..").expect("ok"), PathBuf::new());
        let abs = root.path().join("src/main.rs");
        assert_eq!(
            root.resolve(abs.to_str().expect("utf8")).expect("ok"),
            PathBuf::from("src/main.rs")
        );
        let abs_root = root.path().to_str().expect("utf8").to_owned();
        assert_eq!(root.resolve(&abs_root).expect("ok"), PathBuf::new());
        // Missing files resolve (reading them is the caller's business); `....` is a file name.
        assert_eq!(
            root.resolve("nope/deeper.txt").expect("ok"),
            PathBuf::from("nope/deeper.txt")
        );
        assert_eq!(root.resolve("....").expect("ok"), PathBuf::from("...."));
        // A path through a regular file is not an escape.
        assert_eq!(
            root.resolve("src/main.rs/x").expect("ok"),
            PathBuf::from("src/main.rs/x")
        );
    }

    #[test]
    fn refuses_parent_traversal() {
        let (_p, _o, root) = fixture();
        for path in [
            "..",
            "../",
            "./..",
            "../x",
            "a/../../x",
            "src/../../etc/passwd",
            "../../../../etc/hostname",
        ] {
            assert_forbidden(&root, path);
        }
        // `..` spelled after the root's own name still leaves it.
        let sneaky = format!("{}/../x", root.path().display());
        assert_forbidden(&root, &sneaky);
    }

    #[test]
    fn refuses_absolute_paths_outside_and_nul() {
        let (_p, outside, root) = fixture();
        assert_forbidden(&root, "/etc/passwd");
        assert_forbidden(&root, "/");
        assert_forbidden(&root, outside.path().join("secret.txt").to_str().expect("utf8"));
        assert_forbidden(&root, "src/main.rs\0");
        assert_forbidden(&root, "\0");
        // A sibling whose name starts with the root's name is not inside it.
        let sibling = format!("{}-other/x", root.path().display());
        assert_forbidden(&root, &sibling);
    }

    #[test]
    fn refuses_symlinks_leading_out() {
        let (project, outside, root) = fixture();
        symlink(outside.path().join("secret.txt"), project.path().join("abs_file")).expect("symlink");
        symlink(outside.path(), project.path().join("abs_dir")).expect("symlink");
        symlink("../../../../../../../../etc", project.path().join("rel_dir")).expect("symlink");
        symlink("/nonexistent/target", project.path().join("dangling")).expect("symlink");
        for path in [
            "abs_file",
            "abs_dir",
            "abs_dir/",
            "abs_dir/secret.txt",
            "abs_dir/missing.txt",
            "rel_dir/",
            "rel_dir/passwd",
            "dangling",
            "./src/../abs_dir/",
        ] {
            assert_forbidden(&root, path);
        }
    }

    #[test]
    fn accepts_symlinks_that_stay_inside() {
        let (project, _o, root) = fixture();
        symlink("src/main.rs", project.path().join("link")).expect("symlink");
        symlink("src", project.path().join("srclink")).expect("symlink");
        assert_eq!(root.resolve("link").expect("ok"), PathBuf::from("link"));
        assert_eq!(
            root.resolve("srclink/main.rs").expect("ok"),
            PathBuf::from("srclink/main.rs")
        );
    }

    #[test]
    fn open_reports_a_missing_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        match ProjectRoot::open(dir.path().join("missing")) {
            Err(PathError::NotFound(_)) => {}
            other => panic!("expected NotFound, got {other:?}"),
        }
    }
}
