//! `OrchestratorShard`: drives many executions, held as data, through their state machines.
//!
//! Why shards and not an actor per execution: spawning an actor costs 20–50 µs here, which at
//! 10,000 executions is up to half a second before the last one starts, and every step would
//! pay a cross-actor hop. A few shards (one per core by default) holding executions in a map
//! keep the hot path to `cast`s. Executions are assigned to shards by id.
//!
//! Durability and group commit: a handler never acts on a transition directly. It appends the
//! rows and events to the shard's pending batch together with the *effects* of the transition
//! (dispatching a step, answering a caller). One batch at a time is committed by a task; its
//! effects run only once it is durable, and everything that arrives meanwhile joins the next
//! batch. A crashed shard is restarted by the core supervisor and reloads its executions from
//! the store; steps that were running are run again (at least once).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::Shared;
use super::agent::StepJob;
use crate::agent::{Correction, FailureReport, StepContext, StepOutput};
use crate::ids::{ExecutionId, UserId};
use crate::model::{
    ArtifactRecord, AttemptKind, AttemptRecord, ErrorInfo, Event, EventKind, ExecutionRecord, ExecutionUpdate,
    LogLevel, LogRecord, StepRecord,
};
use crate::pipeline::ValidatedPipeline;
use crate::status::{AttemptStatus, ExecutionStatus, StepStatus};
use crate::store::{StoreError, WriteBatch};
use crate::validator::ValidationIssue;

pub(crate) enum ShardMsg {
    Submit(Box<Submission>),
    /// Ends of attempts are queued in the shard's slot (see `Shared::deliver`).
    ResultsReady,
    RetryDue {
        execution_id: ExecutionId,
        step_index: usize,
        attempt: u32,
    },
    Cancel {
        execution_id: ExecutionId,
        reply: oneshot::Sender<bool>,
    },
    Flushed,
    StoreFailed(String),
    AdmitWaiting,
    Redispatch {
        agent: String,
    },
    InjectPanic,
}

/// A new execution on its way into a shard.
pub(crate) struct Submission {
    pub record: ExecutionRecord,
    pub pipeline: ValidatedPipeline,
    pub reply: oneshot::Sender<()>,
}

/// The end of one attempt, reported by the agent's task.
pub(crate) struct StepDone {
    pub execution_id: ExecutionId,
    pub step_index: usize,
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub outcome: StepOutcome,
}

pub(crate) enum StepOutcome {
    Output { output: StepOutput, issues: Vec<ValidationIssue> },
    Failed(StepFailure),
}

/// Why an attempt produced no output.
#[derive(Debug)]
pub(crate) enum StepFailure {
    Retryable(String),
    Fatal(String),
    Crashed(String),
    TimedOut(Duration),
    Cancelled,
    Quarantined(String),
    Unavailable(String),
}

impl StepFailure {
    fn is_retryable(&self) -> bool {
        matches!(
            self,
            StepFailure::Retryable(_)
                | StepFailure::Crashed(_)
                | StepFailure::TimedOut(_)
                | StepFailure::Unavailable(_)
        )
    }

    fn attempt_status(&self) -> AttemptStatus {
        match self {
            StepFailure::Crashed(_) => AttemptStatus::Crashed,
            StepFailure::TimedOut(_) => AttemptStatus::TimedOut,
            StepFailure::Cancelled => AttemptStatus::Cancelled,
            _ => AttemptStatus::Failed,
        }
    }

    fn error(&self) -> ErrorInfo {
        match self {
            StepFailure::Retryable(message) => ErrorInfo::new("agent_error", message.clone()),
            StepFailure::Fatal(message) => ErrorInfo::new("agent_fatal", message.clone()),
            StepFailure::Crashed(message) => ErrorInfo::new("agent_crashed", format!("the agent panicked: {message}")),
            StepFailure::TimedOut(after) => ErrorInfo::new(
                "step_timeout",
                format!("the attempt did not finish within {}", humantime::format_duration(*after)),
            ),
            StepFailure::Cancelled => ErrorInfo::new("cancelled", "the step was cancelled"),
            StepFailure::Quarantined(reason) => ErrorInfo::new("agent_quarantined", reason.clone()),
            StepFailure::Unavailable(message) => ErrorInfo::new("agent_unavailable", message.clone()),
        }
    }
}

pub(crate) struct OrchestratorShard;

pub(crate) struct ShardArgs {
    pub index: usize,
    pub shared: Arc<Shared>,
}

pub(crate) struct ShardState {
    index: usize,
    shared: Arc<Shared>,
    executions: HashMap<ExecutionId, ExecState>,
    waiting: VecDeque<ExecutionId>,
    pending: Pending,
    flushing: bool,
}

/// What the next commit writes, and what to do once it is durable.
struct Pending {
    /// The clock for the transitions being recorded (read once per message, not per row).
    now: DateTime<Utc>,
    batch: WriteBatch,
    jobs: Vec<StepJob>,
    submitted: Vec<oneshot::Sender<()>>,
    cancelled: Vec<(oneshot::Sender<bool>, bool)>,
}

impl Pending {
    fn at(now: DateTime<Utc>) -> Self {
        Self { now, batch: WriteBatch::default(), jobs: Vec::new(), submitted: Vec::new(), cancelled: Vec::new() }
    }
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.batch.is_empty() && self.jobs.is_empty() && self.submitted.is_empty() && self.cancelled.is_empty()
    }
}

struct ExecState {
    id: ExecutionId,
    shard: usize,
    owner: UserId,
    status: ExecutionStatus,
    error: Option<ErrorInfo>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    pipeline: ValidatedPipeline,
    input: Arc<Value>,
    steps: Vec<StepState>,
    next_seq: u64,
    live: bool,
}

struct StepState {
    status: StepStatus,
    attempt: u32,
    corrections: u32,
    retries: u32,
    output: Option<Arc<Value>>,
    error: Option<ErrorInfo>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    current: Option<AttemptState>,
    failure: Option<FailureReport>,
}

impl StepState {
    fn new() -> Self {
        Self {
            status: StepStatus::Pending,
            attempt: 0,
            corrections: 0,
            retries: 0,
            output: None,
            error: None,
            started_at: None,
            finished_at: None,
            current: None,
            failure: None,
        }
    }
}

struct AttemptState {
    kind: AttemptKind,
    started_at: DateTime<Utc>,
    input: Arc<Value>,
    cancel: CancellationToken,
}

impl Actor for OrchestratorShard {
    type Msg = ShardMsg;
    type State = ShardState;
    type Arguments = ShardArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = ShardState {
            index: args.index,
            shared: args.shared,
            executions: HashMap::new(),
            waiting: VecDeque::new(),
            pending: Pending::at(Utc::now()),
            flushing: false,
        };
        // At the first start a runtime resumes only if asked to; a restarted shard always
        // reloads, since what it held in memory is gone.
        let first_start = !state.shared.shards[state.index].started.swap(true, std::sync::atomic::Ordering::AcqRel);
        if state.shared.config.resume || !first_start {
            state.reload().await?;
        }
        // Commit what reloading wrote (resumed attempts) and start them, and drain results
        // queued while no shard was listening.
        let _ = myself.send_message(ShardMsg::Flushed);
        let _ = myself.send_message(ShardMsg::ResultsReady);
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ShardMsg::Submit(submission) => state.submit(*submission),
            ShardMsg::ResultsReady => {
                let results =
                    std::mem::take(&mut *state.shared.shards[state.index].results.lock().expect("results lock"));
                for done in results {
                    state.pending.now = Utc::now().max(done.finished_at);
                    state.step_done(done, &myself);
                }
            }
            ShardMsg::RetryDue { execution_id, step_index, attempt } => {
                state.retry_due(execution_id, step_index, attempt)
            }
            ShardMsg::Cancel { execution_id, reply } => state.cancel(execution_id, reply),
            ShardMsg::Flushed => state.flushing = false,
            ShardMsg::StoreFailed(reason) => {
                return Err(format!("the store rejected a batch, reloading from the store: {reason}").into());
            }
            ShardMsg::AdmitWaiting => state.admit_waiting(),
            ShardMsg::Redispatch { agent } => state.redispatch(&agent),
            ShardMsg::InjectPanic => panic!("injected fault: orchestrator shard {} panicked", state.index),
        }
        state.maybe_flush(&myself);
        Ok(())
    }
}

impl ShardState {
    // ----- commit -------------------------------------------------------------------------

    fn maybe_flush(&mut self, myself: &ActorRef<ShardMsg>) {
        if self.flushing || self.pending.is_empty() {
            return;
        }
        self.flushing = true;
        let now = self.pending.now;
        let pending = std::mem::replace(&mut self.pending, Pending::at(now));
        tokio::spawn(commit(Arc::clone(&self.shared), self.index, pending, myself.clone()));
    }

    // ----- admission ----------------------------------------------------------------------

    fn submit(&mut self, submission: Submission) {
        let Submission { record, pipeline, reply } = submission;
        let mut exec = ExecState::new(&record, self.index, pipeline, 1);
        self.pending.batch.new_executions.push(record);
        for index in 0..exec.steps.len() {
            let row = exec.step_row(index, self.pending.now);
            self.pending.batch.steps.push(row);
        }
        exec.event(&mut self.pending, EventKind::ExecutionStatus { status: ExecutionStatus::Planned, error: None });
        self.pending.submitted.push(reply);
        let id = exec.id;
        self.executions.insert(id, exec);
        if self.waiting.is_empty() && self.shared.admission.try_acquire() {
            self.start(id);
        } else {
            self.waiting.push_back(id);
            self.set_waiting_flag();
        }
    }

    fn admit_waiting(&mut self) {
        while let Some(&id) = self.waiting.front() {
            if !self.executions.contains_key(&id) {
                self.waiting.pop_front();
                continue;
            }
            if !self.shared.admission.try_acquire() {
                break;
            }
            self.waiting.pop_front();
            self.start(id);
        }
        self.set_waiting_flag();
    }

    fn set_waiting_flag(&self) {
        self.shared.shards[self.index].waiting.store(!self.waiting.is_empty(), std::sync::atomic::Ordering::Release);
    }

    fn start(&mut self, id: ExecutionId) {
        let Some(exec) = self.executions.get_mut(&id) else { return };
        exec.live = true;
        exec.started_at = Some(Utc::now());
        exec.set_status(&mut self.pending, ExecutionStatus::Running, None);
        self.advance(id);
    }

    /// Finishes the bookkeeping of an execution that reached a terminal status.
    fn retire(&mut self, id: ExecutionId) {
        let Some(exec) = self.executions.remove(&id) else { return };
        if exec.live {
            self.shared.admission.release();
            let shared = Arc::clone(&self.shared);
            for (index, slot) in shared.shards.iter().enumerate() {
                if slot.waiting.load(std::sync::atomic::Ordering::Acquire) {
                    if index == self.index {
                        self.admit_waiting();
                    } else {
                        self.shared.send_to_shard(index, ShardMsg::AdmitWaiting);
                    }
                }
            }
        }
    }

    // ----- steps --------------------------------------------------------------------------

    /// Starts or skips every step whose dependencies are done, then finishes the execution if
    /// nothing is left to run.
    fn advance(&mut self, id: ExecutionId) {
        let Some(exec) = self.executions.get_mut(&id) else { return };
        if exec.status.is_terminal() || exec.status == ExecutionStatus::Planned {
            return;
        }
        let pending = &mut self.pending;
        loop {
            let mut changed = false;
            for index in 0..exec.steps.len() {
                if exec.steps[index].status != StepStatus::Pending {
                    continue;
                }
                let plan = Arc::clone(&exec.pipeline.steps()[index]);
                if plan.is_handler || !plan.depends_on.iter().all(|&dep| exec.steps[dep].status.is_terminal()) {
                    continue;
                }
                changed = true;
                if let Some(&blocked) =
                    plan.depends_on.iter().find(|&&dep| exec.steps[dep].status != StepStatus::Completed)
                {
                    let dependency = &exec.pipeline.steps()[blocked].key;
                    let reason = ErrorInfo::new(
                        "dependency_not_completed",
                        format!("dependency `{dependency}` was {}", exec.steps[blocked].status),
                    );
                    exec.end_step(pending, index, StepStatus::Skipped, Some(reason));
                    continue;
                }
                if let Some(condition) = &plan.when {
                    match condition.evaluate(&exec.condition_data()) {
                        Ok(true) => {}
                        Ok(false) => {
                            let reason = ErrorInfo::new(
                                "condition_false",
                                format!("condition `{}` is false", condition.source()),
                            );
                            exec.end_step(pending, index, StepStatus::Skipped, Some(reason));
                            continue;
                        }
                        Err(error) => {
                            let error = ErrorInfo::new(
                                "condition_error",
                                format!("condition `{}` could not be evaluated: {error}", condition.source()),
                            );
                            exec.fail_step(pending, index, error);
                            continue;
                        }
                    }
                }
                exec.start_attempt(pending, index, AttemptKind::Initial, None);
            }
            if !changed {
                break;
            }
        }
        exec.sync_status(pending);
        if exec.try_finish(pending) {
            self.retire(id);
        }
    }

    fn step_done(&mut self, done: StepDone, myself: &ActorRef<ShardMsg>) {
        let StepDone { execution_id, step_index, attempt, started_at, finished_at, outcome } = done;
        let Some(exec) = self.executions.get_mut(&execution_id) else { return };
        let Some(step) = exec.steps.get(step_index) else { return };
        if exec.status.is_terminal() || step.attempt != attempt || step.current.is_none() || !step.status.is_active() {
            debug!(%execution_id, step_index, attempt, "ignoring a stale step result");
            return;
        }
        let pending = &mut self.pending;
        let plan = Arc::clone(&exec.pipeline.steps()[step_index]);
        let _ = started_at;
        match outcome {
            StepOutcome::Output { output, issues } if issues.is_empty() => {
                if !plan.validate.is_empty() {
                    exec.step_event(pending, step_index, StepStatus::Validating, None);
                }
                exec.complete_step(pending, step_index, output, finished_at, &self.shared);
            }
            StepOutcome::Output { output, issues } => {
                exec.step_event(pending, step_index, StepStatus::Validating, None);
                let rejected = Arc::new(output.output);
                let error = ErrorInfo::new(
                    "validation_failed",
                    format!("{} validation issue(s): {}", issues.len(), summarize_issues(&issues)),
                )
                .with_details(json!({ "issues": issues }));
                exec.finish_attempt(
                    pending,
                    step_index,
                    AttemptStatus::Rejected,
                    Some(Arc::clone(&rejected)),
                    Some(error.clone()),
                    finished_at,
                );
                let step = &mut exec.steps[step_index];
                if step.corrections < plan.max_corrections {
                    step.corrections += 1;
                    step.status = StepStatus::Correcting;
                    let correction = Correction { previous_output: rejected, issues };
                    exec.start_attempt(pending, step_index, AttemptKind::Correction, Some(correction));
                } else {
                    let error = ErrorInfo::new(
                        "validation_failed",
                        format!(
                            "the output was still rejected after {} correction(s): {}",
                            plan.max_corrections,
                            summarize_issues(&issues)
                        ),
                    )
                    .with_details(error.details);
                    exec.fail_step(pending, step_index, error);
                }
            }
            StepOutcome::Failed(failure) => {
                let error = failure.error();
                exec.finish_attempt(
                    pending,
                    step_index,
                    failure.attempt_status(),
                    None,
                    Some(error.clone()),
                    finished_at,
                );
                let step = &mut exec.steps[step_index];
                if failure.is_retryable() && step.retries + 1 < plan.retry.max_attempts {
                    step.retries += 1;
                    let delay = plan.retry.backoff.delay(step.retries);
                    exec.event(
                        pending,
                        EventKind::StepRetrying {
                            step: plan.key.clone(),
                            attempt,
                            delay_ms: delay.as_millis() as u64,
                            error,
                        },
                    );
                    if delay.is_zero() {
                        exec.start_attempt(pending, step_index, AttemptKind::Retry, None);
                    } else {
                        let attempt = exec.steps[step_index].attempt;
                        myself.send_after(delay, move || ShardMsg::RetryDue { execution_id, step_index, attempt });
                    }
                } else {
                    let error = if failure.is_retryable() && plan.retry.max_attempts > 1 {
                        ErrorInfo {
                            message: format!("{} (after {} attempts)", error.message, plan.retry.max_attempts),
                            ..error
                        }
                    } else {
                        error
                    };
                    exec.fail_step(pending, step_index, error);
                }
            }
        }
        self.advance(execution_id);
    }

    fn retry_due(&mut self, id: ExecutionId, step_index: usize, attempt: u32) {
        let Some(exec) = self.executions.get_mut(&id) else { return };
        let step = &exec.steps[step_index];
        if exec.status.is_terminal() || step.attempt != attempt || !step.status.is_active() {
            return;
        }
        exec.start_attempt(&mut self.pending, step_index, AttemptKind::Retry, None);
    }

    fn cancel(&mut self, id: ExecutionId, reply: oneshot::Sender<bool>) {
        let Some(exec) = self.executions.get_mut(&id) else {
            let _ = reply.send(false);
            return;
        };
        let pending = &mut self.pending;
        for index in 0..exec.steps.len() {
            let status = exec.steps[index].status;
            if status.is_active() {
                exec.finish_attempt(pending, index, AttemptStatus::Cancelled, None, None, Utc::now());
            }
            if !status.is_terminal() {
                let reason = ErrorInfo::new("cancelled", "the execution was cancelled");
                exec.end_step(pending, index, StepStatus::Cancelled, Some(reason));
            }
        }
        exec.finished_at = Some(Utc::now());
        exec.set_status(pending, ExecutionStatus::Cancelled, None);
        pending.cancelled.push((reply, true));
        self.retire(id);
    }

    /// Runs again every attempt of `agent` in flight: its supervisor was restarted and the
    /// steps it was holding may be gone.
    fn redispatch(&mut self, agent: &str) {
        for exec in self.executions.values_mut() {
            for index in 0..exec.steps.len() {
                if exec.steps[index].current.is_some() && exec.pipeline.steps()[index].agent == agent {
                    exec.finish_attempt(&mut self.pending, index, AttemptStatus::Interrupted, None, None, Utc::now());
                    exec.start_attempt(&mut self.pending, index, AttemptKind::Retry, None);
                }
            }
        }
    }

    // ----- recovery -----------------------------------------------------------------------

    /// Loads every non-terminal execution of this shard leased by this node, and restarts the
    /// attempts that were running when the previous incarnation died.
    async fn reload(&mut self) -> Result<(), StoreError> {
        let commit_lock = Arc::clone(&self.shared.shards[self.index].commit_lock);
        let _guard = commit_lock.lock().await;
        let ids = self.shared.store.leased_by(&self.shared.node_id).await?;
        let mut resumed = 0usize;
        let ids: Vec<ExecutionId> = ids.into_iter().filter(|id| self.shared.shard_of(*id) == self.index).collect();
        for id in ids {
            let Some(snapshot) = self.shared.store.load_execution(id).await? else { continue };
            let record = snapshot.execution;
            let pipeline = match record.pipeline.clone().validate(self.shared.as_ref()) {
                Ok(pipeline) => pipeline,
                Err(error) => {
                    warn!(execution_id = %id, %error, "cannot resume: its pinned pipeline is no longer valid here");
                    let mut exec =
                        ExecState::new(&record, self.index, placeholder_pipeline(&record), snapshot.last_seq + 1);
                    exec.finished_at = Some(Utc::now());
                    let error = ErrorInfo::new("pipeline_invalid", error.to_string());
                    exec.set_status(&mut self.pending, ExecutionStatus::Failed, Some(error));
                    continue;
                }
            };
            let mut exec = ExecState::new(&record, self.index, pipeline, snapshot.last_seq + 1);
            for stored in snapshot.steps {
                let Some(index) = exec.pipeline.steps().iter().position(|plan| plan.key == stored.key) else {
                    continue;
                };
                let step = &mut exec.steps[index];
                step.status = stored.status;
                step.attempt = stored.attempt;
                step.corrections = stored.corrections;
                step.error = stored.error;
                step.started_at = stored.started_at;
                step.finished_at = stored.finished_at;
                step.output = stored.output.map(Arc::new);
            }
            resumed += 1;
            exec.event(
                &mut self.pending,
                EventKind::Log {
                    step: None,
                    level: LogLevel::Info,
                    message: format!("resumed by node `{}`", self.shared.node_id),
                },
            );
            if exec.status == ExecutionStatus::Planned {
                self.waiting.push_back(id);
                self.executions.insert(id, exec);
                continue;
            }
            exec.live = true;
            self.shared.admission.force_acquire();
            // Attempts that were running died with the previous process: run them again.
            for index in 0..exec.steps.len() {
                if exec.steps[index].status.is_active() {
                    let plan = Arc::clone(&exec.pipeline.steps()[index]);
                    exec.steps[index].current = Some(AttemptState {
                        kind: AttemptKind::Retry,
                        started_at: exec.steps[index].started_at.unwrap_or_else(Utc::now),
                        input: Arc::new(Value::Null),
                        cancel: CancellationToken::new(),
                    });
                    exec.finish_attempt(&mut self.pending, index, AttemptStatus::Interrupted, None, None, Utc::now());
                    if plan.is_handler {
                        exec.steps[index].failure = exec.failure_handled_by(index);
                    }
                    let kind = if plan.is_handler { AttemptKind::Recovery } else { AttemptKind::Retry };
                    exec.start_attempt(&mut self.pending, index, kind, None);
                }
            }
            self.executions.insert(id, exec);
            self.advance(id);
        }
        self.admit_waiting();
        if resumed > 0 {
            info!(shard = self.index, resumed, "resumed executions from the store");
        }
        Ok(())
    }
}

/// A pipeline to hold the state of an execution whose pinned definition no longer validates,
/// just long enough to record its failure.
fn placeholder_pipeline(record: &ExecutionRecord) -> ValidatedPipeline {
    struct Anything;
    impl crate::pipeline::PipelineEnv for Anything {
        fn has_agent(&self, _: &str) -> bool {
            true
        }
        fn has_validator(&self, _: &str) -> bool {
            true
        }
    }
    let mut def = record.pipeline.clone();
    def.on_failure = None;
    for step in &mut def.steps {
        step.when = None;
        step.timeout = None;
        step.retry = None;
        step.on_failure = None;
    }
    def.validate(&Anything).unwrap_or_else(|_| {
        crate::pipeline::PipelineDef {
            name: record.pipeline_name.clone(),
            description: None,
            on_failure: None,
            max_dynamic_steps: None,
            steps: vec![crate::pipeline::StepDef {
                key: "unknown".into(),
                agent: "unknown".into(),
                depends_on: vec![],
                when: None,
                retry: None,
                timeout: None,
                validate: vec![],
                max_corrections: None,
                optional: false,
                on_failure: None,
                output_schema: None,
                params: None,
                added_by: None,
            }],
        }
        .validate(&Anything)
        .expect("a one-step pipeline is valid")
    })
}

fn summarize_issues(issues: &[ValidationIssue]) -> String {
    let mut text: Vec<String> = issues
        .iter()
        .take(3)
        .map(|issue| {
            if issue.path.is_empty() {
                format!("{}: {}", issue.validator, issue.message)
            } else {
                format!("{} at {}: {}", issue.validator, issue.path, issue.message)
            }
        })
        .collect();
    if issues.len() > 3 {
        text.push(format!("and {} more", issues.len() - 3));
    }
    text.join("; ")
}

/// Commits one batch, then carries out its effects.
async fn commit(shared: Arc<Shared>, index: usize, mut pending: Pending, shard: ActorRef<ShardMsg>) {
    let commit_lock = Arc::clone(&shared.shards[index].commit_lock);
    let guard = commit_lock.lock().await;
    let mut delay = Duration::from_millis(10);
    loop {
        match shared.store.apply(&pending.batch).await {
            Ok(()) => break,
            Err(StoreError::Unavailable(reason)) => {
                warn!(shard = index, %reason, ?delay, rows = pending.batch.len(), "store unavailable; retrying the commit");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(error) => {
                error!(shard = index, %error, "the store rejected a batch");
                drop(guard);
                let _ = shard.send_message(ShardMsg::StoreFailed(error.to_string()));
                return;
            }
        }
    }
    for event in std::mem::take(&mut pending.batch.events) {
        let event = Arc::new(event);
        for sink in &shared.sinks {
            sink.publish(&event);
        }
    }
    shared.dispatch_all(pending.jobs);
    for reply in pending.submitted {
        let _ = reply.send(());
    }
    for (reply, cancelled) in pending.cancelled {
        let _ = reply.send(cancelled);
    }
    drop(guard);
    let _ = shard.send_message(ShardMsg::Flushed);
}

impl ExecState {
    fn new(record: &ExecutionRecord, shard: usize, pipeline: ValidatedPipeline, next_seq: u64) -> Self {
        let steps = (0..pipeline.steps().len()).map(|_| StepState::new()).collect();
        Self {
            id: record.id,
            shard,
            owner: record.owner,
            status: record.status,
            error: record.error.clone(),
            started_at: record.started_at,
            finished_at: record.finished_at,
            pipeline,
            input: Arc::new(record.input.clone()),
            steps,
            next_seq,
            live: false,
        }
    }

    fn event(&mut self, pending: &mut Pending, kind: EventKind) {
        let seq = self.next_seq;
        self.next_seq += 1;
        pending.batch.events.push(Event { execution_id: self.id, seq, at: pending.now, kind });
    }

    fn set_status(&mut self, pending: &mut Pending, status: ExecutionStatus, error: Option<ErrorInfo>) {
        self.status = status;
        self.error = error.clone();
        pending.batch.execution_updates.push(ExecutionUpdate {
            id: self.id,
            status,
            error: error.clone(),
            updated_at: pending.now,
            started_at: self.started_at,
            finished_at: self.finished_at,
        });
        self.event(pending, EventKind::ExecutionStatus { status, error });
    }

    /// Keeps the execution `correcting` while any step is, `running` otherwise.
    fn sync_status(&mut self, pending: &mut Pending) {
        if !matches!(self.status, ExecutionStatus::Running | ExecutionStatus::Validating | ExecutionStatus::Correcting)
        {
            return;
        }
        let derived = if self.steps.iter().any(|step| step.status == StepStatus::Correcting) {
            ExecutionStatus::Correcting
        } else {
            ExecutionStatus::Running
        };
        if derived != self.status {
            self.set_status(pending, derived, None);
        }
    }

    fn step_row(&self, index: usize, now: DateTime<Utc>) -> StepRecord {
        let step = &self.steps[index];
        let plan = &self.pipeline.steps()[index];
        StepRecord {
            execution_id: self.id,
            key: plan.key.clone(),
            agent: plan.agent.clone(),
            status: step.status,
            attempt: step.attempt,
            corrections: step.corrections,
            output: None,
            error: step.error.clone(),
            started_at: step.started_at,
            finished_at: step.finished_at,
            updated_at: now,
        }
    }

    fn step_event(&mut self, pending: &mut Pending, index: usize, status: StepStatus, error: Option<ErrorInfo>) {
        let kind = EventKind::StepStatus {
            step: self.pipeline.steps()[index].key.clone(),
            status,
            attempt: self.steps[index].attempt,
            error,
        };
        self.event(pending, kind);
    }

    fn condition_data(&self) -> Value {
        let steps: serde_json::Map<String, Value> = self
            .steps
            .iter()
            .zip(self.pipeline.steps())
            .filter_map(|(step, plan)| {
                let output = step.output.as_ref()?;
                Some((plan.key.clone(), json!({ "output": output.as_ref(), "status": step.status })))
            })
            .collect();
        json!({ "input": self.input.as_ref(), "steps": steps })
    }

    fn start_attempt(
        &mut self,
        pending: &mut Pending,
        index: usize,
        kind: AttemptKind,
        correction: Option<Correction>,
    ) {
        let plan = Arc::clone(&self.pipeline.steps()[index]);
        let now = pending.now;
        let dependencies: Vec<(String, Arc<Value>)> = plan
            .depends_on
            .iter()
            .map(|&dep| {
                let output = self.steps[dep].output.clone().unwrap_or_else(|| Arc::new(Value::Null));
                (self.pipeline.steps()[dep].key.clone(), output)
            })
            .collect();
        let step = &mut self.steps[index];
        step.attempt += 1;
        if kind != AttemptKind::Correction {
            step.status = StepStatus::Running;
        }
        step.started_at.get_or_insert(now);
        let cancel = CancellationToken::new();
        let input = if correction.is_none() && step.failure.is_none() {
            Arc::clone(&plan.attempt_input)
        } else {
            let mut input = plan.attempt_input.as_ref().clone();
            if let Some(correction) = &correction {
                input["correction"] = json!({ "issues": correction.issues });
            }
            if let Some(failure) = &step.failure {
                input["failure"] = json!({ "step": failure.step_key, "error": failure.error });
            }
            Arc::new(input)
        };
        let attempt = step.attempt;
        let failure = step.failure.clone();
        step.current = Some(AttemptState { kind, started_at: now, input: Arc::clone(&input), cancel: cancel.clone() });
        let row = self.step_row(index, pending.now);
        pending.batch.steps.push(row);
        let status = self.steps[index].status;
        self.step_event(pending, index, status, None);
        let ctx = StepContext {
            execution_id: self.id,
            owner: self.owner,
            step_key: plan.key.clone(),
            input: Arc::clone(&self.input),
            dependencies,
            params: Arc::clone(&plan.params),
            attempt,
            correction,
            failure,
            deadline: tokio::time::Instant::now() + plan.timeout,
            cancel,
        };
        pending.jobs.push(StepJob { shard: self.shard, execution_id: self.id, attempt, plan, ctx });
    }

    /// Records how the current attempt ended.
    fn finish_attempt(
        &mut self,
        pending: &mut Pending,
        index: usize,
        status: AttemptStatus,
        output: Option<Arc<Value>>,
        error: Option<ErrorInfo>,
        finished_at: DateTime<Utc>,
    ) {
        let step = &mut self.steps[index];
        let Some(current) = step.current.take() else { return };
        current.cancel.cancel();
        pending.batch.attempts.push(AttemptRecord {
            execution_id: self.id,
            step_key: self.pipeline.steps()[index].key.clone(),
            attempt: step.attempt,
            kind: current.kind,
            status,
            input: current.input,
            output,
            error,
            started_at: current.started_at,
            finished_at: Some(finished_at),
        });
    }

    /// Moves a step to a terminal status and records it.
    fn end_step(&mut self, pending: &mut Pending, index: usize, status: StepStatus, error: Option<ErrorInfo>) {
        let step = &mut self.steps[index];
        step.status = status;
        step.error = error.clone();
        step.finished_at = Some(pending.now);
        let row = self.step_row(index, pending.now);
        pending.batch.steps.push(row);
        self.step_event(pending, index, status, error);
    }

    fn fail_step(&mut self, pending: &mut Pending, index: usize, error: ErrorInfo) {
        self.end_step(pending, index, StepStatus::Failed, Some(error.clone()));
        let plan = Arc::clone(&self.pipeline.steps()[index]);
        if let Some(handler) = plan.on_failure
            && self.steps[handler].status == StepStatus::Pending
            && self.steps[handler].current.is_none()
        {
            self.steps[handler].failure = Some(FailureReport { step_key: plan.key.clone(), error });
            self.start_attempt(pending, handler, AttemptKind::Recovery, None);
        }
    }

    fn complete_step(
        &mut self,
        pending: &mut Pending,
        index: usize,
        output: StepOutput,
        finished_at: DateTime<Utc>,
        shared: &Shared,
    ) {
        let StepOutput { output, artifacts, logs, append_steps } = output;
        let key = self.pipeline.steps()[index].key.clone();
        let output = Arc::new(output);
        self.finish_attempt(pending, index, AttemptStatus::Succeeded, Some(Arc::clone(&output)), None, finished_at);
        self.steps[index].output = Some(output);
        for (level, message) in logs {
            pending.batch.logs.push(LogRecord {
                execution_id: self.id,
                step_key: Some(key.clone()),
                level,
                message: message.clone(),
                created_at: finished_at,
            });
            self.event(pending, EventKind::Log { step: Some(key.clone()), level, message });
        }
        for artifact in artifacts {
            let size = artifact.content.len() as u64;
            let name = artifact.name.clone();
            pending.batch.artifacts.push(ArtifactRecord {
                execution_id: self.id,
                step_key: key.clone(),
                name: artifact.name,
                content_type: artifact.content_type,
                content: artifact.content,
                created_at: finished_at,
            });
            self.event(pending, EventKind::Artifact { step: key.clone(), name, size });
        }
        if !append_steps.is_empty() {
            let keys: Vec<String> = append_steps.iter().map(|step| step.key.clone()).collect();
            match self.pipeline.append(&key, append_steps, shared) {
                Ok(extended) => {
                    let first_new = self.steps.len();
                    self.pipeline = extended;
                    self.steps.extend((first_new..self.pipeline.steps().len()).map(|_| StepState::new()));
                    pending.batch.pipeline_updates.push((
                        self.id,
                        self.pipeline.hash().to_owned(),
                        self.pipeline.def().clone(),
                    ));
                    for new_index in first_new..self.steps.len() {
                        let row = self.step_row(new_index, pending.now);
                        pending.batch.steps.push(row);
                    }
                    self.event(pending, EventKind::StepsAppended { by: key.clone(), steps: keys });
                }
                Err(error) => {
                    let error = ErrorInfo::new("invalid_plan", error.to_string())
                        .with_details(json!({ "issues": error.issues }));
                    self.fail_step(pending, index, error);
                    return;
                }
            }
        }
        self.end_step(pending, index, StepStatus::Completed, None);
    }

    /// Returns the failure the handler step at `handler` was started for, if one is recorded.
    fn failure_handled_by(&self, handler: usize) -> Option<FailureReport> {
        self.pipeline.steps().iter().zip(&self.steps).find_map(|(plan, step)| {
            (plan.on_failure == Some(handler) && step.status == StepStatus::Failed).then(|| FailureReport {
                step_key: plan.key.clone(),
                error: step.error.clone().unwrap_or_else(|| ErrorInfo::new("step_failed", "the step failed")),
            })
        })
    }

    /// Ends the execution when no step can run any more; returns whether it ended.
    fn try_finish(&mut self, pending: &mut Pending) -> bool {
        if self.status.is_terminal() {
            return false;
        }
        let plans = self.pipeline.steps();
        let busy =
            self.steps.iter().zip(plans).any(|(step, plan)| {
                !(step.status.is_terminal() || plan.is_handler && step.status == StepStatus::Pending)
            });
        if busy {
            return false;
        }
        for index in 0..self.steps.len() {
            if self.pipeline.steps()[index].is_handler && self.steps[index].status == StepStatus::Pending {
                let reason = ErrorInfo::new("not_needed", "no step it handles failed");
                self.end_step(pending, index, StepStatus::Skipped, Some(reason));
            }
        }
        let failed = self
            .steps
            .iter()
            .zip(self.pipeline.steps())
            .find(|(step, plan)| step.status == StepStatus::Failed && !plan.optional && !plan.is_handler);
        let (status, error) = match failed {
            Some((step, plan)) => {
                let cause = step.error.clone().unwrap_or_else(|| ErrorInfo::new("step_failed", "the step failed"));
                let error = ErrorInfo::new("step_failed", format!("step `{}` failed: {}", plan.key, cause.message))
                    .with_details(json!({ "step": plan.key, "error": cause }));
                (ExecutionStatus::Failed, Some(error))
            }
            None => (ExecutionStatus::Completed, None),
        };
        self.finished_at = Some(pending.now);
        self.set_status(pending, status, error);
        true
    }
}
