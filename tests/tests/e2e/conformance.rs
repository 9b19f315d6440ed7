//! One suite of store behaviour: each behaviour is a test of its own, generated for every
//! `ExecutionStore` (in memory, SQLite, PostgreSQL).

use std::sync::Arc;

use chrono::Utc;
use serde_json::json;
use troupe_runtime::ids::{ExecutionId, ProjectId, UserId};
use troupe_runtime::model::{
    ArtifactRecord, AttemptKind, AttemptRecord, CorrectionRecord, ErrorInfo, Event, EventKind, ExecutionRecord,
    ExecutionUpdate, LogLevel, LogRecord, StepRecord, Usage, UsageRecord,
};
use troupe_runtime::pipeline::PipelineDef;
use troupe_runtime::status::{AttemptStatus, ExecutionStatus, StepStatus};
use troupe_runtime::store::{ExecutionQuery, ExecutionStore, Fence, StoreError, WriteBatch};
use troupe_runtime::validator::ValidationIssue;

fn pipeline() -> PipelineDef {
    PipelineDef::from_value(json!({
        "name": "conformance",
        "steps": [
            { "key": "zeta", "agent": "echo" },
            { "key": "alpha", "agent": "echo", "depends_on": ["zeta"] }
        ]
    }))
    .unwrap()
}

fn execution(owner: UserId, project: Option<ProjectId>, key: Option<&str>) -> ExecutionRecord {
    let now = Utc::now();
    let def = pipeline();
    ExecutionRecord {
        id: ExecutionId::new(),
        owner,
        project_id: project,
        pipeline_name: def.name.clone(),
        pipeline_hash: def.content_hash(),
        pipeline: std::sync::Arc::new(def),
        input: json!({"idea": "a todo app", "nested": [1, 2, {"x": null}]}),
        status: ExecutionStatus::Planned,
        error: None,
        idempotency_key: key.map(str::to_owned),
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
        lease_owner: Some("node-a".into()),
        lease_expires_at: Some(now.timestamp_millis() + 60_000),
        lease_epoch: 1,
    }
}

fn step(id: ExecutionId, key: &str, status: StepStatus, attempt: u32) -> StepRecord {
    StepRecord {
        execution_id: id,
        key: key.into(),
        agent: "echo".into(),
        status,
        attempt,
        corrections: 0,
        output: None,
        error: None,
        started_at: Some(Utc::now()),
        finished_at: None,
        updated_at: Utc::now(),
    }
}

fn attempt(
    id: ExecutionId,
    key: &str,
    number: u32,
    status: AttemptStatus,
    output: Option<serde_json::Value>,
) -> AttemptRecord {
    AttemptRecord {
        execution_id: id,
        step_key: key.into(),
        attempt: number,
        kind: if number == 1 { AttemptKind::Initial } else { AttemptKind::Retry },
        status,
        input: Arc::new(json!({"dependencies": []})),
        output: output.map(Arc::new),
        error: (status == AttemptStatus::Failed)
            .then(|| ErrorInfo::new(troupe_runtime::ErrorCode::AgentError, "flaky")),
        started_at: Utc::now(),
        finished_at: Some(Utc::now()),
    }
}

fn event(id: ExecutionId, seq: u64, kind: EventKind) -> std::sync::Arc<Event> {
    std::sync::Arc::new(Event { execution_id: id, seq, at: Utc::now(), kind })
}

fn artifact(id: ExecutionId, step: &str, name: &str, content: &[u8]) -> ArtifactRecord {
    ArtifactRecord {
        execution_id: id,
        step_key: step.into(),
        name: name.into(),
        content_type: "text/plain".into(),
        content: content.to_vec(),
        created_at: Utc::now(),
    }
}

/// An execution created by one batch with its steps, attempts, events, logs and artifacts.
struct Seeded {
    id: ExecutionId,
    owner: UserId,
    project: ProjectId,
    record: ExecutionRecord,
}

async fn seed(store: &dyn ExecutionStore) -> Seeded {
    let owner = UserId::new();
    let project = ProjectId::new();
    let record = execution(owner, Some(project), Some("create-1"));
    let id = record.id;
    let mut batch = WriteBatch::default();
    batch.new_executions.push(record.clone());
    batch.steps.push(step(id, "zeta", StepStatus::Running, 1));
    batch.steps.push(step(id, "alpha", StepStatus::Pending, 0));
    batch.attempts.push(attempt(id, "zeta", 1, AttemptStatus::Running, None));
    batch.events.push(event(id, 1, EventKind::ExecutionStatus { status: ExecutionStatus::Planned, error: None }));
    batch.events.push(event(id, 2, EventKind::ExecutionStatus { status: ExecutionStatus::Running, error: None }));
    batch.logs.push(LogRecord {
        execution_id: id,
        step_key: Some("zeta".into()),
        level: LogLevel::Warn,
        message: "careful".into(),
        created_at: Utc::now(),
    });
    batch.artifacts.push(artifact(id, "zeta", "out.txt", b"first"));
    store.apply(&batch).await.unwrap();
    Seeded { id, owner, project, record }
}

/// Moves a seeded execution on: running, the first step retried and completed, the artifact
/// rewritten, an event added.
async fn progress(store: &dyn ExecutionStore, id: ExecutionId) {
    let mut batch = WriteBatch::default();
    batch.execution_updates.push(ExecutionUpdate {
        id,
        status: ExecutionStatus::Running,
        error: None,
        updated_at: Utc::now(),
        started_at: Some(Utc::now()),
        finished_at: None,
        wake_at: None,
    });
    batch.attempts.push(attempt(id, "zeta", 1, AttemptStatus::Failed, None));
    batch.attempts.push(attempt(id, "zeta", 2, AttemptStatus::Running, None));
    batch.attempts.push(attempt(id, "zeta", 2, AttemptStatus::Succeeded, Some(json!({"answer": 42}))));
    batch.steps.push(step(id, "zeta", StepStatus::Running, 2));
    batch.steps.push(step(id, "zeta", StepStatus::Completed, 2));
    batch.artifacts.push(artifact(id, "zeta", "out.txt", b"second"));
    batch.events.push(event(id, 3, EventKind::Artifact { step: "zeta".into(), name: "out.txt".into(), size: 6 }));
    store.apply(&batch).await.unwrap();
}

async fn a_batch_creates_an_execution_with_what_it_holds(store: &dyn ExecutionStore) {
    store.ping().await.unwrap();
    let Seeded { id, project, record, .. } = seed(store).await;
    let stored = store.get_execution(id).await.unwrap().expect("stored");
    assert_eq!(stored.input, record.input);
    assert_eq!(stored.pipeline, record.pipeline);
    assert_eq!(stored.status, ExecutionStatus::Planned);
    assert_eq!(stored.project_id, Some(project));
    assert_eq!(stored.lease_owner.as_deref(), Some("node-a"));
    let logs = store.list_logs(id).await.unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].level, LogLevel::Warn);
    assert!(store.get_execution(ExecutionId::new()).await.unwrap().is_none());
}

async fn the_last_write_of_a_key_wins(store: &dyn ExecutionStore) {
    let Seeded { id, .. } = seed(store).await;
    progress(store, id).await;
    let steps = store.list_steps(id).await.unwrap();
    let keys: Vec<&str> = steps.iter().map(|step| &*step.key).collect();
    assert_eq!(keys, ["zeta", "alpha"], "steps come in pipeline order");
    assert_eq!(steps[0].status, StepStatus::Completed);
    assert_eq!(steps[0].attempt, 2);
    assert_eq!(steps[0].output, Some(json!({"answer": 42})), "a completed step's output is its successful attempt's");
    assert_eq!(steps[1].output, None);
    let attempts = store.list_attempts(id).await.unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].status, AttemptStatus::Failed);
    assert_eq!(attempts[0].error.as_ref().unwrap().code, "agent_error");
    let artifacts = store.list_artifacts(id).await.unwrap();
    assert_eq!(artifacts.len(), 1, "an artifact is stored once per (execution, step, name)");
    assert_eq!(artifacts[0].content, b"second");
    let fetched = store.get_artifact(id, "zeta", "out.txt").await.unwrap().unwrap();
    assert_eq!(fetched.content, b"second");
    assert!(store.get_artifact(id, "zeta", "missing").await.unwrap().is_none());
}

async fn events_are_ordered_paged_and_never_reused(store: &dyn ExecutionStore) {
    let Seeded { id, .. } = seed(store).await;
    progress(store, id).await;
    let events = store.list_events(id, 0, 100).await.unwrap();
    assert_eq!(events.iter().map(|event| event.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(events[2].kind, EventKind::Artifact { step: "zeta".into(), name: "out.txt".into(), size: 6 });
    let page = store.list_events(id, 1, 1).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].seq, 2);
    let mut duplicate = WriteBatch::default();
    duplicate.events.push(event(id, 3, EventKind::ExecutionStatus { status: ExecutionStatus::Running, error: None }));
    assert!(matches!(store.apply(&duplicate).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.list_events(id, 0, 100).await.unwrap().len(), 3, "a refused batch writes nothing");
}

async fn a_snapshot_holds_what_resuming_needs(store: &dyn ExecutionStore) {
    let Seeded { id, .. } = seed(store).await;
    progress(store, id).await;
    let snapshot = store.load_execution(id).await.unwrap().unwrap();
    assert_eq!(snapshot.last_seq, 3);
    assert_eq!(snapshot.execution.status, ExecutionStatus::Running);
    assert_eq!(snapshot.steps[0].output, Some(json!({"answer": 42})));
    assert!(store.load_execution(ExecutionId::new()).await.unwrap().is_none());
}

/// A batch that appends one log event to `id`, written by `node` under `epoch`.
fn fenced_event(id: ExecutionId, seq: u64, node: &str, epoch: i64) -> WriteBatch {
    let mut batch = WriteBatch::default();
    batch.events.push(event(id, seq, EventKind::Log { step: None, level: LogLevel::Info, message: node.into() }));
    batch.fence = Some(Fence { node: node.into(), epochs: vec![(id, epoch)] });
    batch
}

async fn leases_are_claimed_only_once_expired_and_never_when_finished(store: &dyn ExecutionStore) {
    let Seeded { id, .. } = seed(store).await;
    progress(store, id).await;
    let stored = store.get_execution(id).await.unwrap().unwrap();
    assert!(store.claim_executions("node-b", 1000, None, false).await.unwrap().is_empty(), "node-a holds it");
    assert_eq!(store.leased_by("node-a").await.unwrap(), [id]);
    assert!(store.apply(&fenced_event(id, 4, "node-a", 1)).await.unwrap().is_empty(), "the holder writes");
    // A lease that ran out (a renewal of -1 ms ends it now) is taken by one node only.
    assert_eq!(store.renew_leases("node-a", -1).await.unwrap(), [id]);
    assert_eq!(store.claim_executions("node-b", 60_000, None, false).await.unwrap(), [id]);
    assert!(store.claim_executions("node-c", 60_000, None, false).await.unwrap().is_empty());
    assert_eq!(store.get_execution(id).await.unwrap().unwrap().lease_epoch, 2);
    assert_eq!(store.leased_by("node-b").await.unwrap(), [id]);
    assert!(store.leased_by("node-a").await.unwrap().is_empty());
    // The node that lost it has its writes refused, in the same transaction, and is told.
    assert_eq!(store.apply(&fenced_event(id, 5, "node-a", 1)).await.unwrap(), [id]);
    assert!(store.renew_leases("node-a", 60_000).await.unwrap().is_empty());
    assert_eq!(store.list_events(id, 0, 100).await.unwrap().len(), 4, "the refused write left nothing");
    assert!(store.apply(&fenced_event(id, 5, "node-b", 2)).await.unwrap().is_empty());
    // An orderly shutdown hands the lease back at once.
    assert_eq!(store.release_leases("node-b").await.unwrap(), 1);
    assert_eq!(store.claim_executions("node-c", 60_000, Some(1), false).await.unwrap(), [id]);
    assert_eq!(store.apply(&fenced_event(id, 6, "node-b", 2)).await.unwrap(), [id]);
    let mut finish = WriteBatch::default();
    finish.execution_updates.push(ExecutionUpdate {
        id,
        status: ExecutionStatus::Failed,
        error: Some(
            ErrorInfo::new(troupe_runtime::ErrorCode::StepFailed, "step `alpha` failed")
                .with_details(json!({"step": "alpha"})),
        ),
        updated_at: Utc::now(),
        started_at: stored.started_at,
        finished_at: Some(Utc::now()),
        wake_at: None,
    });
    store.apply(&finish).await.unwrap();
    assert!(store.leased_by("node-c").await.unwrap().is_empty());
    assert_eq!(store.renew_leases("node-c", -1).await.unwrap(), Vec::<ExecutionId>::new());
    assert!(store.claim_executions("node-d", 60_000, None, true).await.unwrap().is_empty());
    let failed = store.get_execution(id).await.unwrap().unwrap();
    assert_eq!(failed.error.unwrap().details, json!({"step": "alpha"}));
}

async fn an_idempotency_key_makes_one_execution_whoever_writes_it(store: &dyn ExecutionStore) {
    let Seeded { id, owner, record, .. } = seed(store).await;
    let mut again = execution(owner, None, record.idempotency_key.as_deref());
    again.lease_owner = Some("node-b".into());
    let other = execution(owner, None, Some("create-2"));
    let mut batch = WriteBatch::default();
    batch.new_executions.extend([again.clone(), other.clone()]);
    batch.steps.push(step(again.id, "zeta", StepStatus::Pending, 0));
    batch.steps.push(step(other.id, "zeta", StepStatus::Pending, 0));
    assert_eq!(store.apply(&batch).await.unwrap(), [again.id], "the repeat is refused, the rest written");
    assert!(store.get_execution(again.id).await.unwrap().is_none());
    assert_eq!(store.list_steps(other.id).await.unwrap().len(), 1);
    assert_eq!(store.find_by_idempotency_key(owner, "create-1").await.unwrap().unwrap().id, id);
}

async fn listing_filters_orders_pages_and_finds_idempotency_keys(store: &dyn ExecutionStore) {
    let Seeded { id, owner, project, .. } = seed(store).await;
    let mut finish = WriteBatch::default();
    finish.execution_updates.push(ExecutionUpdate {
        id,
        status: ExecutionStatus::Failed,
        error: None,
        updated_at: Utc::now(),
        started_at: None,
        finished_at: Some(Utc::now()),
        wake_at: None,
    });
    store.apply(&finish).await.unwrap();
    let other_owner = UserId::new();
    let mut batch = WriteBatch::default();
    let mut later = Vec::new();
    for index in 0..3 {
        let mut record = execution(owner, None, None);
        record.pipeline_name = format!("other-{index}");
        later.push(record.id);
        batch.new_executions.push(record);
    }
    batch.new_executions.push(execution(other_owner, None, Some("create-1")));
    store.apply(&batch).await.unwrap();
    let mine =
        store.list_executions(&ExecutionQuery { owner: Some(owner), ..ExecutionQuery::default() }).await.unwrap();
    assert_eq!(mine.iter().map(|record| record.id).collect::<Vec<_>>(), [later[2], later[1], later[0], id]);
    let page = store
        .list_executions(&ExecutionQuery {
            owner: Some(owner),
            before: Some(later[1]),
            limit: Some(1),
            ..ExecutionQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.iter().map(|record| record.id).collect::<Vec<_>>(), [later[0]]);
    let failed_only = store
        .list_executions(&ExecutionQuery {
            owner: Some(owner),
            status: Some(ExecutionStatus::Failed),
            ..ExecutionQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(failed_only.len(), 1);
    let in_project =
        store.list_executions(&ExecutionQuery { project: Some(project), ..ExecutionQuery::default() }).await.unwrap();
    assert_eq!(in_project.len(), 1);
    let by_pipeline = store
        .list_executions(&ExecutionQuery {
            owner: Some(owner),
            pipeline: Some("other-1".into()),
            ..ExecutionQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_pipeline.iter().map(|record| record.id).collect::<Vec<_>>(), [later[1]]);
    assert_eq!(store.find_by_idempotency_key(owner, "create-1").await.unwrap().unwrap().id, id);
    assert!(store.find_by_idempotency_key(owner, "create-2").await.unwrap().is_none());
    assert_ne!(store.find_by_idempotency_key(other_owner, "create-1").await.unwrap().unwrap().id, id);
}

async fn pipelines_belong_to_their_owner_and_are_replaced_by_name(store: &dyn ExecutionStore) {
    let (owner, other_owner) = (UserId::new(), UserId::new());
    let mut def = pipeline();
    store.put_pipeline(owner, &def).await.unwrap();
    def.description = Some("second version".into());
    store.put_pipeline(owner, &def).await.unwrap();
    let stored = store.get_pipeline(owner, "conformance").await.unwrap().unwrap();
    assert_eq!(stored.def.description.as_deref(), Some("second version"));
    assert_eq!(stored.hash, def.content_hash());
    assert!(store.get_pipeline(other_owner, "conformance").await.unwrap().is_none());
    assert_eq!(store.list_pipelines(Some(owner)).await.unwrap().len(), 1);
    assert!(store.list_pipelines(Some(other_owner)).await.unwrap().is_empty());
    assert!(store.delete_pipeline(owner, "conformance").await.unwrap());
    assert!(!store.delete_pipeline(owner, "conformance").await.unwrap());
}

async fn ledgers_record_usage_and_corrections(store: &dyn ExecutionStore) {
    let Seeded { id, owner, .. } = seed(store).await;
    let other_owner = UserId::new();
    let now = troupe_runtime::model::now();
    let usage = |attempt: u32, prompt: u64, cost: f64| UsageRecord {
        execution_id: id,
        owner,
        step_key: "zeta".into(),
        attempt,
        provider: "openai".into(),
        model: "m".into(),
        usage: Usage { prompt_tokens: prompt, completion_tokens: 5, cost_usd: cost },
        created_at: now,
    };
    let issue = ValidationIssue { validator: "json_schema".into(), path: "/title".into(), message: "missing".into() };
    let correction = CorrectionRecord {
        execution_id: id,
        step_key: "zeta".into(),
        agent: "requirements".into(),
        attempt: 2,
        signature: troupe_runtime::validator::signature(std::slice::from_ref(&issue)),
        issues: vec![issue.clone()],
        strategy: json!({"accepted": [{"path": "/title", "accepted": "\"T\""}]}),
        passed: true,
        created_at: now,
    };
    let batch = WriteBatch {
        usage: vec![usage(1, 10, 0.25), usage(2, 20, 0.5)],
        corrections: vec![correction.clone()],
        ..WriteBatch::default()
    };
    store.apply(&batch).await.unwrap();
    let rows = store.execution_usage(id).await.unwrap();
    assert_eq!(rows, vec![usage(1, 10, 0.25), usage(2, 20, 0.5)]);
    let total = store.owner_usage(owner).await.unwrap();
    assert_eq!((total.prompt_tokens, total.completion_tokens, total.cost_usd), (30, 10, 0.75));
    assert_eq!(store.owner_usage(other_owner).await.unwrap(), Usage::default());
    assert_eq!(store.load_execution(id).await.unwrap().unwrap().usage, total);
    assert_eq!(store.list_corrections(id).await.unwrap(), vec![correction.clone()]);
    assert!(store.list_corrections(ExecutionId::new()).await.unwrap().is_empty());
}

/// Retention purges what finished before the cutoff — logs, artifacts, all events but the
/// last — and never touches a live execution or a recent one.
async fn retention_purges_only_what_finished_long_ago(store: &dyn ExecutionStore) {
    let owner = UserId::new();
    let long_ago = Utc::now() - chrono::Duration::hours(2);
    let with_history = |status: ExecutionStatus, finished_at: Option<chrono::DateTime<Utc>>| {
        let mut record = execution(owner, None, None);
        record.status = status;
        record.finished_at = finished_at;
        let id = record.id;
        let mut batch = WriteBatch::default();
        batch.new_executions.push(record);
        batch.steps.push(step(id, "zeta", StepStatus::Completed, 1));
        batch.attempts.push(attempt(id, "zeta", 1, AttemptStatus::Succeeded, Some(json!({"ok": true}))));
        for seq in 1..=3 {
            batch.events.push(event(id, seq, EventKind::ExecutionStatus { status, error: None }));
        }
        batch.logs.push(LogRecord {
            execution_id: id,
            step_key: Some("zeta".into()),
            level: LogLevel::Info,
            message: "a line".into(),
            created_at: Utc::now(),
        });
        batch.artifacts.push(artifact(id, "zeta", "out.txt", b"content"));
        (id, batch)
    };
    let (old, old_batch) = with_history(ExecutionStatus::Completed, Some(long_ago));
    let (recent, recent_batch) = with_history(ExecutionStatus::Failed, Some(Utc::now()));
    let (live, live_batch) = with_history(ExecutionStatus::Running, None);
    for batch in [old_batch, recent_batch, live_batch] {
        store.apply(&batch).await.unwrap();
    }
    let cutoff = Utc::now() - chrono::Duration::hours(1);
    let report = store.purge_finished(cutoff, 10).await.unwrap();
    assert_eq!((report.executions, report.logs, report.events, report.artifacts), (1, 1, 2, 1), "{report:?}");
    let events = store.list_events(old, 0, 10).await.unwrap();
    assert_eq!(events.iter().map(|event| event.seq).collect::<Vec<_>>(), [3], "the terminal event stays");
    assert!(store.list_logs(old).await.unwrap().is_empty());
    assert!(store.list_artifacts(old).await.unwrap().is_empty());
    assert_eq!(store.get_execution(old).await.unwrap().unwrap().status, ExecutionStatus::Completed);
    assert_eq!(store.list_steps(old).await.unwrap().len(), 1, "the execution's steps stay");
    for kept in [recent, live] {
        assert_eq!(store.list_events(kept, 0, 10).await.unwrap().len(), 3);
        assert_eq!(store.list_logs(kept).await.unwrap().len(), 1);
        assert_eq!(store.list_artifacts(kept).await.unwrap().len(), 1);
    }
    let again = store.purge_finished(cutoff, 10).await.unwrap();
    assert_eq!(again.executions, 0, "an execution is purged once");
}

async fn deleting_an_owner_removes_their_executions_and_pipelines_only(store: &dyn ExecutionStore) {
    let mine = seed(store).await;
    progress(store, mine.id).await;
    let theirs = seed(store).await;
    store.put_pipeline(mine.owner, &pipeline()).await.unwrap();
    store.put_pipeline(theirs.owner, &pipeline()).await.unwrap();
    assert_eq!(store.delete_owner(mine.owner).await.unwrap(), 1);
    assert!(store.get_execution(mine.id).await.unwrap().is_none());
    assert!(store.list_steps(mine.id).await.unwrap().is_empty());
    assert!(store.list_attempts(mine.id).await.unwrap().is_empty());
    assert!(store.list_events(mine.id, 0, 100).await.unwrap().is_empty());
    assert!(store.list_logs(mine.id).await.unwrap().is_empty());
    assert!(store.list_artifacts(mine.id).await.unwrap().is_empty());
    assert!(store.get_pipeline(mine.owner, "conformance").await.unwrap().is_none());
    // Another owner's are untouched.
    assert!(store.get_execution(theirs.id).await.unwrap().is_some());
    assert_eq!(store.list_logs(theirs.id).await.unwrap().len(), 1);
    assert!(store.get_pipeline(theirs.owner, "conformance").await.unwrap().is_some());
    assert_eq!(store.delete_owner(mine.owner).await.unwrap(), 0);
}

/// Generates, for every backend, one test per behaviour.
macro_rules! conformance {
    ($($behaviour:ident),* $(,)?) => {
        mod in_memory {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    super::$behaviour(&troupe_runtime::store::InMemoryStore::new()).await;
                }
            )*
        }

        mod sqlite {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = troupe_memory::SqliteStore::open(&dir.path().join("troupe.db")).await.unwrap();
                    super::$behaviour(&store).await;
                    store.close().await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    let Some(database) = troupe_memory::testing::postgres_database(stringify!($behaviour)).await
                    else {
                        return;
                    };
                    let store = troupe_memory::PostgresStore::connect(&database.url, 3).await.unwrap();
                    super::$behaviour(&store).await;
                    store.close().await;
                    database.drop_database().await;
                }
            )*
        }
    };
}

conformance!(
    a_batch_creates_an_execution_with_what_it_holds,
    the_last_write_of_a_key_wins,
    events_are_ordered_paged_and_never_reused,
    a_snapshot_holds_what_resuming_needs,
    leases_are_claimed_only_once_expired_and_never_when_finished,
    an_idempotency_key_makes_one_execution_whoever_writes_it,
    listing_filters_orders_pages_and_finds_idempotency_keys,
    pipelines_belong_to_their_owner_and_are_replaced_by_name,
    ledgers_record_usage_and_corrections,
    retention_purges_only_what_finished_long_ago,
    deleting_an_owner_removes_their_executions_and_pipelines_only,
);
