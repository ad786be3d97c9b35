//! The store's rows as plain records, and how each is read back from a query row.
//!
//! `data` is the object's full JSON, opaque here; the other fields are the copies the store
//! filters, orders and joins on. Keeping them consistent with `data` is the caller's job.

use rusqlite::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: String,
    pub project_id: String,
    pub parent_id: Option<String>,
    pub directory: String,
    pub title: String,
    pub time_created: i64,
    pub time_updated: i64,
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub id: String,
    pub session_id: String,
    pub time_created: i64,
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRecord {
    pub id: String,
    pub message_id: String,
    pub session_id: String,
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionRecord {
    pub id: String,
    pub session_id: String,
    pub time_created: i64,
    pub data: String,
}

/// A message with its parts, ordered by id ascending (their creation order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageWithParts {
    pub message: MessageRecord,
    pub parts: Vec<PartRecord>,
}

/// The columns each record is read from, in `from_row` order. A macro so that queries can be
/// `concat!`ed into `&'static str`s, which the prepared-statement cache keys on.
macro_rules! session_columns {
    () => {
        "id, project_id, parent_id, directory, title, time_created, time_updated, data"
    };
}
macro_rules! message_columns {
    () => {
        "id, session_id, time_created, data"
    };
}
macro_rules! part_columns {
    () => {
        "id, message_id, session_id, data"
    };
}
macro_rules! permission_columns {
    () => {
        "id, session_id, time_created, data"
    };
}
pub(super) use message_columns;
pub(super) use part_columns;
pub(super) use permission_columns;
pub(super) use session_columns;

/// A record read from a query that selects its columns (the id first, so that a row that fails
/// to decode can still be named).
pub(super) trait FromRow: Sized {
    const TABLE: &'static str;
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self>;
}

impl FromRow for SessionRecord {
    const TABLE: &'static str = "session";
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(SessionRecord {
            id: row.get(0)?,
            project_id: row.get(1)?,
            parent_id: row.get(2)?,
            directory: row.get(3)?,
            title: row.get(4)?,
            time_created: row.get(5)?,
            time_updated: row.get(6)?,
            data: row.get(7)?,
        })
    }
}

impl FromRow for MessageRecord {
    const TABLE: &'static str = "message";
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(MessageRecord {
            id: row.get(0)?,
            session_id: row.get(1)?,
            time_created: row.get(2)?,
            data: row.get(3)?,
        })
    }
}

impl FromRow for PartRecord {
    const TABLE: &'static str = "part";
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(PartRecord {
            id: row.get(0)?,
            message_id: row.get(1)?,
            session_id: row.get(2)?,
            data: row.get(3)?,
        })
    }
}

impl FromRow for PermissionRecord {
    const TABLE: &'static str = "permission";
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(PermissionRecord {
            id: row.get(0)?,
            session_id: row.get(1)?,
            time_created: row.get(2)?,
            data: row.get(3)?,
        })
    }
}

/// A todo list: one JSON document per session.
pub(super) struct TodoRow {
    pub(super) data: String,
}

impl FromRow for TodoRow {
    const TABLE: &'static str = "todo";
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(TodoRow { data: row.get(1)? })
    }
}

/// Just the id of a session, to walk a session tree.
pub(super) struct SessionId(pub(super) String);

impl FromRow for SessionId {
    const TABLE: &'static str = "session";
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        row.get(0).map(SessionId)
    }
}
