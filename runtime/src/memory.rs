//! The memory ports: [`VectorMemory`] (points searched by meaning, always within one user) and
//! [`MemoryStore`] (the records themselves, content sealed, in the relational store).
//!
//! A memory is two things: an encrypted record (content, kind, source, metadata) in the
//! relational store, and a point (vector + `user_id`, `kind`, `source`, `created_at`, no text)
//! in the vector store under the same id. Every vector operation takes the caller's user id and
//! filters on it: no path returns another user's memory.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::ids::UserId;
use crate::store::StoreError;

/// Why a vector operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// The request is not acceptable (wrong dimension, unknown filter field…).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The vector store failed or could not be reached.
    #[error("vector store: {0}")]
    Unavailable(String),
}

/// A point of the vector store.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryPoint {
    /// The memory's id (the record's).
    pub id: Uuid,
    /// Its owner.
    pub user: UserId,
    /// The embedding.
    pub vector: Vec<f32>,
    /// Its kind (`note`, `fact`, `correction`, …).
    pub kind: String,
    /// Where it came from, if known.
    pub source: Option<String>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

/// A search within one user's memories.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryQuery {
    /// Whose memories (always a filter).
    pub user: UserId,
    /// The query embedding.
    pub vector: Vec<f32>,
    /// How many hits at most.
    pub limit: usize,
    /// Only these kinds (any when empty).
    pub kinds: Vec<String>,
    /// Only this source.
    pub source: Option<String>,
}

/// One search result.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryHit {
    /// The memory's id.
    pub id: Uuid,
    /// Cosine similarity.
    pub score: f32,
}

/// A vector store of memories.
#[async_trait]
pub trait VectorMemory: Send + Sync + 'static {
    /// The backend's name (`qdrant-edge`, `qdrant`).
    fn name(&self) -> &str;

    /// The vector dimension of the collection.
    fn dimension(&self) -> usize;

    /// Inserts or replaces points.
    async fn upsert(&self, points: Vec<MemoryPoint>) -> Result<(), MemoryError>;

    /// The nearest points of `query.user`.
    async fn search(&self, query: &MemoryQuery) -> Result<Vec<MemoryHit>, MemoryError>;

    /// Deletes the user's points with these ids (others' ids are ignored).
    async fn delete(&self, user: UserId, ids: &[Uuid]) -> Result<(), MemoryError>;

    /// Deletes every point of the user.
    async fn delete_user(&self, user: UserId) -> Result<(), MemoryError>;
}

/// A memory record as stored: content sealed.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryRecord {
    /// The id.
    pub id: Uuid,
    /// Its owner.
    pub user: UserId,
    /// Its kind.
    pub kind: String,
    /// Where it came from.
    pub source: Option<String>,
    /// Free-form metadata (not encrypted: do not put secrets there).
    pub metadata: Value,
    /// The key that sealed the content.
    pub key_id: String,
    /// The nonce.
    pub nonce: Vec<u8>,
    /// The sealed content (ciphertext and tag).
    pub ciphertext: Vec<u8>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

/// A decrypted memory, as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// The id.
    pub id: Uuid,
    /// Its kind.
    pub kind: String,
    /// The text.
    pub text: String,
    /// Where it came from.
    pub source: Option<String>,
    /// Metadata.
    pub metadata: Value,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

/// The relational side of memories.
#[async_trait]
pub trait MemoryStore: Send + Sync + 'static {
    /// Stores a record.
    async fn insert_memory(&self, record: &MemoryRecord) -> Result<(), StoreError>;

    /// The user's record with this id.
    async fn get_memory(&self, user: UserId, id: Uuid) -> Result<Option<MemoryRecord>, StoreError>;

    /// The user's records with these ids (any order).
    async fn get_memories(&self, user: UserId, ids: &[Uuid]) -> Result<Vec<MemoryRecord>, StoreError>;

    /// Every record of the user, oldest first.
    async fn list_memories(&self, user: UserId) -> Result<Vec<MemoryRecord>, StoreError>;

    /// Deletes the user's record; whether it existed.
    async fn delete_memory(&self, user: UserId, id: Uuid) -> Result<bool, StoreError>;

    /// Deletes every record of the user; how many.
    async fn delete_memories(&self, user: UserId) -> Result<u64, StoreError>;

    /// Up to `limit` records sealed with a key other than `key_id` (for re-encryption).
    async fn memories_not_sealed_with(&self, key_id: &str, limit: u32) -> Result<Vec<MemoryRecord>, StoreError>;

    /// Replaces a record's sealed content (re-encryption).
    async fn reseal_memory(&self, record: &MemoryRecord) -> Result<(), StoreError>;
}
