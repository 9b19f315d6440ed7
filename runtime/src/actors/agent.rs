//! `AgentSupervisor` (one per agent kind) and its `AgentActor`s.
//!
//! The supervisor routes each step to a live child, round robin. A child runs each step as a
//! task it owns, under the kind's concurrency limit and the step's timeout, and catches a panic
//! in it. A panic is a crash: the step is reported as crashed (so it is retried), and the
//! supervisor makes the child fail — it sends the child a `Crash` message *after* the last step
//! it routed to it, so no routed step is lost in the dead child's mailbox. On the child's
//! `ActorFailed` the supervisor applies the kind's restart policy: a fresh child with a fresh
//! agent from the factory after an exponential backoff, or, past the restart intensity,
//! quarantine — steps fail fast until the kind is released or its quarantine times out.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::FutureExt;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::{error, info, warn};

use super::Shared;
use super::protocol::{AgentSupervisorMsg, StepDone, StepFailure, StepJob, StepOutcome};
use super::shared::AgentKind;
use crate::agent::{Agent, AgentError, StepContext, StepOutput};
use crate::memory::{CORRECTION_KIND, MemorySearch, RecalledMemory};
use crate::pipeline::StepPlan;
use crate::supervision::{Children, Exit, RestartDecision, RestartTracker};

pub(crate) struct AgentSupervisor;

pub(crate) struct AgentSupervisorArgs {
    pub shared: Arc<Shared>,
    pub kind: Arc<AgentKind>,
}

pub(crate) struct AgentSupervisorState {
    shared: Arc<Shared>,
    kind: Arc<AgentKind>,
    children: Vec<Child>,
    /// The live children's slots, by actor.
    watched: Children<usize>,
    backlog: Vec<StepJob>,
    next_child: usize,
    tracker: RestartTracker,
    semaphore: Arc<Semaphore>,
    next_generation: u64,
}

struct Child {
    actor: Option<ActorRef<AgentMsg>>,
    generation: u64,
    crashing: bool,
}

impl Actor for AgentSupervisor {
    type Msg = AgentSupervisorMsg;
    type State = AgentSupervisorState;
    type Arguments = AgentSupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let config = &args.kind.config;
        let mut state = AgentSupervisorState {
            tracker: RestartTracker::new(config.restart),
            semaphore: Arc::new(Semaphore::new(config.concurrency.max(1))),
            children: (0..config.pool_size.max(1))
                .map(|_| Child { actor: None, generation: 0, crashing: false })
                .collect(),
            watched: Children::default(),
            backlog: Vec::new(),
            next_child: 0,
            next_generation: 0,
            shared: args.shared,
            kind: args.kind,
        };
        state.kind.live_children.store(0, Ordering::Relaxed);
        if state.kind.quarantine.lock().expect("quarantine lock").is_none() {
            for child in 0..state.children.len() {
                state.spawn_child(&myself, child).await?;
            }
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            AgentSupervisorMsg::RunBatch(jobs) => state.route(jobs),
            AgentSupervisorMsg::TaskPanicked { child, generation, message } => {
                let slot = &mut state.children[child];
                if slot.generation == generation
                    && !slot.crashing
                    && let Some(actor) = &slot.actor
                {
                    slot.crashing = true;
                    // Queued behind every step already routed to the child, so none is lost.
                    let _ = actor.send_message(AgentMsg::Crash(message));
                }
            }
            AgentSupervisorMsg::Respawn { child } => {
                if !state.is_quarantined() && state.children[child].actor.is_none() {
                    state.kind.restarts.fetch_add(1, Ordering::Relaxed);
                    state.spawn_child(&myself, child).await?;
                    state.drain_backlog();
                }
            }
            AgentSupervisorMsg::Release => {
                let was = state.kind.quarantine.lock().expect("quarantine lock").take();
                if was.is_some() {
                    info!(agent = %state.kind.name, "agent kind released from quarantine");
                    state.shared.agent_changed();
                }
                state.tracker.reset();
                for child in 0..state.children.len() {
                    if state.children[child].actor.is_none() {
                        state.spawn_child(&myself, child).await?;
                    }
                }
                state.drain_backlog();
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let Some(Exit { child, reason, .. }) = state.watched.exited(event) else { return Ok(()) };
        state.children[child].actor = None;
        state.children[child].crashing = false;
        state.kind.live_children.fetch_sub(1, Ordering::Relaxed);
        state.kind.crashes.fetch_add(1, Ordering::Relaxed);
        state.shared.agent_changed();
        match state.tracker.record_crash(Instant::now()) {
            RestartDecision::Restart(delay) => {
                warn!(agent = %state.kind.name, child, ?delay, %reason, "agent crashed; restarting");
                myself.send_after(delay, move || AgentSupervisorMsg::Respawn { child });
            }
            RestartDecision::Escalate => state.quarantine(&myself, &reason),
        }
        Ok(())
    }

    async fn post_stop(&self, _myself: ActorRef<Self::Msg>, state: &mut Self::State) -> Result<(), ActorProcessingErr> {
        for child in &state.children {
            if let Some(actor) = &child.actor {
                actor.stop(None);
            }
        }
        state.kind.live_children.store(0, Ordering::Relaxed);
        Ok(())
    }
}

impl AgentSupervisorState {
    fn is_quarantined(&self) -> bool {
        self.kind.quarantine.lock().expect("quarantine lock").is_some()
    }

    async fn spawn_child(
        &mut self,
        myself: &ActorRef<AgentSupervisorMsg>,
        child: usize,
    ) -> Result<(), ActorProcessingErr> {
        self.next_generation += 1;
        let args = AgentActorArgs {
            child,
            generation: self.next_generation,
            instance: (self.kind.factory)(),
            supervisor: myself.clone(),
            semaphore: Arc::clone(&self.semaphore),
            shared: Arc::clone(&self.shared),
            kind: Arc::clone(&self.kind),
        };
        let (actor, _) = Actor::spawn_linked(None, AgentActor, args, myself.get_cell()).await?;
        self.watched.insert(actor.get_id(), child);
        self.children[child] = Child { actor: Some(actor), generation: self.next_generation, crashing: false };
        self.kind.live_children.fetch_add(1, Ordering::Relaxed);
        self.shared.agent_changed();
        Ok(())
    }

    /// Sends the jobs to the live children, splitting them round robin; keeps them in the
    /// backlog while no child is up.
    fn route(&mut self, jobs: Vec<StepJob>) {
        if let Some(reason) = self.kind.quarantine.lock().expect("quarantine lock").clone() {
            for job in &jobs {
                self.shared.report(job, StepFailure::Quarantined(reason.clone()));
            }
            return;
        }
        let live: Vec<usize> = (0..self.children.len())
            .map(|offset| (self.next_child + offset) % self.children.len())
            .filter(|&index| !self.children[index].crashing && self.children[index].actor.is_some())
            .collect();
        if live.is_empty() {
            self.backlog.extend(jobs);
            return;
        }
        self.next_child = (live[0] + 1) % self.children.len();
        let share = jobs.len().div_ceil(live.len());
        let mut shares: Vec<Vec<StepJob>> = live.iter().map(|_| Vec::with_capacity(share)).collect();
        for (position, job) in jobs.into_iter().enumerate() {
            shares[position % live.len()].push(job);
        }
        for (index, share) in live.into_iter().zip(shares) {
            if share.is_empty() {
                continue;
            }
            let actor = self.children[index].actor.as_ref().expect("a live child");
            if let Err(ractor::MessagingErr::SendErr(AgentMsg::RunBatch(returned))) =
                actor.send_message(AgentMsg::RunBatch(share))
            {
                self.backlog.extend(returned);
            }
        }
    }

    fn drain_backlog(&mut self) {
        let backlog = std::mem::take(&mut self.backlog);
        if !backlog.is_empty() {
            self.route(backlog);
        }
    }

    fn quarantine(&mut self, myself: &ActorRef<AgentSupervisorMsg>, last_error: &str) {
        let policy = self.kind.config.restart;
        let reason = format!(
            "agent `{}` is quarantined: it crashed more than {} times within {:?} (last: {last_error})",
            self.kind.name, policy.max_restarts, policy.period
        );
        error!(agent = %self.kind.name, %reason, "agent kind quarantined");
        *self.kind.quarantine.lock().expect("quarantine lock") = Some(reason.clone());
        self.shared.agent_changed();
        for job in std::mem::take(&mut self.backlog) {
            self.shared.report(&job, StepFailure::Quarantined(reason.clone()));
        }
        if let Some(after) = self.kind.config.quarantine_for {
            myself.send_after(after, || AgentSupervisorMsg::Release);
        }
    }
}

pub(crate) enum AgentMsg {
    RunBatch(Vec<StepJob>),
    Crash(String),
}

pub(crate) struct AgentActor;

/// What every step a child runs shares: one reference per step instead of one per field.
pub(crate) struct AgentActorArgs {
    child: usize,
    generation: u64,
    instance: Arc<dyn Agent>,
    supervisor: ActorRef<AgentSupervisorMsg>,
    semaphore: Arc<Semaphore>,
    shared: Arc<Shared>,
    kind: Arc<AgentKind>,
}

impl Actor for AgentActor {
    type Msg = AgentMsg;
    type State = Arc<AgentActorArgs>;
    type Arguments = AgentActorArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(Arc::new(args))
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            AgentMsg::RunBatch(jobs) => {
                state.kind.in_flight.fetch_add(jobs.len(), Ordering::Relaxed);
                for job in jobs {
                    // Boxed: the attempt's future is ≈ 2 KB, and a task moves its future by
                    // value into its cell and again when it ends; a box moves once.
                    tokio::spawn(Box::pin(run_step(Arc::clone(state), job)));
                }
                Ok(())
            }
            AgentMsg::Crash(message) => Err(format!("agent panicked: {message}").into()),
        }
    }
}

/// Runs one attempt: concurrency permit, timeout, cancellation, panic capture, validation.
async fn run_step(child: Arc<AgentActorArgs>, job: StepJob) {
    let AgentActorArgs { instance, semaphore, shared, kind, .. } = child.as_ref();
    let StepJob { shard, execution_id, attempt, plan, mut ctx } = job;
    let _permit = semaphore.acquire().await;
    ctx.memories = recall(shared, &ctx).await;
    ctx.deadline = Instant::now() + plan.timeout;
    let cancel = ctx.cancel.clone();
    let run = AssertUnwindSafe(instance.run(*ctx)).catch_unwind();
    tokio::pin!(run);
    let result = tokio::select! {
        biased;
        result = &mut run => Some(result),
        _ = tokio::time::sleep(plan.timeout) => {
            cancel.cancel();
            None
        }
        _ = cancel.cancelled() => {
            // Give the agent a moment to notice the cancellation and wind down.
            let _ = tokio::time::timeout(shared.config.cancel_grace, &mut run).await;
            Some(Ok(Err(AgentError::Cancelled)))
        }
    };
    let outcome = match result {
        None => StepOutcome::Failed(StepFailure::TimedOut(plan.timeout)),
        Some(Err(panic)) => {
            let message = panic_message(panic.as_ref());
            let _ = child.supervisor.send_message(AgentSupervisorMsg::TaskPanicked {
                child: child.child,
                generation: child.generation,
                message: message.clone(),
            });
            StepOutcome::Failed(StepFailure::Crashed(message))
        }
        Some(Ok(Err(AgentError::Cancelled))) => StepOutcome::Failed(StepFailure::Cancelled),
        Some(Ok(Err(AgentError::Retryable(message)))) => StepOutcome::Failed(StepFailure::Retryable(message)),
        Some(Ok(Err(AgentError::Fatal(message)))) => StepOutcome::Failed(StepFailure::Fatal(message)),
        Some(Ok(Err(AgentError::Refused(reason)))) => StepOutcome::Failed(StepFailure::Refused(reason)),
        Some(Ok(Err(AgentError::SandboxUnavailable(reason)))) => {
            StepOutcome::Failed(StepFailure::SandboxUnavailable(reason))
        }
        Some(Ok(Ok(output))) => validate(shared, &plan, output),
    };
    kind.in_flight.fetch_sub(1, Ordering::Relaxed);
    let done = StepDone { execution_id, step_index: plan.index, attempt, finished_at: crate::model::now(), outcome };
    shared.deliver(shard, done);
}

/// The owner's memories nearest to the step's input (its text values); none when the runtime
/// has no memory service, the input has no text, or recall fails or is slow (logged: a step
/// never fails for want of memories).
async fn recall(shared: &Shared, ctx: &StepContext) -> Vec<RecalledMemory> {
    let Some(memories) = &shared.memories else { return Vec::new() };
    if shared.config.recall_limit == 0 {
        return Vec::new();
    }
    let query = input_text(&ctx.input, RECALL_QUERY_CHARS);
    if query.trim().is_empty() {
        return Vec::new();
    }
    let mut search = MemorySearch::new(query, shared.config.recall_limit);
    search.exclude_kinds.push(CORRECTION_KIND.to_owned());
    let recalled = tokio::select! {
        recalled = tokio::time::timeout(shared.config.recall_timeout, memories.recall(ctx.owner, &search)) => recalled,
        _ = ctx.cancel.cancelled() => return Vec::new(),
    };
    match recalled {
        Ok(Ok(found)) => found,
        Ok(Err(error)) => {
            warn!(execution_id = %ctx.execution_id, step = %ctx.step_key, %error, "recall failed; the step runs without memories");
            Vec::new()
        }
        Err(_) => {
            warn!(execution_id = %ctx.execution_id, step = %ctx.step_key, "recall timed out; the step runs without memories");
            Vec::new()
        }
    }
}

/// The longest recall query taken from a step's input.
const RECALL_QUERY_CHARS: usize = 2_000;

/// The text values of a JSON document, depth first, joined by newlines, up to `limit` bytes.
fn input_text(value: &serde_json::Value, limit: usize) -> String {
    fn walk(value: &serde_json::Value, text: &mut String, limit: usize) {
        if text.len() >= limit {
            return;
        }
        match value {
            serde_json::Value::String(string) => {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(string);
            }
            serde_json::Value::Array(items) => items.iter().for_each(|item| walk(item, text, limit)),
            serde_json::Value::Object(fields) => fields.values().for_each(|field| walk(field, text, limit)),
            _ => {}
        }
    }
    let mut text = String::new();
    walk(value, &mut text, limit);
    if text.len() > limit {
        text.truncate(text.floor_char_boundary(limit));
    }
    text
}

fn validate(shared: &Shared, plan: &StepPlan, output: StepOutput) -> StepOutcome {
    if plan.validate.is_empty() {
        return StepOutcome::Output { output: Box::new(output), issues: Vec::new() };
    }
    match std::panic::catch_unwind(AssertUnwindSafe(|| shared.validators.run(plan, &output.output))) {
        Ok(issues) => StepOutcome::Output { output: Box::new(output), issues },
        Err(panic) => {
            StepOutcome::Failed(StepFailure::Fatal(format!("a validator panicked: {}", panic_message(panic.as_ref()))))
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-text payload".to_owned()
    }
}
