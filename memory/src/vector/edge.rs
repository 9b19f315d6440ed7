//! [`EdgeVectorMemory`]: the in-process Qdrant engine (`qdrant-edge`), persisting under the
//! data dir — no server needed.
//!
//! `qdrant-edge` is synchronous and CPU-bound, so every call runs on the blocking pool. Writes
//! and flushes are serialised by a mutex of ours: the engine's `flush` expects no concurrent
//! writer. Writes are flushed by [`VectorMemory::flush`], which the server calls every second,
//! and when the shard is closed — not one by one (an fsync per memory would cost more than the
//! rest of storing it). Index building ([`VectorMemory::optimize`]) runs beside searches and
//! writes; a flush that meets it mid-swap is left for the next one.
//!
//! Version 0.7.2 does not replay its write-ahead log when it loads, so what a killed process
//! wrote after its last flush may be missing from the points; the relational records are the
//! truth and [`crate::MemoryService::reconcile`] re-indexes what is missing at start. A shard
//! that cannot be loaded at all is moved aside (kept, not deleted) and rebuilt the same way.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use qdrant_edge::{
    Condition, CountRequest, DEFAULT_VECTOR_NAME, Distance, EdgeConfig, EdgeShard, EdgeVectorParams, FieldCondition,
    FieldIndexOperations, Filter, HasIdCondition, JsonPath, Match, NamedQuery, Payload, PayloadFieldSchema,
    PayloadSchemaType, PointId, PointInsertOperations, PointOperations, PointStructPersisted, QueryEnum, SearchRequest,
    UpdateOperation, ValueVariants, VectorStructPersisted, WithPayloadInterface, WithVector,
};
use serde_json::{Map, Value};
use troupe_runtime::ids::UserId;
use troupe_runtime::memory::{MemoryError, MemoryHit, MemoryPoint, MemoryQuery, VectorMemory};
use uuid::Uuid;

use super::{CREATED_AT, KIND, SOURCE, USER_ID, check_points, check_query};

/// Memories' vectors in an in-process Qdrant shard.
pub struct EdgeVectorMemory {
    inner: Arc<Inner>,
    dimension: usize,
    search_ef: Option<usize>,
}

struct Inner {
    /// Always `Some` until dropped (see `Drop for Inner`).
    shard: Option<EdgeShard>,
    /// Held while open: a second process on the same directory would corrupt the shard.
    _lock: std::fs::File,
    writes: Mutex<()>,
    /// Written since the last successful flush.
    dirty: AtomicBool,
    path: PathBuf,
}

impl std::fmt::Debug for EdgeVectorMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeVectorMemory").field("path", &self.inner.path).field("dimension", &self.dimension).finish()
    }
}

/// Takes the exclusive lock of the shard directory (released when the process ends, even by
/// SIGKILL).
fn lock_dir(dir: &Path) -> Result<std::fs::File, MemoryError> {
    let lock_path = dir.with_extension("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|error| engine_error(format!("cannot open `{}`: {error}", lock_path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(MemoryError::Unavailable(format!(
            "the vector store in `{}` is in use by another troupe process",
            dir.display()
        ))),
        Err(std::fs::TryLockError::Error(error)) => {
            Err(engine_error(format!("cannot lock `{}`: {error}", lock_path.display())))
        }
    }
}

fn engine_error(error: impl std::fmt::Display) -> MemoryError {
    MemoryError::Unavailable(format!("qdrant-edge: {error}"))
}

impl EdgeVectorMemory {
    /// Opens the shard in `dir` (creating it for vectors of `dimension`); a shard built for
    /// another dimension is refused with a clear error.
    pub async fn open(dir: &Path, dimension: usize) -> Result<Self, MemoryError> {
        let dir = dir.to_owned();
        tokio::task::spawn_blocking(move || Self::open_blocking(&dir, dimension)).await.map_err(engine_error)?
    }

    fn open_blocking(dir: &Path, dimension: usize) -> Result<Self, MemoryError> {
        if dimension == 0 {
            return Err(MemoryError::invalid("dimension", "must be at least 1"));
        }
        std::fs::create_dir_all(dir)
            .map_err(|error| engine_error(format!("cannot create `{}`: {error}", dir.display())))?;
        let lock = lock_dir(dir)?;
        let shard = match EdgeConfig::load(dir) {
            Some(Ok(config)) => {
                let stored = config.vectors.get(DEFAULT_VECTOR_NAME).map(|params| params.size);
                if stored != Some(dimension) {
                    return Err(MemoryError::invalid(
                        "dimension",
                        format!(
                            "the vector collection in `{}` holds vectors of {} dimensions but {dimension} are configured; \
                             use the embedder it was built with, or another data dir",
                            dir.display(),
                            stored.map_or_else(|| "unknown".to_owned(), |size| size.to_string())
                        ),
                    ));
                }
                match EdgeShard::load(dir, None) {
                    Ok(shard) => shard,
                    Err(error) => {
                        let aside = dir.with_extension(format!("damaged-{}", chrono::Utc::now().timestamp()));
                        tracing::error!(%error, path = %dir.display(), aside = %aside.display(),
                            "the vector shard cannot be loaded; moving it aside and rebuilding it from the records");
                        std::fs::rename(dir, &aside).map_err(engine_error)?;
                        std::fs::create_dir_all(dir).map_err(engine_error)?;
                        Self::create(dir, dimension)?
                    }
                }
            }
            Some(Err(error)) => return Err(engine_error(format!("cannot read the shard configuration: {error}"))),
            None => Self::create(dir, dimension)?,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                shard: Some(shard),
                _lock: lock,
                writes: Mutex::new(()),
                dirty: AtomicBool::new(false),
                path: dir.to_owned(),
            }),
            dimension,
            search_ef: None,
        })
    }

    /// The dimension of the shard in `dir`, if there is one.
    pub fn stored_dimension(dir: &Path) -> Option<usize> {
        match EdgeConfig::load(dir) {
            Some(Ok(config)) => config.vectors.get(DEFAULT_VECTOR_NAME).map(|params| params.size),
            _ => None,
        }
    }

    /// Searches the HNSW index with a beam of `ef` candidates (the engine's default otherwise):
    /// larger finds the true nearest neighbours more often and costs more per search.
    pub fn with_search_ef(mut self, ef: usize) -> Self {
        self.search_ef = Some(ef.max(1));
        self
    }

    fn create(dir: &Path, dimension: usize) -> Result<EdgeShard, MemoryError> {
        let params = EdgeVectorParams::builder(dimension, Distance::Cosine).build();
        let config = qdrant_edge::EdgeConfigBuilder::new().vector(DEFAULT_VECTOR_NAME, params).build();
        let shard = EdgeShard::new(dir, config).map_err(engine_error)?;
        for field in [USER_ID, KIND] {
            let index = qdrant_edge::CreateIndex {
                field_name: json_path(field),
                field_schema: Some(PayloadFieldSchema::FieldType(PayloadSchemaType::Keyword)),
            };
            shard
                .update(UpdateOperation::FieldIndexOperation(FieldIndexOperations::CreateIndex(index)))
                .map_err(engine_error)?;
        }
        shard.flush();
        Ok(shard)
    }

    /// Where the shard lives.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `work` on the blocking pool with the shard.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, MemoryError> + Send + 'static,
    ) -> Result<T, MemoryError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || work(&inner)).await.map_err(engine_error)?
    }
}

impl Inner {
    fn shard(&self) -> &EdgeShard {
        self.shard.as_ref().expect("the shard is only taken when Inner is dropped")
    }

    /// Applies a write, one writer at a time; it is durable after the next flush.
    fn write(&self, operation: UpdateOperation) -> Result<(), MemoryError> {
        let _writer = self.writes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.shard().update(operation).map_err(engine_error)?;
        self.dirty.store(true, Ordering::Release);
        Ok(())
    }

    /// Flushes; the caller holds `writes`. The engine panics instead of waiting when the
    /// optimizer holds its segments for a moment: that flush is left for the next pass.
    fn flush_locked(&self) {
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.shard().flush())) {
            Ok(()) => self.dirty.store(false, Ordering::Release),
            Err(_) => {
                tracing::debug!(path = %self.path.display(), "vector shard busy; flushing later");
                self.dirty.store(true, Ordering::Release);
            }
        }
    }
}

impl Drop for Inner {
    /// The engine flushes when dropped and panics if it cannot (its directory gone, the disk
    /// full); that must not take the process down while it stops.
    fn drop(&mut self) {
        let _writer = self.writes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(shard) = self.shard.take()
            && std::panic::catch_unwind(AssertUnwindSafe(move || drop(shard))).is_err()
        {
            tracing::warn!(path = %self.path.display(), "the vector shard could not flush while closing");
        }
    }
}

fn json_path(field: &'static str) -> JsonPath {
    JsonPath::try_from(field).expect("a fixed payload field name is a valid JSON path")
}

fn field_match(field: &'static str, value: String) -> Condition {
    Condition::Field(FieldCondition::new_match(json_path(field), Match::new_value(ValueVariants::String(value))))
}

fn user_condition(user: UserId) -> Condition {
    field_match(USER_ID, user.0.to_string())
}

fn query_filter(query: &MemoryQuery) -> Filter {
    let mut must = vec![user_condition(query.user)];
    if !query.kinds.is_empty() {
        let any_kind = query.kinds.iter().map(|kind| field_match(KIND, kind.clone())).collect();
        must.push(Condition::Filter(Filter { should: Some(any_kind), ..Filter::new() }));
    }
    if let Some(source) = &query.source {
        must.push(field_match(SOURCE, source.clone()));
    }
    let must_not: Vec<Condition> = query.exclude_kinds.iter().map(|kind| field_match(KIND, kind.clone())).collect();
    Filter { must: Some(must), must_not: (!must_not.is_empty()).then_some(must_not), ..Filter::new() }
}

fn to_point(point: MemoryPoint) -> PointStructPersisted {
    let mut payload = Map::new();
    payload.insert(USER_ID.into(), Value::String(point.user.0.to_string()));
    payload.insert(KIND.into(), Value::String(point.kind));
    if let Some(source) = point.source {
        payload.insert(SOURCE.into(), Value::String(source));
    }
    payload.insert(CREATED_AT.into(), Value::from(point.created_at.timestamp_millis()));
    PointStructPersisted {
        id: PointId::Uuid(point.id),
        vector: VectorStructPersisted::Single(point.vector),
        payload: Some(Payload(payload)),
    }
}

fn uuid_of(id: &PointId) -> Option<Uuid> {
    match id {
        PointId::Uuid(uuid) => Some(*uuid),
        PointId::NumId(_) => None,
    }
}

#[async_trait]
impl VectorMemory for EdgeVectorMemory {
    fn name(&self) -> &str {
        "qdrant-edge"
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    async fn upsert(&self, points: Vec<MemoryPoint>) -> Result<(), MemoryError> {
        check_points(self.dimension, &points)?;
        if points.is_empty() {
            return Ok(());
        }
        let points = points.into_iter().map(to_point).collect();
        let operation =
            UpdateOperation::PointOperation(PointOperations::UpsertPoints(PointInsertOperations::PointsList(points)));
        self.blocking(move |inner| inner.write(operation)).await
    }

    async fn search(&self, query: &MemoryQuery) -> Result<Vec<MemoryHit>, MemoryError> {
        check_query(self.dimension, query)?;
        let request = SearchRequest {
            query: QueryEnum::Nearest(NamedQuery::default_dense(query.vector.clone())),
            filter: Some(query_filter(query)),
            params: self.search_ef.map(|ef| qdrant_edge::SearchParams { hnsw_ef: Some(ef), ..Default::default() }),
            limit: query.limit,
            offset: 0,
            with_payload: Some(WithPayloadInterface::Bool(false)),
            with_vector: Some(WithVector::Bool(false)),
            score_threshold: None,
        };
        self.blocking(move |inner| {
            let found = inner.shard().search(request).map_err(engine_error)?;
            Ok(found
                .iter()
                .filter_map(|point| Some(MemoryHit { id: uuid_of(&point.id)?, score: point.score }))
                .collect())
        })
        .await
    }

    async fn delete(&self, user: UserId, ids: &[Uuid]) -> Result<(), MemoryError> {
        if ids.is_empty() {
            return Ok(());
        }
        let has_id: HasIdCondition = ids.iter().map(|id| PointId::Uuid(*id)).collect();
        let filter = Filter { must: Some(vec![user_condition(user), Condition::HasId(has_id)]), ..Filter::new() };
        let operation = UpdateOperation::PointOperation(PointOperations::DeletePointsByFilter(filter));
        self.blocking(move |inner| inner.write(operation)).await
    }

    async fn delete_user(&self, user: UserId) -> Result<(), MemoryError> {
        let filter = Filter::new_must(user_condition(user));
        let operation = UpdateOperation::PointOperation(PointOperations::DeletePointsByFilter(filter));
        self.blocking(move |inner| inner.write(operation)).await
    }

    async fn existing(&self, ids: &[Uuid]) -> Result<Vec<Uuid>, MemoryError> {
        let ids: Vec<PointId> = ids.iter().map(|id| PointId::Uuid(*id)).collect();
        self.blocking(move |inner| {
            let found = inner
                .shard()
                .retrieve(&ids, Some(WithPayloadInterface::Bool(false)), Some(WithVector::Bool(false)))
                .map_err(engine_error)?;
            Ok(found.iter().filter_map(|record| uuid_of(&record.id)).collect())
        })
        .await
    }

    async fn count(&self, user: UserId) -> Result<u64, MemoryError> {
        self.blocking(move |inner| {
            let request = CountRequest { filter: Some(Filter::new_must(user_condition(user))), exact: true };
            Ok(inner.shard().count(request).map_err(engine_error)? as u64)
        })
        .await
    }

    async fn optimize(&self) -> Result<bool, MemoryError> {
        self.blocking(|inner| inner.shard().optimize().map_err(engine_error)).await
    }

    async fn flush(&self) -> Result<(), MemoryError> {
        if !self.inner.dirty.load(Ordering::Acquire) {
            return Ok(());
        }
        self.blocking(|inner| {
            let _writer = inner.writes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            inner.flush_locked();
            Ok(())
        })
        .await
    }
}
