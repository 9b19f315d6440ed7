//! `sql_memories!`: the `MemoryStore` implementation shared by SQLite and PostgreSQL. Every
//! statement but re-encryption's filters on the user id.

macro_rules! sql_memories {
    ($store:path, $db:ty) => {
        mod memories_impl {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use serde_json::Value;
            use sqlx::Row;
            use sqlx::types::Json;
            use troupe_runtime::ids::UserId;
            use troupe_runtime::memory::{MemoryRecord, MemoryStore};
            use troupe_runtime::store::StoreError;
            use uuid::Uuid;

            use super::super::db_error;

            type DbRow = <$db as sqlx::Database>::Row;

            fn memory_from_row(row: &DbRow) -> Result<MemoryRecord, StoreError> {
                let Json(metadata): Json<Value> = row.try_get("metadata").map_err(db_error)?;
                Ok(MemoryRecord {
                    id: row.try_get("id").map_err(db_error)?,
                    user: UserId(row.try_get("user_id").map_err(db_error)?),
                    kind: row.try_get("kind").map_err(db_error)?,
                    source: row.try_get("source").map_err(db_error)?,
                    metadata,
                    key_id: row.try_get("key_id").map_err(db_error)?,
                    nonce: row.try_get("nonce").map_err(db_error)?,
                    ciphertext: row.try_get("ciphertext").map_err(db_error)?,
                    created_at: row.try_get("created_at").map_err(db_error)?,
                })
            }

            fn ids_from_rows(rows: &[DbRow]) -> Result<Vec<(UserId, Uuid)>, StoreError> {
                rows.iter()
                    .map(|row| Ok((UserId(row.try_get("user_id").map_err(db_error)?), row.try_get("id").map_err(db_error)?)))
                    .collect()
            }

            #[async_trait]
            impl MemoryStore for $store {
                async fn insert_memory(&self, record: &MemoryRecord) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO memories (id, user_id, kind, source, metadata, key_id, nonce, ciphertext, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(record.id)
                    .bind(record.user.0)
                    .bind(&record.kind)
                    .bind(&record.source)
                    .bind(Json(&record.metadata))
                    .bind(&record.key_id)
                    .bind(&record.nonce)
                    .bind(&record.ciphertext)
                    .bind(record.created_at)
                    .execute(&self.writer)
                    .await
                    .map_err(db_error)?;
                    Ok(())
                }

                async fn get_memory(&self, user: UserId, id: Uuid) -> Result<Option<MemoryRecord>, StoreError> {
                    let row = sqlx::query("SELECT * FROM memories WHERE user_id = $1 AND id = $2")
                        .bind(user.0)
                        .bind(id)
                        .fetch_optional(&self.reader)
                        .await
                        .map_err(db_error)?;
                    row.as_ref().map(memory_from_row).transpose()
                }

                async fn get_memories(&self, user: UserId, ids: &[Uuid]) -> Result<Vec<MemoryRecord>, StoreError> {
                    let mut found = Vec::with_capacity(ids.len());
                    for id in ids {
                        if let Some(record) = self.get_memory(user, *id).await? {
                            found.push(record);
                        }
                    }
                    Ok(found)
                }

                async fn list_memories(&self, user: UserId) -> Result<Vec<MemoryRecord>, StoreError> {
                    let rows = sqlx::query("SELECT * FROM memories WHERE user_id = $1 ORDER BY created_at, id")
                        .bind(user.0)
                        .fetch_all(&self.reader)
                        .await
                        .map_err(db_error)?;
                    rows.iter().map(memory_from_row).collect()
                }

                async fn delete_memory(&self, user: UserId, id: Uuid) -> Result<bool, StoreError> {
                    let done = sqlx::query("DELETE FROM memories WHERE user_id = $1 AND id = $2")
                        .bind(user.0)
                        .bind(id)
                        .execute(&self.writer)
                        .await
                        .map_err(db_error)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn delete_memories(&self, user: UserId) -> Result<u64, StoreError> {
                    let done = sqlx::query("DELETE FROM memories WHERE user_id = $1")
                        .bind(user.0)
                        .execute(&self.writer)
                        .await
                        .map_err(db_error)?;
                    Ok(done.rows_affected())
                }

                async fn memories_not_sealed_with(&self, key_id: &str, limit: u32) -> Result<Vec<MemoryRecord>, StoreError> {
                    let rows = sqlx::query("SELECT * FROM memories WHERE key_id <> $1 ORDER BY id LIMIT $2")
                        .bind(key_id)
                        .bind(i64::from(limit))
                        .fetch_all(&self.writer)
                        .await
                        .map_err(db_error)?;
                    rows.iter().map(memory_from_row).collect()
                }

                async fn memory_ids(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<(UserId, Uuid)>, StoreError> {
                    let rows = match after {
                        Some(after) => sqlx::query("SELECT user_id, id FROM memories WHERE id > $1 ORDER BY id LIMIT $2")
                            .bind(after)
                            .bind(i64::from(limit))
                            .fetch_all(&self.reader)
                            .await,
                        None => sqlx::query("SELECT user_id, id FROM memories ORDER BY id LIMIT $1")
                            .bind(i64::from(limit))
                            .fetch_all(&self.reader)
                            .await,
                    }
                    .map_err(db_error)?;
                    ids_from_rows(&rows)
                }

                async fn memories_before(&self, before: DateTime<Utc>, limit: u32) -> Result<Vec<(UserId, Uuid)>, StoreError> {
                    let rows = sqlx::query("SELECT user_id, id FROM memories WHERE created_at < $1 ORDER BY created_at, id LIMIT $2")
                        .bind(before)
                        .bind(i64::from(limit))
                        .fetch_all(&self.reader)
                        .await
                        .map_err(db_error)?;
                    ids_from_rows(&rows)
                }

                async fn reseal_memory(&self, record: &MemoryRecord) -> Result<(), StoreError> {
                    sqlx::query("UPDATE memories SET key_id = $3, nonce = $4, ciphertext = $5 WHERE user_id = $1 AND id = $2")
                        .bind(record.user.0)
                        .bind(record.id)
                        .bind(&record.key_id)
                        .bind(&record.nonce)
                        .bind(&record.ciphertext)
                        .execute(&self.writer)
                        .await
                        .map_err(db_error)?;
                    Ok(())
                }
            }
        }
    };
}
