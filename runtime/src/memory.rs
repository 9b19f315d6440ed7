//! The memory ports: [`VectorMemory`] (points searched by meaning, always within one user),
//! [`MemoryStore`] (the records themselves, content sealed, in the relational store) and
//! [`Memories`] (what agents and the runtime use: remember a text, recall the nearest ones).
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

/// Why a memory operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// The request is not acceptable; `field` names what is wrong (`text`, `k`, `vector`…).
    #[error("{field}: {message}")]
    Invalid {
        /// The field at fault.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The vector store failed or could not be reached.
    #[error("vector store: {0}")]
    Unavailable(String),
    /// The relational store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The texts could not be embedded.
    #[error(transparent)]
    Embed(#[from] crate::embed::EmbedError),
    /// A stored record could not be opened (tampered with, or sealed with an unknown key).
    #[error("memory {id}: {message}")]
    Sealed {
        /// The record.
        id: Uuid,
        /// Why it could not be opened.
        message: String,
    },
}

impl MemoryError {
    /// Builds an [`MemoryError::Invalid`] naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        MemoryError::Invalid { field: field.into(), message: message.into() }
    }
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
    /// None of these kinds.
    pub exclude_kinds: Vec<String>,
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

    /// Which of these ids have a point (whoever owns it); for reconciliation with the records.
    async fn existing(&self, ids: &[Uuid]) -> Result<Vec<Uuid>, MemoryError>;

    /// How many points the user has.
    async fn count(&self, user: UserId) -> Result<u64, MemoryError>;

    /// Builds or refreshes the search index when enough points are not indexed yet; returns
    /// whether it did any work. CPU-heavy: callers run it in the background, never on a
    /// request path. Searches and writes go on meanwhile.
    async fn optimize(&self) -> Result<bool, MemoryError> {
        Ok(false)
    }

    /// Makes the writes so far durable, if the backend buffers them (the embedded engine);
    /// callers run it periodically. What a crash loses before it, reconciliation re-indexes.
    async fn flush(&self) -> Result<(), MemoryError> {
        Ok(())
    }
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

    /// Up to `limit` (user, id) pairs of every user's records with ids above `after`, by id
    /// (reconciliation with the vector store walks them).
    async fn memory_ids(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<(UserId, Uuid)>, StoreError>;

    /// Up to `limit` (user, id) pairs of records stored before `before` (retention).
    async fn memories_before(&self, before: DateTime<Utc>, limit: u32) -> Result<Vec<(UserId, Uuid)>, StoreError>;
}

/// The kind of the memories the runtime keeps of corrections that passed (the corrector recalls
/// them; steps' recall leaves them out).
pub const CORRECTION_KIND: &str = "correction";

/// The line that separates a correction memory's issues from the values that fixed them.
const FIXED_WITH: &str = "fixed with:";

/// The memory of a correction that passed, if it names values that fixed the issues: its text
/// lists the issues (what a later search matches) and then, after `fixed with:`, one line
/// `` `path` = value `` per accepted value (what the corrector quotes, see
/// [`correction_fixes`]). The agent and the signature go in the metadata.
pub fn correction_memory(record: &crate::model::CorrectionRecord) -> Option<NewMemory> {
    if !record.passed {
        return None;
    }
    let fixes: Vec<String> = record.strategy["accepted"]
        .as_array()?
        .iter()
        .filter_map(|example| Some(format!("`{}` = {}", example["path"].as_str()?, example["accepted"].as_str()?)))
        .collect();
    if fixes.is_empty() {
        return None;
    }
    let mut text = format!("agent {} step {}: validators rejected the output\n", record.agent, record.step_key);
    for issue in &record.issues {
        text.push_str(&format!("- [{}] at `{}`: {}\n", issue.validator, issue.path, issue.message));
    }
    text.push_str(FIXED_WITH);
    for fix in fixes {
        text.push('\n');
        text.push_str(&fix);
    }
    Some(NewMemory {
        kind: CORRECTION_KIND.to_owned(),
        text,
        source: Some(format!("execution:{}", record.execution_id)),
        metadata: serde_json::json!({ "agent": record.agent, "signature": record.signature }),
    })
}

/// The `` `path` = value `` lines of a correction memory's text (see [`correction_memory`]).
pub fn correction_fixes(text: &str) -> Vec<&str> {
    match text.split_once(FIXED_WITH) {
        Some((_, fixes)) => fixes.lines().map(str::trim).filter(|line| !line.is_empty()).collect(),
        None => Vec::new(),
    }
}

/// A memory to store.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewMemory {
    /// Its kind (`note`, `fact`, `correction`, …): 1–64 of `a-z`, `0-9`, `_`, `-`.
    pub kind: String,
    /// The text (encrypted at rest; searched by meaning).
    pub text: String,
    /// Where it came from.
    pub source: Option<String>,
    /// Free-form metadata, stored in clear: do not put secrets there.
    pub metadata: Value,
}

/// A search of one user's memories by meaning.
#[derive(Clone, Debug, PartialEq)]
pub struct MemorySearch {
    /// The text to search for.
    pub query: String,
    /// How many hits at most (1–100).
    pub limit: usize,
    /// Only these kinds (any when empty).
    pub kinds: Vec<String>,
    /// None of these kinds.
    pub exclude_kinds: Vec<String>,
    /// Only this source.
    pub source: Option<String>,
}

impl MemorySearch {
    /// A search for `query`, at most `limit` hits, any kind.
    pub fn new(query: impl Into<String>, limit: usize) -> Self {
        Self { query: query.into(), limit, kinds: Vec::new(), exclude_kinds: Vec::new(), source: None }
    }
}

/// A memory found by a search, with its similarity to the query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecalledMemory {
    /// The memory.
    #[serde(flatten)]
    pub memory: Memory,
    /// Cosine similarity to the query, higher is closer.
    pub score: f32,
}

/// Memories as agents and the runtime use them: always within one user.
#[async_trait]
pub trait Memories: Send + Sync + 'static {
    /// Stores a memory of `user`.
    async fn remember(&self, user: UserId, memory: NewMemory) -> Result<Memory, MemoryError>;

    /// The user's memories nearest to the search's query, best first.
    async fn recall(&self, user: UserId, search: &MemorySearch) -> Result<Vec<RecalledMemory>, MemoryError>;
}

/// A fake [`Memories`] for tests: kept in a list, scored by the share of words a memory has
/// in common with the query.
#[cfg(any(test, feature = "testsuite"))]
#[derive(Default)]
pub struct InMemoryMemories {
    memories: std::sync::Mutex<Vec<(UserId, Memory)>>,
}

#[cfg(any(test, feature = "testsuite"))]
fn words(text: &str) -> std::collections::HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_empty()).map(str::to_lowercase).collect()
}

#[cfg(any(test, feature = "testsuite"))]
#[async_trait]
impl Memories for InMemoryMemories {
    async fn remember(&self, user: UserId, memory: NewMemory) -> Result<Memory, MemoryError> {
        let memory = Memory {
            id: Uuid::now_v7(),
            kind: memory.kind,
            text: memory.text,
            source: memory.source,
            metadata: memory.metadata,
            created_at: crate::model::now(),
        };
        self.memories.lock().expect("memories lock").push((user, memory.clone()));
        Ok(memory)
    }

    async fn recall(&self, user: UserId, search: &MemorySearch) -> Result<Vec<RecalledMemory>, MemoryError> {
        let query = words(&search.query);
        let memories = self.memories.lock().expect("memories lock");
        let mut hits: Vec<RecalledMemory> = memories
            .iter()
            .filter(|(owner, memory)| {
                *owner == user
                    && (search.kinds.is_empty() || search.kinds.contains(&memory.kind))
                    && !search.exclude_kinds.contains(&memory.kind)
                    && (search.source.is_none() || search.source == memory.source)
            })
            .map(|(_, memory)| {
                let text = words(&memory.text);
                let shared = text.intersection(&query).count() as f32;
                let score = shared / (text.union(&query).count().max(1) as f32);
                RecalledMemory { memory: memory.clone(), score }
            })
            .filter(|hit| hit.score > 0.0)
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(search.limit);
        Ok(hits)
    }
}
