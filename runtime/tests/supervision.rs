//! End-to-end behaviour of the runtime on the in-memory store: crashes, hangs, cancellation,
//! quarantine, orchestrator faults, validation and correction, admission, event replay.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Semaphore;
use troupe_runtime::agent::{Agent, AgentError, StepContext, StepOutput};
use troupe_runtime::ids::ExecutionId;
use troupe_runtime::model::{Event, EventKind};
use troupe_runtime::pipeline::{PipelineDef, StepPlan, ValidatedPipeline};
use troupe_runtime::status::{AttemptStatus, ExecutionStatus, StepStatus};
use troupe_runtime::supervision::RestartPolicy;
use troupe_runtime::testing::{Echo, Gate};
use troupe_runtime::validator::{ValidationIssue, Validator};
use troupe_runtime::{AgentConfig, AgentHealth, Runtime, RuntimeBuilder, RuntimeConfig, RuntimeError, SubmitRequest};

const DEADLINE: Duration = Duration::from_secs(20);

/// Panics on the first attempt of every step, then behaves like `Echo`.
#[derive(Clone)]
struct PanicsOnFirstAttempt;

#[async_trait::async_trait]
impl Agent for PanicsOnFirstAttempt {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, AgentError> {
        if ctx.attempt == 1 {
            panic!("boom on the first attempt");
        }
        Echo.run(ctx).await
    }
}

/// Always panics.
#[derive(Clone)]
struct AlwaysPanics;

#[async_trait::async_trait]
impl Agent for AlwaysPanics {
    async fn run(&self, _ctx: StepContext) -> Result<StepOutput, AgentError> {
        panic!("always broken")
    }
}

/// Hangs forever on the first attempt (ignoring cancellation), then echoes.
#[derive(Clone)]
struct HangsOnce;

#[async_trait::async_trait]
impl Agent for HangsOnce {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, AgentError> {
        if ctx.attempt == 1 {
            std::future::pending::<()>().await;
        }
        Echo.run(ctx).await
    }
}

/// Waits until cancelled, and records that it saw the cancellation.
#[derive(Clone)]
struct WaitsForCancel {
    started: Arc<Semaphore>,
    saw_cancel: Arc<Semaphore>,
}

#[async_trait::async_trait]
impl Agent for WaitsForCancel {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, AgentError> {
        self.started.add_permits(1);
        ctx.cancelled().await;
        self.saw_cancel.add_permits(1);
        Err(AgentError::Cancelled)
    }
}

/// Returns `{"ok": false}` until attempt `good_from`, then `{"ok": true}`; records the issues
/// it was given for correction.
#[derive(Clone)]
struct Improves {
    good_from: u32,
    corrections_seen: Arc<AtomicU32>,
}

#[async_trait::async_trait]
impl Agent for Improves {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, AgentError> {
        if let Some(correction) = &ctx.correction {
            assert!(!correction.issues.is_empty(), "a correction carries the validator issues");
            assert_eq!(correction.previous_output.as_ref(), &json!({"ok": false}));
            self.corrections_seen.fetch_add(1, Ordering::SeqCst);
        }
        Ok(StepOutput::new(json!({ "ok": ctx.attempt >= self.good_from })))
    }
}

/// Reports what failure it handles.
#[derive(Clone)]
struct Recovery;

#[async_trait::async_trait]
impl Agent for Recovery {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, AgentError> {
        let failure = ctx.failure.expect("a recovery step is told what failed");
        Ok(StepOutput::new(json!({ "failed_step": failure.step_key, "code": failure.error.code })).artifact(
            "report.md",
            "text/markdown",
            format!("step {} failed", failure.step_key),
        ))
    }
}

/// Appends two echo steps after itself.
#[derive(Clone)]
struct Planner;

#[async_trait::async_trait]
impl Agent for Planner {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, AgentError> {
        let count = ctx.params.get("count").and_then(Value::as_u64).unwrap_or(2);
        let steps = (0..count)
            .map(|index| {
                serde_json::from_value(
                    json!({ "key": format!("planned-{index}"), "agent": "echo", "depends_on": [ctx.step_key] }),
                )
                .expect("a step definition")
            })
            .collect();
        Ok(StepOutput { append_steps: steps, ..StepOutput::new(json!({"planned": count})) })
    }
}

/// Accepts `{"ok": true}` only.
struct OkValidator;

impl Validator for OkValidator {
    fn validate(&self, _step: &StepPlan, output: &Value) -> Vec<ValidationIssue> {
        if output.get("ok") == Some(&Value::Bool(true)) {
            Vec::new()
        } else {
            vec![ValidationIssue { validator: "ok".into(), path: "/ok".into(), message: "must be true".into() }]
        }
    }
}

fn fast_restarts(max_restarts: u32) -> AgentConfig {
    AgentConfig {
        restart: RestartPolicy {
            max_restarts,
            period: Duration::from_secs(60),
            backoff_initial: Duration::from_millis(1),
            backoff_max: Duration::from_millis(10),
        },
        ..AgentConfig::default()
    }
}

fn builder() -> RuntimeBuilder {
    Runtime::builder()
        .agent("echo", Echo)
        .config(RuntimeConfig { shards: 2, cancel_grace: Duration::from_millis(500), ..RuntimeConfig::default() })
        .default_agent_config(fast_restarts(5))
}

fn pipeline(runtime: &Runtime, definition: Value) -> ValidatedPipeline {
    runtime.validate(PipelineDef::from_value(definition).expect("parses")).expect("valid")
}

fn linear(agent: &str, keys: &[&str], extra: Value) -> Value {
    let steps: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(index, key)| {
            let mut step = json!({ "key": key, "agent": agent, "retry": {"max_attempts": 3, "backoff": {"initial": "1ms", "max": "5ms"}} });
            if index > 0 {
                step["depends_on"] = json!([keys[index - 1]]);
            }
            if let (Some(step), Some(extra)) = (step.as_object_mut(), extra.as_object()) {
                step.extend(extra.clone());
            }
            step
        })
        .collect();
    json!({ "name": "test", "steps": steps })
}

async fn run_to_end(runtime: &Runtime, pipeline: ValidatedPipeline, input: Value) -> (ExecutionId, ExecutionStatus) {
    let id = runtime.submit(SubmitRequest::new(pipeline, input)).await.expect("submitted");
    let record = tokio::time::timeout(DEADLINE, runtime.wait(id)).await.expect("finished in time").expect("waited");
    (id, record.status)
}

/// Collects events until one matches `stop`, with a deadline.
async fn events_until(runtime: &Runtime, id: ExecutionId, stop: impl Fn(&Event) -> bool) -> Vec<Event> {
    let mut subscription = runtime.subscribe(id, 0);
    let mut events = Vec::new();
    tokio::time::timeout(DEADLINE, async {
        while let Some(event) = subscription.next().await.expect("events") {
            let done = stop(&event);
            events.push((*event).clone());
            if done {
                break;
            }
        }
    })
    .await
    .expect("the awaited event arrived in time");
    events
}

fn step_status_is(event: &Event, key: &str, wanted: StepStatus) -> bool {
    matches!(&event.kind, EventKind::StepStatus { step, status, .. } if **step == *key && *status == wanted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_whose_agent_panics_once_is_retried_and_the_restart_is_counted() {
    let runtime = builder().agent("flaky", PanicsOnFirstAttempt).start().await.unwrap();
    let pipeline = pipeline(&runtime, linear("flaky", &["one", "two"], json!({})));
    let (id, status) = run_to_end(&runtime, pipeline, json!({})).await;
    assert_eq!(status, ExecutionStatus::Completed);
    let attempts = runtime.store().list_attempts(id).await.unwrap();
    let crashed = attempts.iter().filter(|attempt| attempt.status == AttemptStatus::Crashed).count();
    assert_eq!(crashed, 2, "each step crashed once: {attempts:#?}");
    let flaky = runtime.agents().into_iter().find(|agent| agent.kind == "flaky").unwrap();
    assert_eq!(flaky.crashes, 2);
    // Restarts happen after a backoff; wait for the second with a deadline.
    tokio::time::timeout(DEADLINE, runtime.wait_for_agent("flaky", |agent| agent.restarts >= 2))
        .await
        .expect("both crashes were followed by a restart");
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_always_panics_is_quarantined_and_other_kinds_keep_working() {
    let runtime =
        builder().agent("broken", AlwaysPanics).agent_config("broken", fast_restarts(2)).start().await.unwrap();
    let mut definition = linear("broken", &["doomed"], json!({}));
    definition["steps"][0]["retry"]["max_attempts"] = json!(10);
    let broken = pipeline(&runtime, definition);
    let (id, status) = run_to_end(&runtime, broken.clone(), json!({})).await;
    assert_eq!(status, ExecutionStatus::Failed);
    let record = runtime.store().get_execution(id).await.unwrap().unwrap();
    let error = record.error.unwrap();
    assert_eq!(error.details["error"]["code"], "agent_quarantined", "{error:?}");
    assert!(error.message.contains("quarantined"), "{}", error.message);
    let attempts = runtime.store().list_attempts(id).await.unwrap();
    assert!(attempts.len() < 10, "the step failed fast once quarantined: {} attempts", attempts.len());
    let status = runtime.agents().into_iter().find(|agent| agent.kind == "broken").unwrap();
    assert!(matches!(status.health, AgentHealth::Quarantined { .. }), "{status:?}");

    // A second execution needing the kind fails at once, with the same clear error.
    let (second, status) = run_to_end(&runtime, broken, json!({})).await;
    assert_eq!(status, ExecutionStatus::Failed);
    assert_eq!(runtime.store().list_attempts(second).await.unwrap().len(), 1);

    // Other kinds are unaffected.
    let healthy = pipeline(&runtime, linear("echo", &["a", "b", "c"], json!({})));
    let (_, status) = run_to_end(&runtime, healthy, json!({})).await;
    assert_eq!(status, ExecutionStatus::Completed);

    // Released, the kind runs again (and crashes again: it is still broken).
    runtime.release_agent("broken").await.unwrap();
    tokio::time::timeout(DEADLINE, runtime.wait_for_agent("broken", |agent| agent.health == AgentHealth::Healthy))
        .await
        .expect("released");
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_agent_times_out_and_is_retried() {
    let runtime = builder().agent("hangs", HangsOnce).start().await.unwrap();
    let pipeline = pipeline(&runtime, linear("hangs", &["slow"], json!({ "timeout": "100ms" })));
    let (id, status) = run_to_end(&runtime, pipeline, json!({})).await;
    assert_eq!(status, ExecutionStatus::Completed);
    let attempts = runtime.store().list_attempts(id).await.unwrap();
    assert_eq!(attempts[0].status, AttemptStatus::TimedOut);
    assert_eq!(attempts[0].error.as_ref().unwrap().code, "step_timeout");
    assert_eq!(attempts[1].status, AttemptStatus::Succeeded);
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_execution_stops_it_promptly_and_the_agent_sees_it() {
    let started = Arc::new(Semaphore::new(0));
    let saw_cancel = Arc::new(Semaphore::new(0));
    let agent = WaitsForCancel { started: Arc::clone(&started), saw_cancel: Arc::clone(&saw_cancel) };
    let runtime = builder().agent("waits", agent).start().await.unwrap();
    let pipeline = pipeline(&runtime, linear("waits", &["wait", "never"], json!({})));
    let id = runtime.submit(SubmitRequest::new(pipeline, json!({}))).await.unwrap();
    tokio::time::timeout(DEADLINE, started.acquire()).await.expect("the step started").unwrap().forget();
    let record = tokio::time::timeout(Duration::from_secs(2), runtime.cancel(id)).await.expect("prompt").unwrap();
    assert!(record.done);
    assert_eq!(record.record.status, ExecutionStatus::Cancelled);
    let steps = runtime.store().list_steps(id).await.unwrap();
    assert!(steps.iter().all(|step| step.status == StepStatus::Cancelled), "{steps:#?}");
    tokio::time::timeout(DEADLINE, saw_cancel.acquire())
        .await
        .expect("the agent saw the cancellation")
        .unwrap()
        .forget();
    assert!(matches!(runtime.cancel(id).await, Err(RuntimeError::AlreadyFinished { .. })));
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orchestrator_panic_mid_run_is_healed_and_every_artifact_is_stored_once() {
    let gate = Gate::new(0);
    let runtime = builder().agent("gate", gate.clone()).start().await.unwrap();
    let pipeline = pipeline(&runtime, linear("gate", &["first", "second", "third"], json!({})));
    let id = runtime.submit(SubmitRequest::new(pipeline, json!({}))).await.unwrap();
    gate.permits.add_permits(1);
    // Wait until `second` runs, then crash the shard that drives the execution.
    events_until(&runtime, id, |event| step_status_is(event, "second", StepStatus::Running)).await;
    tokio::time::timeout(DEADLINE, gate.arrived.acquire_many(2)).await.unwrap().unwrap().forget();
    runtime.inject_orchestrator_panic(id);
    // The restarted shard runs `second` again; let both attempts and `third` through.
    gate.permits.add_permits(10);
    let record = tokio::time::timeout(DEADLINE, runtime.wait(id)).await.unwrap().unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed);
    let artifacts = runtime.store().list_artifacts(id).await.unwrap();
    let names: Vec<&str> = artifacts.iter().map(|artifact| artifact.name.as_str()).collect();
    assert_eq!(names, ["first.txt", "second.txt", "third.txt"]);
    let events = runtime.store().list_events(id, 0, 10_000).await.unwrap();
    assert!(
        events
            .iter()
            .any(|event| matches!(&event.kind, EventKind::Log { message, .. } if message.starts_with("resumed"))),
        "the execution was reloaded by the restarted shard"
    );
    let seqs: Vec<u64> = events.iter().map(|event| event.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>(), "no gap or duplicate in the event log");
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_output_is_corrected_and_the_execution_reports_correcting() {
    let corrections_seen = Arc::new(AtomicU32::new(0));
    let agent = Improves { good_from: 2, corrections_seen: Arc::clone(&corrections_seen) };
    let runtime = builder().agent("improves", agent).validator("ok", OkValidator).start().await.unwrap();
    let pipeline = pipeline(&runtime, linear("improves", &["draft"], json!({ "validate": ["ok"] })));
    let (id, status) = run_to_end(&runtime, pipeline, json!({})).await;
    assert_eq!(status, ExecutionStatus::Completed);
    assert_eq!(corrections_seen.load(Ordering::SeqCst), 1);
    let steps = runtime.store().list_steps(id).await.unwrap();
    assert_eq!(steps[0].corrections, 1);
    assert_eq!(steps[0].output, Some(json!({"ok": true})));
    let events = runtime.store().list_events(id, 0, 1000).await.unwrap();
    let statuses: Vec<ExecutionStatus> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::ExecutionStatus { status, .. } => Some(*status),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ExecutionStatus::Planned,
            ExecutionStatus::Running,
            ExecutionStatus::Correcting,
            ExecutionStatus::Running,
            ExecutionStatus::Completed
        ]
    );
    let attempts = runtime.store().list_attempts(id).await.unwrap();
    assert_eq!(attempts[0].status, AttemptStatus::Rejected);
    assert_eq!(attempts[0].output.as_deref(), Some(&json!({"ok": false})));
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_rejected_past_max_corrections_fails_the_step_and_runs_its_recovery() {
    let agent = Improves { good_from: 100, corrections_seen: Arc::default() };
    let runtime = builder()
        .agent("improves", agent)
        .agent("recovery", Recovery)
        .validator("ok", OkValidator)
        .start()
        .await
        .unwrap();
    let definition = json!({
        "name": "recovering",
        "on_failure": "recover",
        "steps": [
            { "key": "draft", "agent": "improves", "validate": ["ok"], "max_corrections": 2 },
            { "key": "after", "agent": "echo", "depends_on": ["draft"] },
            { "key": "recover", "agent": "recovery" }
        ]
    });
    let (id, status) = run_to_end(&runtime, pipeline(&runtime, definition), json!({})).await;
    assert_eq!(status, ExecutionStatus::Failed);
    let steps = runtime.store().list_steps(id).await.unwrap();
    let by_key = |key: &str| steps.iter().find(|step| &*step.key == key).unwrap();
    assert_eq!(by_key("draft").status, StepStatus::Failed);
    assert_eq!(by_key("draft").corrections, 2);
    assert_eq!(by_key("draft").error.as_ref().unwrap().code, "validation_failed");
    assert_eq!(by_key("after").status, StepStatus::Skipped);
    assert_eq!(by_key("recover").status, StepStatus::Completed);
    assert_eq!(by_key("recover").output, Some(json!({"failed_step": "draft", "code": "validation_failed"})));
    assert!(runtime.store().get_artifact(id, "recover", "report.md").await.unwrap().is_some());
    let record = runtime.store().get_execution(id).await.unwrap().unwrap();
    assert!(record.error.unwrap().message.starts_with("step `draft` failed"));
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditions_skip_steps_and_independent_branches_run_concurrently() {
    let gate = Gate::new(0);
    let runtime = builder().agent("gate", gate.clone()).start().await.unwrap();
    let definition = json!({
        "name": "branches",
        "steps": [
            { "key": "left", "agent": "gate" },
            { "key": "right", "agent": "gate" },
            { "key": "join", "agent": "echo", "depends_on": ["left", "right"] },
            { "key": "only-rust", "agent": "echo", "depends_on": ["join"], "when": "input.lang == 'rust'" },
            { "key": "after-rust", "agent": "echo", "depends_on": ["only-rust"] }
        ]
    });
    let id = runtime.submit(SubmitRequest::new(pipeline(&runtime, definition), json!({"lang": "go"}))).await.unwrap();
    // Both branches are inside their agent at the same time before either may finish.
    tokio::time::timeout(DEADLINE, gate.arrived.acquire_many(2)).await.unwrap().unwrap().forget();
    gate.permits.add_permits(2);
    let record = tokio::time::timeout(DEADLINE, runtime.wait(id)).await.unwrap().unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed);
    let steps = runtime.store().list_steps(id).await.unwrap();
    let status = |key: &str| steps.iter().find(|step| &*step.key == key).unwrap().clone();
    assert_eq!(status("join").status, StepStatus::Completed);
    assert_eq!(status("only-rust").status, StepStatus::Skipped);
    assert_eq!(status("only-rust").error.unwrap().code, "condition_false");
    assert_eq!(status("after-rust").status, StepStatus::Skipped);
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_control_keeps_executions_planned_beyond_the_cap() {
    let gate = Gate::new(0);
    let runtime = builder()
        .agent("gate", gate.clone())
        .config(RuntimeConfig { shards: 2, max_live_executions: Some(1), ..RuntimeConfig::default() })
        .start()
        .await
        .unwrap();
    let pipeline = pipeline(&runtime, linear("gate", &["only"], json!({})));
    let first = runtime.submit(SubmitRequest::new(pipeline.clone(), json!({}))).await.unwrap();
    let second = runtime.submit(SubmitRequest::new(pipeline.clone(), json!({}))).await.unwrap();
    let third = runtime.submit(SubmitRequest::new(pipeline, json!({}))).await.unwrap();
    tokio::time::timeout(DEADLINE, gate.arrived.acquire()).await.unwrap().unwrap().forget();
    assert_eq!(runtime.live_executions(), 1);
    let planned = [first, second, third];
    let mut statuses = Vec::new();
    for id in planned {
        statuses.push(runtime.store().get_execution(id).await.unwrap().unwrap().status);
    }
    assert_eq!(statuses.iter().filter(|status| **status == ExecutionStatus::Planned).count(), 2, "{statuses:?}");
    gate.permits.add_permits(3);
    for id in planned {
        let record = tokio::time::timeout(DEADLINE, runtime.wait(id)).await.unwrap().unwrap();
        assert_eq!(record.status, ExecutionStatus::Completed);
    }
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_can_append_steps_up_to_the_cap() {
    let runtime = builder().agent("planner", Planner).start().await.unwrap();
    let definition = json!({
        "name": "planned",
        "max_dynamic_steps": 3,
        "steps": [{ "key": "plan", "agent": "planner", "params": {"count": 2} }]
    });
    let (id, status) = run_to_end(&runtime, pipeline(&runtime, definition.clone()), json!({})).await;
    assert_eq!(status, ExecutionStatus::Completed);
    let steps = runtime.store().list_steps(id).await.unwrap();
    let keys: Vec<&str> = steps.iter().map(|step| &*step.key).collect();
    assert_eq!(keys, ["plan", "planned-0", "planned-1"]);
    assert!(steps.iter().all(|step| step.status == StepStatus::Completed));
    let record = runtime.store().get_execution(id).await.unwrap().unwrap();
    assert_eq!(record.pipeline.steps.len(), 3, "the appended steps are part of the pinned definition");
    assert_eq!(record.pipeline.steps[1].added_by.as_deref(), Some("plan"));

    let mut too_many = definition;
    too_many["steps"][0]["params"]["count"] = json!(4);
    let (id, status) = run_to_end(&runtime, pipeline(&runtime, too_many), json!({})).await;
    assert_eq!(status, ExecutionStatus::Failed);
    let steps = runtime.store().list_steps(id).await.unwrap();
    let error = steps[0].error.clone().unwrap();
    assert_eq!(error.code, "invalid_plan");
    assert!(error.message.contains("cap of 3"), "{}", error.message);
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_after_any_seq_replays_exactly_the_missed_events() {
    let gate = Gate::new(0);
    let runtime = builder().agent("gate", gate.clone()).start().await.unwrap();
    let pipeline = pipeline(&runtime, linear("gate", &["s1", "s2", "s3", "s4"], json!({})));
    let id = runtime.submit(SubmitRequest::new(pipeline, json!({}))).await.unwrap();
    let mut late_subscriptions = Vec::new();
    // Release the steps one by one; after each, subscribe from an earlier point mid-run.
    for round in 0..4u64 {
        tokio::time::timeout(DEADLINE, gate.arrived.acquire()).await.unwrap().unwrap().forget();
        let after_seq = round * 2;
        let mut subscription = runtime.subscribe(id, after_seq);
        late_subscriptions.push(tokio::spawn(async move {
            let mut events = Vec::new();
            while let Some(event) = subscription.next().await.unwrap() {
                events.push((*event).clone());
            }
            (after_seq, events)
        }));
        gate.permits.add_permits(1);
    }
    let record = tokio::time::timeout(DEADLINE, runtime.wait(id)).await.unwrap().unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed);
    let full = runtime.store().list_events(id, 0, 10_000).await.unwrap();
    for subscription in late_subscriptions {
        let (after_seq, events) = tokio::time::timeout(DEADLINE, subscription).await.unwrap().unwrap();
        assert_eq!(events, full[after_seq as usize..], "subscription after seq {after_seq}");
    }
    runtime.shutdown().await;
}

/// An in-memory store whose writes fail as `Unavailable` while `down` is set, like a
/// database that went away.
struct FlakyStore {
    inner: troupe_runtime::store::InMemoryStore,
    down: AtomicBool,
    refused: AtomicU32,
    /// A permit per refused commit.
    refusals: Semaphore,
}

#[async_trait::async_trait]
impl troupe_runtime::store::ExecutionStore for FlakyStore {
    async fn apply(
        &self,
        batch: &troupe_runtime::store::WriteBatch,
    ) -> Result<Vec<ExecutionId>, troupe_runtime::store::StoreError> {
        if self.down.load(Ordering::SeqCst) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            self.refusals.add_permits(1);
            return Err(troupe_runtime::store::StoreError::Unavailable("connection refused".into()));
        }
        self.inner.apply(batch).await
    }
    async fn ping(&self) -> Result<(), troupe_runtime::store::StoreError> {
        self.inner.ping().await
    }
    async fn claim_executions(
        &self,
        node: &str,
        ttl_ms: i64,
        limit: Option<usize>,
        mine: bool,
    ) -> Result<Vec<ExecutionId>, troupe_runtime::store::StoreError> {
        self.inner.claim_executions(node, ttl_ms, limit, mine).await
    }
    async fn claim_execution(
        &self,
        id: ExecutionId,
        node: &str,
        ttl_ms: i64,
    ) -> Result<Option<i64>, troupe_runtime::store::StoreError> {
        self.inner.claim_execution(id, node, ttl_ms).await
    }
    async fn decide_approval(
        &self,
        request: &troupe_runtime::pipeline::approval::DecisionRequest,
    ) -> Result<Option<troupe_runtime::pipeline::approval::Decided>, troupe_runtime::store::StoreError> {
        self.inner.decide_approval(request).await
    }
    async fn list_approvals(
        &self,
        id: ExecutionId,
    ) -> Result<Vec<troupe_runtime::pipeline::approval::ApprovalRecord>, troupe_runtime::store::StoreError> {
        self.inner.list_approvals(id).await
    }
    async fn renew_leases(
        &self,
        node: &str,
        ttl_ms: i64,
    ) -> Result<Vec<ExecutionId>, troupe_runtime::store::StoreError> {
        self.inner.renew_leases(node, ttl_ms).await
    }
    async fn release_leases(&self, node: &str) -> Result<u64, troupe_runtime::store::StoreError> {
        self.inner.release_leases(node).await
    }
    async fn take_failed(
        &self,
        id: ExecutionId,
        node: &str,
        ttl_ms: i64,
    ) -> Result<Option<i64>, troupe_runtime::store::StoreError> {
        self.inner.take_failed(id, node, ttl_ms).await
    }
    async fn request_cancel(&self, id: ExecutionId) -> Result<bool, troupe_runtime::store::StoreError> {
        self.inner.request_cancel(id).await
    }
    async fn cancel_requests(&self, node: &str) -> Result<Vec<ExecutionId>, troupe_runtime::store::StoreError> {
        self.inner.cancel_requests(node).await
    }
    async fn leased_by(&self, node: &str) -> Result<Vec<ExecutionId>, troupe_runtime::store::StoreError> {
        self.inner.leased_by(node).await
    }
    async fn load_execution(
        &self,
        id: ExecutionId,
    ) -> Result<Option<troupe_runtime::store::ExecutionSnapshot>, troupe_runtime::store::StoreError> {
        self.inner.load_execution(id).await
    }
    async fn get_execution(
        &self,
        id: ExecutionId,
    ) -> Result<Option<troupe_runtime::model::ExecutionRecord>, troupe_runtime::store::StoreError> {
        self.inner.get_execution(id).await
    }
    async fn find_by_idempotency_key(
        &self,
        owner: troupe_runtime::ids::UserId,
        key: &str,
    ) -> Result<Option<troupe_runtime::model::ExecutionRecord>, troupe_runtime::store::StoreError> {
        self.inner.find_by_idempotency_key(owner, key).await
    }
    async fn list_executions(
        &self,
        query: &troupe_runtime::store::ExecutionQuery,
    ) -> Result<Vec<troupe_runtime::model::ExecutionRecord>, troupe_runtime::store::StoreError> {
        self.inner.list_executions(query).await
    }
    async fn list_steps(
        &self,
        id: ExecutionId,
    ) -> Result<Vec<troupe_runtime::model::StepRecord>, troupe_runtime::store::StoreError> {
        self.inner.list_steps(id).await
    }
    async fn list_attempts(
        &self,
        id: ExecutionId,
    ) -> Result<Vec<troupe_runtime::model::AttemptRecord>, troupe_runtime::store::StoreError> {
        self.inner.list_attempts(id).await
    }
    async fn list_events(
        &self,
        id: ExecutionId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>, troupe_runtime::store::StoreError> {
        self.inner.list_events(id, after, limit).await
    }
    async fn list_logs(
        &self,
        id: ExecutionId,
    ) -> Result<Vec<troupe_runtime::model::LogRecord>, troupe_runtime::store::StoreError> {
        self.inner.list_logs(id).await
    }
    async fn list_artifacts(
        &self,
        id: ExecutionId,
    ) -> Result<Vec<troupe_runtime::model::ArtifactRecord>, troupe_runtime::store::StoreError> {
        self.inner.list_artifacts(id).await
    }
    async fn get_artifact(
        &self,
        id: ExecutionId,
        step: &str,
        name: &str,
    ) -> Result<Option<troupe_runtime::model::ArtifactRecord>, troupe_runtime::store::StoreError> {
        self.inner.get_artifact(id, step, name).await
    }
    async fn put_pipeline(
        &self,
        owner: troupe_runtime::ids::UserId,
        def: &PipelineDef,
    ) -> Result<(), troupe_runtime::store::StoreError> {
        self.inner.put_pipeline(owner, def).await
    }
    async fn get_pipeline(
        &self,
        owner: troupe_runtime::ids::UserId,
        name: &str,
    ) -> Result<Option<troupe_runtime::store::StoredPipeline>, troupe_runtime::store::StoreError> {
        self.inner.get_pipeline(owner, name).await
    }
    async fn list_pipelines(
        &self,
        owner: Option<troupe_runtime::ids::UserId>,
    ) -> Result<Vec<troupe_runtime::store::StoredPipeline>, troupe_runtime::store::StoreError> {
        self.inner.list_pipelines(owner).await
    }
    async fn delete_pipeline(
        &self,
        owner: troupe_runtime::ids::UserId,
        name: &str,
    ) -> Result<bool, troupe_runtime::store::StoreError> {
        self.inner.delete_pipeline(owner, name).await
    }
    async fn execution_usage(
        &self,
        id: ExecutionId,
    ) -> Result<Vec<troupe_runtime::model::UsageRecord>, troupe_runtime::store::StoreError> {
        self.inner.execution_usage(id).await
    }
    async fn owner_usage(
        &self,
        owner: troupe_runtime::ids::UserId,
    ) -> Result<troupe_runtime::model::Usage, troupe_runtime::store::StoreError> {
        self.inner.owner_usage(owner).await
    }
    async fn list_corrections(
        &self,
        id: ExecutionId,
    ) -> Result<Vec<troupe_runtime::model::CorrectionRecord>, troupe_runtime::store::StoreError> {
        self.inner.list_corrections(id).await
    }
    async fn purge_finished(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<troupe_runtime::store::PurgeReport, troupe_runtime::store::StoreError> {
        self.inner.purge_finished(before, limit).await
    }

    async fn delete_owner(&self, owner: troupe_runtime::ids::UserId) -> Result<u64, troupe_runtime::store::StoreError> {
        self.inner.delete_owner(owner).await
    }

    async fn delete_finished(
        &self,
        statuses: &[troupe_runtime::status::ExecutionStatus],
        before: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<Vec<troupe_runtime::ids::ExecutionId>, troupe_runtime::store::StoreError> {
        self.inner.delete_finished(statuses, before, limit).await
    }

    async fn purge_logs(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<u64, troupe_runtime::store::StoreError> {
        self.inner.purge_logs(before, limit).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_acted_on_while_the_store_is_down_and_work_resumes_when_it_returns() {
    let store = Arc::new(FlakyStore {
        inner: Default::default(),
        down: AtomicBool::new(false),
        refused: AtomicU32::new(0),
        refusals: Semaphore::new(0),
    });
    let gate = Gate::new(0);
    let runtime = builder().store(store.clone()).agent("gate", gate.clone()).start().await.unwrap();
    let pipeline = pipeline(&runtime, linear("gate", &["first", "second"], json!({})));
    let id = runtime.submit(SubmitRequest::new(pipeline, json!({}))).await.unwrap();
    tokio::time::timeout(DEADLINE, gate.arrived.acquire()).await.unwrap().unwrap().forget();
    // The database goes away while `first` runs; its result cannot be recorded.
    store.down.store(true, Ordering::SeqCst);
    gate.permits.add_permits(1);
    tokio::time::timeout(DEADLINE, store.refusals.acquire_many(2))
        .await
        .expect("the commit is retried while the store is down")
        .unwrap()
        .forget();
    assert_eq!(gate.arrived.available_permits(), 0, "`second` was not started before `first` was durable");
    let steps = runtime.store().list_steps(id).await.unwrap();
    assert_eq!(steps[0].status, StepStatus::Running, "the store still says what it last durably recorded");
    store.down.store(false, Ordering::SeqCst);
    gate.permits.add_permits(1);
    let record = tokio::time::timeout(DEADLINE, runtime.wait(id)).await.unwrap().unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed);
    runtime.shutdown().await;
}

/// Refuses every step (as a plugin does for a user without consent); counts its calls.
#[derive(Clone)]
struct Refuses {
    calls: Arc<AtomicU32>,
}

#[async_trait::async_trait]
impl Agent for Refuses {
    async fn run(&self, _ctx: StepContext) -> Result<StepOutput, AgentError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err(AgentError::refused("the user has not consented to experiment `x`"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_kinds_can_be_added_and_removed_while_running() {
    let runtime = builder().start().await.unwrap();
    let definition = linear("late", &["first", "second"], json!({}));
    assert!(runtime.validate(PipelineDef::from_value(definition.clone()).unwrap()).is_err(), "not registered yet");
    let factory: troupe_runtime::agent::AgentFactory = Arc::new(|| Arc::new(Echo) as Arc<dyn Agent>);
    runtime.register_agent("late", Arc::clone(&factory), AgentConfig::default()).await.unwrap();
    let error = runtime.register_agent("late", factory, AgentConfig::default()).await.unwrap_err();
    assert!(matches!(error, RuntimeError::AgentExists(ref kind) if kind == "late"), "{error}");
    assert!(runtime.agents().iter().any(|agent| agent.kind == "late" && agent.health == AgentHealth::Healthy));
    let id = runtime.submit(SubmitRequest::new(pipeline(&runtime, definition.clone()), json!({}))).await.unwrap();
    let record = tokio::time::timeout(DEADLINE, runtime.wait(id)).await.unwrap().unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed);

    runtime.unregister_agent("late").unwrap();
    assert!(runtime.validate(PipelineDef::from_value(definition).unwrap()).is_err(), "removed");
    assert!(runtime.agents().iter().all(|agent| agent.kind != "late"));
    assert!(matches!(runtime.unregister_agent("late"), Err(RuntimeError::UnknownAgent(_))));
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_step_is_skipped_when_optional_and_fails_at_once_otherwise() {
    let calls = Arc::new(AtomicU32::new(0));
    let runtime = builder().agent("gated", Refuses { calls: Arc::clone(&calls) }).start().await.unwrap();
    let retry = json!({"max_attempts": 3, "backoff": {"initial": "1ms", "max": "1ms"}});
    let optional = pipeline(
        &runtime,
        json!({"name": "optional", "steps": [
            {"key": "first", "agent": "echo"},
            {"key": "plugin", "agent": "gated", "optional": true, "depends_on": ["first"], "retry": retry},
        ]}),
    );
    let id = runtime.submit(SubmitRequest::new(optional, json!({}))).await.unwrap();
    let record = tokio::time::timeout(DEADLINE, runtime.wait(id)).await.unwrap().unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
    let steps = runtime.store().list_steps(id).await.unwrap();
    assert_eq!(steps[1].status, StepStatus::Skipped);
    let reason = steps[1].error.clone().unwrap();
    assert_eq!(reason.code, "not_permitted");
    assert!(reason.message.contains("not consented"), "{}", reason.message);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a refusal is not retried");

    let required =
        pipeline(&runtime, json!({"name": "required", "steps": [{"key": "plugin", "agent": "gated", "retry": retry}]}));
    let id = runtime.submit(SubmitRequest::new(required, json!({}))).await.unwrap();
    let record = tokio::time::timeout(DEADLINE, runtime.wait(id)).await.unwrap().unwrap();
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert!(record.error.unwrap().message.contains("not consented"));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    runtime.shutdown().await;
}
