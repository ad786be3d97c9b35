//! Test helpers shared by the project services' unit tests.

use crate::project::ProjectRoot;

/// A temporary project holding `files` (path, content), opened as a root.
pub fn project(files: &[(&str, &str)]) -> (tempfile::TempDir, ProjectRoot) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, content) in files {
        let full = dir.path().join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(full, content).expect("write");
    }
    let root = ProjectRoot::open(dir.path()).expect("open");
    (dir, root)
}
