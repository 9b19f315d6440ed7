//! The SQLite store: one file in the data dir, WAL journal, one writer connection.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use troupe_runtime::store::StoreError;

use super::db_error;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// The embedded store: a SQLite database file.
///
/// Writes go through a single connection (SQLite has one writer at a time; a pool of writers
/// would only wait on each other's locks), reads through a small pool. `synchronous = NORMAL`
/// in WAL mode survives a process crash (kill -9) without losing a committed transaction; only
/// an OS crash or power loss can lose the last ones.
#[derive(Clone)]
pub struct SqliteStore {
    pub(super) writer: SqlitePool,
    pub(super) reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and applies migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|error| StoreError::Unavailable(format!("cannot create `{}`: {error}", parent.display())))?;
        }
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(db_error)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let writer =
            SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await.map_err(db_error)?;
        MIGRATOR.run(&writer).await.map_err(|error| StoreError::Unavailable(format!("migration failed: {error}")))?;
        let reader = SqlitePoolOptions::new().max_connections(4).connect_with(options).await.map_err(db_error)?;
        Ok(Self { writer, reader })
    }

    /// Applies pending migrations (done by `open` too).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.writer).await.map_err(|error| StoreError::Unavailable(format!("migration failed: {error}")))
    }

    /// Closes the connections.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

sql_store!(super::SqliteStore, sqlx::Sqlite);
