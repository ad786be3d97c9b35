//! Writes, each one statement inside the caller's transaction.
//!
//! Upserts are `INSERT .. ON CONFLICT DO UPDATE`, never `INSERT OR REPLACE`: a replace deletes
//! the old row first, and the foreign-key cascade would take the session's messages with it.

use rusqlite::{Connection, ErrorCode, params};

use super::StoreError;
use super::record::{MessageRecord, PartRecord, PermissionRecord, SessionRecord};

/// One write of a batch; a batch commits atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    Session(SessionRecord),
    Message(MessageRecord),
    Part(PartRecord),
    /// A message and (by the foreign key's cascade) its parts.
    DeleteMessage {
        id: String,
    },
    DeletePart {
        id: String,
    },
    Todos {
        session_id: String,
        data: String,
    },
    Permission(PermissionRecord),
    DeletePermission {
        id: String,
    },
}

pub(super) fn apply(conn: &Connection, write: &Write) -> Result<(), StoreError> {
    match write {
        Write::Session(session) => put_session(conn, session),
        Write::Message(message) => put_message(conn, message),
        Write::Part(part) => put_part(conn, part),
        Write::DeleteMessage { id } => delete(conn, "DELETE FROM message WHERE id = ?1", id),
        Write::DeletePart { id } => delete(conn, "DELETE FROM part WHERE id = ?1", id),
        Write::Todos { session_id, data } => put_todos(conn, session_id, data),
        Write::Permission(permission) => put_permission(conn, permission),
        Write::DeletePermission { id } => delete(conn, "DELETE FROM permission WHERE id = ?1", id),
    }
}

pub(super) fn put_session(conn: &Connection, s: &SessionRecord) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO session
             (id, project_id, parent_id, directory, title, time_created, time_updated, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET
             project_id = excluded.project_id, parent_id = excluded.parent_id,
             directory = excluded.directory, title = excluded.title,
             time_created = excluded.time_created, time_updated = excluded.time_updated,
             data = excluded.data",
    )?
    .execute(params![
        s.id,
        s.project_id,
        s.parent_id,
        s.directory,
        s.title,
        s.time_created,
        s.time_updated,
        s.data
    ])?;
    Ok(())
}

pub(super) fn put_message(conn: &Connection, m: &MessageRecord) -> Result<(), StoreError> {
    let result = conn
        .prepare_cached(
            "INSERT INTO message (id, session_id, time_created, data) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET
                 session_id = excluded.session_id, time_created = excluded.time_created,
                 data = excluded.data",
        )?
        .execute(params![m.id, m.session_id, m.time_created, m.data]);
    match result {
        Ok(_) => Ok(()),
        // The constraint also fails when an existing message with parts would move to another
        // session; only a missing session is reported as such.
        Err(e) if is_foreign_key_violation(&e) && !session_exists(conn, &m.session_id)? => Err(
            missing_parent("message", &m.id, format!("session {}", m.session_id)),
        ),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn put_part(conn: &Connection, p: &PartRecord) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO part (id, message_id, session_id, data) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET
             message_id = excluded.message_id, session_id = excluded.session_id,
             data = excluded.data",
    )?
    .execute(params![p.id, p.message_id, p.session_id, p.data])
    .map_err(|e| {
        orphan_or(e, || {
            missing_parent(
                "part",
                &p.id,
                format!("message {} in session {}", p.message_id, p.session_id),
            )
        })
    })?;
    Ok(())
}

fn put_todos(conn: &Connection, session_id: &str, data: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO todo (session_id, data) VALUES (?1, ?2)
         ON CONFLICT (session_id) DO UPDATE SET data = excluded.data",
    )?
    .execute(params![session_id, data])
    .map_err(|e| {
        orphan_or(e, || {
            missing_parent("todo", session_id, format!("session {session_id}"))
        })
    })?;
    Ok(())
}

fn put_permission(conn: &Connection, p: &PermissionRecord) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO permission (id, session_id, time_created, data) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET
             session_id = excluded.session_id, time_created = excluded.time_created,
             data = excluded.data",
    )?
    .execute(params![p.id, p.session_id, p.time_created, p.data])
    .map_err(|e| {
        orphan_or(e, || {
            missing_parent("permission", &p.id, format!("session {}", p.session_id))
        })
    })?;
    Ok(())
}

fn delete(conn: &Connection, sql: &'static str, id: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)?.execute([id])?;
    Ok(())
}

pub(super) fn session_exists(conn: &Connection, id: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM session WHERE id = ?1")?
        .exists([id])
}

/// A foreign-key failure as `missing()`, any other error as it is.
fn orphan_or(error: rusqlite::Error, missing: impl FnOnce() -> StoreError) -> StoreError {
    if is_foreign_key_violation(&error) {
        missing()
    } else {
        StoreError::Sqlite(error)
    }
}

fn missing_parent(table: &'static str, id: &str, parent: String) -> StoreError {
    StoreError::MissingParent {
        table,
        id: id.to_owned(),
        parent,
    }
}

fn is_foreign_key_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(e, _)
            if e.code == ErrorCode::ConstraintViolation
                && e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY
    )
}
