//! `sql_files!`: the `FileStore` implementation shared by SQLite and PostgreSQL. Every
//! statement filters on the owner.

macro_rules! sql_files {
    ($store:path, $db:ty) => {
        mod files_impl {
            use async_trait::async_trait;
            use sqlx::Row;
            use troupe_runtime::files::{FileError, FileRecord, FileStore};
            use troupe_runtime::ids::UserId;
            use troupe_runtime::store::StoreError;
            use uuid::Uuid;

            use super::super::db_error;

            type DbRow = <$db as sqlx::Database>::Row;

            const COLUMNS: &str = "id, owner_id, name, content_type, size, sha256, created_at";

            fn file_from_row(row: &DbRow) -> Result<FileRecord, StoreError> {
                Ok(FileRecord {
                    id: row.try_get("id").map_err(db_error)?,
                    owner: UserId(row.try_get("owner_id").map_err(db_error)?),
                    name: row.try_get("name").map_err(db_error)?,
                    content_type: row.try_get("content_type").map_err(db_error)?,
                    size: row.try_get::<i64, _>("size").map_err(db_error)?.max(0) as u64,
                    sha256: row.try_get("sha256").map_err(db_error)?,
                    created_at: row.try_get("created_at").map_err(db_error)?,
                })
            }

            #[async_trait]
            impl FileStore for $store {
                async fn put_file(&self, record: &FileRecord, content: &[u8], quota: u64) -> Result<(), FileError> {
                    let mut tx = self.writer.begin().await.map_err(db_error)?;
                    // Uploads of one owner queue on their user row, so the sum below is exact.
                    sqlx::query("UPDATE users SET email = email WHERE id = $1")
                        .bind(record.owner.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    let used: i64 = sqlx::query_scalar(
                        "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM files WHERE owner_id = $1",
                    )
                    .bind(record.owner.0)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    let would_use = (used.max(0) as u64).saturating_add(record.size);
                    if would_use > quota {
                        return Err(FileError::QuotaExceeded { would_use, quota });
                    }
                    sqlx::query(
                        "INSERT INTO files (id, owner_id, name, content_type, size, sha256, content, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(record.id)
                    .bind(record.owner.0)
                    .bind(&record.name)
                    .bind(&record.content_type)
                    .bind(record.size as i64)
                    .bind(&record.sha256)
                    .bind(content)
                    .bind(record.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    tx.commit().await.map_err(db_error)?;
                    Ok(())
                }

                async fn list_files(&self, owner: UserId) -> Result<Vec<FileRecord>, StoreError> {
                    static LIST: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                        format!("SELECT {COLUMNS} FROM files WHERE owner_id = $1 ORDER BY created_at DESC, id DESC")
                    });
                    let rows =
                        sqlx::query(LIST.as_str()).bind(owner.0).fetch_all(&self.reader).await.map_err(db_error)?;
                    rows.iter().map(file_from_row).collect()
                }

                async fn get_file(&self, owner: UserId, id: Uuid) -> Result<Option<FileRecord>, StoreError> {
                    static GET: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                        format!("SELECT {COLUMNS} FROM files WHERE owner_id = $1 AND id = $2")
                    });
                    let row = sqlx::query(GET.as_str())
                        .bind(owner.0)
                        .bind(id)
                        .fetch_optional(&self.reader)
                        .await
                        .map_err(db_error)?;
                    row.as_ref().map(file_from_row).transpose()
                }

                async fn read_file(
                    &self,
                    owner: UserId,
                    id: Uuid,
                ) -> Result<Option<(FileRecord, Vec<u8>)>, StoreError> {
                    static READ: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                        format!("SELECT {COLUMNS}, content FROM files WHERE owner_id = $1 AND id = $2")
                    });
                    let row = sqlx::query(READ.as_str())
                        .bind(owner.0)
                        .bind(id)
                        .fetch_optional(&self.reader)
                        .await
                        .map_err(db_error)?;
                    row.map(|row| Ok((file_from_row(&row)?, row.try_get("content").map_err(db_error)?))).transpose()
                }

                async fn delete_file(&self, owner: UserId, id: Uuid) -> Result<bool, StoreError> {
                    let result = sqlx::query("DELETE FROM files WHERE owner_id = $1 AND id = $2")
                        .bind(owner.0)
                        .bind(id)
                        .execute(&self.writer)
                        .await
                        .map_err(db_error)?;
                    Ok(result.rows_affected() > 0)
                }
            }
        }
    };
}
