//! Reading query rows into records without letting one bad row spoil the others.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::types::ValueRef;
use rusqlite::{Row, Rows};

use super::record::FromRow;

/// Decodes rows until `limit` records are kept, skipping (with a warning and a count) any row
/// that does not decode. `keep` filters what decoded. A failure of the query itself (I/O, a
/// damaged file) is still an error: nothing after it can be trusted.
pub(super) fn collect<R: FromRow>(
    mut rows: Rows<'_>,
    skipped: &AtomicU64,
    limit: usize,
    mut keep: impl FnMut(&R) -> bool,
) -> rusqlite::Result<Vec<R>> {
    let mut kept = Vec::new();
    while kept.len() < limit {
        let Some(row) = rows.next()? else { break };
        match R::from_row(row) {
            Ok(record) if keep(&record) => kept.push(record),
            Ok(_) => {}
            Err(error) => report(R::TABLE, row, &error, skipped),
        }
    }
    Ok(kept)
}

/// Every decodable record of `rows`.
pub(super) fn all<R: FromRow>(rows: Rows<'_>, skipped: &AtomicU64) -> rusqlite::Result<Vec<R>> {
    collect(rows, skipped, usize::MAX, |_| true)
}

/// The first decodable record of `rows`; for lookups by primary key, the only one.
pub(super) fn first<R: FromRow>(rows: Rows<'_>, skipped: &AtomicU64) -> rusqlite::Result<Option<R>> {
    Ok(collect(rows, skipped, 1, |_| true)?.into_iter().next())
}

fn report(table: &'static str, row: &Row<'_>, error: &rusqlite::Error, skipped: &AtomicU64) {
    skipped.fetch_add(1, Ordering::Relaxed);
    let id = RowId(row.get_ref(0).ok());
    tracing::warn!(table, %id, %error, "skipping a store row that cannot be read");
}

/// The id column of a row that failed to decode, shown whatever it holds.
struct RowId<'a>(Option<ValueRef<'a>>);

impl fmt::Display for RowId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ValueRef::Text(text)) => f.write_str(&String::from_utf8_lossy(text)),
            Some(ValueRef::Integer(n)) => write!(f, "{n}"),
            Some(ValueRef::Real(x)) => write!(f, "{x}"),
            Some(ValueRef::Blob(bytes)) => write!(f, "<blob of {} bytes>", bytes.len()),
            Some(ValueRef::Null) => f.write_str("<null>"),
            None => f.write_str("<no id column>"),
        }
    }
}
