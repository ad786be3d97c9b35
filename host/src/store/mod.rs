//! The embedded store (SQLite): sessions, messages, parts, todos and pending permission requests.
//!
//! Persistence only: it knows nothing of HTTP, events or the JSON shapes of OpenCode objects. Each
//! object's JSON is kept whole in a `data` column beside the few fields the store filters and
//! orders on (see `schema.rs`). When a write returns, it is committed: with WAL and
//! `synchronous=NORMAL` it survives the process being killed, so callers publish an event or
//! answer 2xx only after it returns.
//!
//! One connection behind a mutex: every call is short, so async callers call these methods
//! directly. A row that cannot be read is skipped and reported ([`Store::skipped_rows`]), never
//! fatal for the others.

mod error;
mod migrate;
mod read;
mod record;
mod schema;
mod write;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior, params};

pub use error::StoreError;
pub use record::{MessageRecord, MessageWithParts, PartRecord, PermissionRecord, SessionRecord};
pub use write::Write;

use migrate::Migration;
use record::{SessionId, TodoRow, message_columns, part_columns, permission_columns, session_columns};

/// How long a call waits for another process holding the database's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Room for every statement the store prepares, so none is ever prepared twice.
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// Which sessions [`Store::sessions`] lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionQuery {
    pub project_id: String,
    /// Only sessions without a parent.
    pub roots: bool,
    /// Only sessions whose title contains this, ignoring case.
    pub search: Option<String>,
    /// Only sessions updated at or after this time.
    pub start: Option<i64>,
    /// At most this many sessions (0 gives none).
    pub limit: usize,
}

/// A handle on the store; clones share one connection.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    path: PathBuf,
    skipped_rows: AtomicU64,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating parent dirs and the file) with WAL, synchronous=NORMAL (a committed
    /// transaction survives kill -9 of the process), busy_timeout 5 s, foreign_keys on; applies
    /// pending migrations.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_with(path, migrate::MIGRATIONS)
    }

    pub fn open_in_memory() -> Result<Store, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        Self::configure(conn, path, migrate::MIGRATIONS)
    }

    fn open_with(path: &Path, migrations: &[Migration]) -> Result<Store, StoreError> {
        create_private_file(path).map_err(|source| StoreError::Create {
            path: path.to_path_buf(),
            source,
        })?;
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Self::configure(conn, path.to_path_buf(), migrations)
    }

    fn configure(mut conn: Connection, path: PathBuf, migrations: &[Migration]) -> Result<Store, StoreError> {
        let failed = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(failed)?;
        conn.pragma_update(None, "foreign_keys", true).map_err(failed)?;
        // Before anything writes to the file (switching to WAL does): a database of a newer
        // build is left exactly as it is.
        let version = migrate::user_version(&conn).map_err(failed)?;
        migrate::supported_version(&path, version, migrations)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(failed)?;
        if mode != "wal" && mode != "memory" {
            // Some file systems (network mounts) cannot share WAL's index; the rollback journal
            // is slower but as safe against a killed process.
            tracing::warn!(path = %path.display(), mode, "the store could not switch to WAL");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(failed)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        migrate::run(&mut conn, &path, migrations)?;
        Ok(Store {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                path,
                skipped_rows: AtomicU64::new(0),
            }),
        })
    }

    /// Where the database lives (`:memory:` for one in memory).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How many rows could not be read (and were skipped) since the store was opened.
    pub fn skipped_rows(&self) -> u64 {
        self.inner.skipped_rows.load(Ordering::Relaxed)
    }

    /// Applies the writes in one transaction: all of them, or none if one fails.
    pub fn apply(&self, batch: &[Write]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.write(|conn| batch.iter().try_for_each(|w| write::apply(conn, w)))
    }

    /// Inserts or replaces a session; the same as `apply(&[Write::Session(..)])`.
    pub fn put_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        self.write(|conn| write::put_session(conn, session))
    }

    /// Inserts or replaces a message; its session must exist.
    pub fn put_message(&self, message: &MessageRecord) -> Result<(), StoreError> {
        self.write(|conn| write::put_message(conn, message))
    }

    /// Inserts or replaces a part; its message must exist in its session.
    pub fn put_part(&self, part: &PartRecord) -> Result<(), StoreError> {
        self.write(|conn| write::put_part(conn, part))
    }

    pub fn session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(concat!(
            "SELECT ",
            session_columns!(),
            " FROM session WHERE id = ?1"
        ))?;
        Ok(read::first(stmt.query([id])?, self.skipped())?)
    }

    /// The sessions matching `query`, most recently updated first (ties: newest id first).
    pub fn sessions(&self, query: &SessionQuery) -> Result<Vec<SessionRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(concat!(
            "SELECT ",
            session_columns!(),
            " FROM session
             WHERE project_id = ?1 AND (NOT ?2 OR parent_id IS NULL)
                   AND (?3 IS NULL OR time_updated >= ?3)
             ORDER BY time_updated DESC, id DESC"
        ))?;
        let rows = stmt.query(params![query.project_id, query.roots, query.start])?;
        // Matched here rather than in SQL, whose lower() only folds ASCII.
        let needle = query.search.as_deref().map(str::to_lowercase);
        let matches = |s: &SessionRecord| needle.as_ref().is_none_or(|n| s.title.to_lowercase().contains(n));
        Ok(read::collect(rows, self.skipped(), query.limit, matches)?)
    }

    /// The direct children of a session, most recently updated first.
    pub fn children(&self, parent_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(concat!(
            "SELECT ",
            session_columns!(),
            " FROM session WHERE parent_id = ?1 ORDER BY time_updated DESC, id DESC"
        ))?;
        Ok(read::all(stmt.query([parent_id])?, self.skipped())?)
    }

    /// Deletes the session and all its descendants with their messages, parts, todos and
    /// permissions; returns the deleted session records (descendants before ancestors), empty if
    /// the id is unknown. A session row that cannot be read is deleted all the same, but not
    /// returned.
    pub fn delete_session(&self, id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        self.write(|conn| {
            if !write::session_exists(conn, id)? {
                return Ok(Vec::new());
            }
            // Breadth first, so reversed it lists descendants before ancestors. `seen` stops a
            // parent cycle, which only damaged data can have.
            let mut tree = vec![id.to_owned()];
            let mut seen: HashSet<String> = tree.iter().cloned().collect();
            let mut next = 0;
            while let Some(parent) = tree.get(next) {
                let mut stmt =
                    conn.prepare_cached("SELECT id FROM session WHERE parent_id = ?1 ORDER BY id")?;
                let children: Vec<SessionId> = read::all(stmt.query([parent])?, self.skipped())?;
                tree.extend(
                    children
                        .into_iter()
                        .map(|c| c.0)
                        .filter(|c| seen.insert(c.clone())),
                );
                next += 1;
            }
            let mut deleted = Vec::with_capacity(tree.len());
            for id in tree.iter().rev() {
                // The foreign keys' cascades delete the messages, parts, todos and permissions.
                let mut stmt = conn.prepare_cached(concat!(
                    "DELETE FROM session WHERE id = ?1 RETURNING ",
                    session_columns!()
                ))?;
                deleted.extend(read::first::<SessionRecord>(stmt.query([id])?, self.skipped())?);
            }
            Ok(deleted)
        })
    }

    /// The messages of a session with their parts, ascending by id; with a limit, the last
    /// `limit` messages (still ascending). Two statements whatever the count: the messages, then
    /// every part of them in one join, in message order.
    pub fn messages(
        &self,
        session_id: &str,
        limit: Option<usize>,
    ) -> Result<Vec<MessageWithParts>, StoreError> {
        let mut conn = self.conn();
        // One snapshot for messages and parts, should another process write in between.
        let tx = conn.transaction()?;
        let messages: Vec<MessageRecord> = match limit {
            None => {
                let mut stmt = tx.prepare_cached(concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM message WHERE session_id = ?1 ORDER BY id"
                ))?;
                read::all(stmt.query([session_id])?, self.skipped())?
            }
            Some(limit) => {
                let mut stmt = tx.prepare_cached(concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM message WHERE session_id = ?1 ORDER BY id DESC"
                ))?;
                let mut last = read::collect(stmt.query([session_id])?, self.skipped(), limit, |_| true)?;
                last.reverse();
                last
            }
        };
        let Some(first) = messages.first() else {
            return Ok(Vec::new());
        };
        let mut stmt = tx.prepare_cached(concat!(
            "SELECT ",
            part_columns!(),
            " FROM part WHERE session_id = ?1 AND message_id >= ?2 ORDER BY message_id, id"
        ))?;
        let parts: Vec<PartRecord> = read::all(stmt.query([session_id, first.id.as_str()])?, self.skipped())?;
        Ok(group_parts(messages, parts))
    }

    pub fn message(
        &self,
        session_id: &str,
        message_id: &str,
    ) -> Result<Option<MessageWithParts>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut stmt = tx.prepare_cached(concat!(
            "SELECT ",
            message_columns!(),
            " FROM message WHERE id = ?1 AND session_id = ?2"
        ))?;
        let message = read::first(stmt.query([message_id, session_id])?, self.skipped())?;
        message.map(|message| self.with_parts(&tx, message)).transpose()
    }

    /// Assistant messages that were never completed nor marked failed: turns a previous run of
    /// the server left unfinished (it was killed mid-turn). With their parts.
    pub fn unfinished_messages(&self) -> Result<Vec<MessageWithParts>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut stmt = tx.prepare_cached(concat!(
            "SELECT ",
            message_columns!(),
            " FROM message WHERE json_valid(data) AND json_extract(data, '$.role') = 'assistant' \
             AND json_extract(data, '$.time.completed') IS NULL \
             AND json_extract(data, '$.error') IS NULL ORDER BY id"
        ))?;
        let messages = read::all(stmt.query([])?, self.skipped())?;
        messages
            .into_iter()
            .map(|message| self.with_parts(&tx, message))
            .collect()
    }

    /// The todo list of a session as it was last written.
    pub fn todos(&self, session_id: &str) -> Result<Option<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT session_id, data FROM todo WHERE session_id = ?1")?;
        let todos: Option<TodoRow> = read::first(stmt.query([session_id])?, self.skipped())?;
        Ok(todos.map(|t| t.data))
    }

    /// Every pending permission request, oldest first.
    pub fn permissions(&self) -> Result<Vec<PermissionRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(concat!(
            "SELECT ",
            permission_columns!(),
            " FROM permission ORDER BY time_created, id"
        ))?;
        Ok(read::all(stmt.query([])?, self.skipped())?)
    }

    pub fn permission(&self, id: &str) -> Result<Option<PermissionRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(concat!(
            "SELECT ",
            permission_columns!(),
            " FROM permission WHERE id = ?1"
        ))?;
        Ok(read::first(stmt.query([id])?, self.skipped())?)
    }

    fn with_parts(&self, conn: &Connection, message: MessageRecord) -> Result<MessageWithParts, StoreError> {
        let mut stmt = conn.prepare_cached(concat!(
            "SELECT ",
            part_columns!(),
            " FROM part WHERE message_id = ?1 ORDER BY id"
        ))?;
        let parts = read::all(stmt.query([&message.id])?, self.skipped())?;
        Ok(MessageWithParts { message, parts })
    }

    /// Runs `f` in a write transaction and commits it if `f` succeeds.
    fn write<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut conn = self.conn();
        // Immediate: take the write lock now, so a concurrent writer in another process makes
        // this wait (busy timeout) instead of failing halfway through.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held left no half-done write behind: the transaction it
        // interrupted rolled back as it unwound. So the connection is still good.
        self.inner.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn skipped(&self) -> &AtomicU64 {
        &self.inner.skipped_rows
    }
}

/// Hands each part to its message; both lists are ascending by message id.
fn group_parts(messages: Vec<MessageRecord>, parts: Vec<PartRecord>) -> Vec<MessageWithParts> {
    let mut parts = parts.into_iter().peekable();
    messages
        .into_iter()
        .map(|message| {
            // Parts of messages that could not be read come first in the order: skipped.
            while parts.next_if(|p| p.message_id < message.id).is_some() {}
            let mut own = Vec::new();
            while let Some(part) = parts.next_if(|p| p.message_id == message.id) {
                own.push(part);
            }
            MessageWithParts { message, parts: own }
        })
        .collect()
}

/// Creates the database file and its directory, readable by this user only (it holds whole
/// conversations); SQLite gives its WAL and shared-memory files the same mode. An existing file
/// is left as it is.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    Ok(())
}
