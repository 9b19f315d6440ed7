//! [`MemoryService`]: memories as users and agents see them — text in, text out — over the
//! sealed records ([`MemoryStore`]), the vectors ([`VectorMemory`]) and the [`Embedder`].
//!
//! A memory is written record first, then point; a point whose record is gone is never shown
//! (a search reads the records of its hits, by the caller's user id), and a record whose point
//! is missing (a failed write, a killed process) is re-indexed by [`MemoryService::reconcile`].
//! Deleting removes the record, then the point. Every operation takes the caller's user id.
//!
//! Vectors of one embedder only are ever compared: the service answers from one *generation*
//! (an embedder and the vectors it made). While another embedder's generation is being built
//! ([`MemoryService::switching`], [`MemoryService::rebuild`]), new memories go to both and
//! searches answer from the old one; the new one answers once it holds every memory.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use troupe_runtime::cluster::{ClusterSignals, Signal};
use troupe_runtime::embed::Embedder;
use troupe_runtime::ids::UserId;
use troupe_runtime::memory::{
    Memories, Memory, MemoryError, MemoryPoint, MemoryQuery, MemoryRecord, MemorySearch, MemoryStore, NewMemory,
    RecalledMemory, VectorMemory,
};
use uuid::Uuid;

use crate::crypto::{MemoryKeys, Sealed};
use crate::embed::MAX_TEXT_CHARS;
use crate::vector::MAX_SEARCH_LIMIT;

/// The longest `kind`, in characters.
pub const MAX_KIND_CHARS: usize = 64;
/// The longest `source`, in characters.
pub const MAX_SOURCE_CHARS: usize = 512;
/// The largest `metadata`, serialised, in bytes.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

/// How many records one pass of reconciliation, re-encryption or retention handles at a time.
const PAGE: u32 = 256;

/// The memory service.
#[derive(Clone)]
pub struct MemoryService {
    store: Arc<dyn MemoryStore>,
    generations: Arc<std::sync::RwLock<Generations>>,
    keys: Arc<MemoryKeys>,
    /// Where changes are announced to the other nodes of a cluster (each keeps its own index
    /// of the shared records up to date).
    announcer: Arc<std::sync::OnceLock<(Arc<dyn ClusterSignals>, String)>>,
}

/// An embedder and the vectors it made.
#[derive(Clone)]
pub struct Generation {
    /// Makes the vectors of texts and queries.
    pub embedder: Arc<dyn Embedder>,
    /// Holds them.
    pub vectors: Arc<dyn VectorMemory>,
}

impl Generation {
    /// Checks that the embedder and the collection agree on the dimension.
    fn checked(self) -> Result<Self, MemoryError> {
        crate::vector::check_dimension(self.vectors.as_ref(), self.embedder.dimension(), self.embedder.name())?;
        Ok(self)
    }
}

struct Generations {
    /// Answers searches.
    serving: Generation,
    /// Being filled for another embedder (see [`MemoryService::rebuild`]).
    building: Option<Generation>,
}

/// What [`MemoryService::reconcile`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Records checked.
    pub checked: u64,
    /// Records whose point was missing and was written again.
    pub reindexed: u64,
}

impl MemoryService {
    /// Builds the service; refuses an embedder whose dimension differs from the collection's.
    pub fn new(
        store: Arc<dyn MemoryStore>,
        vectors: Arc<dyn VectorMemory>,
        embedder: Arc<dyn Embedder>,
        keys: Arc<MemoryKeys>,
    ) -> Result<Self, MemoryError> {
        let serving = Generation { embedder, vectors }.checked()?;
        Ok(Self {
            store,
            generations: Arc::new(std::sync::RwLock::new(Generations { serving, building: None })),
            keys,
            announcer: Arc::default(),
        })
    }

    /// Builds the service while it moves to another embedder: `serving` answers searches until
    /// [`rebuild`](Self::rebuild) has filled `building` with every memory.
    pub fn switching(
        store: Arc<dyn MemoryStore>,
        serving: Generation,
        building: Generation,
        keys: Arc<MemoryKeys>,
    ) -> Result<Self, MemoryError> {
        let service = Self::new(store, serving.vectors, serving.embedder, keys)?;
        service.write_generations().building = Some(building.checked()?);
        Ok(service)
    }

    fn read_generations(&self) -> std::sync::RwLockReadGuard<'_, Generations> {
        self.generations.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_generations(&self) -> std::sync::RwLockWriteGuard<'_, Generations> {
        self.generations.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn serving(&self) -> Generation {
        self.read_generations().serving.clone()
    }

    fn building(&self) -> Option<Generation> {
        self.read_generations().building.clone()
    }

    /// Every generation: the serving one, then the one being built.
    fn all(&self) -> Vec<Generation> {
        let generations = self.read_generations();
        std::iter::once(generations.serving.clone()).chain(generations.building.clone()).collect()
    }

    /// The embedder answering searches.
    pub fn embedder(&self) -> Arc<dyn Embedder> {
        self.serving().embedder
    }

    /// The embedder whose generation is being built, if one is.
    pub fn rebuilding_for(&self) -> Option<Arc<dyn Embedder>> {
        self.building().map(|generation| generation.embedder)
    }

    /// Fills the generation being built with every memory (two passes: the second catches what
    /// was stored during the first), then — after `activate` has recorded it — makes it the
    /// answering one. Returns the generation it replaced (for the caller to remove), or `None`
    /// when nothing was being built. Searches answer from the old generation until the swap.
    pub async fn rebuild(
        &self,
        activate: impl FnOnce() -> Result<(), MemoryError>,
    ) -> Result<Option<(Generation, ReconcileReport)>, MemoryError> {
        let Some(building) = self.building() else { return Ok(None) };
        let mut report = self.reconcile_into(&building).await?;
        report.reindexed += self.reconcile_into(&building).await?.reindexed;
        building.vectors.flush().await?;
        activate()?;
        let mut generations = self.write_generations();
        let Some(building) = generations.building.take() else { return Ok(None) };
        let old = std::mem::replace(&mut generations.serving, building);
        Ok(Some((old, report)))
    }

    /// Announces every change of a record to the other nodes sharing the store, as `node`.
    pub fn announce_to(&self, signals: Arc<dyn ClusterSignals>, node: String) {
        let _ = self.announcer.set((signals, node));
    }

    async fn announce(&self, user: UserId, id: Option<Uuid>) {
        if let Some((signals, node)) = self.announcer.get()
            && let Err(error) = signals.publish(node, &[Signal::Memory { owner: user, id }]).await
        {
            tracing::warn!(%error, "cannot tell the other nodes of a memory change; their reconciliation catches up");
        }
    }

    /// Brings this node's index in line with the records after another node changed them: one
    /// memory (`Some`: indexed if it exists, removed if not) or all of a user's (`None`).
    pub async fn sync_from_store(&self, user: UserId, id: Option<Uuid>) -> Result<(), MemoryError> {
        let generations = self.all();
        let records = match id {
            Some(id) => match self.store.get_memory(user, id).await? {
                Some(record) => vec![record],
                None => {
                    for generation in &generations {
                        generation.vectors.delete(user, &[id]).await?;
                    }
                    return Ok(());
                }
            },
            None => {
                for generation in &generations {
                    generation.vectors.delete_user(user).await?;
                }
                self.store.list_memories(user).await?
            }
        };
        for generation in &generations {
            self.index(generation, records.clone()).await?;
        }
        Ok(())
    }

    /// Embeds and indexes records in one generation.
    async fn index(&self, generation: &Generation, records: Vec<MemoryRecord>) -> Result<(), MemoryError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut texts = Vec::with_capacity(records.len());
        for record in &records {
            texts.push(String::from_utf8_lossy(&self.open_bytes(record)?).into_owned());
        }
        let vectors = generation.embedder.embed(&texts).await?;
        let points: Vec<MemoryPoint> = records
            .into_iter()
            .zip(vectors)
            .map(|(record, vector)| MemoryPoint {
                id: record.id,
                user: record.user,
                vector,
                kind: record.kind,
                source: record.source,
                created_at: record.created_at,
            })
            .collect();
        generation.vectors.upsert(points).await
    }

    /// The vector store answering searches.
    pub fn vectors(&self) -> Arc<dyn VectorMemory> {
        self.serving().vectors
    }

    /// Every vector store in use, the one being built included (for maintenance: flushing,
    /// index building).
    pub fn vector_stores(&self) -> Vec<Arc<dyn VectorMemory>> {
        self.all().into_iter().map(|generation| generation.vectors).collect()
    }

    /// Stores a memory of `user`: checked, sealed, written, embedded and indexed.
    pub async fn store(&self, user: UserId, memory: NewMemory) -> Result<Memory, MemoryError> {
        check_new(&memory)?;
        // One look at the generations: a memory stored while a rebuild swaps them still lands
        // in the one that answers next.
        let (serving, building) = {
            let generations = self.read_generations();
            (generations.serving.clone(), generations.building.clone())
        };
        let vector = embed_one(serving.embedder.as_ref(), &memory.text, "text").await?;
        let id = Uuid::now_v7();
        let created_at = troupe_runtime::model::now();
        let Sealed { key_id, nonce, ciphertext } = self.keys.seal(user, id, memory.text.as_bytes());
        let metadata = if memory.metadata.is_null() { Value::Object(Default::default()) } else { memory.metadata };
        let record = MemoryRecord {
            id,
            user,
            kind: memory.kind,
            source: memory.source,
            metadata,
            key_id,
            nonce,
            ciphertext,
            created_at,
        };
        self.store.insert_memory(&record).await?;
        let point =
            MemoryPoint { id, user, vector, kind: record.kind.clone(), source: record.source.clone(), created_at };
        if let Err(error) = serving.vectors.upsert(vec![point]).await {
            // Keep the two sides in step: a record that cannot be found by meaning is not stored.
            if let Err(undo) = self.store.delete_memory(user, id).await {
                tracing::warn!(memory_id = %id, error = %undo, "cannot undo a memory whose vector failed; reconciliation will index it");
            }
            return Err(error);
        }
        if let Some(building) = building
            && let Err(error) = self.index(&building, vec![record.clone()]).await
        {
            // The rebuild's second pass, or the next start's, indexes it.
            tracing::warn!(memory_id = %id, %error, "cannot index a memory in the generation being built; the rebuild catches up");
        }
        self.announce(user, Some(id)).await;
        Ok(Memory {
            id,
            kind: record.kind,
            text: memory.text,
            source: record.source,
            metadata: record.metadata,
            created_at,
        })
    }

    /// The user's memories nearest to the query, best first. A record that cannot be opened
    /// is left out of the results (and logged), so one damaged record does not break search.
    pub async fn search(&self, user: UserId, search: &MemorySearch) -> Result<Vec<RecalledMemory>, MemoryError> {
        check_search(search)?;
        let serving = self.serving();
        let vector = embed_one(serving.embedder.as_ref(), &search.query, "query").await?;
        let hits = serving
            .vectors
            .search(&MemoryQuery {
                user,
                vector,
                limit: search.limit,
                kinds: search.kinds.clone(),
                exclude_kinds: search.exclude_kinds.clone(),
                source: search.source.clone(),
            })
            .await?;
        let ids: Vec<Uuid> = hits.iter().map(|hit| hit.id).collect();
        let mut records: HashMap<Uuid, MemoryRecord> =
            self.store.get_memories(user, &ids).await?.into_iter().map(|record| (record.id, record)).collect();
        let mut found = Vec::with_capacity(hits.len());
        for hit in hits {
            let Some(record) = records.remove(&hit.id) else { continue };
            match self.open(&record) {
                Ok(memory) => found.push(RecalledMemory { memory, score: hit.score }),
                Err(error) => {
                    tracing::warn!(memory_id = %record.id, %error, "a memory cannot be opened; left out of the results")
                }
            }
        }
        Ok(found)
    }

    /// The user's memory with this id (none if it is missing or someone else's).
    pub async fn get(&self, user: UserId, id: Uuid) -> Result<Option<Memory>, MemoryError> {
        match self.store.get_memory(user, id).await? {
            Some(record) => Ok(Some(self.open(&record)?)),
            None => Ok(None),
        }
    }

    /// Deletes the user's memory; whether it existed.
    pub async fn delete(&self, user: UserId, id: Uuid) -> Result<bool, MemoryError> {
        let existed = self.store.delete_memory(user, id).await?;
        if existed {
            for generation in self.all() {
                generation.vectors.delete(user, &[id]).await?;
            }
            self.announce(user, Some(id)).await;
        }
        Ok(existed)
    }

    /// Every memory of the user, decrypted, oldest first (the user's data export).
    pub async fn export(&self, user: UserId) -> Result<Vec<Memory>, MemoryError> {
        self.store.list_memories(user).await?.iter().map(|record| self.open(record)).collect()
    }

    /// Deletes every memory of the user; how many.
    pub async fn delete_all(&self, user: UserId) -> Result<u64, MemoryError> {
        let deleted = self.store.delete_memories(user).await?;
        for generation in self.all() {
            generation.vectors.delete_user(user).await?;
        }
        self.announce(user, None).await;
        Ok(deleted)
    }

    /// Re-encrypts every record sealed with another key than the active one (see [`rekey`]).
    pub async fn rekey(&self) -> Result<u64, MemoryError> {
        rekey(self.store.as_ref(), &self.keys).await
    }

    /// Writes again the points of records that have none (after a failed write or a killed
    /// process). Walks every record by id, a page at a time.
    pub async fn reconcile(&self) -> Result<ReconcileReport, MemoryError> {
        self.reconcile_into(&self.serving()).await
    }

    async fn reconcile_into(&self, generation: &Generation) -> Result<ReconcileReport, MemoryError> {
        let mut report = ReconcileReport::default();
        let mut after = None;
        loop {
            let page = self.store.memory_ids(after, PAGE).await?;
            let Some(&(_, last)) = page.last() else { return Ok(report) };
            after = Some(last);
            report.checked += page.len() as u64;
            let ids: Vec<Uuid> = page.iter().map(|(_, id)| *id).collect();
            let existing: std::collections::HashSet<Uuid> =
                generation.vectors.existing(&ids).await?.into_iter().collect();
            let mut missing: HashMap<UserId, Vec<Uuid>> = HashMap::new();
            for (user, id) in page.into_iter().filter(|(_, id)| !existing.contains(id)) {
                missing.entry(user).or_default().push(id);
            }
            for (user, ids) in missing {
                let records = self.store.get_memories(user, &ids).await?;
                report.reindexed += records.len() as u64;
                self.index(generation, records).await?;
            }
        }
    }

    /// Deletes every memory stored before `before` (retention); how many.
    pub async fn purge_before(&self, before: DateTime<Utc>) -> Result<u64, MemoryError> {
        let mut purged = 0;
        loop {
            let page = self.store.memories_before(before, PAGE).await?;
            if page.is_empty() {
                return Ok(purged);
            }
            let mut by_user: HashMap<UserId, Vec<Uuid>> = HashMap::new();
            for (user, id) in page {
                if self.store.delete_memory(user, id).await? {
                    purged += 1;
                }
                by_user.entry(user).or_default().push(id);
            }
            for generation in self.all() {
                for (user, ids) in &by_user {
                    generation.vectors.delete(*user, ids).await?;
                }
            }
        }
    }

    fn open_bytes(&self, record: &MemoryRecord) -> Result<Vec<u8>, MemoryError> {
        open_record(&self.keys, record)
    }

    fn open(&self, record: &MemoryRecord) -> Result<Memory, MemoryError> {
        let text = String::from_utf8(self.open_bytes(record)?)
            .map_err(|_| MemoryError::Sealed { id: record.id, message: "the content is not UTF-8".into() })?;
        Ok(Memory {
            id: record.id,
            kind: record.kind.clone(),
            text,
            source: record.source.clone(),
            metadata: record.metadata.clone(),
            created_at: record.created_at,
        })
    }
}

/// Re-encrypts every record sealed with another key than the active one, a page at a time;
/// returns how many moved. Needs only the records: vectors do not change. A record no
/// configured key opens stops it with an error naming the record.
pub async fn rekey(store: &dyn MemoryStore, keys: &MemoryKeys) -> Result<u64, MemoryError> {
    let active = keys.active().to_owned();
    let mut moved = 0;
    loop {
        let records = store.memories_not_sealed_with(&active, PAGE).await?;
        if records.is_empty() {
            return Ok(moved);
        }
        for record in records {
            let text = open_record(keys, &record)?;
            let Sealed { key_id, nonce, ciphertext } = keys.seal(record.user, record.id, &text);
            store.reseal_memory(&MemoryRecord { key_id, nonce, ciphertext, ..record }).await?;
            moved += 1;
        }
    }
}

async fn embed_one(embedder: &dyn Embedder, text: &str, field: &str) -> Result<Vec<f32>, MemoryError> {
    let mut vectors = embedder.embed(&[text.to_owned()]).await.map_err(|error| match error {
        troupe_runtime::embed::EmbedError::Input(message) => MemoryError::invalid(field, message),
        other => MemoryError::Embed(other),
    })?;
    vectors
        .pop()
        .ok_or_else(|| MemoryError::Embed(troupe_runtime::embed::EmbedError::Provider("no vector came back".into())))
}

fn open_record(keys: &MemoryKeys, record: &MemoryRecord) -> Result<Vec<u8>, MemoryError> {
    let sealed =
        Sealed { key_id: record.key_id.clone(), nonce: record.nonce.clone(), ciphertext: record.ciphertext.clone() };
    keys.open(record.user, record.id, &sealed)
        .map_err(|error| MemoryError::Sealed { id: record.id, message: error.to_string() })
}

#[async_trait]
impl Memories for MemoryService {
    async fn remember(&self, user: UserId, memory: NewMemory) -> Result<Memory, MemoryError> {
        self.store(user, memory).await
    }

    /// A step's recall: as [`MemoryService::search`], but an owner with no memories costs no
    /// embedding (with the local model, embedding a step's input is most of a recall's cost).
    async fn recall(&self, user: UserId, search: &MemorySearch) -> Result<Vec<RecalledMemory>, MemoryError> {
        if self.serving().vectors.count(user).await? == 0 {
            return Ok(Vec::new());
        }
        self.search(user, search).await
    }
}

/// Checks a kind: 1–64 of `a-z`, `0-9`, `_`, `-`.
pub fn check_kind(kind: &str, field: &str) -> Result<(), MemoryError> {
    if kind.is_empty()
        || kind.chars().count() > MAX_KIND_CHARS
        || !kind.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(MemoryError::invalid(
            field,
            format!(
                "must be 1 to {MAX_KIND_CHARS} of a-z, 0-9, `_` or `-`, got `{}`",
                kind.chars().take(80).collect::<String>()
            ),
        ));
    }
    Ok(())
}

fn check_text(text: &str, field: &str) -> Result<(), MemoryError> {
    if text.trim().is_empty() {
        return Err(MemoryError::invalid(field, "must not be empty"));
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(MemoryError::invalid(
            field,
            format!("has {chars} characters; at most {MAX_TEXT_CHARS} (split it into several memories)"),
        ));
    }
    Ok(())
}

fn check_new(memory: &NewMemory) -> Result<(), MemoryError> {
    check_text(&memory.text, "text")?;
    check_kind(&memory.kind, "kind")?;
    if let Some(source) = &memory.source
        && (source.is_empty() || source.chars().count() > MAX_SOURCE_CHARS)
    {
        return Err(MemoryError::invalid("source", format!("must be 1 to {MAX_SOURCE_CHARS} characters")));
    }
    if !(memory.metadata.is_null() || memory.metadata.is_object()) {
        return Err(MemoryError::invalid("metadata", "must be a JSON object"));
    }
    let size = memory.metadata.to_string().len();
    if size > MAX_METADATA_BYTES {
        return Err(MemoryError::invalid("metadata", format!("has {size} bytes; at most {MAX_METADATA_BYTES}")));
    }
    Ok(())
}

fn check_search(search: &MemorySearch) -> Result<(), MemoryError> {
    check_text(&search.query, "query")?;
    if search.limit == 0 || search.limit > MAX_SEARCH_LIMIT {
        return Err(MemoryError::invalid("k", format!("must be 1 to {MAX_SEARCH_LIMIT}, got {}", search.limit)));
    }
    for (index, kind) in search.kinds.iter().enumerate() {
        check_kind(kind, &format!("filters.kind[{index}]"))?;
    }
    Ok(())
}
