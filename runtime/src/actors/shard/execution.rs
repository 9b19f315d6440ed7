//! One execution's state machine as a shard holds it: its steps, their attempts, and the
//! rows and events each transition appends to the shard's pending batch.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{Pending, Shared};
use crate::actors::protocol::StepJob;
use crate::agent::{Correction, Dependency, FailureReport, RecoveryDirective, StepContext, StepOutput, StepTelemetry};
use crate::events::EventBus;
use crate::ids::{ExecutionId, UserId};
use crate::model::{
    ArtifactRecord, AttemptKind, AttemptRecord, CorrectionRecord, ErrorInfo, Event, EventKind, ExecutionRecord,
    ExecutionUpdate, LogLevel, LogRecord, StepRecord, Usage, UsageRecord,
};
use crate::pipeline::ValidatedPipeline;
use crate::pipeline::approval::{ApprovalRecord, Decision};
use crate::status::{AttemptStatus, ExecutionStatus, StepStatus};
use crate::validator::ValidationIssue;

pub(super) struct ExecState {
    pub(super) id: ExecutionId,
    pub(super) shard: usize,
    pub(super) owner: UserId,
    pub(super) status: ExecutionStatus,
    pub(super) error: Option<ErrorInfo>,
    pub(super) started_at: Option<DateTime<Utc>>,
    pub(super) finished_at: Option<DateTime<Utc>>,
    pub(super) pipeline: ValidatedPipeline,
    pub(super) input: Arc<Value>,
    pub(super) steps: Vec<StepState>,
    pub(super) next_seq: u64,
    pub(super) live: bool,
    /// LLM use so far (counted against the pipeline's budget).
    pub(super) usage: Usage,
    /// Re-runs failure handlers have ordered so far.
    pub(super) recoveries: u32,
    /// The lease epoch this node writes the execution under.
    pub(super) epoch: i64,
    /// When this node took it (a submit, a claim, a resume): a lease renewal that started
    /// later and does not list it means another node took it.
    pub(super) held_since: std::time::Instant,
    bus: Arc<EventBus>,
}

pub(super) struct StepState {
    pub(super) status: StepStatus,
    pub(super) attempt: u32,
    pub(super) corrections: u32,
    pub(super) retries: u32,
    pub(super) output: Option<Arc<Value>>,
    pub(super) error: Option<ErrorInfo>,
    pub(super) started_at: Option<DateTime<Utc>>,
    pub(super) finished_at: Option<DateTime<Utc>>,
    pub(super) current: Option<AttemptState>,
    pub(super) failure: Option<FailureReport>,
    /// While an approval step waits: when it times out.
    pub(super) deadline: Option<DateTime<Utc>>,
}

impl StepState {
    pub(super) fn new() -> Self {
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
            deadline: None,
        }
    }
}

pub(super) struct AttemptState {
    pub(super) kind: AttemptKind,
    pub(super) started_at: DateTime<Utc>,
    pub(super) input: Arc<Value>,
    pub(super) cancel: CancellationToken,
    pub(super) telemetry: Arc<StepTelemetry>,
    /// On a correction attempt: the issues it was asked to fix.
    pub(super) correcting: Option<Vec<ValidationIssue>>,
}

impl ExecState {
    pub(super) fn new(
        record: &ExecutionRecord,
        shard: usize,
        pipeline: ValidatedPipeline,
        next_seq: u64,
        bus: Arc<EventBus>,
    ) -> Self {
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
            usage: Usage::default(),
            recoveries: 0,
            epoch: record.lease_epoch,
            held_since: std::time::Instant::now(),
            bus,
        }
    }

    pub(super) fn event(&mut self, pending: &mut Pending, kind: EventKind) {
        let seq = self.next_seq;
        self.next_seq += 1;
        pending.batch.events.push(Arc::new(Event { execution_id: self.id, seq, at: pending.now, kind }));
    }

    pub(super) fn set_status(&mut self, pending: &mut Pending, status: ExecutionStatus, error: Option<ErrorInfo>) {
        self.status = status;
        self.error = error.clone();
        pending.batch.execution_updates.push(ExecutionUpdate {
            id: self.id,
            status,
            error: error.clone(),
            updated_at: pending.now,
            started_at: self.started_at,
            finished_at: self.finished_at,
            wake_at: None,
        });
        self.event(pending, EventKind::ExecutionStatus { status, error });
    }

    /// Returns whether only decisions are awaited: an approval step waits and no step runs.
    pub(super) fn parkable(&self) -> bool {
        self.steps.iter().any(|step| step.status == StepStatus::Waiting)
            && !self.steps.iter().any(|step| step.status.is_active())
    }

    /// Parks the execution: `waiting`, its lease given back when the batch is durable, due again
    /// at its earliest approval deadline (or once decided). The shard stops holding it.
    pub(super) fn park(&mut self, pending: &mut Pending) {
        let wake_at =
            self.steps.iter().filter(|step| step.status == StepStatus::Waiting).filter_map(|step| step.deadline).min();
        let changed = self.status != ExecutionStatus::Waiting;
        self.status = ExecutionStatus::Waiting;
        self.error = None;
        pending.batch.execution_updates.push(ExecutionUpdate {
            id: self.id,
            status: ExecutionStatus::Waiting,
            error: None,
            updated_at: pending.now,
            started_at: self.started_at,
            finished_at: None,
            wake_at,
        });
        if changed {
            self.event(pending, EventKind::ExecutionStatus { status: ExecutionStatus::Waiting, error: None });
        }
        pending.parked.push(self.id);
    }

    /// Keeps the execution `correcting` while any step is, `running` otherwise (a woken
    /// `waiting` one included).
    pub(super) fn sync_status(&mut self, pending: &mut Pending) {
        if !matches!(
            self.status,
            ExecutionStatus::Running
                | ExecutionStatus::Waiting
                | ExecutionStatus::Validating
                | ExecutionStatus::Correcting
        ) || self.parkable()
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

    pub(super) fn step_row(&self, index: usize, now: DateTime<Utc>) -> StepRecord {
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

    pub(super) fn step_event(
        &mut self,
        pending: &mut Pending,
        index: usize,
        status: StepStatus,
        error: Option<ErrorInfo>,
    ) {
        let kind = EventKind::StepStatus {
            step: Arc::clone(&self.pipeline.steps()[index].key),
            status,
            attempt: self.steps[index].attempt,
            error,
        };
        self.event(pending, kind);
    }

    pub(super) fn condition_data(&self) -> Value {
        let steps: serde_json::Map<String, Value> = self
            .steps
            .iter()
            .zip(self.pipeline.steps())
            .filter_map(|(step, plan)| {
                let output = step.output.as_ref()?;
                Some((String::from(&*plan.key), json!({ "output": output.as_ref(), "status": step.status })))
            })
            .collect();
        json!({ "input": self.input.as_ref(), "steps": steps })
    }

    pub(super) fn start_attempt(
        &mut self,
        pending: &mut Pending,
        index: usize,
        kind: AttemptKind,
        correction: Option<Correction>,
    ) {
        let plan = Arc::clone(&self.pipeline.steps()[index]);
        let now = pending.now;
        let dependencies: Vec<Dependency> = plan
            .depends_on
            .iter()
            .map(|&dep| {
                let output = self.steps[dep].output.clone().unwrap_or_else(|| Arc::new(Value::Null));
                let dep_plan = &self.pipeline.steps()[dep];
                Dependency { key: Arc::clone(&dep_plan.key), agent: Arc::clone(&dep_plan.agent), output }
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
        let telemetry =
            Arc::new(StepTelemetry::streaming(Arc::clone(&self.bus), self.id, Arc::clone(&plan.key), attempt));
        step.current = Some(AttemptState {
            kind,
            started_at: now,
            input: Arc::clone(&input),
            cancel: cancel.clone(),
            telemetry: Arc::clone(&telemetry),
            correcting: correction.as_ref().map(|correction| correction.issues.clone()),
        });
        let row = self.step_row(index, pending.now);
        pending.batch.steps.push(row);
        let status = self.steps[index].status;
        self.step_event(pending, index, status, None);
        let ctx = Box::new(StepContext {
            execution_id: self.id,
            owner: self.owner,
            step_key: Arc::clone(&plan.key),
            input: Arc::clone(&self.input),
            dependencies,
            params: Arc::clone(&plan.params),
            attempt,
            correction,
            failure,
            deadline: tokio::time::Instant::now() + plan.timeout,
            cancel,
            telemetry,
            memories: Vec::new(),
        });
        pending.jobs.push(StepJob { shard: self.shard, execution_id: self.id, attempt, plan, ctx });
    }

    /// Starts an approval step: it waits for a decision, whose request (the prompt rendered over
    /// the outputs so far, who may decide, the deadline) is recorded. Returns the deadline.
    pub(super) fn request_approval(&mut self, pending: &mut Pending, index: usize) -> Option<DateTime<Utc>> {
        let plan = Arc::clone(&self.pipeline.steps()[index]);
        let approval = plan.approval.as_ref()?;
        let now = pending.now;
        let prompt = approval.prompt.render(&self.condition_data());
        let deadline =
            approval.timeout.and_then(|timeout| chrono::Duration::from_std(timeout).ok()).map(|timeout| now + timeout);
        let step = &mut self.steps[index];
        step.attempt += 1;
        step.status = StepStatus::Waiting;
        step.started_at.get_or_insert(now);
        step.deadline = deadline;
        step.current = Some(AttemptState {
            kind: AttemptKind::Initial,
            started_at: now,
            input: Arc::clone(&plan.attempt_input),
            cancel: CancellationToken::new(),
            telemetry: Default::default(),
            correcting: None,
        });
        let attempt = step.attempt;
        let row = self.step_row(index, now);
        pending.batch.steps.push(row);
        self.step_event(pending, index, StepStatus::Waiting, None);
        pending.batch.approvals.push(ApprovalRecord {
            execution_id: self.id,
            step_key: String::from(&*plan.key),
            attempt,
            prompt: prompt.clone(),
            approvers: approval.approvers.clone(),
            requested_at: now,
            deadline,
            decision: None,
            decided_by: None,
            decided_at: None,
            comment: None,
        });
        self.event(pending, EventKind::ApprovalRequested { step: String::from(&*plan.key), attempt, prompt, deadline });
        deadline
    }

    /// Acts on the decision of a waiting approval step: approved, it completes with the
    /// decision as its output; rejected or timed out, it fails (and its `on_failure` runs).
    pub(super) fn apply_decision(
        &mut self,
        pending: &mut Pending,
        index: usize,
        approval: &ApprovalRecord,
        shared: &Shared,
    ) {
        let Some(decision) = approval.decision else { return };
        let key = String::from(&*self.pipeline.steps()[index].key);
        let at = approval.decided_at.unwrap_or(pending.now);
        self.event(
            pending,
            EventKind::ApprovalDecided {
                step: key.clone(),
                attempt: approval.attempt,
                decision,
                by: approval.decided_by,
                comment: approval.comment.clone(),
            },
        );
        self.steps[index].deadline = None;
        let output = json!({
            "decision": decision,
            "decided_by": approval.decided_by,
            "decided_at": at,
            "comment": approval.comment,
            "prompt": approval.prompt,
        });
        let (status, error) = match decision {
            Decision::Approved => {
                self.complete_step(pending, index, StepOutput::new(output), at, shared);
                return;
            }
            Decision::Rejected => (
                AttemptStatus::Failed,
                ErrorInfo::new(crate::ErrorCode::ApprovalRejected, format!("`{key}` was rejected")),
            ),
            Decision::TimedOut => (
                AttemptStatus::TimedOut,
                ErrorInfo::new(crate::ErrorCode::ApprovalTimedOut, format!("nobody decided `{key}` in time")),
            ),
        };
        let error = error.with_details(output.clone());
        self.finish_attempt(pending, index, status, Some(Arc::new(output)), Some(error.clone()), at);
        self.fail_step(pending, index, error);
    }

    /// Records how the current attempt ended.
    pub(super) fn finish_attempt(
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
        let attempt = step.attempt;
        let calls = current.telemetry.take();
        // Only an attempt that called a model writes rows naming its step here.
        let key = if calls.is_empty() { String::new() } else { String::from(&*self.pipeline.steps()[index].key) };
        for call in calls {
            self.usage += call.usage;
            if let Some(transcript) = &call.transcript {
                pending.batch.logs.push(LogRecord {
                    execution_id: self.id,
                    step_key: Some(key.clone()),
                    level: LogLevel::Debug,
                    message: format!(
                        "attempt {attempt}: LLM exchange with {}/{}\n{transcript}",
                        call.provider, call.model
                    ),
                    created_at: finished_at,
                });
            }
            pending.batch.usage.push(UsageRecord {
                execution_id: self.id,
                owner: self.owner,
                step_key: key.clone(),
                attempt,
                provider: call.provider.clone(),
                model: call.model.clone(),
                usage: call.usage,
                created_at: finished_at,
            });
            self.event(
                pending,
                EventKind::Usage {
                    step: key.clone(),
                    attempt,
                    provider: call.provider,
                    model: call.model,
                    prompt_tokens: call.usage.prompt_tokens,
                    completion_tokens: call.usage.completion_tokens,
                    cost_usd: call.usage.cost_usd,
                },
            );
        }
        let step = &mut self.steps[index];
        pending.batch.attempts.push(AttemptRecord {
            execution_id: self.id,
            step_key: String::from(&*self.pipeline.steps()[index].key),
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

    /// Records the running attempt of step `index` as `interrupted` (its process or agent
    /// supervisor died under it).
    pub(super) fn interrupt_attempt(&mut self, pending: &mut Pending, index: usize) {
        self.finish_attempt(pending, index, AttemptStatus::Interrupted, None, None, crate::model::now());
    }

    /// Moves a step to a terminal status and records it.
    pub(super) fn end_step(
        &mut self,
        pending: &mut Pending,
        index: usize,
        status: StepStatus,
        error: Option<ErrorInfo>,
    ) {
        let step = &mut self.steps[index];
        step.status = status;
        step.error = error.clone();
        step.finished_at = Some(pending.now);
        let row = self.step_row(index, pending.now);
        pending.batch.steps.push(row);
        self.step_event(pending, index, status, error);
    }

    pub(super) fn fail_step(&mut self, pending: &mut Pending, index: usize, error: ErrorInfo) {
        self.end_step(pending, index, StepStatus::Failed, Some(error.clone()));
        let plan = Arc::clone(&self.pipeline.steps()[index]);
        if let Some(handler) = plan.on_failure
            && self.steps[handler].status == StepStatus::Pending
            && self.steps[handler].current.is_none()
        {
            self.steps[handler].failure = Some(FailureReport {
                step_key: String::from(&*plan.key),
                error,
                optional: plan.optional,
                recoveries: self.recoveries,
            });
            self.start_attempt(pending, handler, AttemptKind::Recovery, None);
        }
    }

    pub(super) fn complete_step(
        &mut self,
        pending: &mut Pending,
        index: usize,
        output: StepOutput,
        finished_at: DateTime<Utc>,
        shared: &Shared,
    ) {
        let StepOutput { output, artifacts, logs, append_steps, directive, correction_note: _ } = output;
        let key = String::from(&*self.pipeline.steps()[index].key);
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
                    let error = ErrorInfo::new(crate::ErrorCode::InvalidPlan, error.to_string())
                        .with_details(json!({ "issues": error.issues }));
                    self.fail_step(pending, index, error);
                    return;
                }
            }
        }
        self.end_step(pending, index, StepStatus::Completed, None);
        if let Some(directive) = directive
            && self.pipeline.steps()[index].is_handler
        {
            self.apply_directive(pending, index, directive, shared);
        }
    }

    /// Carries out a failure handler's decision; a decision that cannot apply is logged and the
    /// execution ends as it would have.
    fn apply_directive(
        &mut self,
        pending: &mut Pending,
        handler: usize,
        directive: RecoveryDirective,
        shared: &Shared,
    ) {
        let handler_key = String::from(&*self.pipeline.steps()[handler].key);
        let refuse = |exec: &mut Self, pending: &mut Pending, why: String| {
            let message = format!("recovery decision refused: {why}");
            exec.event(pending, EventKind::Log { step: Some(handler_key.clone()), level: LogLevel::Warn, message });
        };
        match directive {
            RecoveryDirective::Skip { step } => {
                let Some(index) = self.pipeline.steps().iter().position(|plan| *plan.key == *step) else {
                    return refuse(self, pending, format!("no step `{step}`"));
                };
                if !self.pipeline.steps()[index].optional || self.steps[index].status != StepStatus::Failed {
                    return refuse(self, pending, format!("`{step}` is not a failed optional step"));
                }
                let reason = ErrorInfo::new(
                    crate::ErrorCode::SkippedByRecovery,
                    format!("`{handler_key}` skipped the failed step"),
                );
                self.end_step(pending, index, StepStatus::Skipped, Some(reason));
            }
            RecoveryDirective::Rerun { from, params } => {
                let max = self.pipeline.max_recoveries();
                if self.recoveries >= max {
                    return refuse(self, pending, format!("the execution already re-ran steps {max} time(s)"));
                }
                let Some(start) = self.pipeline.steps().iter().position(|plan| *plan.key == *from && !plan.is_handler)
                else {
                    return refuse(self, pending, format!("no step `{from}` to re-run"));
                };
                let pipeline = match self.pipeline.with_params(&from, &params, shared) {
                    Ok(pipeline) => pipeline,
                    Err(error) => return refuse(self, pending, error.to_string()),
                };
                self.pipeline = pipeline;
                pending.batch.pipeline_updates.push((
                    self.id,
                    self.pipeline.hash().to_owned(),
                    self.pipeline.def().clone(),
                ));
                self.recoveries += 1;
                // The step, everything downstream of it, and the handlers start over.
                let mut reset = vec![start];
                let mut cursor = 0;
                while cursor < reset.len() {
                    for &dependent in self.pipeline.dependents(reset[cursor]) {
                        if !reset.contains(&dependent) {
                            reset.push(dependent);
                        }
                    }
                    cursor += 1;
                }
                for (index, plan) in self.pipeline.steps().iter().enumerate() {
                    if plan.is_handler && !reset.contains(&index) {
                        reset.push(index);
                    }
                }
                for &index in &reset {
                    let step = &mut self.steps[index];
                    step.status = StepStatus::Pending;
                    step.output = None;
                    step.error = None;
                    step.corrections = 0;
                    step.retries = 0;
                    step.finished_at = None;
                    step.failure = None;
                    let row = self.step_row(index, pending.now);
                    pending.batch.steps.push(row);
                    self.step_event(pending, index, StepStatus::Pending, None);
                }
                let message = format!("`{handler_key}` re-runs from `{from}` with params {params}");
                self.event(pending, EventKind::Log { step: Some(handler_key.clone()), level: LogLevel::Info, message });
            }
        }
    }

    /// Returns the `budget_exceeded` error once the execution's LLM use crosses a cap.
    pub(super) fn budget_exceeded(&self) -> Option<ErrorInfo> {
        let budget = self.pipeline.def().budget.as_ref()?;
        let tokens = self.usage.tokens();
        let over_tokens = budget.max_tokens.is_some_and(|cap| tokens > cap);
        let over_cost = budget.max_cost_usd.is_some_and(|cap| self.usage.cost_usd > cap);
        (over_tokens || over_cost).then(|| {
            ErrorInfo::new(
                crate::ErrorCode::BudgetExceeded,
                format!(
                    "the execution used {tokens} tokens and ${:.4}, over its budget (max_tokens {}, max_cost_usd {})",
                    self.usage.cost_usd,
                    budget.max_tokens.map_or("none".into(), |cap| cap.to_string()),
                    budget.max_cost_usd.map_or("none".into(), |cap| cap.to_string()),
                ),
            )
            .with_details(json!({ "usage": self.usage, "budget": budget }))
        })
    }

    /// Stops every running attempt without writing anything: another node owns the
    /// execution now.
    pub(super) fn abandon(&mut self) {
        for step in &mut self.steps {
            if let Some(attempt) = step.current.take() {
                attempt.cancel.cancel();
            }
        }
    }

    /// Ends the execution now: running attempts are cancelled, unfinished steps end `cancelled`
    /// with `reason`, and the execution takes `status`.
    pub(super) fn halt(
        &mut self,
        pending: &mut Pending,
        status: ExecutionStatus,
        error: Option<ErrorInfo>,
        reason: ErrorInfo,
    ) {
        for index in 0..self.steps.len() {
            let step_status = self.steps[index].status;
            if step_status.is_active() || step_status == StepStatus::Waiting {
                self.finish_attempt(pending, index, AttemptStatus::Cancelled, None, None, crate::model::now());
            }
            if !step_status.is_terminal() {
                self.end_step(pending, index, StepStatus::Cancelled, Some(reason.clone()));
            }
        }
        self.finished_at = Some(crate::model::now());
        self.set_status(pending, status, error);
    }

    /// Records a validated correction attempt: what it was asked to fix, how, and whether it
    /// passed (with the accepted values at the issues' paths, for later corrections to reuse).
    pub(super) fn record_correction(
        &self,
        pending: &mut Pending,
        index: usize,
        correcting: Vec<ValidationIssue>,
        output: &StepOutput,
        passed: bool,
    ) {
        let plan = &self.pipeline.steps()[index];
        let mut strategy = output.correction_note.clone().unwrap_or_else(|| json!({}));
        if passed && let Some(object) = strategy.as_object_mut() {
            let accepted: Vec<Value> = correcting
                .iter()
                .filter(|issue| !issue.path.is_empty())
                .filter_map(|issue| {
                    let pointer = issue.path.split(':').next().unwrap_or_default();
                    let value = output.output.pointer(pointer)?;
                    let mut text = value.to_string();
                    if text.len() > 400 {
                        text.truncate(text.floor_char_boundary(400));
                        text.push('…');
                    }
                    Some(json!({ "path": issue.path, "accepted": text }))
                })
                .collect();
            object.insert("accepted".into(), Value::Array(accepted));
        }
        let record = CorrectionRecord {
            execution_id: self.id,
            step_key: String::from(&*plan.key),
            agent: String::from(&*plan.agent),
            attempt: self.steps[index].attempt,
            signature: crate::validator::signature(&correcting),
            issues: correcting,
            strategy,
            passed,
            created_at: pending.now,
        };
        if let Some(memory) = crate::memory::correction_memory(&record) {
            pending.remember.push((self.owner, memory));
        }
        pending.batch.corrections.push(record);
    }

    /// Returns whether the steps after step `dep` may run: it completed, or it is an approval
    /// step skipped because its condition was false (a gate not asked for is open).
    pub(super) fn dependency_met(&self, dep: usize) -> bool {
        let step = &self.steps[dep];
        step.status == StepStatus::Completed
            || (self.pipeline.steps()[dep].approval.is_some()
                && step.status == StepStatus::Skipped
                && step.error.as_ref().is_some_and(|error| error.code == crate::ErrorCode::ConditionFalse.as_str()))
    }

    /// Returns the failure the handler step at `handler` was started for, if one is recorded.
    pub(super) fn failure_handled_by(&self, handler: usize) -> Option<FailureReport> {
        self.pipeline.steps().iter().zip(&self.steps).find_map(|(plan, step)| {
            (plan.on_failure == Some(handler) && step.status == StepStatus::Failed).then(|| FailureReport {
                step_key: String::from(&*plan.key),
                error: step
                    .error
                    .clone()
                    .unwrap_or_else(|| ErrorInfo::new(crate::ErrorCode::StepFailed, "the step failed")),
                optional: plan.optional,
                recoveries: self.recoveries,
            })
        })
    }

    /// Ends the execution when no step can run any more; returns whether it ended.
    pub(super) fn try_finish(&mut self, pending: &mut Pending) -> bool {
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
                let reason = ErrorInfo::new(crate::ErrorCode::NotNeeded, "no step it handles failed");
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
                let cause = step
                    .error
                    .clone()
                    .unwrap_or_else(|| ErrorInfo::new(crate::ErrorCode::StepFailed, "the step failed"));
                let error = ErrorInfo::new(
                    crate::ErrorCode::StepFailed,
                    format!("step `{}` failed: {}", plan.key, cause.message),
                )
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
