//! The memory service on SQLite and the embedded engine: tampering is an error, rotation and
//! re-encryption, re-indexing what the vector store lost, retention of old memories, and
//! memories surviving a SIGKILL of `troupe serve`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use troupe_memory::MemoryService;
use troupe_memory::crypto::MemoryKeys;
use troupe_memory::embed::HashingEmbedder;
use troupe_runtime::ids::UserId;
use troupe_runtime::memory::{MemoryError, MemorySearch, NewMemory};

fn key() -> String {
    base64::engine::general_purpose::STANDARD.encode(uuid::Uuid::new_v4().as_bytes().repeat(2))
}

fn note(text: &str) -> NewMemory {
    NewMemory { kind: "note".into(), text: text.into(), source: None, metadata: Value::Null }
}

/// The SQLite database of a test's data dir (the tampering tests edit it behind the service).
fn database_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("troupe.db").display())
}

async fn service(dir: &Path, keys: &str) -> MemoryService {
    let stores = troupe_memory::open_stores(&database_url(dir)).await.unwrap();
    let vectors =
        troupe_memory::open_vectors(&troupe_memory::VectorBackend::Edge(dir.join("vectors")), 384).await.unwrap();
    let keys = Arc::new(MemoryKeys::parse(keys).unwrap());
    MemoryService::new(stores.memories, vectors, Arc::new(HashingEmbedder::default()), keys).unwrap()
}

#[tokio::test]
async fn a_tampered_record_fails_to_open_instead_of_yielding_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let keys = format!("k1:{}", key());
    let memories = service(dir.path(), &keys).await;
    let user = UserId::new();
    let stored = memories.store(user, note("my bank PIN is 2468")).await.unwrap();
    drop(memories);
    let pool = sqlx::SqlitePool::connect(&database_url(dir.path())).await.unwrap();
    // One byte more: the tag no longer matches.
    sqlx::query("UPDATE memories SET ciphertext = ciphertext || X'00' WHERE id = $1")
        .bind(stored.id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let memories = service(dir.path(), &keys).await;
    let error = memories.get(user, stored.id).await.unwrap_err();
    assert!(matches!(&error, MemoryError::Sealed { id, .. } if *id == stored.id), "{error}");
    assert!(memories.export(user).await.is_err(), "an export never hands out garbage");
    // Search leaves the damaged record out rather than failing.
    assert!(memories.search(user, &MemorySearch::new("bank PIN", 5)).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_record_moved_to_another_user_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let keys = format!("k1:{}", key());
    let memories = service(dir.path(), &keys).await;
    let (alice, mallory) = (UserId::new(), UserId::new());
    let stored = memories.store(alice, note("alice's diary entry")).await.unwrap();
    drop(memories);
    let pool = sqlx::SqlitePool::connect(&database_url(dir.path())).await.unwrap();
    sqlx::query("UPDATE memories SET user_id = $1 WHERE id = $2")
        .bind(mallory.0)
        .bind(stored.id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let memories = service(dir.path(), &keys).await;
    assert!(memories.get(alice, stored.id).await.unwrap().is_none());
    assert!(matches!(memories.get(mallory, stored.id).await, Err(MemoryError::Sealed { .. })), "bound to its user");
}

#[tokio::test]
async fn rotation_keeps_old_records_readable_and_rekey_moves_them() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (key(), key());
    let user = UserId::new();
    let stored = {
        let memories = service(dir.path(), &format!("k1:{old}")).await;
        memories.store(user, note("sealed with the first key")).await.unwrap()
    };
    let rotated = service(dir.path(), &format!("k2:{new},k1:{old}")).await;
    assert_eq!(rotated.get(user, stored.id).await.unwrap().unwrap().text, "sealed with the first key");
    let newer = rotated.store(user, note("sealed with the second key")).await.unwrap();
    assert_eq!(rotated.rekey().await.unwrap(), 1, "only the old record moves");
    assert_eq!(rotated.rekey().await.unwrap(), 0);
    drop(rotated);
    let only_new = service(dir.path(), &format!("k2:{new}")).await;
    let texts: Vec<String> = only_new.export(user).await.unwrap().into_iter().map(|memory| memory.text).collect();
    assert_eq!(texts, ["sealed with the first key", "sealed with the second key"]);
    assert_eq!(only_new.get(user, newer.id).await.unwrap().unwrap().text, "sealed with the second key");
}

#[tokio::test]
async fn reconciliation_reindexes_records_the_vector_store_lost() {
    let dir = tempfile::tempdir().unwrap();
    let keys = format!("k1:{}", key());
    let user = UserId::new();
    {
        let memories = service(dir.path(), &keys).await;
        for text in ["the red bicycle is in the garage", "the passport is in the top drawer"] {
            memories.store(user, note(text)).await.unwrap();
        }
    }
    // The vector store is lost entirely (a disk replaced, a shard deleted).
    std::fs::remove_dir_all(dir.path().join("vectors")).unwrap();
    let memories = service(dir.path(), &keys).await;
    assert!(memories.search(user, &MemorySearch::new("where is my passport", 2)).await.unwrap().is_empty());
    let report = memories.reconcile().await.unwrap();
    assert_eq!((report.checked, report.reindexed), (2, 2));
    let found = memories.search(user, &MemorySearch::new("where is my passport", 1)).await.unwrap();
    assert_eq!(found[0].memory.text, "the passport is in the top drawer");
    assert_eq!(memories.reconcile().await.unwrap().reindexed, 0, "nothing left to re-index");
}

#[tokio::test]
async fn retention_deletes_only_old_memories() {
    let dir = tempfile::tempdir().unwrap();
    let memories = service(dir.path(), &format!("k1:{}", key())).await;
    let user = UserId::new();
    memories.store(user, note("an old memory")).await.unwrap();
    let cutoff = troupe_runtime::model::now() + chrono::Duration::microseconds(1);
    // A memory stored after the cutoff is kept.
    while troupe_runtime::model::now() <= cutoff {
        tokio::task::yield_now().await;
    }
    memories.store(user, note("a new memory")).await.unwrap();
    assert_eq!(memories.purge_before(cutoff).await.unwrap(), 1);
    let left: Vec<String> = memories.export(user).await.unwrap().into_iter().map(|memory| memory.text).collect();
    assert_eq!(left, ["a new memory"]);
    assert_eq!(memories.search(user, &MemorySearch::new("old memory", 5)).await.unwrap().len(), 1);
}

async fn call(client: &reqwest::Client, base: &str, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let url = format!("{base}{path}");
    let mut request = client.post(&url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let (status, body) = crate::contract::checked("POST", &url, response).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memories_survive_a_killed_server() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let credentials = json!({"email": "gina@example.com", "password": "password-1"});
    let texts = [
        "the boat keys hang in the shed",
        "grandma's birthday is on the ninth of May",
        "the wifi password is on the fridge",
    ];
    {
        let server = crate::serve::serve(dir.path());
        let base = format!("http://{}", server.addr);
        let (status, _) = call(&client, &base, "/api/v1/auth/register", None, credentials.clone()).await;
        assert_eq!(status, 201);
        let (_, login) = call(&client, &base, "/api/v1/auth/login", None, credentials.clone()).await;
        let token = login["access_token"].as_str().unwrap();
        for text in texts {
            let (status, body) = call(&client, &base, "/api/v1/memories", Some(token), json!({"text": text})).await;
            assert_eq!(status, 201, "{body}");
        }
        // SIGKILL: no shutdown, no flush.
        drop(server);
    }
    let server = crate::serve::serve(dir.path());
    let base = format!("http://{}", server.addr);
    let (_, login) = call(&client, &base, "/api/v1/auth/login", None, credentials).await;
    let token = login["access_token"].as_str().unwrap();
    for (query, expected) in [("when is grandma's birthday", 1), ("where are the keys of the boat", 0)] {
        // Re-indexing after a kill runs in the background at start: poll with a deadline.
        let (client, base, wanted) = (&client, base.as_str(), texts[expected]);
        let what = format!("`{query}` finds `{wanted}`");
        crate::poll(Duration::from_secs(30), &what, || async move {
            let (status, found) =
                call(client, base, "/api/v1/memories/search", Some(token), json!({"query": query, "k": 1})).await;
            assert_eq!(status, 200, "{found}");
            (found["results"][0]["text"] == wanted).then_some(())
        })
        .await;
    }
}

/// Counts the texts it embeds (with the local model, embedding is most of a recall's cost).
struct Counting {
    inner: HashingEmbedder,
    texts: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl troupe_runtime::embed::Embedder for Counting {
    fn name(&self) -> &str {
        "offline-hashing"
    }

    fn dimension(&self) -> usize {
        384
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, troupe_runtime::embed::EmbedError> {
        self.texts.fetch_add(texts.len(), std::sync::atomic::Ordering::Relaxed);
        self.inner.embed(texts).await
    }
}

#[tokio::test]
async fn a_steps_recall_for_an_owner_without_memories_embeds_nothing() {
    use troupe_runtime::memory::Memories;
    let dir = tempfile::tempdir().unwrap();
    let stores = troupe_memory::open_stores(&database_url(dir.path())).await.unwrap();
    let vectors = troupe_memory::open_vectors(&troupe_memory::VectorBackend::Edge(dir.path().join("vectors")), 384)
        .await
        .unwrap();
    let counting = Arc::new(Counting { inner: HashingEmbedder::default(), texts: Default::default() });
    let keys = Arc::new(MemoryKeys::parse(&format!("k1:{}", key())).unwrap());
    let memories = MemoryService::new(stores.memories, vectors, Arc::clone(&counting) as _, keys).unwrap();
    let embedded = || counting.texts.load(std::sync::atomic::Ordering::Relaxed);
    let (owner, stranger) = (UserId::new(), UserId::new());
    memories.store(owner, note("the deploy key lives in the vault")).await.unwrap();
    assert_eq!(embedded(), 1);
    let search = MemorySearch::new("where is the deploy key", 5);
    assert!(memories.recall(stranger, &search).await.unwrap().is_empty());
    assert_eq!(embedded(), 1, "no memories: nothing to embed the step's input for");
    let found = memories.recall(owner, &search).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(embedded(), 2);
}
