//! The runtime on the durable stores: an execution completes with every row written, and one
//! stopped mid-run is resumed by the next runtime on the same store.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use troupe_memory::SqliteStore;
use troupe_runtime::model::EventKind;
use troupe_runtime::pipeline::PipelineDef;
use troupe_runtime::status::{AttemptStatus, ExecutionStatus, StepStatus};
use troupe_runtime::store::ExecutionStore;
use troupe_runtime::testing::Gate;
use troupe_runtime::{Runtime, RuntimeConfig, SubmitRequest};

const DEADLINE: Duration = Duration::from_secs(30);

fn gated_pipeline() -> PipelineDef {
    PipelineDef::from_value(json!({
        "name": "gated",
        "steps": [
            { "key": "first", "agent": "gate" },
            { "key": "second", "agent": "gate", "depends_on": ["first"] },
            { "key": "third", "agent": "echo", "depends_on": ["second"] }
        ]
    }))
    .unwrap()
}

async fn start(store: Arc<dyn ExecutionStore>, gate: Gate, resume: bool) -> Runtime {
    let config = RuntimeConfig { node_id: "node-durable".into(), resume, shards: 2, ..RuntimeConfig::default() };
    troupe_agents::register_builtins(Runtime::builder().store(store).config(config).agent("gate", gate))
        .start()
        .await
        .unwrap()
}

async fn check_runtime_on(store: Arc<dyn ExecutionStore>) {
    // An execution runs to completion and everything about it can be read back.
    let open_gate = Gate::new(1000);
    let runtime = start(Arc::clone(&store), open_gate.clone(), false).await;
    let pipeline = runtime.validate(gated_pipeline()).unwrap();
    let id = runtime.submit(SubmitRequest::new(pipeline, json!({"idea": "durable"}))).await.unwrap();
    let record = tokio::time::timeout(DEADLINE, runtime.wait(id)).await.unwrap().unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed);
    let steps = store.list_steps(id).await.unwrap();
    assert!(steps.iter().all(|step| step.status == StepStatus::Completed), "{steps:#?}");
    assert_eq!(steps[2].output.as_ref().unwrap()["input"], json!({"idea": "durable"}));
    assert_eq!(store.list_artifacts(id).await.unwrap().len(), 3);
    let events = store.list_events(id, 0, 1000).await.unwrap();
    assert!(events.last().unwrap().is_terminal());
    runtime.shutdown().await;

    // A runtime stopped while a step runs leaves it `running`; the next one resumes it.
    let closed_gate = Gate::new(1);
    let runtime = start(Arc::clone(&store), closed_gate.clone(), false).await;
    let pipeline = runtime.validate(gated_pipeline()).unwrap();
    let id = runtime.submit(SubmitRequest::new(pipeline, json!({}))).await.unwrap();
    // `first` passes the gate, `second` arrives and waits.
    tokio::time::timeout(DEADLINE, closed_gate.arrived.acquire_many(2)).await.unwrap().unwrap().forget();
    runtime.shutdown().await;
    let stopped = store.load_execution(id).await.unwrap().unwrap();
    assert_eq!(stopped.execution.status, ExecutionStatus::Running);
    assert_eq!(stopped.steps[1].status, StepStatus::Running);

    let runtime = start(Arc::clone(&store), open_gate, true).await;
    let record = tokio::time::timeout(DEADLINE, runtime.wait(id)).await.unwrap().unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed);
    let artifacts = store.list_artifacts(id).await.unwrap();
    let keys: Vec<&str> = artifacts.iter().map(|artifact| artifact.step_key.as_str()).collect();
    assert_eq!(keys, ["first", "second", "third"], "each step's artifact exactly once");
    let attempts = store.list_attempts(id).await.unwrap();
    let second: Vec<AttemptStatus> =
        attempts.iter().filter(|attempt| attempt.step_key == "second").map(|attempt| attempt.status).collect();
    assert_eq!(second, [AttemptStatus::Interrupted, AttemptStatus::Succeeded]);
    let events = store.list_events(id, 0, 1000).await.unwrap();
    let seqs: Vec<u64> = events.iter().map(|event| event.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
    assert!(
        events.iter().any(|event| matches!(&event.kind, EventKind::Log { message, .. } if message.contains("resumed")))
    );
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_complete_and_resume_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("troupe.db")).await.unwrap();
    check_runtime_on(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_complete_and_resume_on_postgres() {
    let Some(database) = troupe_memory::testing::postgres_database("executions_complete_and_resume_on_postgres").await
    else {
        return;
    };
    let store = troupe_memory::PostgresStore::connect(&database.url, 4).await.unwrap();
    check_runtime_on(Arc::new(store.clone())).await;
    store.close().await;
    database.drop_database().await;
}
