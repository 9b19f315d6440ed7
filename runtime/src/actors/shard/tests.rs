//! Shard transitions as a state machine: given a state and an input, check the writes, the
//! dispatched steps and the effects — no actor, no database.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::actors::shared::{Admission, AgentDirectory, AgentKind, ShardSlot};
use crate::agent::StepOutput;
use crate::config::{AgentConfig, RuntimeConfig};
use crate::events::EventBus;
use crate::pipeline::PipelineDef;
use crate::store::InMemoryStore;
use crate::validator::Validators;

const KIND: &str = "work";

fn shared(shards: usize, max_live: Option<usize>) -> Arc<Shared> {
    let factory: crate::agent::AgentFactory = Arc::new(|| unreachable!("no agent runs in these tests"));
    let kind = Arc::new(AgentKind::new(KIND.into(), factory, AgentConfig::default()));
    let bus = Arc::new(EventBus::new(64));
    Arc::new(Shared {
        store: Arc::new(InMemoryStore::new()),
        memories: None,
        sinks: vec![Arc::clone(&bus) as Arc<dyn crate::events::EventSink>],
        bus,
        validators: Arc::new(Validators::default()),
        agents: AgentDirectory::new(HashMap::from([(KIND.to_owned(), kind)])),
        shards: (0..shards)
            .map(|_| ShardSlot {
                actor: RwLock::new(None),
                commit_lock: Arc::default(),
                waiting: AtomicBool::new(false),
                started: AtomicBool::new(true),
                results: Mutex::new(Vec::new()),
                spare: Mutex::new(None),
            })
            .collect(),
        admission: Admission { max: max_live, live: AtomicUsize::new(0) },
        config: RuntimeConfig { resume: false, ..RuntimeConfig::default() },
        node_id: "node-test".into(),
        stopping: AtomicBool::new(false),
        wake: Arc::default(),
        signals: None,
        leases_lost: Default::default(),
        deadlines: Default::default(),
        agent_changes: tokio::sync::watch::Sender::new(0),
    })
}

fn shard(shared: Arc<Shared>) -> ShardState {
    ShardState {
        index: 0,
        shared,
        executions: HashMap::default(),
        waiting: VecDeque::new(),
        pending: Pending::at(crate::model::now()),
        flushing: false,
        effects: Vec::new(),
        cancel_on_adopt: HashMap::default(),
    }
}

/// Two steps, `one` then `two`, each retried with the given backoff.
fn submission(shared: &Shared, initial_backoff: &str) -> Submission {
    let retry = json!({"max_attempts": 3, "backoff": {"initial": initial_backoff, "max": initial_backoff}});
    submission_of(
        shared,
        json!({"name": "p", "steps": [
            {"key": "one", "agent": KIND, "retry": retry},
            {"key": "two", "agent": KIND, "depends_on": ["one"], "retry": retry},
        ]}),
    )
}

/// A new execution of the pipeline `def`.
fn submission_of(shared: &Shared, def: serde_json::Value) -> Submission {
    let pipeline = PipelineDef::from_value(def).unwrap().validate(shared).unwrap();
    let now = crate::model::now();
    let record = ExecutionRecord {
        id: ExecutionId::new(),
        owner: UserId::LOCAL,
        project_id: None,
        pipeline_name: pipeline.name().to_owned(),
        pipeline_hash: pipeline.hash().to_owned(),
        pipeline: pipeline.shared_def(),
        input: json!({}),
        status: ExecutionStatus::Planned,
        error: None,
        idempotency_key: None,
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
        lease_owner: Some("node-test".into()),
        lease_expires_at: None,
        lease_epoch: 1,
    };
    Submission { record, pipeline, reply: oneshot::channel().0 }
}

fn dispatched(state: &mut ShardState) -> Vec<(String, u32)> {
    let jobs = std::mem::take(&mut state.pending.jobs);
    jobs.iter().map(|job| (String::from(&*job.plan.key), job.attempt)).collect()
}

fn done(id: ExecutionId, step_index: usize, attempt: u32, outcome: StepOutcome) -> StepDone {
    StepDone { execution_id: id, step_index, attempt, finished_at: crate::model::now(), outcome }
}

fn output() -> StepOutcome {
    StepOutcome::Output { output: Box::new(StepOutput::new(json!({"ok": true}))), issues: Vec::new() }
}

#[test]
fn a_submission_is_written_then_its_first_step_dispatched() {
    let shared = shared(1, None);
    let mut state = shard(Arc::clone(&shared));
    let submission = submission(&shared, "1s");
    let id = submission.record.id;
    state.submit(submission);
    assert_eq!(state.pending.batch.new_executions.len(), 1);
    let rows: Vec<(&str, StepStatus)> = state.pending.batch.steps.iter().map(|row| (&*row.key, row.status)).collect();
    assert_eq!(
        rows,
        [("one", StepStatus::Pending), ("two", StepStatus::Pending), ("one", StepStatus::Running)],
        "both steps are written, then the first one starts"
    );
    assert_eq!(dispatched(&mut state), [("one".to_owned(), 1)], "only the step without dependencies runs");
    assert_eq!(state.executions[&id].status, ExecutionStatus::Running);
    assert!(state.take_effects().is_empty());
}

#[test]
fn a_completed_step_dispatches_its_dependents_and_the_last_one_finishes_the_execution() {
    let shared = shared(1, None);
    let mut state = shard(Arc::clone(&shared));
    let submission = submission(&shared, "1s");
    let id = submission.record.id;
    state.submit(submission);
    dispatched(&mut state);
    state.step_done(done(id, 0, 1, output()));
    assert_eq!(dispatched(&mut state), [("two".to_owned(), 1)]);
    state.step_done(done(id, 1, 1, output()));
    assert!(dispatched(&mut state).is_empty());
    assert!(!state.executions.contains_key(&id), "a finished execution leaves the shard");
    let statuses: Vec<_> = state.pending.batch.execution_updates.iter().map(|update| update.status).collect();
    assert_eq!(statuses.last(), Some(&ExecutionStatus::Completed), "{statuses:?}");
}

#[test]
fn a_retryable_failure_asks_for_a_timer_and_dispatches_nothing_yet() {
    let shared = shared(1, None);
    let mut state = shard(Arc::clone(&shared));
    let submission = submission(&shared, "1s");
    let id = submission.record.id;
    state.submit(submission);
    dispatched(&mut state);
    state.step_done(done(id, 0, 1, StepOutcome::Failed(StepFailure::Retryable("flaky".into()))));
    assert!(dispatched(&mut state).is_empty(), "the retry waits for its backoff");
    match state.take_effects().as_slice() {
        [Effect::RetryAfter { delay, execution_id, step_index: 0, attempt: 1 }] => {
            assert_eq!(*execution_id, id);
            assert!(*delay >= Duration::from_millis(500) && *delay <= Duration::from_secs(1), "{delay:?}");
        }
        effects => panic!("expected one retry timer, got {effects:?}"),
    }
    // The timer fires: the second attempt runs.
    state.retry_due(id, 0, 1);
    assert_eq!(dispatched(&mut state), [("one".to_owned(), 2)]);
}

#[test]
fn a_retry_without_backoff_runs_at_once_and_a_fatal_failure_fails_the_execution() {
    let shared = shared(1, None);
    let mut state = shard(Arc::clone(&shared));
    let submission = submission(&shared, "0s");
    let id = submission.record.id;
    state.submit(submission);
    dispatched(&mut state);
    state.step_done(done(id, 0, 1, StepOutcome::Failed(StepFailure::Crashed("boom".into()))));
    assert_eq!(dispatched(&mut state), [("one".to_owned(), 2)]);
    assert!(state.take_effects().is_empty());
    state.step_done(done(id, 0, 2, StepOutcome::Failed(StepFailure::Fatal("broken".into()))));
    assert!(dispatched(&mut state).is_empty());
    assert!(!state.executions.contains_key(&id));
    let last = state.pending.batch.execution_updates.last().unwrap();
    assert_eq!(last.status, ExecutionStatus::Failed);
}

#[test]
fn a_stale_result_is_ignored() {
    let shared = shared(1, None);
    let mut state = shard(Arc::clone(&shared));
    let submission = submission(&shared, "0s");
    let id = submission.record.id;
    state.submit(submission);
    dispatched(&mut state);
    let writes = state.pending.batch.steps.len();
    state.step_done(done(id, 0, 7, output()));
    assert!(dispatched(&mut state).is_empty());
    assert_eq!(state.pending.batch.steps.len(), writes, "nothing was written");
}

#[test]
fn freed_capacity_is_offered_to_the_shard_that_has_executions_waiting() {
    let shared = shared(2, Some(1));
    let mut state = shard(Arc::clone(&shared));
    let first = submission(&shared, "0s");
    let id = first.record.id;
    state.submit(first);
    dispatched(&mut state);
    // Another shard holds an execution waiting for admission.
    shared.shards[1].waiting.store(true, std::sync::atomic::Ordering::Release);
    state.step_done(done(id, 0, 1, output()));
    state.step_done(done(id, 1, 1, output()));
    assert_eq!(state.take_effects(), [Effect::AdmitOn(1)]);
}

#[test]
fn past_the_admission_cap_a_submission_waits_in_planned() {
    let shared = shared(1, Some(1));
    let mut state = shard(Arc::clone(&shared));
    let first = submission(&shared, "0s");
    let first_id = first.record.id;
    let second = submission(&shared, "0s");
    let second_id = second.record.id;
    state.submit(first);
    state.submit(second);
    assert_eq!(dispatched(&mut state), [("one".to_owned(), 1)]);
    assert_eq!(state.executions[&second_id].status, ExecutionStatus::Planned);
    state.step_done(done(first_id, 0, 1, output()));
    state.step_done(done(first_id, 1, 1, output()));
    // The first one finished: the second is admitted on this very shard, no effect needed.
    let jobs = dispatched(&mut state);
    assert!(jobs.contains(&("one".to_owned(), 1)), "{jobs:?}");
    assert_eq!(state.executions[&second_id].status, ExecutionStatus::Running);
}

#[test]
fn an_execution_left_with_only_a_decision_to_wait_for_is_parked_and_holds_nothing() {
    let shared = shared(1, Some(1));
    let mut state = shard(Arc::clone(&shared));
    let submission = submission_of(
        &shared,
        json!({"name": "p", "steps": [
            {"key": "one", "agent": KIND},
            {"key": "ok", "agent": "approval", "depends_on": ["one"],
             "params": {"prompt": "Ship {{ steps.one.output.ok }}?", "timeout": "1h"}},
            {"key": "two", "agent": KIND, "depends_on": ["ok"]},
        ]}),
    );
    let id = submission.record.id;
    state.submit(submission);
    dispatched(&mut state);
    assert_eq!(shared.admission.live.load(std::sync::atomic::Ordering::Relaxed), 1);
    state.pending.batch = WriteBatch::default();
    state.step_done(done(id, 0, 1, output()));

    assert!(!state.executions.contains_key(&id), "the shard no longer holds it");
    assert_eq!(shared.admission.live.load(std::sync::atomic::Ordering::Relaxed), 0, "its slot is free");
    assert!(dispatched(&mut state).is_empty(), "nothing runs");
    let batch = &state.pending.batch;
    let update = batch.execution_updates.last().unwrap();
    assert_eq!(update.status, ExecutionStatus::Waiting);
    let deadline = update.wake_at.expect("it wakes at its deadline");
    assert_eq!(batch.approvals.len(), 1);
    assert_eq!(batch.approvals[0].prompt, "Ship true?");
    assert_eq!(batch.approvals[0].deadline, Some(deadline));
    assert!(batch.steps.iter().any(|row| &*row.key == "ok" && row.status == StepStatus::Waiting));
    assert_eq!(state.pending.parked, [id]);
    assert_eq!(shared.deadlines.next(), Some(deadline), "one timer for every deadline");
}

#[test]
fn an_approval_whose_condition_is_false_opens_its_gate() {
    let shared = shared(1, None);
    let mut state = shard(Arc::clone(&shared));
    let submission = submission_of(
        &shared,
        json!({"name": "p", "steps": [
            {"key": "ok", "agent": "approval", "when": "input.review"},
            {"key": "two", "agent": KIND, "depends_on": ["ok"]},
        ]}),
    );
    let id = submission.record.id;
    state.submit(submission);
    assert_eq!(dispatched(&mut state), [("two".to_owned(), 1)], "a gate not asked for is open");
    assert_eq!(state.executions[&id].steps[0].status, StepStatus::Skipped);
}
