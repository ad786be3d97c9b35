//! The store against real SQLite files in temporary directories.

use std::os::unix::fs::PermissionsExt;

use super::*;

fn session(id: &str, project: &str, parent: Option<&str>, title: &str, updated: i64) -> SessionRecord {
    SessionRecord {
        id: id.to_owned(),
        project_id: project.to_owned(),
        parent_id: parent.map(str::to_owned),
        directory: "/work/project".to_owned(),
        title: title.to_owned(),
        time_created: 1,
        time_updated: updated,
        data: format!(r#"{{"id":"{id}","title":"{title}"}}"#),
    }
}

fn root(id: &str) -> SessionRecord {
    session(id, "prj", None, id, 10)
}

fn message(id: &str, session_id: &str) -> MessageRecord {
    MessageRecord {
        id: id.to_owned(),
        session_id: session_id.to_owned(),
        time_created: 5,
        data: format!(r#"{{"id":"{id}"}}"#),
    }
}

fn part(id: &str, message_id: &str, session_id: &str) -> PartRecord {
    PartRecord {
        id: id.to_owned(),
        message_id: message_id.to_owned(),
        session_id: session_id.to_owned(),
        data: format!(r#"{{"id":"{id}"}}"#),
    }
}

fn permission(id: &str, session_id: &str, created: i64) -> PermissionRecord {
    PermissionRecord {
        id: id.to_owned(),
        session_id: session_id.to_owned(),
        time_created: created,
        data: format!(r#"{{"id":"{id}"}}"#),
    }
}

fn todos(session_id: &str, data: &str) -> Write {
    Write::Todos {
        session_id: session_id.to_owned(),
        data: data.to_owned(),
    }
}

fn query(project: &str) -> SessionQuery {
    SessionQuery {
        project_id: project.to_owned(),
        roots: false,
        search: None,
        start: None,
        limit: 100,
    }
}

fn ids<'a>(records: impl IntoIterator<Item = &'a SessionRecord>) -> Vec<&'a str> {
    records.into_iter().map(|s| s.id.as_str()).collect()
}

fn message_ids(messages: &[MessageWithParts]) -> Vec<&str> {
    messages.iter().map(|m| m.message.id.as_str()).collect()
}

fn part_ids(message: &MessageWithParts) -> Vec<&str> {
    message.parts.iter().map(|p| p.id.as_str()).collect()
}

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("wasmcode.db")).expect("open");
    (dir, store)
}

/// Runs raw SQL on the store's own connection, to plant what the API would never write.
fn raw(store: &Store, sql: &str) {
    store.conn().execute_batch(sql).expect("raw SQL");
}

fn raw_version(path: &Path) -> i64 {
    let conn = Connection::open(path).expect("raw open");
    migrate::user_version(&conn).expect("version")
}

// --- Opening and migrations -------------------------------------------------------------------

#[test]
fn open_creates_a_private_file_in_wal_mode() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("a/b/wasmcode.db");
    let store = Store::open(&path).expect("open");
    assert_eq!(store.path(), path);

    let mode = |p: &Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("a/b")), 0o700);

    let conn = store.conn();
    let pragma = |name: &str| -> String {
        conn.pragma_query_value(None, name, |r| r.get::<_, rusqlite::types::Value>(0))
            .map(|v| format!("{v:?}"))
            .expect("pragma")
    };
    assert_eq!(pragma("journal_mode"), r#"Text("wal")"#);
    assert_eq!(pragma("synchronous"), "Integer(1)", "NORMAL");
    assert_eq!(pragma("foreign_keys"), "Integer(1)");
    assert_eq!(pragma("busy_timeout"), "Integer(5000)");
    assert_eq!(
        migrate::user_version(&conn).expect("version"),
        migrate::MIGRATIONS.len() as i64
    );
}

#[test]
fn reopening_keeps_the_data_and_the_version() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("wasmcode.db");
    let store = Store::open(&path).expect("first open");
    store.put_session(&root("ses_1")).expect("put");
    drop(store);

    let store = Store::open(&path).expect("second open");
    assert_eq!(store.session("ses_1").expect("get"), Some(root("ses_1")));
    drop(store);
    assert_eq!(raw_version(&path), migrate::MIGRATIONS.len() as i64);
}

#[test]
fn an_older_database_is_migrated_forward_keeping_its_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("wasmcode.db");
    {
        // Version 1 built by hand, as an older build would have left it.
        let conn = Connection::open(&path).expect("raw open");
        conn.execute_batch(schema::V1).expect("schema v1");
        conn.execute_batch(
            "INSERT INTO session VALUES ('ses_old', 'prj', NULL, '/d', 'old', 1, 2, '{}');
             PRAGMA user_version = 1;",
        )
        .expect("row");
    }
    let v2 = Migration {
        sql: "CREATE TABLE share (session_id TEXT PRIMARY KEY, url TEXT NOT NULL);",
    };
    let store = Store::open_with(&path, &[Migration { sql: schema::V1 }, v2]).expect("migrated");
    assert_eq!(
        store.session("ses_old").expect("get").map(|s| s.title),
        Some("old".to_owned())
    );
    store
        .conn()
        .execute_batch("INSERT INTO share VALUES ('ses_old', 'u')")
        .expect("v2 table exists");
    drop(store);
    assert_eq!(raw_version(&path), 2);
}

#[test]
fn a_newer_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("wasmcode.db");
    {
        let conn = Connection::open(&path).expect("raw open");
        conn.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 99;")
            .expect("future db");
    }
    let err = Store::open(&path).expect_err("refused");
    assert!(
        matches!(err, StoreError::UnsupportedVersion { found: 99, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("newer wasmcode"), "{err}");

    let conn = Connection::open(&path).expect("raw open");
    assert_eq!(migrate::user_version(&conn).expect("version"), 99);
    let journal: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("journal");
    assert_eq!(journal, "delete", "not switched to WAL");
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(tables, 1, "no migration ran");
}

#[test]
fn a_failed_migration_keeps_the_previous_version_and_the_next_open_resumes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("wasmcode.db");
    let broken = Migration {
        sql: "CREATE TABLE share (x); INSERT INTO no_such_table VALUES (1);",
    };
    let err = Store::open_with(&path, &[Migration { sql: schema::V1 }, broken]).expect_err("fails");
    assert!(matches!(err, StoreError::Migrate { version: 2, .. }), "{err:?}");
    assert_eq!(raw_version(&path), 1);

    let fixed = Migration {
        sql: "CREATE TABLE share (x);",
    };
    let store = Store::open_with(&path, &[Migration { sql: schema::V1 }, fixed]).expect("resumed");
    store
        .conn()
        .execute_batch("INSERT INTO share VALUES (1)")
        .expect("v2 table exists");
    drop(store);
    assert_eq!(raw_version(&path), 2);
}

#[test]
fn a_file_that_is_not_a_database_is_an_open_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("wasmcode.db");
    std::fs::write(&path, vec![b'x'; 4096]).expect("junk");
    let err = Store::open(&path).expect_err("refused");
    assert!(
        matches!(&err, StoreError::Open { path: p, .. } if *p == path),
        "{err:?}"
    );
}

#[test]
fn an_in_memory_store_works() {
    let store = Store::open_in_memory().expect("open");
    store.put_session(&root("ses_1")).expect("put");
    assert_eq!(store.session("ses_1").expect("get"), Some(root("ses_1")));
}

// --- Sessions ---------------------------------------------------------------------------------

#[test]
fn put_session_inserts_then_updates_without_losing_messages() {
    let (_dir, store) = temp_store();
    assert_eq!(store.session("ses_1").expect("get"), None);
    store.put_session(&root("ses_1")).expect("insert");
    store.put_message(&message("msg_1", "ses_1")).expect("message");

    let renamed = SessionRecord {
        title: "renamed".to_owned(),
        time_updated: 20,
        ..root("ses_1")
    };
    store.put_session(&renamed).expect("update");
    assert_eq!(store.session("ses_1").expect("get"), Some(renamed));
    // An upsert that replaced the row would have cascaded to the messages.
    assert_eq!(
        message_ids(&store.messages("ses_1", None).expect("messages")),
        ["msg_1"]
    );
}

#[test]
fn sessions_are_listed_newest_updated_first_within_the_project() {
    let (_dir, store) = temp_store();
    store
        .apply(&[
            Write::Session(session("ses_a", "prj", None, "a", 10)),
            Write::Session(session("ses_b", "prj", None, "b", 30)),
            Write::Session(session("ses_c", "prj", None, "c", 20)),
            Write::Session(session("ses_d", "prj", None, "d", 20)),
            Write::Session(session("ses_x", "other", None, "x", 40)),
        ])
        .expect("apply");
    let listed = store.sessions(&query("prj")).expect("list");
    assert_eq!(
        ids(&listed),
        ["ses_b", "ses_d", "ses_c", "ses_a"],
        "ties: newest id first"
    );
    assert_eq!(ids(&store.sessions(&query("other")).expect("list")), ["ses_x"]);
    assert!(store.sessions(&query("none")).expect("list").is_empty());
}

#[test]
fn session_filters_combine() {
    let (_dir, store) = temp_store();
    store
        .apply(&[
            Write::Session(session("ses_1", "prj", None, "Fix the Parser", 10)),
            Write::Session(session("ses_2", "prj", Some("ses_1"), "parser subtask", 20)),
            Write::Session(session("ses_3", "prj", None, "Write docs", 30)),
            Write::Session(session("ses_4", "prj", None, "ÉTÉ PARSER", 40)),
        ])
        .expect("apply");

    let roots = SessionQuery {
        roots: true,
        ..query("prj")
    };
    assert_eq!(
        ids(&store.sessions(&roots).expect("roots")),
        ["ses_4", "ses_3", "ses_1"]
    );

    let search = SessionQuery {
        search: Some("PARSER".to_owned()),
        ..query("prj")
    };
    assert_eq!(
        ids(&store.sessions(&search).expect("search")),
        ["ses_4", "ses_2", "ses_1"]
    );
    let unicode = SessionQuery {
        search: Some("été".to_owned()),
        ..query("prj")
    };
    assert_eq!(
        ids(&store.sessions(&unicode).expect("search")),
        ["ses_4"],
        "case folding beyond ASCII"
    );

    let start = SessionQuery {
        start: Some(20),
        ..query("prj")
    };
    assert_eq!(
        ids(&store.sessions(&start).expect("start")),
        ["ses_4", "ses_3", "ses_2"]
    );

    let all = SessionQuery {
        roots: true,
        search: Some("parser".to_owned()),
        start: Some(5),
        limit: 100,
        ..query("prj")
    };
    assert_eq!(ids(&store.sessions(&all).expect("all")), ["ses_4", "ses_1"]);

    let limited = SessionQuery {
        limit: 2,
        ..query("prj")
    };
    assert_eq!(ids(&store.sessions(&limited).expect("limit")), ["ses_4", "ses_3"]);
    let limited_search = SessionQuery {
        search: Some("parser".to_owned()),
        limit: 2,
        ..query("prj")
    };
    assert_eq!(
        ids(&store.sessions(&limited_search).expect("limit")),
        ["ses_4", "ses_2"],
        "the limit counts matches"
    );
    let none = SessionQuery {
        limit: 0,
        ..query("prj")
    };
    assert!(store.sessions(&none).expect("limit 0").is_empty());
}

#[test]
fn children_are_the_direct_ones_newest_first() {
    let (_dir, store) = temp_store();
    store
        .apply(&[
            Write::Session(root("ses_1")),
            Write::Session(session("ses_2", "prj", Some("ses_1"), "old child", 10)),
            Write::Session(session("ses_3", "prj", Some("ses_1"), "new child", 20)),
            Write::Session(session("ses_4", "prj", Some("ses_2"), "grandchild", 30)),
        ])
        .expect("apply");
    assert_eq!(
        ids(&store.children("ses_1").expect("children")),
        ["ses_3", "ses_2"]
    );
    assert_eq!(ids(&store.children("ses_2").expect("children")), ["ses_4"]);
    assert!(store.children("ses_4").expect("children").is_empty());
    assert!(store.children("ses_unknown").expect("children").is_empty());
}

#[test]
fn deleting_a_session_deletes_its_descendants_and_everything_they_own() {
    let (_dir, store) = temp_store();
    let mut batch = vec![
        Write::Session(root("ses_1")),
        Write::Session(session("ses_2", "prj", Some("ses_1"), "child", 10)),
        Write::Session(session("ses_3", "prj", Some("ses_2"), "grandchild", 10)),
        Write::Session(root("ses_other")),
    ];
    for s in ["ses_1", "ses_2", "ses_3", "ses_other"] {
        batch.push(Write::Message(message(&format!("msg_{s}"), s)));
        batch.push(Write::Part(part(&format!("prt_{s}"), &format!("msg_{s}"), s)));
        batch.push(todos(s, "[]"));
        batch.push(Write::Permission(permission(&format!("per_{s}"), s, 1)));
    }
    store.apply(&batch).expect("apply");

    let deleted = store.delete_session("ses_1").expect("delete");
    assert_eq!(
        ids(&deleted),
        ["ses_3", "ses_2", "ses_1"],
        "descendants before ancestors"
    );
    assert_eq!(deleted[2], root("ses_1"), "whole records");

    for s in ["ses_1", "ses_2", "ses_3"] {
        assert_eq!(store.session(s).expect("get"), None);
        assert!(store.messages(s, None).expect("messages").is_empty());
        assert_eq!(store.todos(s).expect("todos"), None);
        assert_eq!(store.permission(&format!("per_{s}")).expect("permission"), None);
    }
    let parts: i64 = store
        .conn()
        .query_row("SELECT count(*) FROM part", [], |r| r.get(0))
        .expect("count parts");
    assert_eq!(parts, 1, "only the other session's part is left");

    // The other tree is untouched.
    assert!(store.session("ses_other").expect("get").is_some());
    let other = store.messages("ses_other", None).expect("messages");
    assert_eq!(part_ids(&other[0]), ["prt_ses_other"]);
    assert_eq!(store.todos("ses_other").expect("todos").as_deref(), Some("[]"));
    assert_eq!(store.permissions().expect("permissions").len(), 1);

    assert!(
        store.delete_session("ses_1").expect("again").is_empty(),
        "already gone"
    );
    assert!(store.delete_session("ses_unknown").expect("unknown").is_empty());
}

#[test]
fn deleting_survives_a_parent_cycle() {
    let (_dir, store) = temp_store();
    store
        .apply(&[
            Write::Session(session("ses_1", "prj", Some("ses_2"), "a", 10)),
            Write::Session(session("ses_2", "prj", Some("ses_1"), "b", 10)),
        ])
        .expect("apply");
    let deleted = store.delete_session("ses_1").expect("delete");
    assert_eq!(ids(&deleted), ["ses_2", "ses_1"]);
}

// --- Messages and parts -----------------------------------------------------------------------

#[test]
fn messages_come_in_id_order_with_their_parts() {
    let (_dir, store) = temp_store();
    store.put_session(&root("ses_1")).expect("session");
    // Written out of order: the id decides.
    store.put_message(&message("msg_2", "ses_1")).expect("message");
    store.put_message(&message("msg_1", "ses_1")).expect("message");
    store.put_part(&part("prt_b", "msg_1", "ses_1")).expect("part");
    store.put_part(&part("prt_a", "msg_1", "ses_1")).expect("part");
    store.put_part(&part("prt_c", "msg_2", "ses_1")).expect("part");

    let messages = store.messages("ses_1", None).expect("messages");
    assert_eq!(message_ids(&messages), ["msg_1", "msg_2"]);
    assert_eq!(part_ids(&messages[0]), ["prt_a", "prt_b"]);
    assert_eq!(messages[1].parts, [part("prt_c", "msg_2", "ses_1")]);
    assert_eq!(messages[0].message, message("msg_1", "ses_1"));

    let updated = PartRecord {
        data: r#"{"text":"more"}"#.to_owned(),
        ..part("prt_a", "msg_1", "ses_1")
    };
    store.put_part(&updated).expect("update part");
    let one = store.message("ses_1", "msg_1").expect("message").expect("found");
    assert_eq!(one.parts[0], updated);
    assert_eq!(part_ids(&one), ["prt_a", "prt_b"]);

    assert_eq!(store.message("ses_1", "msg_9").expect("message"), None);
    assert_eq!(
        store.message("ses_other", "msg_1").expect("message"),
        None,
        "wrong session"
    );
    assert!(store.messages("ses_unknown", None).expect("messages").is_empty());
}

#[test]
fn a_message_limit_keeps_the_last_ones_in_ascending_order() {
    let (_dir, store) = temp_store();
    let mut batch = vec![Write::Session(root("ses_1"))];
    batch.extend((1..=5).map(|n| Write::Message(message(&format!("msg_{n}"), "ses_1"))));
    batch.push(Write::Part(part("prt_5", "msg_5", "ses_1")));
    store.apply(&batch).expect("apply");

    let last_two = store.messages("ses_1", Some(2)).expect("messages");
    assert_eq!(message_ids(&last_two), ["msg_4", "msg_5"]);
    assert_eq!(part_ids(&last_two[1]), ["prt_5"]);
    assert!(store.messages("ses_1", Some(0)).expect("messages").is_empty());
    assert_eq!(store.messages("ses_1", Some(10)).expect("messages").len(), 5);
    assert_eq!(store.messages("ses_1", None).expect("messages").len(), 5);
}

#[test]
fn delete_part_removes_only_that_part() {
    let (_dir, store) = temp_store();
    store
        .apply(&[
            Write::Session(root("ses_1")),
            Write::Message(message("msg_1", "ses_1")),
            Write::Part(part("prt_1", "msg_1", "ses_1")),
            Write::Part(part("prt_2", "msg_1", "ses_1")),
        ])
        .expect("apply");
    store
        .apply(&[
            Write::DeletePart {
                id: "prt_1".to_owned(),
            },
            Write::DeletePart {
                id: "prt_9".to_owned(),
            },
        ])
        .expect("delete");
    let one = store.message("ses_1", "msg_1").expect("message").expect("found");
    assert_eq!(part_ids(&one), ["prt_2"]);
}

#[test]
fn writes_without_their_parent_are_refused() {
    let (_dir, store) = temp_store();
    store.put_session(&root("ses_1")).expect("session");
    store.put_message(&message("msg_1", "ses_1")).expect("message");
    store.put_session(&root("ses_2")).expect("session");

    let missing = |err: StoreError, table: &str| match err {
        StoreError::MissingParent { table: t, .. } if t == table => {}
        other => panic!("expected a missing parent for {table}, got {other:?}"),
    };
    missing(
        store
            .put_message(&message("msg_2", "ses_unknown"))
            .expect_err("orphan"),
        "message",
    );
    missing(
        store
            .put_part(&part("prt_1", "msg_unknown", "ses_1"))
            .expect_err("orphan"),
        "part",
    );
    missing(
        store
            .put_part(&part("prt_1", "msg_1", "ses_2"))
            .expect_err("other session"),
        "part",
    );
    missing(
        store.apply(&[todos("ses_unknown", "[]")]).expect_err("orphan"),
        "todo",
    );
    let per = Write::Permission(permission("per_1", "ses_unknown", 1));
    missing(store.apply(&[per]).expect_err("orphan"), "permission");

    let err = store
        .put_part(&part("prt_1", "msg_unknown", "ses_1"))
        .expect_err("orphan");
    assert_eq!(
        err.to_string(),
        "cannot write part prt_1: message msg_unknown in session ses_1 does not exist"
    );
}

#[test]
fn a_message_with_parts_cannot_move_to_another_session() {
    let (_dir, store) = temp_store();
    store
        .apply(&[
            Write::Session(root("ses_1")),
            Write::Session(root("ses_2")),
            Write::Message(message("msg_1", "ses_1")),
            Write::Part(part("prt_1", "msg_1", "ses_1")),
        ])
        .expect("apply");
    let err = store
        .put_message(&message("msg_1", "ses_2"))
        .expect_err("would strand its parts");
    assert!(
        matches!(err, StoreError::Sqlite(_)),
        "not reported as a missing session: {err:?}"
    );
    assert_eq!(
        message_ids(&store.messages("ses_1", None).expect("messages")),
        ["msg_1"]
    );
}

#[test]
fn a_batch_with_a_failing_write_leaves_nothing() {
    let (_dir, store) = temp_store();
    store.put_session(&root("ses_keep")).expect("session");
    let err = store
        .apply(&[
            Write::Session(root("ses_1")),
            Write::Message(message("msg_1", "ses_1")),
            Write::Part(part("prt_1", "msg_1", "ses_1")),
            todos("ses_1", "[1]"),
            Write::Session(SessionRecord {
                title: "changed".to_owned(),
                ..root("ses_keep")
            }),
            Write::Part(part("prt_2", "msg_unknown", "ses_1")),
        ])
        .expect_err("the last write fails");
    assert!(matches!(err, StoreError::MissingParent { .. }), "{err:?}");
    assert_eq!(store.session("ses_1").expect("get"), None);
    assert!(store.messages("ses_1", None).expect("messages").is_empty());
    assert_eq!(store.todos("ses_1").expect("todos"), None);
    assert_eq!(
        store.session("ses_keep").expect("get"),
        Some(root("ses_keep")),
        "update rolled back"
    );

    store.apply(&[]).expect("an empty batch is fine");
    // The store is usable after the failure.
    store.put_session(&root("ses_1")).expect("session");
}

// --- Todos and permissions --------------------------------------------------------------------

#[test]
fn todos_are_replaced_whole() {
    let (_dir, store) = temp_store();
    store.put_session(&root("ses_1")).expect("session");
    assert_eq!(store.todos("ses_1").expect("todos"), None);
    store.apply(&[todos("ses_1", r#"[{"id":"1"}]"#)]).expect("todos");
    store.apply(&[todos("ses_1", "[]")]).expect("todos");
    assert_eq!(store.todos("ses_1").expect("todos").as_deref(), Some("[]"));
}

#[test]
fn permissions_are_listed_oldest_first_until_deleted() {
    let (_dir, store) = temp_store();
    store
        .apply(&[
            Write::Session(root("ses_1")),
            Write::Session(root("ses_2")),
            Write::Permission(permission("per_b", "ses_1", 20)),
            Write::Permission(permission("per_a", "ses_2", 30)),
            Write::Permission(permission("per_c", "ses_1", 10)),
        ])
        .expect("apply");
    let listed: Vec<String> = store
        .permissions()
        .expect("list")
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(listed, ["per_c", "per_b", "per_a"]);
    assert_eq!(
        store.permission("per_a").expect("get"),
        Some(permission("per_a", "ses_2", 30))
    );

    store
        .apply(&[Write::DeletePermission {
            id: "per_a".to_owned(),
        }])
        .expect("delete");
    assert_eq!(store.permission("per_a").expect("get"), None);
    assert_eq!(store.permissions().expect("list").len(), 2);
    assert_eq!(store.permission("per_unknown").expect("get"), None);
}

// --- Damaged rows -----------------------------------------------------------------------------

#[test]
fn a_corrupt_session_row_is_skipped_and_counted() {
    let (_dir, store) = temp_store();
    store
        .put_session(&session("ses_good", "prj", None, "good", 10))
        .expect("session");
    store
        .put_session(&session("ses_child", "prj", Some("ses_good"), "child", 10))
        .expect("session");
    raw(
        &store,
        "INSERT INTO session VALUES ('ses_blob', 'prj', NULL, '/d', 't', 1, 20, x'00ff');
         INSERT INTO session VALUES ('ses_time', 'prj', NULL, '/d', 't', 1, 'yesterday', '{}');
         INSERT INTO session VALUES ('ses_utf8', 'prj', 'ses_good', '/d', CAST(x'ff' AS TEXT), 1, 5, '{}');",
    );
    assert_eq!(store.skipped_rows(), 0);

    assert_eq!(
        ids(&store.sessions(&query("prj")).expect("list")),
        ["ses_good", "ses_child"]
    );
    assert_eq!(store.skipped_rows(), 3);
    assert_eq!(store.session("ses_blob").expect("get"), None);
    assert_eq!(store.skipped_rows(), 4);
    assert_eq!(ids(&store.children("ses_good").expect("children")), ["ses_child"]);
    assert_eq!(store.skipped_rows(), 5);

    // A limit counts readable rows only.
    let one = SessionQuery {
        limit: 1,
        ..query("prj")
    };
    assert_eq!(ids(&store.sessions(&one).expect("list")), ["ses_good"]);

    // A corrupt row can still be deleted; it is just not returned.
    assert_eq!(
        ids(&store.delete_session("ses_good").expect("delete")),
        ["ses_child", "ses_good"]
    );
    let left: i64 = store
        .conn()
        .query_row("SELECT count(*) FROM session WHERE id = 'ses_utf8'", [], |r| {
            r.get(0)
        })
        .expect("count");
    assert_eq!(left, 0, "the unreadable child was deleted with its parent");
}

#[test]
fn corrupt_messages_and_parts_are_skipped_and_the_rest_returned() {
    let (_dir, store) = temp_store();
    store
        .apply(&[
            Write::Session(root("ses_1")),
            Write::Message(message("msg_1", "ses_1")),
            Write::Part(part("prt_1", "msg_1", "ses_1")),
            Write::Message(message("msg_3", "ses_1")),
        ])
        .expect("apply");
    raw(
        &store,
        "INSERT INTO part VALUES ('prt_2', 'msg_1', 'ses_1', x'00');
         INSERT INTO message VALUES ('msg_2', 'ses_1', 'noon', '{}');
         INSERT INTO part VALUES ('prt_3', 'msg_2', 'ses_1', '{}');",
    );
    let messages = store.messages("ses_1", None).expect("messages");
    assert_eq!(message_ids(&messages), ["msg_1", "msg_3"]);
    assert_eq!(part_ids(&messages[0]), ["prt_1"]);
    assert_eq!(store.skipped_rows(), 2, "msg_2 and prt_2");

    // The limit takes the last readable messages.
    assert_eq!(
        message_ids(&store.messages("ses_1", Some(2)).expect("messages")),
        ["msg_1", "msg_3"]
    );
    assert_eq!(store.message("ses_1", "msg_2").expect("message"), None);
}

#[test]
fn corrupt_todos_and_permissions_are_skipped() {
    let (_dir, store) = temp_store();
    store.put_session(&root("ses_1")).expect("session");
    store
        .apply(&[Write::Permission(permission("per_1", "ses_1", 1))])
        .expect("permission");
    raw(
        &store,
        "INSERT INTO todo VALUES ('ses_1', x'01');
         INSERT INTO permission VALUES ('per_2', 'ses_1', 2, x'02');",
    );
    assert_eq!(store.todos("ses_1").expect("todos"), None);
    let listed: Vec<String> = store
        .permissions()
        .expect("list")
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(listed, ["per_1"]);
    assert_eq!(store.permission("per_2").expect("get"), None);
    assert_eq!(store.skipped_rows(), 3);
}

// --- Durability and concurrency ---------------------------------------------------------------

#[test]
fn committed_writes_survive_a_process_that_never_closed_the_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("wasmcode.db");
    let store = Store::open(&path).expect("open");
    store.put_session(&root("ses_1")).expect("session");
    store.put_message(&message("msg_1", "ses_1")).expect("message");
    store.put_part(&part("prt_1", "msg_1", "ses_1")).expect("part");

    // What a killed process leaves on disk: the database and its WAL, never checkpointed or
    // closed. The shared-memory index is rebuilt from the WAL, so it is not copied.
    let crashed = dir.path().join("crashed");
    std::fs::create_dir(&crashed).expect("dir");
    for suffix in ["", "-wal"] {
        let from = format!("{}{suffix}", path.display());
        std::fs::copy(&from, crashed.join(format!("wasmcode.db{suffix}"))).expect("copy");
    }
    std::mem::forget(store);

    for reopened in [Store::open(&crashed.join("wasmcode.db")), Store::open(&path)] {
        let reopened = reopened.expect("reopen");
        let messages = reopened.messages("ses_1", None).expect("messages");
        assert_eq!(message_ids(&messages), ["msg_1"]);
        assert_eq!(part_ids(&messages[0]), ["prt_1"]);
    }
}

#[test]
fn clones_write_concurrently_from_many_threads() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<Store>();

    let (_dir, store) = temp_store();
    store.put_session(&root("ses_1")).expect("session");
    store.put_message(&message("msg_1", "ses_1")).expect("message");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for n in 0..25 {
                    store
                        .put_part(&part(&format!("prt_{t}_{n:02}"), "msg_1", "ses_1"))
                        .expect("part");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("thread");
    }
    let one = store.message("ses_1", "msg_1").expect("message").expect("found");
    assert_eq!(one.parts.len(), 100);
}

#[test]
fn a_panic_while_holding_the_lock_does_not_break_the_store() {
    let (_dir, store) = temp_store();
    let holder = store.clone();
    let panicked = std::thread::spawn(move || {
        let _guard = holder.conn();
        panic!("poison the lock");
    })
    .join();
    assert!(panicked.is_err());
    store.put_session(&root("ses_1")).expect("still writable");
    assert!(store.session("ses_1").expect("still readable").is_some());
}

/// Set in the child process of `a_killed_process_keeps_what_it_committed`: where to write.
const CRASH_CHILD_ENV: &str = "WASMCODE_STORE_TEST_CRASH_CHILD";
const CRASH_CHILD_READY: &str = "store-crash-child: committed";

#[test]
fn a_killed_process_keeps_what_it_committed() {
    if let Some(path) = std::env::var_os(CRASH_CHILD_ENV) {
        // The child: commit, say so, and wait to be killed with the store still open.
        let store = Store::open(Path::new(&path)).expect("child open");
        store.put_session(&root("ses_1")).expect("session");
        store.put_message(&message("msg_1", "ses_1")).expect("message");
        store.put_part(&part("prt_1", "msg_1", "ses_1")).expect("part");
        println!("{CRASH_CHILD_READY}");
        loop {
            std::thread::park();
        }
    }

    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("wasmcode.db");
    // This same test, in a child process of the test binary.
    let name = concat!(module_path!(), "::a_killed_process_keeps_what_it_committed");
    let name = name.split_once("::").map_or(name, |(_crate, rest)| rest);
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CRASH_CHILD_ENV, &path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let stdout = child.stdout.take().expect("piped stdout");
    let ready = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains(CRASH_CHILD_READY));
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    assert!(ready, "the child committed before it was killed");

    let store = Store::open(&path).expect("reopen after the kill");
    let messages = store.messages("ses_1", None).expect("messages");
    assert_eq!(message_ids(&messages), ["msg_1"]);
    assert_eq!(part_ids(&messages[0]), ["prt_1"]);
}
