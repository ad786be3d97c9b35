//! What can go wrong in the store, one variant per cause a caller may want to tell apart.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file or its directory could not be created. A retry will not help until
    /// the file system is fixed (permissions, something in the way).
    #[error("cannot create the store {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The database could not be opened or configured: not a SQLite file, unreadable, locked
    /// beyond the busy timeout. Only the last may be helped by a retry.
    #[error("cannot open the store {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    /// The database's schema version is not one this build knows, most likely because a newer
    /// wasmcode wrote it. The database is left untouched; a retry will not help.
    #[error(
        "the store {path} is at schema version {found}, but this build knows versions up to \
         {supported}; was it written by a newer wasmcode?"
    )]
    UnsupportedVersion {
        path: PathBuf,
        found: i64,
        supported: usize,
    },

    /// Migration to `version` failed and was rolled back: the database is still at the version
    /// before it, and the next open tries again.
    #[error("migrating the store to schema version {version} failed")]
    Migrate {
        version: usize,
        #[source]
        source: rusqlite::Error,
    },

    /// A write refers to a row that does not exist: a message whose session is unknown, a part
    /// whose message is not in its session, todos or a permission of an unknown session. The
    /// whole batch was rolled back.
    #[error("cannot write {table} {id}: {parent} does not exist")]
    MissingParent {
        table: &'static str,
        id: String,
        parent: String,
    },

    /// Any other SQLite failure (disk full, I/O error, a damaged file, busy beyond the timeout).
    /// Only a busy database may be helped by a retry.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}
