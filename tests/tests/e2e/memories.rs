//! Memory records on SQLite and PostgreSQL: every path is scoped to its user, content is
//! sealed (the raw database holds no plaintext), and re-encryption moves records to the active
//! key while old ones stay readable until then.

use std::sync::Arc;

use base64::Engine;
use serde_json::json;
use troupe_memory::crypto::{MemoryKeys, Sealed};
use troupe_runtime::ids::UserId;
use troupe_runtime::memory::{MemoryRecord, MemoryStore};
use uuid::Uuid;

const SECRET: &str = "the spare key is under the blue flowerpot";

fn key() -> String {
    base64::engine::general_purpose::STANDARD.encode(Uuid::new_v4().as_bytes().repeat(2))
}

fn record(keys: &MemoryKeys, user: UserId, text: &str) -> MemoryRecord {
    let id = Uuid::now_v7();
    let Sealed { key_id, nonce, ciphertext } = keys.seal(user, id, text.as_bytes());
    MemoryRecord {
        id,
        user,
        kind: "note".into(),
        source: Some("test".into()),
        metadata: json!({"tag": "home"}),
        key_id,
        nonce,
        ciphertext,
        created_at: troupe_runtime::model::now(),
    }
}

fn open(keys: &MemoryKeys, record: &MemoryRecord) -> String {
    let sealed =
        Sealed { key_id: record.key_id.clone(), nonce: record.nonce.clone(), ciphertext: record.ciphertext.clone() };
    String::from_utf8(keys.open(record.user, record.id, &sealed).unwrap()).unwrap()
}

/// Runs the suite; returns the stored record of user A for the raw-bytes check.
async fn check_memories(store: Arc<dyn MemoryStore>) -> MemoryRecord {
    let (old_key, new_key) = (key(), key());
    let keys = MemoryKeys::parse(&format!("k1:{old_key}")).unwrap();
    let (alice, bob) = (UserId::new(), UserId::new());
    let mine = record(&keys, alice, SECRET);
    let theirs = record(&keys, bob, SECRET);
    store.insert_memory(&mine).await.unwrap();
    store.insert_memory(&theirs).await.unwrap();

    // Every read and delete is scoped to its user.
    let read = store.get_memory(alice, mine.id).await.unwrap().expect("alice reads hers");
    assert_eq!(read, mine);
    assert_eq!(open(&keys, &read), SECRET);
    assert!(store.get_memory(bob, mine.id).await.unwrap().is_none(), "bob cannot read alice's by id");
    assert_eq!(store.get_memories(bob, &[mine.id, theirs.id]).await.unwrap(), vec![theirs.clone()]);
    assert_eq!(store.list_memories(alice).await.unwrap(), vec![mine.clone()]);
    assert!(!store.delete_memory(bob, mine.id).await.unwrap(), "bob cannot delete alice's");
    assert!(store.get_memory(alice, mine.id).await.unwrap().is_some());

    // Rotation: a new active key; old records stay readable; re-encryption moves them.
    let rotated = MemoryKeys::parse(&format!("k2:{new_key},k1:{old_key}")).unwrap();
    let pending = store.memories_not_sealed_with("k2", 100).await.unwrap();
    assert_eq!(pending.len(), 2);
    for record in pending {
        let text = open(&rotated, &record);
        let Sealed { key_id, nonce, ciphertext } = rotated.seal(record.user, record.id, text.as_bytes());
        store.reseal_memory(&MemoryRecord { key_id, nonce, ciphertext, ..record }).await.unwrap();
    }
    assert!(store.memories_not_sealed_with("k2", 100).await.unwrap().is_empty());
    let resealed = store.get_memory(alice, mine.id).await.unwrap().unwrap();
    assert_eq!(resealed.key_id, "k2");
    let only_new = MemoryKeys::parse(&format!("k2:{new_key}")).unwrap();
    assert_eq!(open(&only_new, &resealed), SECRET, "the old key is no longer needed");

    assert_eq!(store.delete_memories(bob).await.unwrap(), 1);
    assert!(store.list_memories(bob).await.unwrap().is_empty());
    assert_eq!(store.list_memories(alice).await.unwrap().len(), 1, "deleting bob's left alice's");
    resealed
}

#[tokio::test]
async fn memory_records_on_sqlite_are_scoped_and_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("troupe.db");
    let stores = troupe_memory::open_stores(&format!("sqlite://{}", path.display())).await.unwrap();
    check_memories(Arc::clone(&stores.memories)).await;
    drop(stores);
    // Neither the database file nor its write-ahead log holds the plaintext.
    for file in ["troupe.db", "troupe.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        assert!(!bytes.windows(SECRET.len()).any(|window| window == SECRET.as_bytes()), "plaintext in {file}");
        assert!(!bytes.windows(8).any(|window| window == b"flowerpo"), "a fragment of the plaintext in {file}");
    }
}

#[tokio::test]
async fn memory_records_on_postgres_are_scoped_and_sealed() {
    let Some(database) = troupe_memory::testing::postgres_database("memory_records").await else { return };
    let stores = troupe_memory::open_stores(&database.url).await.unwrap();
    let stored = check_memories(Arc::clone(&stores.memories)).await;
    let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
    let row: String = sqlx::query_scalar("SELECT row_to_json(m)::text FROM memories m WHERE id = $1")
        .bind(stored.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!row.contains("flowerpot") && !row.contains("spare key"), "plaintext in the row: {row}");
    pool.close().await;
    drop(stores);
    database.drop_database().await;
}
