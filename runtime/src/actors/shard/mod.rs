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

mod execution;

use execution::{AttemptState, ExecState};

use super::Shared;
use super::protocol::{ShardMsg, StepDone, StepFailure, StepJob, StepOutcome, Submission};
use crate::agent::Correction;
use crate::ids::{ExecutionId, IdHashing, UserId};
use crate::memory::NewMemory;
use crate::model::{AttemptKind, ErrorInfo, EventKind, ExecutionRecord, LogLevel};
use crate::pipeline::ValidatedPipeline;
use crate::status::{AttemptStatus, ExecutionStatus, StepStatus};
use crate::store::{ExecutionSnapshot, StoreError, WriteBatch};
use crate::validator::ValidationIssue;

pub(crate) struct OrchestratorShard;

pub(crate) struct ShardArgs {
    pub index: usize,
    pub shared: Arc<Shared>,
}

pub(crate) struct ShardState {
    index: usize,
    shared: Arc<Shared>,
    executions: HashMap<ExecutionId, ExecState, IdHashing>,
    waiting: VecDeque<ExecutionId>,
    pending: Pending,
    flushing: bool,
    /// What the last transitions asked for that is not a write: carried out by the actor
    /// right after it handled a message ([`ShardState::take_effects`]).
    effects: Vec<Effect>,
    /// Parked executions being taken up to be cancelled, with whom to answer.
    cancel_on_adopt: HashMap<ExecutionId, oneshot::Sender<bool>, IdHashing>,
}

/// What a transition asks the actor to do besides writing (writes go to [`Pending`]).
#[derive(Debug, PartialEq)]
pub(crate) enum Effect {
    /// Sends `RetryDue` for this attempt after `delay`.
    RetryAfter { delay: Duration, execution_id: ExecutionId, step_index: usize, attempt: u32 },
    /// Tells another shard that admission capacity was freed.
    AdmitOn(usize),
}

/// What the next commit writes, and what to do once it is durable.
pub(super) struct Pending {
    /// The clock for the transitions being recorded (read once per message, not per row).
    now: DateTime<Utc>,
    batch: WriteBatch,
    jobs: Vec<StepJob>,
    submitted: Vec<(ExecutionId, oneshot::Sender<()>)>,
    cancelled: Vec<(oneshot::Sender<bool>, bool)>,
    /// Memories to store once the batch is durable (corrections that passed, per owner).
    remember: Vec<(UserId, NewMemory)>,
    /// Lease epochs of executions retired since the last flush (no longer in the shard's map
    /// but still written by this batch).
    retired: HashMap<ExecutionId, i64, IdHashing>,
    /// Executions this batch parks: once it is durable, any of them decided meanwhile is taken
    /// up again at once.
    parked: Vec<ExecutionId>,
}

impl Pending {
    pub(super) fn at(now: DateTime<Utc>) -> Self {
        Self {
            now,
            batch: WriteBatch::default(),
            jobs: Vec::new(),
            submitted: Vec::new(),
            cancelled: Vec::new(),
            remember: Vec::new(),
            retired: HashMap::default(),
            parked: Vec::new(),
        }
    }
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.batch.is_empty()
            && self.jobs.is_empty()
            && self.submitted.is_empty()
            && self.cancelled.is_empty()
            && self.remember.is_empty()
    }
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
            executions: HashMap::default(),
            waiting: VecDeque::new(),
            pending: Pending::at(crate::model::now()),
            flushing: false,
            effects: Vec::new(),
            cancel_on_adopt: HashMap::default(),
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
                // One clock reading for the lot: they are handled in one go.
                let now = crate::model::now();
                for done in results {
                    state.pending.now = now.max(done.finished_at);
                    state.step_done(done);
                }
            }
            ShardMsg::RetryDue { execution_id, step_index, attempt } => {
                state.retry_due(execution_id, step_index, attempt)
            }
            ShardMsg::Cancel { execution_id, reply } => state.cancel(execution_id, reply),
            ShardMsg::Retry { execution_id, reply } => {
                state.pending.now = crate::model::now().max(state.pending.now);
                let _ = reply.send(state.retry_failed(execution_id).await);
            }
            ShardMsg::Flushed => state.flushing = false,
            ShardMsg::StoreFailed(reason) => {
                return Err(format!("the store rejected a batch, reloading from the store: {reason}").into());
            }
            ShardMsg::Lost(ids) => {
                for id in ids {
                    state.lose(id);
                }
            }
            ShardMsg::Adopt(id) => {
                state.pending.now = crate::model::now().max(state.pending.now);
                if let Err(error) = state.adopt(id).await {
                    warn!(execution_id = %id, %error, "cannot take over a claimed execution; it stays claimed");
                }
            }
            ShardMsg::Renewed { held, since } => {
                let lost: Vec<ExecutionId> = state
                    .executions
                    .values()
                    .filter(|exec| exec.held_since + state.shared.config.lease_ttl < since && !held.contains(&exec.id))
                    .map(|exec| exec.id)
                    .collect();
                for id in lost {
                    state.lose(id);
                }
                // Held in the store but run by nobody here: a claim whose answer was lost, or
                // a take-over that could not load (the store was down). Take them up now;
                // `adopt` waits for the batch in flight and skips what has finished since.
                let orphans: Vec<ExecutionId> = held
                    .iter()
                    .filter(|id| state.shared.shard_of(**id) == state.index)
                    .filter(|id| !state.executions.contains_key(id) && !state.pending.retired.contains_key(id))
                    .copied()
                    .collect();
                for id in orphans {
                    state.pending.now = crate::model::now().max(state.pending.now);
                    if let Err(error) = state.adopt(id).await {
                        warn!(execution_id = %id, %error, "cannot take up a held execution; trying again at the next renewal");
                    }
                }
            }
            ShardMsg::CancelParked { execution_id, reply } => {
                state.pending.now = crate::model::now().max(state.pending.now);
                state.cancel_on_adopt.insert(execution_id, reply);
                if let Err(error) = state.adopt(execution_id).await {
                    warn!(%execution_id, %error, "cannot take up a parked execution to cancel it; its cancellation stays requested");
                }
                if let Some(reply) = state.cancel_on_adopt.remove(&execution_id) {
                    let _ = reply.send(false);
                }
            }
            ShardMsg::Approvals(id) => {
                state.pending.now = crate::model::now().max(state.pending.now);
                if let Err(error) = state.settle(id).await {
                    warn!(execution_id = %id, %error, "cannot read the approvals of an execution; its next wake reads them");
                }
                state.advance(id);
            }
            ShardMsg::AdmitWaiting => state.admit_waiting(),
            ShardMsg::Redispatch { agent } => state.redispatch(&agent),
            #[cfg(any(test, feature = "testsuite"))]
            ShardMsg::InjectPanic => panic!("injected fault: orchestrator shard {} panicked", state.index),
        }
        for effect in state.take_effects() {
            match effect {
                Effect::RetryAfter { delay, execution_id, step_index, attempt } => {
                    myself.send_after(delay, move || ShardMsg::RetryDue { execution_id, step_index, attempt });
                }
                Effect::AdmitOn(index) => state.shared.send_to_shard(index, ShardMsg::AdmitWaiting),
            }
        }
        state.maybe_flush(&myself);
        Ok(())
    }
}

impl ShardState {
    /// Returns (and forgets) the effects the transitions since the last call asked for.
    pub(super) fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    // ----- commit -------------------------------------------------------------------------

    fn maybe_flush(&mut self, myself: &ActorRef<ShardMsg>) {
        if self.flushing || self.pending.is_empty() {
            return;
        }
        self.flushing = true;
        let now = self.pending.now;
        // The last commit's batch and jobs, emptied, when they are back; else sized like the last.
        let spare = self.shared.shards[self.index].spare.lock().expect("spare batch lock").take();
        let (batch, jobs) = spare.unwrap_or_else(|| {
            let jobs = Vec::with_capacity(crate::store::room_after(&self.pending.jobs));
            (WriteBatch::with_capacity_of(&self.pending.batch), jobs)
        });
        let next = Pending { batch, jobs, ..Pending::at(now) };
        let mut pending = std::mem::replace(&mut self.pending, next);
        pending.batch.fence = Some(self.fence(&pending));
        // Boxed, like an attempt: the commit's future is ≈ 1.2 KB.
        tokio::spawn(Box::pin(commit(Arc::clone(&self.shared), self.index, pending, myself.clone())));
    }

    /// The leases a batch is written under: the epoch of every existing execution it writes.
    fn fence(&self, pending: &Pending) -> crate::store::Fence {
        let new: std::collections::HashSet<ExecutionId, IdHashing> =
            pending.batch.new_executions.iter().map(|record| record.id).collect();
        let epochs = pending
            .batch
            .touched()
            .into_iter()
            .filter(|id| !new.contains(id))
            .filter_map(|id| {
                let epoch =
                    self.executions.get(&id).map(|exec| exec.epoch).or_else(|| pending.retired.get(&id).copied());
                epoch.map(|epoch| (id, epoch))
            })
            .collect();
        crate::store::Fence { node: self.shared.node_id.clone(), epochs }
    }

    /// Drops an execution another node holds now: its attempts are stopped, nothing is
    /// written, its admission slot is freed.
    fn lose(&mut self, id: ExecutionId) {
        let Some(mut exec) = self.executions.remove(&id) else { return };
        warn!(execution_id = %id, node = %self.shared.node_id, "lease lost to another node; dropping the execution here");
        self.shared.leases_lost.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        exec.abandon();
        self.waiting.retain(|waiting| *waiting != id);
        self.set_waiting_flag();
        if exec.live {
            self.shared.admission.release();
            self.admit_waiting();
        }
    }

    // ----- admission ----------------------------------------------------------------------

    fn submit(&mut self, submission: Submission) {
        let Submission { record, pipeline, reply } = submission;
        // The batch's clock never runs behind a row it writes.
        self.pending.now = self.pending.now.max(record.created_at);
        let mut exec = ExecState::new(&record, self.index, pipeline, 1, Arc::clone(&self.shared.bus));
        self.pending.batch.new_executions.push(record);
        for index in 0..exec.steps.len() {
            let row = exec.step_row(index, self.pending.now);
            self.pending.batch.steps.push(row);
        }
        exec.event(&mut self.pending, EventKind::ExecutionStatus { status: ExecutionStatus::Planned, error: None });
        self.pending.submitted.push((exec.id, reply));
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
        exec.started_at = Some(crate::model::now());
        exec.set_status(&mut self.pending, ExecutionStatus::Running, None);
        self.advance(id);
    }

    /// Finishes the bookkeeping of an execution that reached a terminal status.
    fn retire(&mut self, id: ExecutionId) {
        let Some(exec) = self.executions.remove(&id) else { return };
        self.pending.retired.insert(id, exec.epoch);
        if exec.live {
            self.shared.admission.release();
            let shared = Arc::clone(&self.shared);
            for (index, slot) in shared.shards.iter().enumerate() {
                if slot.waiting.load(std::sync::atomic::Ordering::Acquire) {
                    if index == self.index {
                        self.admit_waiting();
                    } else {
                        self.effects.push(Effect::AdmitOn(index));
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
        // Another pass only when a step ended here (skipped or failed: its dependents may be
        // ready now); a step that starts or waits for a decision unblocks nobody.
        loop {
            let mut ended = false;
            for index in 0..exec.steps.len() {
                if exec.steps[index].status != StepStatus::Pending {
                    continue;
                }
                let ready = {
                    let plan = &exec.pipeline.steps()[index];
                    !plan.is_handler && plan.depends_on.iter().all(|&dep| exec.steps[dep].status.is_terminal())
                };
                if !ready {
                    continue;
                }
                // Shared by every execution of the pipeline: clone it only for a step that moves.
                let plan = Arc::clone(&exec.pipeline.steps()[index]);
                if let Some(&blocked) = plan.depends_on.iter().find(|&&dep| !exec.dependency_met(dep)) {
                    let dependency = &exec.pipeline.steps()[blocked].key;
                    let reason = ErrorInfo::new(
                        crate::ErrorCode::DependencyNotCompleted,
                        format!("dependency `{dependency}` was {}", exec.steps[blocked].status),
                    );
                    exec.end_step(pending, index, StepStatus::Skipped, Some(reason));
                    ended = true;
                    continue;
                }
                if let Some(condition) = &plan.when {
                    match condition.evaluate(&exec.condition_data()) {
                        Ok(true) => {}
                        Ok(false) => {
                            let reason = ErrorInfo::new(
                                crate::ErrorCode::ConditionFalse,
                                format!("condition `{}` is false", condition.source()),
                            );
                            exec.end_step(pending, index, StepStatus::Skipped, Some(reason));
                            ended = true;
                            continue;
                        }
                        Err(error) => {
                            let error = ErrorInfo::new(
                                crate::ErrorCode::ConditionError,
                                format!("condition `{}` could not be evaluated: {error}", condition.source()),
                            );
                            exec.fail_step(pending, index, error);
                            ended = true;
                            continue;
                        }
                    }
                }
                if plan.approval.is_some() {
                    if let Some(deadline) = exec.request_approval(pending, index) {
                        self.shared.deadlines.add(deadline, id);
                    }
                } else {
                    exec.start_attempt(pending, index, AttemptKind::Initial, None);
                }
            }
            if !ended {
                break;
            }
        }
        exec.sync_status(pending);
        if exec.try_finish(pending) {
            self.retire(id);
        } else if exec.parkable() {
            exec.park(pending);
            self.retire(id);
        }
    }

    /// Reads the approvals of a held execution's waiting steps and acts on those decided;
    /// records the timeout of those past their deadline (unless a decision won the race).
    async fn settle(&mut self, id: ExecutionId) -> Result<(), StoreError> {
        use crate::pipeline::approval::{Decision, DecisionRequest};
        let waiting = |exec: &ExecState| -> Vec<(usize, String, u32)> {
            exec.steps
                .iter()
                .enumerate()
                .filter(|(_, step)| step.status == StepStatus::Waiting)
                .map(|(index, step)| (index, String::from(&*exec.pipeline.steps()[index].key), step.attempt))
                .collect()
        };
        let Some(steps) = self.executions.get(&id).map(waiting).filter(|steps| !steps.is_empty()) else {
            return Ok(());
        };
        let approvals = self.shared.store.list_approvals(id).await?;
        let now = crate::model::now();
        for (index, key, attempt) in steps {
            let Some(mut approval) =
                approvals.iter().find(|approval| approval.step_key == key && approval.attempt == attempt).cloned()
            else {
                continue;
            };
            if approval.decision.is_none() {
                match approval.deadline {
                    Some(deadline) if deadline <= now => {
                        let request = DecisionRequest {
                            execution_id: id,
                            step_key: key.clone(),
                            decision: Decision::TimedOut,
                            by: None,
                            comment: None,
                            at: now,
                        };
                        if let Some(decided) = self.shared.store.decide_approval(&request).await? {
                            approval = decided.record;
                        }
                    }
                    Some(deadline) => {
                        if let Some(exec) = self.executions.get_mut(&id) {
                            exec.steps[index].deadline = Some(deadline);
                        }
                        self.shared.deadlines.add(deadline, id);
                    }
                    None => {}
                }
            }
            if approval.decision.is_none() || approval.attempt != attempt {
                continue;
            }
            let Some(exec) = self.executions.get_mut(&id) else { return Ok(()) };
            if exec.steps[index].status == StepStatus::Waiting && exec.steps[index].attempt == attempt {
                self.pending.now = self.pending.now.max(now);
                exec.apply_decision(&mut self.pending, index, &approval, &self.shared);
            }
        }
        Ok(())
    }

    fn step_done(&mut self, done: StepDone) {
        let StepDone { execution_id, step_index, attempt, finished_at, outcome } = done;
        let Some(exec) = self.executions.get_mut(&execution_id) else { return };
        let Some(step) = exec.steps.get(step_index) else { return };
        if exec.status.is_terminal() || step.attempt != attempt || step.current.is_none() || !step.status.is_active() {
            debug!(%execution_id, step_index, attempt, "ignoring a stale step result");
            return;
        }
        let pending = &mut self.pending;
        let plan = Arc::clone(&exec.pipeline.steps()[step_index]);
        if let StepOutcome::Output { output, issues } = &outcome
            && let Some(correcting) =
                exec.steps[step_index].current.as_mut().and_then(|current| current.correcting.take())
        {
            exec.record_correction(pending, step_index, correcting, output, issues.is_empty());
        }
        match outcome {
            StepOutcome::Output { output, issues } if issues.is_empty() => {
                if !plan.validate.is_empty() {
                    exec.step_event(pending, step_index, StepStatus::Validating, None);
                }
                exec.complete_step(pending, step_index, *output, finished_at, &self.shared);
            }
            StepOutcome::Output { output, issues } => {
                exec.step_event(pending, step_index, StepStatus::Validating, None);
                let rejected = Arc::new(output.output);
                let error = ErrorInfo::new(
                    crate::ErrorCode::ValidationFailed,
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
                        crate::ErrorCode::ValidationFailed,
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
                if matches!(failure, StepFailure::Refused(_)) && plan.optional {
                    // Not permitted for this user: an optional step is skipped, with the reason.
                    exec.end_step(pending, step_index, StepStatus::Skipped, Some(error));
                } else if failure.is_retryable() && step.retries + 1 < plan.retry.max_attempts {
                    step.retries += 1;
                    let delay = plan.retry.backoff.delay(step.retries);
                    exec.event(
                        pending,
                        EventKind::StepRetrying {
                            step: String::from(&*plan.key),
                            attempt,
                            delay_ms: delay.as_millis() as u64,
                            error,
                        },
                    );
                    if delay.is_zero() {
                        exec.start_attempt(pending, step_index, AttemptKind::Retry, None);
                    } else {
                        let attempt = exec.steps[step_index].attempt;
                        self.effects.push(Effect::RetryAfter { delay, execution_id, step_index, attempt });
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
        if let Some(error) = exec.budget_exceeded() {
            warn!(%execution_id, message = %error.message, "budget exceeded");
            let reason = ErrorInfo::new(crate::ErrorCode::BudgetExceeded, "the execution's budget was exceeded");
            exec.halt(pending, ExecutionStatus::Failed, Some(error), reason);
            self.retire(execution_id);
            return;
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
        let reason = ErrorInfo::new(crate::ErrorCode::Cancelled, "the execution was cancelled");
        exec.halt(pending, ExecutionStatus::Cancelled, None, reason);
        pending.cancelled.push((reply, true));
        self.retire(id);
    }

    /// Runs again every attempt of `agent` in flight: its supervisor was restarted and the
    /// steps it was holding may be gone.
    fn redispatch(&mut self, agent: &str) {
        for exec in self.executions.values_mut() {
            for index in 0..exec.steps.len() {
                if exec.steps[index].current.is_some() && *exec.pipeline.steps()[index].agent == *agent {
                    exec.interrupt_attempt(&mut self.pending, index);
                    exec.start_attempt(&mut self.pending, index, AttemptKind::Retry, None);
                }
            }
        }
    }

    // ----- recovery -----------------------------------------------------------------------

    /// Rebuilds an execution's state from its stored rows.
    fn restore(&self, snapshot: ExecutionSnapshot, pipeline: ValidatedPipeline) -> ExecState {
        let mut exec = ExecState::new(
            &snapshot.execution,
            self.index,
            pipeline,
            snapshot.last_seq + 1,
            Arc::clone(&self.shared.bus),
        );
        exec.usage = snapshot.usage;
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
        // Not stored as such: every handler run may have ordered one (an upper bound, so a
        // restart can only make the cap stricter).
        exec.recoveries = exec
            .pipeline
            .steps()
            .iter()
            .zip(&exec.steps)
            .filter(|(plan, _)| plan.is_handler)
            .map(|(_, step)| step.attempt)
            .sum();
        exec
    }

    /// Runs a failed execution again: completed steps keep their outputs, every other step
    /// (and every failure handler) starts over, with attempt numbers continuing.
    async fn retry_failed(&mut self, id: ExecutionId) -> Result<oneshot::Receiver<()>, crate::RuntimeError> {
        use crate::RuntimeError;
        if let Some(exec) = self.executions.get(&id) {
            return Err(RuntimeError::NotRetryable { id, status: exec.status });
        }
        let commit_lock = Arc::clone(&self.shared.shards[self.index].commit_lock);
        let _guard = commit_lock.lock().await;
        let mut snapshot = self.shared.store.load_execution(id).await?.ok_or(RuntimeError::NotFound(id))?;
        let status = snapshot.execution.status;
        if status != ExecutionStatus::Failed {
            return Err(RuntimeError::NotRetryable { id, status });
        }
        // Whichever node ran it, this one runs it again (one winner: the epoch is raised).
        let ttl = self.shared.config.lease_ttl.as_millis() as i64;
        let Some(epoch) = self.shared.store.take_failed(id, &self.shared.node_id, ttl).await? else {
            return Err(RuntimeError::NotRetryable { id, status: ExecutionStatus::Running });
        };
        snapshot.execution.lease_owner = Some(self.shared.node_id.clone());
        snapshot.execution.lease_epoch = epoch;
        let record = &snapshot.execution;
        let pipeline = (*record.pipeline).clone().validate(self.shared.as_ref())?;
        let mut exec = self.restore(snapshot, pipeline);
        let pending = &mut self.pending;
        for index in 0..exec.steps.len() {
            let is_handler = exec.pipeline.steps()[index].is_handler;
            let step = &mut exec.steps[index];
            if step.status == StepStatus::Completed && !is_handler {
                continue;
            }
            step.status = StepStatus::Pending;
            step.retries = 0;
            step.corrections = 0;
            step.output = None;
            step.error = None;
            step.started_at = None;
            step.finished_at = None;
            pending.batch.steps.push(exec.step_row(index, pending.now));
            exec.step_event(pending, index, StepStatus::Pending, None);
        }
        exec.finished_at = None;
        exec.live = true;
        self.shared.admission.force_acquire();
        exec.set_status(pending, ExecutionStatus::Running, None);
        let message = "retried from its unfinished steps".to_owned();
        exec.event(pending, EventKind::Log { step: None, level: LogLevel::Info, message });
        let (durable, committed) = oneshot::channel();
        pending.submitted.push((id, durable));
        self.executions.insert(id, exec);
        self.advance(id);
        Ok(committed)
    }

    /// Loads every non-terminal execution of this shard leased by this node, and restarts the
    /// attempts that were running when the previous incarnation died.
    async fn reload(&mut self) -> Result<(), StoreError> {
        let commit_lock = Arc::clone(&self.shared.shards[self.index].commit_lock);
        let _guard = commit_lock.lock().await;
        let ids = self.shared.store.leased_by(&self.shared.node_id).await?;
        let ids: Vec<ExecutionId> = ids.into_iter().filter(|id| self.shared.shard_of(*id) == self.index).collect();
        let mut resumed = 0usize;
        for id in ids {
            if self.resume(id).await? {
                resumed += 1;
            }
        }
        self.admit_waiting();
        if resumed > 0 {
            info!(shard = self.index, resumed, "resumed executions from the store");
        }
        Ok(())
    }

    /// Takes over an execution this node just claimed (from a dead node, a node that shut
    /// down, or nobody): whatever this shard held of it is stale and is dropped first.
    async fn adopt(&mut self, id: ExecutionId) -> Result<(), StoreError> {
        let commit_lock = Arc::clone(&self.shared.shards[self.index].commit_lock);
        let _guard = commit_lock.lock().await;
        if let Some(held) = self.executions.get(&id) {
            // Already run here under the epoch the store has (taken up twice): keep it.
            let current = self.shared.store.get_execution(id).await?;
            let node = Some(self.shared.node_id.as_str());
            if current.is_some_and(|record| record.lease_epoch == held.epoch && record.lease_owner.as_deref() == node) {
                return Ok(());
            }
        }
        if let Some(mut stale) = self.executions.remove(&id) {
            stale.abandon();
            if stale.live {
                self.shared.admission.release();
            }
        }
        if self.resume(id).await? {
            info!(execution_id = %id, node = %self.shared.node_id, "took over an execution");
        }
        self.admit_waiting();
        Ok(())
    }

    /// Loads one leased execution and runs it again from its stored state; returns whether it
    /// was resumed (false: gone, terminal, or its pipeline no longer valid — then failed).
    async fn resume(&mut self, id: ExecutionId) -> Result<bool, StoreError> {
        let Some(snapshot) = self.shared.store.load_execution(id).await? else { return Ok(false) };
        let record = &snapshot.execution;
        if record.status.is_terminal() || record.lease_owner.as_deref() != Some(self.shared.node_id.as_str()) {
            return Ok(false);
        }
        let pipeline = match (*record.pipeline).clone().validate(self.shared.as_ref()) {
            Ok(pipeline) => pipeline,
            Err(error) => {
                warn!(execution_id = %id, %error, "cannot resume: its pinned pipeline is no longer valid here");
                let mut exec = ExecState::new(
                    record,
                    self.index,
                    placeholder_pipeline(record),
                    snapshot.last_seq + 1,
                    Arc::clone(&self.shared.bus),
                );
                exec.finished_at = Some(crate::model::now());
                let error = ErrorInfo::new(crate::ErrorCode::PipelineInvalid, error.to_string());
                exec.set_status(&mut self.pending, ExecutionStatus::Failed, Some(error));
                self.pending.retired.insert(id, exec.epoch);
                return Ok(false);
            }
        };
        let mut exec = self.restore(snapshot, pipeline);
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
            self.set_waiting_flag();
            return Ok(true);
        }
        exec.live = true;
        self.shared.admission.force_acquire();
        // Attempts that were running died with the node that ran them: run them again.
        for index in 0..exec.steps.len() {
            if exec.steps[index].status.is_active() {
                let plan = Arc::clone(&exec.pipeline.steps()[index]);
                exec.steps[index].current = Some(AttemptState {
                    kind: AttemptKind::Retry,
                    started_at: exec.steps[index].started_at.unwrap_or_else(crate::model::now),
                    input: Arc::new(Value::Null),
                    cancel: CancellationToken::new(),
                    telemetry: Default::default(),
                    correcting: None,
                });
                exec.interrupt_attempt(&mut self.pending, index);
                if plan.is_handler {
                    exec.steps[index].failure = exec.failure_handled_by(index);
                }
                let kind = if plan.is_handler { AttemptKind::Recovery } else { AttemptKind::Retry };
                exec.start_attempt(&mut self.pending, index, kind, None);
            }
        }
        for step in exec.steps.iter_mut().filter(|step| step.status == StepStatus::Waiting) {
            step.current = Some(AttemptState {
                kind: AttemptKind::Initial,
                started_at: step.started_at.unwrap_or_else(crate::model::now),
                input: Arc::new(Value::Null),
                cancel: CancellationToken::new(),
                telemetry: Default::default(),
                correcting: None,
            });
        }
        self.executions.insert(id, exec);
        if let Some(reply) = self.cancel_on_adopt.remove(&id) {
            self.cancel(id, reply);
            return Ok(true);
        }
        self.settle(id).await?;
        self.advance(id);
        Ok(true)
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
    let mut def = (*record.pipeline).clone();
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
            max_recoveries: None,
            budget: None,
            input_schema: None,
            steps: vec![crate::pipeline::StepDef::new("unknown", "unknown")],
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
    let lost = loop {
        match shared.store.apply(&pending.batch).await {
            Ok(lost) => break lost,
            Err(StoreError::Unavailable(reason)) if shared.stopping.load(std::sync::atomic::Ordering::Acquire) => {
                // Nothing of this batch was acted on; the next start resumes from the store.
                warn!(shard = index, %reason, "store unavailable while shutting down; dropping the uncommitted batch");
                return;
            }
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
    };
    if !lost.is_empty() {
        // Written by nobody: another node holds these now. Nothing of theirs is acted on.
        let gone: std::collections::HashSet<ExecutionId> = lost.iter().copied().collect();
        pending.batch.events.retain(|event| !gone.contains(&event.execution_id));
        pending.jobs.retain(|job| !gone.contains(&job.execution_id));
        pending.parked.retain(|id| !gone.contains(id));
        // A submission that was not stored (its idempotency key was taken elsewhere) is
        // answered by dropping its reply: the submitter looks the key up.
        pending.submitted.retain(|(id, _)| !gone.contains(id));
        let _ = shard.send_message(ShardMsg::Lost(lost));
    }
    for event in pending.batch.events.drain(..) {
        for sink in &shared.sinks {
            sink.publish(&event);
        }
    }
    shared.dispatch_all(&mut pending.jobs);
    for id in std::mem::take(&mut pending.parked) {
        // Decided (or cancelled) while it was being parked: the decider could not take it up.
        let ttl_ms = shared.config.lease_ttl.as_millis() as i64;
        match shared.store.claim_execution(id, &shared.node_id, ttl_ms).await {
            Ok(Some(_)) => {
                let _ = shard.send_message(ShardMsg::Adopt(id));
            }
            Ok(None) => {}
            Err(error) => {
                warn!(execution_id = %id, %error, "cannot check a parked execution for decisions; the claim loop will")
            }
        }
    }
    if let Some(memories) = &shared.memories
        && !pending.remember.is_empty()
    {
        // Best effort, off the shard's path: the corrections table stays the record.
        let memories = Arc::clone(memories);
        let remember = std::mem::take(&mut pending.remember);
        tokio::spawn(async move {
            for (owner, memory) in remember {
                if let Err(error) = memories.remember(owner, memory).await {
                    warn!(%error, "cannot remember a correction; later corrections will not quote it");
                }
            }
        });
    }
    for (_, reply) in pending.submitted {
        let _ = reply.send(());
    }
    for (reply, cancelled) in pending.cancelled {
        let _ = reply.send(cancelled);
    }
    drop(guard);
    let _ = shard.send_message(ShardMsg::Flushed);
    // Emptied off the shard's path (dropping the rows takes a while): the shard's next flush
    // takes it if it is back by then, else allocates.
    pending.batch.clear_for_reuse();
    let jobs = crate::store::keep_room(pending.jobs);
    *shared.shards[index].spare.lock().expect("spare batch lock") = Some((pending.batch, jobs));
}

#[cfg(test)]
mod tests;
