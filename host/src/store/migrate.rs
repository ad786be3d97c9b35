//! Schema migrations: a numbered list, the database's position in it kept in `PRAGMA
//! user_version`.
//!
//! Each migration commits in one transaction together with its new version number, so an
//! interrupted migration leaves the previous version intact and the next open resumes from there.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;
use super::schema;

/// One step of the schema. Its version is its position in the list, counting from 1.
pub(super) struct Migration {
    pub(super) sql: &'static str,
}

/// Every migration this build knows, oldest first. Append only.
pub(super) const MIGRATIONS: &[Migration] = &[Migration { sql: schema::V1 }, Migration { sql: schema::V2 }];

pub(super) fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// The database's version, or an error if this build cannot read it. Called before anything
/// writes to the file, so a refused database is left untouched.
pub(super) fn supported_version(
    path: &Path,
    found: i64,
    migrations: &[Migration],
) -> Result<usize, StoreError> {
    usize::try_from(found)
        .ok()
        .filter(|version| *version <= migrations.len())
        .ok_or_else(|| StoreError::UnsupportedVersion {
            path: path.to_path_buf(),
            found,
            supported: migrations.len(),
        })
}

/// Applies the migrations the database has not seen yet.
pub(super) fn run(conn: &mut Connection, path: &Path, migrations: &[Migration]) -> Result<(), StoreError> {
    // Up to date (the usual case): no write lock taken.
    let found = user_version(conn).map_err(|source| open_error(path, source))?;
    if supported_version(path, found, migrations)? == migrations.len() {
        return Ok(());
    }
    loop {
        // Immediate: another process opening the same file waits here instead of migrating too;
        // the version is read again under the lock for that reason.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|source| open_error(path, source))?;
        let found = user_version(&tx).map_err(|source| open_error(path, source))?;
        let current = supported_version(path, found, migrations)?;
        let Some(migration) = migrations.get(current) else {
            return Ok(());
        };
        let version = current + 1;
        let failed = |source| StoreError::Migrate { version, source };
        tx.execute_batch(migration.sql).map_err(failed)?;
        tx.execute_batch(&format!("PRAGMA user_version = {version}"))
            .map_err(failed)?;
        tx.commit().map_err(failed)?;
        tracing::info!(version, path = %path.display(), "store schema migrated");
    }
}

fn open_error(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Open {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2: Migration = Migration {
        sql: "CREATE TABLE extra (x TEXT); ALTER TABLE session ADD COLUMN y;",
    };
    const BROKEN_V2: Migration = Migration {
        sql: "CREATE TABLE extra (x TEXT); INSERT INTO no_such_table VALUES (1);",
    };

    fn table_exists(conn: &Connection, name: &str) -> bool {
        conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [name],
            |r| r.get::<_, i64>(0),
        )
        .expect("schema query")
            == 1
    }

    #[test]
    fn a_fresh_database_gets_every_migration() {
        let mut conn = Connection::open_in_memory().expect("open");
        run(
            &mut conn,
            Path::new(":memory:"),
            &[Migration { sql: schema::V1 }, V2],
        )
        .expect("migrated");
        assert_eq!(user_version(&conn).expect("version"), 2);
        assert!(table_exists(&conn, "session"));
        assert!(table_exists(&conn, "extra"));
    }

    #[test]
    fn running_again_changes_nothing() {
        let mut conn = Connection::open_in_memory().expect("open");
        run(&mut conn, Path::new(":memory:"), MIGRATIONS).expect("first");
        run(&mut conn, Path::new(":memory:"), MIGRATIONS).expect("second");
        assert_eq!(user_version(&conn).expect("version"), MIGRATIONS.len() as i64);
    }

    #[test]
    fn a_failing_migration_leaves_the_previous_version_and_the_next_run_resumes() {
        let mut conn = Connection::open_in_memory().expect("open");
        let path = Path::new(":memory:");
        let err = run(&mut conn, path, &[Migration { sql: schema::V1 }, BROKEN_V2])
            .expect_err("the second migration fails");
        assert!(matches!(err, StoreError::Migrate { version: 2, .. }), "{err:?}");
        assert_eq!(user_version(&conn).expect("version"), 1);
        assert!(table_exists(&conn, "session"), "version 1 was committed");
        assert!(!table_exists(&conn, "extra"), "version 2 was rolled back whole");

        run(&mut conn, path, &[Migration { sql: schema::V1 }, V2]).expect("resumed");
        assert_eq!(user_version(&conn).expect("version"), 2);
        assert!(table_exists(&conn, "extra"));
    }

    #[test]
    fn a_newer_database_is_refused_untouched() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.pragma_update(None, "user_version", 7).expect("set version");
        let err = run(&mut conn, Path::new("x.db"), MIGRATIONS).expect_err("refused");
        assert!(
            matches!(err, StoreError::UnsupportedVersion { found: 7, .. }),
            "{err:?}"
        );
        assert_eq!(user_version(&conn).expect("version"), 7);
        assert!(!table_exists(&conn, "session"));
    }

    #[test]
    fn a_negative_version_is_refused() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.pragma_update(None, "user_version", -1).expect("set version");
        let err = run(&mut conn, Path::new("x.db"), MIGRATIONS).expect_err("refused");
        assert!(
            matches!(err, StoreError::UnsupportedVersion { found: -1, .. }),
            "{err:?}"
        );
    }
}
