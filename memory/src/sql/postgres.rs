//! The PostgreSQL store: for production and for several nodes sharing one database.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use troupe_runtime::store::StoreError;

use super::db_error;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// The production store: a PostgreSQL database.
#[derive(Clone)]
pub struct PostgresStore {
    pub(super) writer: PgPool,
    pub(super) reader: PgPool,
}

impl PostgresStore {
    /// Connects with a pool of at most `max_connections` and applies migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(db_error)?;
        MIGRATOR.run(&pool).await.map_err(|error| StoreError::Unavailable(format!("migration failed: {error}")))?;
        Ok(Self { writer: pool.clone(), reader: pool })
    }

    /// Applies pending migrations (done by `connect` too).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.writer).await.map_err(|error| StoreError::Unavailable(format!("migration failed: {error}")))
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.writer.close().await;
    }
}

sql_store!(super::PostgresStore, sqlx::Postgres);
