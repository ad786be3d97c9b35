//! The SQL of each schema version. A released version is frozen: change the schema by adding a
//! version, never by editing one (databases already at it would not see the edit).
//!
//! Each object keeps its full JSON in `data`; the other columns are copies of the fields the store
//! filters, orders or joins on. IDs sort lexicographically in creation order, so `ORDER BY id` is
//! time order.

/// Version 1: sessions, messages, parts, todos and pending permission requests.
pub(super) const V1: &str = "
CREATE TABLE session (
    id           TEXT PRIMARY KEY NOT NULL,
    project_id   TEXT NOT NULL,
    -- No foreign key: a child outliving its parent is harmless, and deleting a session deletes
    -- its descendants explicitly (so it can report them).
    parent_id    TEXT,
    directory    TEXT NOT NULL,
    title        TEXT NOT NULL,
    time_created INTEGER NOT NULL,
    time_updated INTEGER NOT NULL,
    data         TEXT NOT NULL
);
CREATE INDEX session_project_updated ON session (project_id, time_updated);
CREATE INDEX session_parent ON session (parent_id);

CREATE TABLE message (
    id           TEXT PRIMARY KEY NOT NULL,
    session_id   TEXT NOT NULL REFERENCES session (id) ON DELETE CASCADE,
    time_created INTEGER NOT NULL,
    data         TEXT NOT NULL
);
-- Unique so that parts can reference (session_id, id): a part then cannot name a message of
-- another session.
CREATE UNIQUE INDEX message_session ON message (session_id, id);

CREATE TABLE part (
    id         TEXT PRIMARY KEY NOT NULL,
    message_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    data       TEXT NOT NULL,
    FOREIGN KEY (session_id, message_id) REFERENCES message (session_id, id) ON DELETE CASCADE
);
CREATE INDEX part_message ON part (message_id, id);

CREATE TABLE todo (
    session_id TEXT PRIMARY KEY NOT NULL REFERENCES session (id) ON DELETE CASCADE,
    data       TEXT NOT NULL
);

CREATE TABLE permission (
    id           TEXT PRIMARY KEY NOT NULL,
    session_id   TEXT NOT NULL REFERENCES session (id) ON DELETE CASCADE,
    time_created INTEGER NOT NULL,
    data         TEXT NOT NULL
);
CREATE INDEX permission_session ON permission (session_id);
";

/// Version 2: a session's parts in one index range, so its whole conversation is read with one
/// statement.
pub(super) const V2: &str = "
CREATE INDEX part_session ON part (session_id, message_id, id);
";
