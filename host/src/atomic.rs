//! Writing a file so that a crash leaves either the old content or the new, never a mix:
//! a temporary file beside it, synced, then renamed over it.

use std::io::Write;
use std::path::Path;

/// Who may read what is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// This user only: the file is 0600 and missing parent directories are made 0700
    /// (compiled code, installed plugins, trust lists, credentials).
    Private,
    /// As the file was (a user's configuration); the parent must exist.
    KeepExisting,
}

pub fn write(path: &Path, data: &[u8], access: Access) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    if access == Access::Private {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    // Temporary files are created 0600, which is what `Private` asks for.
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(data)?;
    if access == Access::KeepExisting
        && let Ok(meta) = std::fs::metadata(path)
    {
        tmp.as_file().set_permissions(meta.permissions())?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn private_files_are_for_this_user_and_kept_ones_keep_their_mode() {
        let dir = tempfile::tempdir().expect("temp dir");
        let private = dir.path().join("a/b/secret");
        write(&private, b"x", Access::Private).expect("written");
        assert_eq!(
            std::fs::metadata(&private).expect("exists").permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(dir.path().join("a/b"))
                .expect("dir")
                .permissions()
                .mode()
                & 0o777,
            0o700
        );

        let shared = dir.path().join("opencode.json");
        std::fs::write(&shared, "{}").expect("write");
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        write(&shared, b"{\"a\":1}", Access::KeepExisting).expect("written");
        assert_eq!(
            std::fs::metadata(&shared).expect("exists").permissions().mode() & 0o777,
            0o644
        );
        assert_eq!(std::fs::read_to_string(&shared).expect("read"), "{\"a\":1}");
    }
}
