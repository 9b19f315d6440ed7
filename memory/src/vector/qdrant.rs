//! [`QdrantVectorMemory`]: a Qdrant server (or cluster) over gRPC, with `qdrant-client`.
//!
//! On start it creates its collection (cosine vectors of the embedder's dimension) and the
//! payload indexes on `user_id` and `kind` if missing, and refuses a collection of another
//! dimension. Requests are built by small pure functions (`*_request`), so their mapping —
//! every filter carries the user, no payload carries text — is tested without a server; the
//! live conformance suite runs against a server when `QDRANT_URL` is set.

use std::collections::HashMap;

use async_trait::async_trait;
use qdrant_client::Qdrant;
use qdrant_client::qdrant::point_id::PointIdOptions;
use qdrant_client::qdrant::vectors_config::Config as VectorsConfigKind;
use qdrant_client::qdrant::{
    Condition, CountPoints, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePoints, DeletePointsBuilder, Distance, FieldType, Filter, GetCollectionInfoResponse, GetPoints,
    GetPointsBuilder, PointId, PointStruct, Query, QueryPoints, QueryPointsBuilder, QueryResponse, UpsertPoints,
    UpsertPointsBuilder, Value as QdrantValue, VectorParamsBuilder,
};
use troupe_runtime::ids::UserId;
use troupe_runtime::memory::{MemoryError, MemoryHit, MemoryPoint, MemoryQuery, VectorMemory};
use uuid::Uuid;

use super::{CREATED_AT, KIND, SOURCE, USER_ID, check_points, check_query};

/// Where the server is.
#[derive(Clone)]
pub struct QdrantSettings {
    /// The gRPC URL (`http://host:6334`).
    pub url: String,
    /// The API key, if the server wants one.
    pub api_key: Option<String>,
    /// The collection (default `troupe_memories`).
    pub collection: String,
}

impl std::fmt::Debug for QdrantSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QdrantSettings")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("collection", &self.collection)
            .finish()
    }
}

/// The default collection name.
pub const DEFAULT_COLLECTION: &str = "troupe_memories";

/// Memories' vectors on a Qdrant server.
pub struct QdrantVectorMemory {
    client: Qdrant,
    collection: String,
    dimension: usize,
}

fn server_error(error: impl std::fmt::Display) -> MemoryError {
    MemoryError::Unavailable(format!("qdrant: {error}"))
}

impl QdrantVectorMemory {
    /// Connects, creates the collection and its payload indexes if missing, and checks the
    /// dimension of an existing collection.
    pub async fn connect(settings: &QdrantSettings, dimension: usize) -> Result<Self, MemoryError> {
        let client = Qdrant::from_url(&settings.url)
            .api_key(settings.api_key.clone())
            .skip_compatibility_check()
            .build()
            .map_err(server_error)?;
        let collection = settings.collection.clone();
        if client.collection_exists(&collection).await.map_err(server_error)? {
            let info = client.collection_info(&collection).await.map_err(server_error)?;
            match collection_dimension(&info) {
                Some(stored) if stored == dimension => {}
                stored => {
                    return Err(MemoryError::invalid(
                        "dimension",
                        format!(
                            "the Qdrant collection `{collection}` holds vectors of {} dimensions but {dimension} are configured",
                            stored.map_or_else(|| "unknown".to_owned(), |size| size.to_string())
                        ),
                    ));
                }
            }
        } else {
            client
                .create_collection(
                    CreateCollectionBuilder::new(&collection)
                        .vectors_config(VectorParamsBuilder::new(dimension as u64, Distance::Cosine)),
                )
                .await
                .map_err(server_error)?;
        }
        for field in [USER_ID, KIND] {
            client
                .create_field_index(
                    CreateFieldIndexCollectionBuilder::new(&collection, field, FieldType::Keyword).wait(true),
                )
                .await
                .map_err(server_error)?;
        }
        Ok(Self { client, collection, dimension })
    }
}

impl QdrantVectorMemory {
    /// Deletes the whole collection (tests and benchmarks clean up with it).
    pub async fn drop_collection(&self) -> Result<(), MemoryError> {
        self.client.delete_collection(&self.collection).await.map_err(server_error)?;
        Ok(())
    }
}

/// The dimension of a collection's single unnamed vector.
pub(crate) fn collection_dimension(info: &GetCollectionInfoResponse) -> Option<usize> {
    let config = info.result.as_ref()?.config.as_ref()?.params.as_ref()?.vectors_config.as_ref()?.config.as_ref()?;
    match config {
        VectorsConfigKind::Params(params) => Some(params.size as usize),
        VectorsConfigKind::ParamsMap(_) => None,
    }
}

fn user_condition(user: UserId) -> Condition {
    Condition::matches(USER_ID, user.0.to_string())
}

/// The filter of a search: the user, always; then kinds, source and excluded kinds.
pub(crate) fn query_filter(query: &MemoryQuery) -> Filter {
    let mut must = vec![user_condition(query.user)];
    if !query.kinds.is_empty() {
        must.push(Condition::matches(KIND, query.kinds.clone()));
    }
    if let Some(source) = &query.source {
        must.push(Condition::matches(SOURCE, source.clone()));
    }
    let must_not: Vec<Condition> =
        query.exclude_kinds.iter().map(|kind| Condition::matches(KIND, kind.clone())).collect();
    Filter { must, must_not, ..Filter::default() }
}

/// The upsert of points: id, vector and the payload (`user_id`, `kind`, `source`, `created_at`).
pub(crate) fn upsert_request(collection: &str, points: Vec<MemoryPoint>) -> UpsertPoints {
    let points: Vec<PointStruct> = points
        .into_iter()
        .map(|point| {
            let mut payload: HashMap<String, QdrantValue> = HashMap::new();
            payload.insert(USER_ID.into(), point.user.0.to_string().into());
            payload.insert(KIND.into(), point.kind.into());
            if let Some(source) = point.source {
                payload.insert(SOURCE.into(), source.into());
            }
            payload.insert(CREATED_AT.into(), point.created_at.timestamp_millis().into());
            PointStruct { id: Some(PointId::from(point.id.to_string())), payload, vectors: Some(point.vector.into()) }
        })
        .collect();
    UpsertPointsBuilder::new(collection, points).wait(true).build()
}

/// The nearest-neighbour query of a search, ids and scores only.
pub(crate) fn search_request(collection: &str, query: &MemoryQuery) -> QueryPoints {
    QueryPointsBuilder::new(collection)
        .query(Query::new_nearest(query.vector.clone()))
        .filter(query_filter(query))
        .limit(query.limit as u64)
        .with_payload(false)
        .build()
}

/// The hits of a search response (points without a UUID id are not ours and are skipped).
pub(crate) fn search_hits(response: QueryResponse) -> Vec<MemoryHit> {
    response
        .result
        .into_iter()
        .filter_map(|point| Some(MemoryHit { id: point_uuid(point.id.as_ref()?)?, score: point.score }))
        .collect()
}

fn point_uuid(id: &PointId) -> Option<Uuid> {
    match id.point_id_options.as_ref()? {
        PointIdOptions::Uuid(text) => text.parse().ok(),
        PointIdOptions::Num(_) => None,
    }
}

/// The delete of the user's points with these ids (or all the user's points).
pub(crate) fn delete_request(collection: &str, user: UserId, ids: Option<&[Uuid]>) -> DeletePoints {
    let mut must = vec![user_condition(user)];
    if let Some(ids) = ids {
        must.push(Condition::has_id(ids.iter().map(|id| PointId::from(id.to_string()))));
    }
    DeletePointsBuilder::new(collection).points(Filter { must, ..Filter::default() }).wait(true).build()
}

fn count_request(collection: &str, user: UserId) -> CountPoints {
    CountPointsBuilder::new(collection).filter(Filter::must([user_condition(user)])).exact(true).build()
}

fn get_request(collection: &str, ids: &[Uuid]) -> GetPoints {
    let ids: Vec<PointId> = ids.iter().map(|id| PointId::from(id.to_string())).collect();
    GetPointsBuilder::new(collection, ids).with_payload(false).with_vectors(false).build()
}

#[async_trait]
impl VectorMemory for QdrantVectorMemory {
    fn name(&self) -> &str {
        "qdrant"
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    async fn upsert(&self, points: Vec<MemoryPoint>) -> Result<(), MemoryError> {
        check_points(self.dimension, &points)?;
        if points.is_empty() {
            return Ok(());
        }
        self.client.upsert_points(upsert_request(&self.collection, points)).await.map_err(server_error)?;
        Ok(())
    }

    async fn search(&self, query: &MemoryQuery) -> Result<Vec<MemoryHit>, MemoryError> {
        check_query(self.dimension, query)?;
        let response = self.client.query(search_request(&self.collection, query)).await.map_err(server_error)?;
        Ok(search_hits(response))
    }

    async fn delete(&self, user: UserId, ids: &[Uuid]) -> Result<(), MemoryError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.client.delete_points(delete_request(&self.collection, user, Some(ids))).await.map_err(server_error)?;
        Ok(())
    }

    async fn delete_user(&self, user: UserId) -> Result<(), MemoryError> {
        self.client.delete_points(delete_request(&self.collection, user, None)).await.map_err(server_error)?;
        Ok(())
    }

    async fn existing(&self, ids: &[Uuid]) -> Result<Vec<Uuid>, MemoryError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let response = self.client.get_points(get_request(&self.collection, ids)).await.map_err(server_error)?;
        Ok(response.result.iter().filter_map(|point| point_uuid(point.id.as_ref()?)).collect())
    }

    async fn count(&self, user: UserId) -> Result<u64, MemoryError> {
        let response = self.client.count(count_request(&self.collection, user)).await.map_err(server_error)?;
        Ok(response.result.map_or(0, |result| result.count))
    }
}

#[cfg(test)]
mod tests;
