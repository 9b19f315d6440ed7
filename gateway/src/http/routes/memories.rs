//! `/api/v1/memories`: a user's memories — stored encrypted, searched by meaning, exported and
//! deleted. Every operation is scoped to the caller: another user's id answers 404, and no
//! filter can widen a search beyond the caller's own memories (admins included).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_DISPOSITION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use troupe_runtime::memory::{Memory, MemorySearch, NewMemory, RecalledMemory};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Caller, ClientInfo};
use crate::http::extract::{ApiJson, ApiQuery, parse_id};
use crate::http::{ApiError, AppState, ErrorBody};

/// The kind a memory gets when the request names none.
const DEFAULT_KIND: &str = "note";
/// How many hits a search returns when the request names no `k`.
const DEFAULT_K: usize = 5;

/// A memory to store.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreMemoryRequest {
    /// The text (at most 32,768 characters); encrypted at rest.
    #[schema(max_length = 32768)]
    pub text: String,
    /// `note` by default; 1–64 of `a-z`, `0-9`, `_`, `-`.
    #[schema(pattern = "^[a-z0-9_-]{1,64}$")]
    pub kind: Option<String>,
    /// Where it came from (a URL, a document, an execution…).
    pub source: Option<String>,
    /// A JSON object stored in clear beside it (do not put secrets there).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// A search of the caller's memories by meaning.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchMemoriesRequest {
    /// What to look for.
    pub query: String,
    /// How many hits at most (1–100, default 5).
    #[schema(minimum = 1, maximum = 100)]
    pub k: Option<usize>,
    /// Narrows the search.
    pub filters: Option<MemoryFilters>,
}

/// Filters of a memory search.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryFilters {
    /// One kind or a list of kinds.
    pub kind: Option<OneOrMany>,
    /// Only memories from this source.
    pub source: Option<String>,
}

/// A string or a list of strings.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// A memory as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct MemoryView {
    pub id: Uuid,
    pub kind: String,
    pub text: String,
    pub source: Option<String>,
    /// The JSON object stored beside it.
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub created_at: DateTime<Utc>,
    /// Cosine similarity to the query (search results only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
}

impl From<Memory> for MemoryView {
    fn from(memory: Memory) -> Self {
        Self {
            id: memory.id,
            kind: memory.kind,
            text: memory.text,
            source: memory.source,
            metadata: memory.metadata,
            created_at: memory.created_at,
            score: None,
        }
    }
}

impl From<RecalledMemory> for MemoryView {
    fn from(recalled: RecalledMemory) -> Self {
        Self { score: Some(recalled.score), ..Self::from(recalled.memory) }
    }
}

/// Search results, best first.
#[derive(Serialize, ToSchema)]
pub struct SearchResults {
    pub results: Vec<MemoryView>,
}

/// Every memory of a user, decrypted.
#[derive(Serialize, ToSchema)]
pub struct MemoryExport {
    pub user_id: Uuid,
    pub exported_at: DateTime<Utc>,
    pub memories: Vec<MemoryView>,
}

/// How many memories were deleted.
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    pub deleted: u64,
}

/// `DELETE /memories` must say it means it.
#[derive(Deserialize, serde::Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteAllParams {
    /// Must be `true`.
    pub confirm: Option<bool>,
}

/// Stores a memory of the caller.
#[utoipa::path(post, path = "/api/v1/memories", tag = "memories", request_body = StoreMemoryRequest,
    responses((status = 201, body = MemoryView), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn store_memory(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<StoreMemoryRequest>,
) -> Result<(StatusCode, Json<MemoryView>), ApiError> {
    let memory = NewMemory {
        kind: request.kind.unwrap_or_else(|| DEFAULT_KIND.to_owned()),
        text: request.text,
        source: request.source,
        metadata: request.metadata.unwrap_or(Value::Null),
    };
    let stored = state.memories.store(caller.id(), memory).await?;
    Ok((StatusCode::CREATED, Json(MemoryView::from(stored))))
}

/// Searches the caller's memories by meaning.
#[utoipa::path(post, path = "/api/v1/memories/search", tag = "memories", request_body = SearchMemoriesRequest,
    responses((status = 200, body = SearchResults), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub async fn search_memories(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<SearchMemoriesRequest>,
) -> Result<Json<SearchResults>, ApiError> {
    let mut search = MemorySearch::new(request.query, request.k.unwrap_or(DEFAULT_K));
    if let Some(filters) = request.filters {
        search.kinds = match filters.kind {
            None => Vec::new(),
            Some(OneOrMany::One(kind)) => vec![kind],
            Some(OneOrMany::Many(kinds)) => kinds,
        };
        search.source = filters.source;
    }
    let found = state.memories.search(caller.id(), &search).await?;
    Ok(Json(SearchResults { results: found.into_iter().map(MemoryView::from).collect() }))
}

/// Returns one of the caller's memories.
#[utoipa::path(get, path = "/api/v1/memories/{id}", tag = "memories", params(("id" = Uuid, Path)),
    responses((status = 200, body = MemoryView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_memory(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<MemoryView>, ApiError> {
    let memory = state.memories.get(caller.id(), parse_id(&id, "id")?).await?;
    memory.map(|memory| Json(MemoryView::from(memory))).ok_or_else(|| ApiError::not_found("memory"))
}

/// Deletes one of the caller's memories.
#[utoipa::path(delete, path = "/api/v1/memories/{id}", tag = "memories", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_memory(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.memories.delete(caller.id(), parse_id(&id, "id")?).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("memory"))
    }
}

/// Exports every memory of the caller, decrypted, as one JSON document.
#[utoipa::path(get, path = "/api/v1/memories/export", tag = "memories",
    responses((status = 200, body = MemoryExport)), security(("bearer" = [])))]
pub async fn export_memories(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
) -> Result<Response, ApiError> {
    let memories = state.memories.export(caller.id()).await?;
    state.auth.audit(Some(caller.id()), "memories_exported", None, client.ip, json!({ "count": memories.len() })).await;
    let export = MemoryExport {
        user_id: caller.id().0,
        exported_at: Utc::now(),
        memories: memories.into_iter().map(MemoryView::from).collect(),
    };
    let mut response = Json(export).into_response();
    response
        .headers_mut()
        .insert(CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"troupe-memories.json\""));
    Ok(response)
}

/// Deletes every memory of the caller (`?confirm=true` is required).
#[utoipa::path(delete, path = "/api/v1/memories", tag = "memories", params(DeleteAllParams),
    responses((status = 200, body = Deleted), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_all_memories(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    ApiQuery(params): ApiQuery<DeleteAllParams>,
) -> Result<Json<Deleted>, ApiError> {
    if params.confirm != Some(true) {
        return Err(ApiError::invalid_field("confirm", "deleting every memory needs `?confirm=true`"));
    }
    let deleted = state.memories.delete_all(caller.id()).await?;
    state.auth.audit(Some(caller.id()), "memories_deleted", None, client.ip, json!({ "count": deleted })).await;
    Ok(Json(Deleted { deleted }))
}
