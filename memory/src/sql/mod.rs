//! The SQL stores. Macros (`sql_store!`, `sql_accounts!`, `sql_memories!`, `sql_files!`)
//! implement `ExecutionStore`, `AccountStore`, `MemoryStore` and `FileStore` for both databases
//! from the same statements; only connecting, migrating and applying write batches differ.

#[macro_use]
mod accounts;
#[macro_use]
mod files;
#[macro_use]
mod macros;
#[macro_use]
mod memories;
mod postgres;
mod research;
mod signals;
mod sqlite;

pub use postgres::PostgresStore;
pub use research::{PostgresResearchStore, SqliteResearchStore};
pub use signals::PgSignals;
pub use sqlite::SqliteStore;

use troupe_runtime::store::StoreError;

pub(crate) fn db_error(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() || db.is_foreign_key_violation() => {
            StoreError::Conflict(db.to_string())
        }
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
            StoreError::Corrupt(error.to_string())
        }
        _ => StoreError::Unavailable(error.to_string()),
    }
}

/// Makes deleted rows unrecoverable from the database's files (see `AccountStore::scrub`).
pub(crate) trait ScrubFiles {
    /// Scrubs what this pool's database keeps of deleted rows.
    fn scrub_files(&self) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
}

impl ScrubFiles for sqlx::SqlitePool {
    async fn scrub_files(&self) -> Result<(), StoreError> {
        // `secure_delete` zeroed the deleted content in the pages the log holds; copying the
        // log back and truncating it leaves no earlier version of those pages in either file.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(self).await.map_err(db_error)?;
        Ok(())
    }
}

impl ScrubFiles for sqlx::PgPool {
    async fn scrub_files(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {error}"))
}

/// Keeps the last write of each key, in first-seen order (a statement may not touch one row
/// twice, and only the last state matters).
fn last_per_key<'a, T, K: Eq + std::hash::Hash + 'a>(rows: &'a [T], key: impl Fn(&'a T) -> K) -> Vec<&'a T> {
    let mut seen = std::collections::HashSet::with_capacity(rows.len());
    let mut kept: Vec<&T> = rows.iter().rev().filter(|row| seen.insert(key(row))).collect();
    kept.reverse();
    kept
}
