//! The vector-store conformance suite: the in-process engine always, a Qdrant server too when
//! `TEST_QDRANT_URL` (or `QDRANT_URL`) names one — each run in a collection of its own, dropped
//! afterwards. No Qdrant server can be installed on the CI machines, so there the server runs
//! only its request mapping (unit tests in the crate).

use std::sync::Arc;

use troupe_memory::vector::{EdgeVectorMemory, QdrantSettings, QdrantVectorMemory};
use troupe_runtime::ids::UserId;
use troupe_runtime::memory::{MemoryError, MemoryPoint, MemoryQuery, VectorMemory};
use uuid::Uuid;

const DIMENSION: usize = 8;

fn vector(seed: usize) -> Vec<f32> {
    (0..DIMENSION).map(|index| if index == seed % DIMENSION { 1.0 } else { 0.05 * index as f32 }).collect()
}

fn point(user: UserId, seed: usize, kind: &str) -> MemoryPoint {
    MemoryPoint {
        id: Uuid::now_v7(),
        user,
        vector: vector(seed),
        kind: kind.into(),
        source: Some(format!("source-{}", seed % 2)),
        created_at: troupe_runtime::model::now(),
    }
}

fn query(user: UserId, seed: usize, limit: usize) -> MemoryQuery {
    MemoryQuery { user, vector: vector(seed), limit, kinds: Vec::new(), exclude_kinds: Vec::new(), source: None }
}

async fn check_vector_memory(vectors: Arc<dyn VectorMemory>) {
    let (alice, bob) = (UserId::new(), UserId::new());
    // Overlapping content: the same vectors for both users.
    let alices: Vec<MemoryPoint> =
        (0..6).map(|seed| point(alice, seed, if seed < 3 { "note" } else { "fact" })).collect();
    let bobs: Vec<MemoryPoint> = (0..6).map(|seed| point(bob, seed, "note")).collect();
    vectors.upsert(alices.clone()).await.unwrap();
    vectors.upsert(bobs.clone()).await.unwrap();
    assert_eq!(vectors.count(alice).await.unwrap(), 6);
    assert_eq!(vectors.count(bob).await.unwrap(), 6);

    // Search sees only the caller's points, the nearest first.
    let hits = vectors.search(&query(alice, 2, 10)).await.unwrap();
    assert_eq!(hits.len(), 6, "{hits:?}");
    assert_eq!(hits[0].id, alices[2].id);
    assert!(hits.iter().all(|hit| alices.iter().any(|point| point.id == hit.id)), "only alice's points");
    assert!(hits.windows(2).all(|pair| pair[0].score >= pair[1].score));

    // Filters: kinds, excluded kinds, source.
    let mut facts = query(alice, 4, 10);
    facts.kinds = vec!["fact".into()];
    let hits = vectors.search(&facts).await.unwrap();
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0].id, alices[4].id);
    let mut not_facts = query(alice, 4, 10);
    not_facts.exclude_kinds = vec!["fact".into()];
    assert!(vectors.search(&not_facts).await.unwrap().iter().all(|hit| alices[..3].iter().any(|p| p.id == hit.id)));
    let mut from_source = query(alice, 0, 10);
    from_source.source = Some("source-1".into());
    assert_eq!(vectors.search(&from_source).await.unwrap().len(), 3);

    // Deleting another user's ids does nothing; deleting one's own removes them.
    vectors.delete(bob, &[alices[0].id, alices[1].id]).await.unwrap();
    assert_eq!(vectors.count(alice).await.unwrap(), 6, "bob cannot delete alice's points");
    vectors.delete(alice, &[alices[0].id]).await.unwrap();
    assert_eq!(vectors.count(alice).await.unwrap(), 5);
    let existing = vectors.existing(&[alices[0].id, alices[1].id, bobs[0].id]).await.unwrap();
    assert_eq!(existing.len(), 2);
    assert!(!existing.contains(&alices[0].id));

    // Upserting the same id replaces the point.
    let mut moved = alices[1].clone();
    moved.vector = vector(5);
    vectors.upsert(vec![moved.clone()]).await.unwrap();
    assert_eq!(vectors.count(alice).await.unwrap(), 5);

    vectors.delete_user(bob).await.unwrap();
    assert_eq!(vectors.count(bob).await.unwrap(), 0);
    assert_eq!(vectors.count(alice).await.unwrap(), 5, "deleting bob's left alice's");
    assert!(vectors.search(&query(bob, 1, 5)).await.unwrap().is_empty());

    // Bad input is refused by field.
    let mut short = point(alice, 0, "note");
    short.vector.truncate(3);
    let error = vectors.upsert(vec![short]).await.unwrap_err();
    assert!(matches!(&error, MemoryError::Invalid { field, .. } if field == "points[0].vector"), "{error}");
    assert!(error.to_string().contains("3 dimensions"), "{error}");
    let mut nan = point(alice, 0, "note");
    nan.vector[0] = f32::NAN;
    assert!(matches!(vectors.upsert(vec![nan]).await, Err(MemoryError::Invalid { .. })));
    let mut wrong = query(alice, 0, 5);
    wrong.vector.push(1.0);
    assert!(matches!(vectors.search(&wrong).await, Err(MemoryError::Invalid { field, .. }) if field == "vector"));
    assert!(
        matches!(vectors.search(&query(alice, 0, 0)).await, Err(MemoryError::Invalid { field, .. }) if field == "limit")
    );
}

#[tokio::test]
async fn the_embedded_engine_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = EdgeVectorMemory::open(&dir.path().join("vectors"), DIMENSION).await.unwrap();
    check_vector_memory(Arc::new(vectors)).await;
}

#[tokio::test]
async fn the_embedded_engine_keeps_points_across_restarts_and_refuses_another_dimension() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vectors");
    let user = UserId::new();
    let points: Vec<MemoryPoint> = (0..4).map(|seed| point(user, seed, "note")).collect();
    {
        let vectors = EdgeVectorMemory::open(&path, DIMENSION).await.unwrap();
        vectors.upsert(points.clone()).await.unwrap();
    }
    let vectors = EdgeVectorMemory::open(&path, DIMENSION).await.unwrap();
    assert_eq!(vectors.count(user).await.unwrap(), 4);
    assert_eq!(vectors.search(&query(user, 3, 1)).await.unwrap()[0].id, points[3].id);
    drop(vectors);
    let error = EdgeVectorMemory::open(&path, DIMENSION * 2).await.unwrap_err();
    assert!(matches!(&error, MemoryError::Invalid { field, .. } if field == "dimension"), "{error}");
    assert!(error.to_string().contains("8 dimensions but 16"), "{error}");
}

#[tokio::test]
async fn the_embedded_engine_searches_while_its_index_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = Arc::new(EdgeVectorMemory::open(&dir.path().join("vectors"), DIMENSION).await.unwrap());
    let users: Vec<UserId> = (0..4).map(|_| UserId::new()).collect();
    // The optimizer merges segments (and builds the HNSW index once past its threshold, as the
    // benchmark's 100k points are) while searches go on.
    for batch in 0..20 {
        let points: Vec<MemoryPoint> =
            (0..1000).map(|seed| point(users[(batch + seed) % users.len()], seed + batch, "note")).collect();
        vectors.upsert(points).await.unwrap();
    }
    let building = tokio::spawn({
        let vectors = Arc::clone(&vectors);
        async move { vectors.optimize().await }
    });
    for user in &users {
        let hits = vectors.search(&query(*user, 1, 10)).await.unwrap();
        assert_eq!(hits.len(), 10);
    }
    building.await.unwrap().unwrap();
    for user in &users {
        assert_eq!(vectors.count(*user).await.unwrap(), 5000);
        assert_eq!(vectors.search(&query(*user, 1, 10)).await.unwrap().len(), 10);
    }
}

#[tokio::test]
async fn a_qdrant_server_conforms_when_one_is_configured() {
    let Some(url) = std::env::var("TEST_QDRANT_URL").ok().or_else(|| std::env::var("QDRANT_URL").ok()) else {
        eprintln!("ignoring the Qdrant server suite: neither TEST_QDRANT_URL nor QDRANT_URL is set");
        return;
    };
    let settings = QdrantSettings {
        url,
        api_key: std::env::var("QDRANT_API_KEY").ok(),
        collection: format!("troupe_test_{}", Uuid::now_v7().simple()),
    };
    let vectors = Arc::new(QdrantVectorMemory::connect(&settings, DIMENSION).await.unwrap());
    check_vector_memory(Arc::clone(&vectors) as Arc<dyn VectorMemory>).await;
    let error =
        QdrantVectorMemory::connect(&settings, DIMENSION + 1).await.err().expect("another dimension is refused");
    assert!(error.to_string().contains("dimensions"), "{error}");
    vectors.drop_collection().await.unwrap();
}
