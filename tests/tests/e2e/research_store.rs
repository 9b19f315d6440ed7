//! The research store on SQLite (its own file) and PostgreSQL (the `research` schema): the
//! append-only consent history, flags, plugins, observations, and the budget check of the
//! ledger — refused past the budget, atomically.

use std::sync::Arc;

use chrono::Utc;
use serde_json::json;
use troupe_runtime::ids::UserId;
use troupe_runtime::research::{
    ConsentChange, Experiment, ExperimentStatus, FeatureFlag, Observation, PluginRecord, Release, ResearchStore,
};
use troupe_runtime::store::StoreError;

async fn check_research_store(store: Arc<dyn ResearchStore>) {
    let owner = UserId::new();
    let experiment = Experiment {
        id: "tone-study".into(),
        title: "Tone".into(),
        hypothesis: "Longer inputs shout more.".into(),
        owner,
        status: ExperimentStatus::Active,
        epsilon_total: 1.0,
        epsilon_per_release: 0.5,
        created_at: troupe_runtime::model::now(),
    };
    store.put_experiment(&experiment).await.unwrap();
    assert_eq!(store.get_experiment("tone-study").await.unwrap().unwrap(), experiment);
    let closed = Experiment { status: ExperimentStatus::Closed, ..experiment.clone() };
    store.put_experiment(&closed).await.unwrap();
    assert_eq!(store.list_experiments().await.unwrap(), vec![closed]);
    store.put_experiment(&experiment).await.unwrap();

    // Consent: the latest change wins, the history keeps every one.
    let (alice, bob) = (UserId::new(), UserId::new());
    assert!(!store.has_consent(alice, "tone-study").await.unwrap(), "no consent until given");
    for granted in [true, false, true] {
        let change =
            ConsentChange { user: alice, experiment: "tone-study".into(), granted, at: troupe_runtime::model::now() };
        store.record_consent(&change).await.unwrap();
    }
    assert!(store.has_consent(alice, "tone-study").await.unwrap());
    assert!(!store.has_consent(bob, "tone-study").await.unwrap(), "alice's consent is not bob's");
    let history = store.consent_history(alice, Some("tone-study")).await.unwrap();
    assert_eq!(history.iter().map(|change| change.granted).collect::<Vec<_>>(), [true, false, true]);
    assert!(store.consent_history(bob, None).await.unwrap().is_empty());
    // A deleted account's history goes, and only theirs.
    let carol = UserId::new();
    for granted in [true, false] {
        let change =
            ConsentChange { user: carol, experiment: "tone-study".into(), granted, at: troupe_runtime::model::now() };
        store.record_consent(&change).await.unwrap();
    }
    assert_eq!(store.delete_consents(carol).await.unwrap(), 2);
    assert!(store.consent_history(carol, None).await.unwrap().is_empty());
    assert_eq!(store.consent_history(alice, None).await.unwrap().len(), 3);
    store.scrub().await.unwrap();

    // Flags and plugins round-trip.
    let flag = FeatureFlag {
        name: "plugin.tone".into(),
        enabled: true,
        allow: vec![alice],
        rollout_percent: 25,
        updated_at: troupe_runtime::model::now(),
    };
    store.put_flag(&flag).await.unwrap();
    assert_eq!(store.get_flag("plugin.tone").await.unwrap().unwrap(), flag);
    let plugin = PluginRecord {
        name: "tone".into(),
        manifest: json!({"name": "tone", "research": {"metrics": [1, 2]}}),
        module: Some(b"(module)".to_vec()),
        enabled: true,
        disabled_reason: None,
        registered_by: owner,
        registered_at: troupe_runtime::model::now(),
    };
    store.put_plugin(&plugin).await.unwrap();
    assert_eq!(store.list_plugins().await.unwrap(), vec![plugin.clone()]);
    assert!(store.set_plugin_enabled("tone", false, Some("broken")).await.unwrap());
    let stored = &store.list_plugins().await.unwrap()[0];
    assert_eq!((stored.enabled, stored.disabled_reason.as_deref()), (false, Some("broken")));
    assert!(!store.set_plugin_enabled("nope", true, None).await.unwrap());

    // Observations, forgetting a pseudonym, and releases within the budget.
    let observation = |pseudonym: &str, value: f64| Observation {
        experiment: "tone-study".into(),
        metric: "exclamations".into(),
        pseudonym: pseudonym.into(),
        value,
        at: troupe_runtime::model::now(),
    };
    store.add_observations(&[observation("p1", 1.0), observation("p2", 2.0), observation("p1", 3.0)]).await.unwrap();
    assert_eq!(store.forget_pseudonym("tone-study", "p2").await.unwrap(), 1);
    assert_eq!(store.pending_observations("tone-study", "exclamations").await.unwrap().len(), 2);
    let release = |epsilon: f64| Release {
        id: uuid::Uuid::now_v7(),
        experiment: "tone-study".into(),
        metric: "exclamations".into(),
        noisy_sum: 4.2,
        noisy_count: 1.1,
        epsilon,
        sum_scale: 20.0,
        count_scale: 4.0,
        released_at: troupe_runtime::model::now(),
    };
    let first = release(0.5);
    store.record_release(&first, 1.0, Utc::now()).await.unwrap();
    assert!(store.pending_observations("tone-study", "exclamations").await.unwrap().is_empty(), "consumed");
    store.record_release(&release(0.5), 1.0, Utc::now()).await.unwrap();
    let refused = store.record_release(&release(0.5), 1.0, Utc::now()).await.unwrap_err();
    assert!(matches!(refused, StoreError::Conflict(ref message) if message.contains("spent")), "{refused}");
    assert_eq!(store.spent_epsilon("tone-study").await.unwrap(), 1.0, "the refused release spent nothing");
    let releases = store.list_releases("tone-study").await.unwrap();
    assert_eq!(releases.len(), 2);
    assert_eq!(releases[0], first);
    assert!(store.delete_plugin("tone").await.unwrap());
}

#[tokio::test]
async fn the_sqlite_research_store_lives_in_its_own_file_and_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let stores =
        troupe_memory::open_stores(&format!("sqlite://{}", dir.path().join("troupe.db").display())).await.unwrap();
    check_research_store(Arc::clone(&stores.research)).await;
    assert!(dir.path().join("troupe-research.db").exists());
    let core =
        sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.path().join("troupe.db").display())).await.unwrap();
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'").fetch_all(&core).await.unwrap();
    assert!(!tables.iter().any(|table| table == "experiments" || table == "consent_changes"), "{tables:?}");
    core.close().await;
}

#[tokio::test]
async fn the_postgres_research_store_lives_in_its_own_schema_and_conforms() {
    let Some(database) = troupe_memory::testing::postgres_database("research_store").await else { return };
    let stores = troupe_memory::open_stores(&database.url).await.unwrap();
    check_research_store(Arc::clone(&stores.research)).await;
    let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
    let schema: String =
        sqlx::query_scalar("SELECT table_schema FROM information_schema.tables WHERE table_name = 'consent_changes'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(schema, "research");
    pool.close().await;
    drop(stores);
    database.drop_database().await;
}
