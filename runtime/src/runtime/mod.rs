//! The `Runtime`: builds the actor tree, admits executions and answers questions about them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ractor::{Actor, ActorRef};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{info, warn};

mod lease;

use crate::actors::Shared;
use crate::actors::core::{RootMsg, RootSupervisor};
use crate::actors::protocol::{ShardMsg, Submission};
use crate::actors::shared::{Admission, AgentDirectory, AgentKind, ShardSlot};
use crate::agent::{Agent, AgentFactory};
use crate::events::{EventBus, EventSink, EventSubscription};
use crate::ids::{ExecutionId, ProjectId, UserId};
use crate::memory::Memories;
use crate::model::ExecutionRecord;
use crate::pipeline::{PipelineDef, PipelineEnv, PipelineError, ValidatedPipeline};
use crate::status::ExecutionStatus;
use crate::store::{ExecutionStore, InMemoryStore};
use crate::validator::{Validator, Validators};
use crate::{AgentConfig, RuntimeConfig, RuntimeError};

/// What `Runtime::submit` needs to start an execution.
#[derive(Clone, Debug)]
pub struct SubmitRequest {
    /// The checked pipeline to run; its definition is pinned in the execution.
    pub pipeline: ValidatedPipeline,
    /// The execution's input.
    pub input: Value,
    /// Who owns it.
    pub owner: UserId,
    /// The project it belongs to.
    pub project: Option<ProjectId>,
    /// A client key that makes a repeated submission return the first execution.
    pub idempotency_key: Option<String>,
}

impl SubmitRequest {
    /// Builds a request for the local user.
    pub fn new(pipeline: ValidatedPipeline, input: Value) -> Self {
        Self { pipeline, input, owner: UserId::LOCAL, project: None, idempotency_key: None }
    }
}

/// Health of an agent kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentHealth {
    /// Every actor of the pool is up.
    Healthy,
    /// Some actor of the pool crashed and is waiting for its restart.
    Restarting,
    /// The kind exceeded its restart intensity; its steps fail fast.
    Quarantined {
        /// Why.
        reason: String,
    },
}

/// What the runtime reports about an agent kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentStatus {
    /// The kind's name.
    pub kind: String,
    /// Configured pool size.
    pub pool_size: usize,
    /// Actors currently up.
    pub live_actors: usize,
    /// Steps running now.
    pub in_flight: usize,
    /// Restarts performed.
    pub restarts: u64,
    /// Crashes seen.
    pub crashes: u64,
    /// Its health.
    pub health: AgentHealth,
}

/// Configures and starts a [`Runtime`].
pub struct RuntimeBuilder {
    store: Option<Arc<dyn ExecutionStore>>,
    agents: Vec<(String, AgentFactory, Option<AgentConfig>)>,
    default_agent_config: AgentConfig,
    validators: Validators,
    sinks: Vec<Arc<dyn EventSink>>,
    memories: Option<Arc<dyn Memories>>,
    signals: Option<Arc<dyn crate::cluster::ClusterSignals>>,
    config: RuntimeConfig,
}

impl RuntimeBuilder {
    /// Gives steps recall of their owner's memories, and remembers the corrections that passed
    /// (the corrector finds them again by meaning).
    pub fn memories(mut self, memories: Arc<dyn Memories>) -> Self {
        self.memories = Some(memories);
        self
    }

    /// Uses this store (default: in memory).
    pub fn store(mut self, store: Arc<dyn ExecutionStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Registers an agent kind; after a crash a fresh clone of `agent` replaces the instance.
    pub fn agent<A: Agent + Clone>(self, kind: impl Into<String>, agent: A) -> Self {
        self.agent_factory(kind, move || Arc::new(agent.clone()) as Arc<dyn Agent>)
    }

    /// Registers an agent kind made by `factory` (called at start and after every crash).
    pub fn agent_factory(
        mut self,
        kind: impl Into<String>,
        factory: impl Fn() -> Arc<dyn Agent> + Send + Sync + 'static,
    ) -> Self {
        let kind = kind.into();
        self.agents.retain(|(existing, _, _)| existing != &kind);
        self.agents.push((kind, Arc::new(factory), None));
        self
    }

    /// Sets the configuration of one registered kind.
    pub fn agent_config(mut self, kind: &str, config: AgentConfig) -> Self {
        for (existing, _, slot) in &mut self.agents {
            if existing == kind {
                *slot = Some(config);
            }
        }
        self
    }

    /// Sets the configuration of every kind without its own.
    pub fn default_agent_config(mut self, config: AgentConfig) -> Self {
        self.default_agent_config = config;
        self
    }

    /// Registers a validator.
    pub fn validator(mut self, name: impl Into<String>, validator: impl Validator) -> Self {
        self.validators.insert(name, Arc::new(validator));
        self
    }

    /// Adds a receiver of every durable event (metrics, audit…).
    pub fn event_sink(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Connects the runtime to the other nodes sharing its store.
    pub fn signals(mut self, signals: Arc<dyn crate::cluster::ClusterSignals>) -> Self {
        self.signals = Some(signals);
        self
    }

    /// Sets the runtime configuration.
    pub fn config(mut self, config: RuntimeConfig) -> Self {
        self.config = config;
        self
    }

    /// Starts the actor tree; with `resume`, takes over and resumes unfinished executions.
    pub async fn start(self) -> Result<Runtime, RuntimeError> {
        let store = self.store.unwrap_or_else(|| Arc::new(InMemoryStore::new()));
        let config = self.config;
        let bus = Arc::new(EventBus::new(config.event_capacity.max(16)));
        let mut sinks: Vec<Arc<dyn EventSink>> = vec![Arc::clone(&bus) as Arc<dyn EventSink>];
        sinks.extend(self.sinks);
        let agents: HashMap<String, Arc<AgentKind>> = self
            .agents
            .into_iter()
            .map(|(name, factory, agent_config)| {
                let kind = AgentKind::new(name.clone(), factory, agent_config.unwrap_or(self.default_agent_config));
                (name, Arc::new(kind))
            })
            .collect();
        let shards = (0..config.shards.max(1))
            .map(|_| ShardSlot {
                actor: RwLock::new(None),
                commit_lock: Arc::default(),
                waiting: AtomicBool::new(false),
                started: AtomicBool::new(false),
                results: Mutex::new(Vec::new()),
                spare: Mutex::new(None),
            })
            .collect();
        if config.resume {
            let ttl = config.lease_ttl.as_millis() as i64;
            let limit = if config.claims { config.max_live_executions } else { None };
            store.claim_executions(&config.node_id, ttl, limit, true).await?;
        }
        let shared = Arc::new(Shared {
            store,
            memories: self.memories,
            bus,
            sinks,
            validators: Arc::new(self.validators),
            agents: AgentDirectory::new(agents),
            shards,
            admission: Admission { max: config.max_live_executions, live: AtomicUsize::new(0) },
            node_id: config.node_id.clone(),
            stopping: AtomicBool::new(false),
            agent_changes: tokio::sync::watch::Sender::new(0),
            wake: Arc::default(),
            signals: self.signals,
            leases_lost: Default::default(),
            deadlines: Default::default(),
            config,
        });
        let (root, _) = Actor::spawn(None, RootSupervisor, Arc::clone(&shared))
            .await
            .map_err(|error| RuntimeError::Start(error.to_string()))?;
        let mut tasks = vec![
            tokio::spawn(lease::lease_loop(Arc::clone(&shared))),
            tokio::spawn(lease::deadline_loop(Arc::clone(&shared))),
        ];
        if let Some(signals) = &shared.signals {
            tasks.push(tokio::spawn(lease::signal_loop(Arc::clone(&shared), Arc::clone(signals))));
        }
        Ok(Runtime { shared, root, tasks })
    }
}

/// How long a cancellation that another node carries out is waited for before the answer
/// says it is pending.
const CANCEL_WAIT: Duration = Duration::from_secs(3);

/// The answer to a cancellation.
#[derive(Clone, Debug)]
pub struct Cancelled {
    /// The execution as stored after it.
    pub record: ExecutionRecord,
    /// Whether it is done (`false`: recorded, to be carried out by the node that holds the
    /// execution — or by the next one that claims it).
    pub done: bool,
}

/// A running troupe runtime: the actor tree, its store and its event bus.
pub struct Runtime {
    shared: Arc<Shared>,
    root: ActorRef<RootMsg>,
    /// The lease loop and the cluster signal loop.
    tasks: Vec<JoinHandle<()>>,
}

impl Runtime {
    /// Starts configuring a runtime.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder {
            store: None,
            agents: Vec::new(),
            default_agent_config: AgentConfig::default(),
            validators: Validators::default(),
            sinks: Vec::new(),
            memories: None,
            signals: None,
            config: RuntimeConfig::default(),
        }
    }

    /// Returns the store.
    pub fn store(&self) -> &Arc<dyn ExecutionStore> {
        &self.shared.store
    }

    /// Returns this node's id (the lease owner it writes).
    pub fn node_id(&self) -> &str {
        &self.shared.node_id
    }

    /// Checks a definition against this runtime's agents and validators.
    pub fn validate(&self, def: PipelineDef) -> Result<ValidatedPipeline, PipelineError> {
        def.validate(self.shared.as_ref())
    }

    /// Starts an execution and returns its id once it is durably stored (`planned`, or
    /// `running` when admitted at once). With an idempotency key already used by the owner,
    /// returns the earlier execution's id instead.
    pub async fn submit(&self, request: SubmitRequest) -> Result<ExecutionId, RuntimeError> {
        Ok(self.submit_once(request).await?.0)
    }

    /// Like [`Runtime::submit`], also saying whether the execution is new (`false`: the owner's
    /// idempotency key was used before, on this node or another: the store keeps it unique).
    pub async fn submit_once(&self, request: SubmitRequest) -> Result<(ExecutionId, bool), RuntimeError> {
        let owner = request.owner;
        let key = request.idempotency_key.clone();
        if let Some(key) = &key
            && let Some(existing) = self.shared.store.find_by_idempotency_key(owner, key).await?
        {
            return Ok((existing.id, false));
        }
        let now = crate::model::now();
        let id = ExecutionId::new();
        let pipeline = request.pipeline;
        let record = ExecutionRecord {
            id,
            owner: request.owner,
            project_id: request.project,
            pipeline_name: pipeline.name().to_owned(),
            pipeline_hash: pipeline.hash().to_owned(),
            pipeline: pipeline.shared_def(),
            input: request.input,
            status: ExecutionStatus::Planned,
            error: None,
            idempotency_key: request.idempotency_key,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
            lease_owner: Some(self.shared.node_id.clone()),
            lease_expires_at: Some(now.timestamp_millis() + self.shared.config.lease_ttl.as_millis() as i64),
            lease_epoch: 1,
        };
        let (reply, stored) = oneshot::channel();
        let shard = self.shard_for(id).await?;
        shard
            .send_message(ShardMsg::Submit(Box::new(Submission { record, pipeline, reply })))
            .map_err(|_| RuntimeError::Unavailable("the orchestrator is restarting".into()))?;
        if stored.await.is_ok() {
            return Ok((id, true));
        }
        // Not stored: another request with the same key won the race (here or on another node).
        if let Some(key) = &key
            && let Some(existing) = self.shared.store.find_by_idempotency_key(owner, key).await?
        {
            return Ok((existing.id, false));
        }
        Err(RuntimeError::Unavailable("the execution was not stored; submit it again".into()))
    }

    async fn shard_for(&self, id: ExecutionId) -> Result<ActorRef<ShardMsg>, RuntimeError> {
        let index = self.shared.shard_of(id);
        // A shard being restarted is back within its restart backoff.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut delay = Duration::from_millis(5);
        loop {
            if self.shared.stopping.load(Ordering::Acquire) {
                return Err(RuntimeError::Unavailable("the runtime is shutting down".into()));
            }
            if let Some(shard) = self.shared.shard(index) {
                return Ok(shard);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(RuntimeError::Unavailable("the orchestrator is restarting".into()));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(200));
        }
    }

    /// Returns every event of execution `id` after `after_seq`, then live ones, ending with
    /// its terminal event.
    pub fn subscribe(&self, id: ExecutionId, after_seq: u64) -> EventSubscription {
        EventSubscription::new(Arc::clone(&self.shared.store), Arc::clone(&self.shared.bus), id, after_seq)
    }

    /// Returns a receiver of every execution's durable events as they are published.
    pub fn subscribe_all(&self) -> tokio::sync::broadcast::Receiver<Arc<crate::model::Event>> {
        self.shared.bus.subscribe_all()
    }

    /// Returns a receiver of every execution's streamed LLM tokens (ephemeral: not stored).
    pub fn subscribe_tokens(&self) -> tokio::sync::broadcast::Receiver<Arc<crate::events::TokenChunk>> {
        self.shared.bus.subscribe_tokens()
    }

    /// Returns a receiver of execution `id`'s streamed LLM tokens only.
    pub fn subscribe_execution_tokens(&self, id: ExecutionId) -> crate::events::TokenSubscription {
        self.shared.bus.subscribe_execution_tokens(id)
    }

    /// Waits until execution `id` reaches a terminal status and returns it.
    pub async fn wait(&self, id: ExecutionId) -> Result<ExecutionRecord, RuntimeError> {
        let mut subscription = self.subscribe(id, 0);
        while subscription.next().await?.is_some() {}
        self.shared.store.get_execution(id).await?.ok_or(RuntimeError::NotFound(id))
    }

    /// Cancels execution `id`: running steps are told to stop and it ends `cancelled`.
    pub async fn cancel(&self, id: ExecutionId) -> Result<Cancelled, RuntimeError> {
        let shard = self.shard_for(id).await?;
        let (reply, answer) = oneshot::channel();
        shard
            .send_message(ShardMsg::Cancel { execution_id: id, reply })
            .map_err(|_| RuntimeError::Unavailable("the orchestrator is restarting".into()))?;
        let cancelled = answer.await.unwrap_or(false);
        let record = self.shared.store.get_execution(id).await?.ok_or(RuntimeError::NotFound(id))?;
        if cancelled {
            return Ok(Cancelled { record, done: true });
        }
        if record.status.is_terminal() {
            return Err(RuntimeError::AlreadyFinished { id, status: record.status });
        }
        // Held by another node (or by none yet): record the intent for its owner, tell it, and
        // wait a moment for it to be carried out.
        if !self.shared.store.request_cancel(id).await? {
            let record = self.shared.store.get_execution(id).await?.ok_or(RuntimeError::NotFound(id))?;
            return Err(RuntimeError::AlreadyFinished { id, status: record.status });
        }
        // Parked (or held by nobody): take it up here and cancel it at once.
        let ttl_ms = self.shared.config.lease_ttl.as_millis() as i64;
        if self.shared.store.claim_execution(id, &self.shared.node_id, ttl_ms).await?.is_some() {
            let (reply, answer) = oneshot::channel();
            shard
                .send_message(ShardMsg::CancelParked { execution_id: id, reply })
                .map_err(|_| RuntimeError::Unavailable("the orchestrator is restarting".into()))?;
            if answer.await.unwrap_or(false) {
                let record = self.shared.store.get_execution(id).await?.ok_or(RuntimeError::NotFound(id))?;
                return Ok(Cancelled { record, done: true });
            }
        }
        self.signal(&[crate::cluster::Signal::Cancel(id)]).await;
        let mut subscription = self.subscribe(id, 0);
        let finished =
            tokio::time::timeout(CANCEL_WAIT, async { while let Ok(Some(_)) = subscription.next().await {} })
                .await
                .is_ok();
        let record = self.shared.store.get_execution(id).await?.ok_or(RuntimeError::NotFound(id))?;
        if finished && record.status == ExecutionStatus::Cancelled {
            return Ok(Cancelled { record, done: true });
        }
        if record.status.is_terminal() {
            return Err(RuntimeError::AlreadyFinished { id, status: record.status });
        }
        Ok(Cancelled { record, done: false })
    }

    /// Decides the approval step `step` of execution `id` is waiting for, as user `by`; the
    /// first decision wins, on whichever node it arrives, and wakes the execution wherever it
    /// is taken up. Who may decide is the caller's check (see [`Approvers::allows`]).
    ///
    /// [`Approvers::allows`]: crate::pipeline::approval::Approvers::allows
    pub async fn decide(
        &self,
        id: ExecutionId,
        step: &str,
        decision: crate::pipeline::approval::Decision,
        by: crate::ids::UserId,
        comment: Option<String>,
    ) -> Result<crate::pipeline::approval::Decided, RuntimeError> {
        let request = crate::pipeline::approval::DecisionRequest {
            execution_id: id,
            step_key: step.to_owned(),
            decision,
            by: Some(by),
            comment,
            at: crate::model::now(),
        };
        let not_waiting = || RuntimeError::NotWaiting { id, step: step.to_owned() };
        let decided = self.shared.store.decide_approval(&request).await?.ok_or_else(not_waiting)?;
        if decided.record.decision.is_none() {
            return Err(not_waiting());
        }
        if decided.recorded && !lease::take_up(&self.shared, id).await? {
            // Held by a node (this one or another) while other steps run: tell its holder.
            self.shared.send_to_shard(self.shared.shard_of(id), ShardMsg::Approvals(id));
            self.signal(&[crate::cluster::Signal::Decided(id)]).await;
        }
        Ok(decided)
    }

    /// Returns an execution's approvals, by step then attempt.
    pub async fn approvals(
        &self,
        id: ExecutionId,
    ) -> Result<Vec<crate::pipeline::approval::ApprovalRecord>, RuntimeError> {
        Ok(self.shared.store.list_approvals(id).await?)
    }

    /// Runs a failed execution again from its failed steps, keeping the outputs of completed
    /// ones; once the restart is durable, returns the execution as stored then (`running`, or
    /// already further along).
    pub async fn retry(&self, id: ExecutionId) -> Result<ExecutionRecord, RuntimeError> {
        let shard = self.shard_for(id).await?;
        let (reply, answer) = oneshot::channel();
        shard
            .send_message(ShardMsg::Retry { execution_id: id, reply })
            .map_err(|_| RuntimeError::Unavailable("the orchestrator is restarting".into()))?;
        let unavailable = || RuntimeError::Unavailable("the orchestrator restarted; retry again".into());
        let committed = answer.await.map_err(|_| unavailable())??;
        committed.await.map_err(|_| unavailable())?;
        self.shared.store.get_execution(id).await?.ok_or(RuntimeError::NotFound(id))
    }

    /// Adds an agent kind while running (a custom agent, a plugin); its supervisor is up when
    /// this returns. A kind of that name already registered is refused.
    pub async fn register_agent(
        &self,
        kind: impl Into<String>,
        factory: AgentFactory,
        config: AgentConfig,
    ) -> Result<(), RuntimeError> {
        let kind = kind.into();
        if !self.shared.agents.insert(Arc::new(AgentKind::new(kind.clone(), factory, config))) {
            return Err(RuntimeError::AgentExists(kind));
        }
        let (reply, started) = oneshot::channel();
        self.root
            .send_message(RootMsg::Core(crate::actors::core::CoreMsg::AddAgent(kind, reply)))
            .map_err(|_| RuntimeError::Unavailable("the runtime is stopping".into()))?;
        started.await.map_err(|_| RuntimeError::Unavailable("the runtime is stopping".into()))
    }

    /// Removes an agent kind added with [`Runtime::register_agent`] (or at start): new steps
    /// naming it fail as naming an unknown agent; attempts already running finish.
    pub fn unregister_agent(&self, kind: &str) -> Result<(), RuntimeError> {
        let removed = self.shared.agents.remove(kind).ok_or_else(|| RuntimeError::UnknownAgent(kind.to_owned()))?;
        let _ = self.root.send_message(RootMsg::Core(crate::actors::core::CoreMsg::RemoveAgent(removed)));
        Ok(())
    }

    /// Waits until agent kind `kind` satisfies `predicate` (checked at once, then at every
    /// change of any agent kind: a crash, a restart, a quarantine, a release) and returns its
    /// status. It never returns while the kind does not exist; callers bound the wait.
    pub async fn wait_for_agent(&self, kind: &str, predicate: impl Fn(&AgentStatus) -> bool) -> AgentStatus {
        let mut changes = self.shared.agent_changes.subscribe();
        loop {
            changes.mark_unchanged();
            if let Some(status) = self.agents().into_iter().find(|status| status.kind == kind)
                && predicate(&status)
            {
                return status;
            }
            if changes.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Returns the status of every agent kind, sorted by name.
    pub fn agents(&self) -> Vec<AgentStatus> {
        agent_statuses(&self.shared)
    }

    /// Returns the cluster's nodes (this one alone with a store that keeps no cluster).
    pub async fn nodes(&self) -> Result<Vec<crate::store::NodeRecord>, RuntimeError> {
        let nodes = self.shared.store.list_nodes(self.shared.config.lease_ttl.as_millis() as i64).await?;
        if !nodes.is_empty() {
            return Ok(nodes);
        }
        let now = crate::model::now();
        Ok(vec![crate::store::NodeRecord {
            id: self.shared.node_id.clone(),
            started_at: now,
            heartbeat_at: now,
            live: true,
            executions: self.live_executions() as u64,
            status: crate::cluster::this_process(),
        }])
    }

    /// Wakes this node's claim loop: work may be waiting (another node handed it back).
    pub fn wake_claims(&self) {
        self.shared.wake.wake();
    }

    /// Releases a quarantined agent kind: its actors are started again, on every node.
    pub async fn release_agent(&self, kind: &str) -> Result<(), RuntimeError> {
        release_agent(&self.shared, kind)?;
        self.signal(&[crate::cluster::Signal::ReleaseAgent(kind.to_owned())]).await;
        Ok(())
    }

    /// Tells the other nodes (best effort: they also learn it from the store, later).
    pub async fn signal(&self, signals: &[crate::cluster::Signal]) {
        if let Some(bus) = &self.shared.signals
            && let Err(error) = bus.publish(&self.shared.node_id, signals).await
        {
            warn!(%error, "cannot signal the other nodes; they learn it from the store later");
        }
    }

    /// Returns the signals of every node (none without a cluster).
    pub fn cluster_signals(&self) -> Option<tokio::sync::broadcast::Receiver<Arc<crate::cluster::Signaled>>> {
        self.shared.signals.as_ref().map(|signals| signals.subscribe())
    }

    /// Returns whether every orchestrator shard and agent supervisor is up.
    pub fn is_ready(&self) -> bool {
        !self.shared.stopping.load(Ordering::Acquire)
            && (0..self.shared.shards.len()).all(|index| self.shared.shard(index).is_some())
            && self
                .shared
                .agents
                .all()
                .iter()
                .all(|kind| kind.supervisor.read().expect("agent directory lock").is_some())
    }

    /// Returns how many executions this node dropped because another node took their lease.
    pub fn leases_lost(&self) -> u64 {
        self.shared.leases_lost.load(Ordering::Relaxed)
    }

    /// Returns how many executions are admitted and not finished.
    pub fn live_executions(&self) -> usize {
        self.shared.admission.live.load(Ordering::Relaxed)
    }

    #[cfg(any(test, feature = "testsuite"))]
    /// Fault injection: makes the orchestrator shard holding execution `id` panic. The shard is
    /// restarted by its supervisor and reloads its executions from the store.
    pub fn inject_orchestrator_panic(&self, id: ExecutionId) {
        self.shared.send_to_shard(self.shared.shard_of(id), ShardMsg::InjectPanic);
    }

    /// Stops as a killed process would, for benchmarks and tests of takeover: the actor tree
    /// stops, nothing is handed back, and the other nodes take the executions once the leases
    /// run out.
    pub async fn halt(self) {
        self.shared.stopping.store(true, Ordering::Release);
        for task in &self.tasks {
            task.abort();
        }
        let _ = self.root.stop_and_wait(None, Some(Duration::from_secs(10))).await;
    }

    /// Stops the actor tree after the batches being committed are durable. Running steps stay
    /// `running` in the store and are resumed by the next start.
    pub async fn shutdown(self) {
        self.shared.stopping.store(true, Ordering::Release);
        for task in &self.tasks {
            task.abort();
        }
        let _ = self.root.stop_and_wait(None, Some(Duration::from_secs(10))).await;
        for slot in &self.shared.shards {
            let _ = slot.commit_lock.lock().await;
        }
        // Hand what is unfinished back at once: another node (or this one, restarted) takes
        // it without waiting for the leases to run out.
        match self.shared.store.release_leases(&self.shared.node_id).await {
            Ok(0) => {}
            Ok(released) => {
                info!(released, "handed unfinished executions back");
                self.signal(&[crate::cluster::Signal::Work]).await;
            }
            Err(error) => warn!(%error, "cannot hand executions back; they return when their leases run out"),
        }
        if let Err(error) = self.shared.store.leave_cluster(&self.shared.node_id).await {
            warn!(%error, "cannot leave the cluster; the node expires with its heartbeat");
        }
    }
}

/// Releases a quarantined agent kind on this node.
pub(crate) fn release_agent(shared: &Shared, kind: &str) -> Result<(), RuntimeError> {
    let entry = shared.agents.get(kind).ok_or_else(|| RuntimeError::UnknownAgent(kind.to_owned()))?;
    let supervisor = entry.supervisor.read().expect("agent directory lock").clone();
    supervisor
        .ok_or_else(|| RuntimeError::Unavailable(format!("agent `{kind}` is restarting")))?
        .send_message(crate::actors::protocol::AgentSupervisorMsg::Release)
        .map_err(|_| RuntimeError::Unavailable(format!("agent `{kind}` is restarting")))
}

/// Every agent kind's status.
pub(crate) fn agent_statuses(shared: &Shared) -> Vec<AgentStatus> {
    shared
        .agents
        .all()
        .iter()
        .map(|kind| {
            let quarantine = kind.quarantine.lock().expect("quarantine lock").clone();
            let live_actors = kind.live_children.load(Ordering::Relaxed);
            let health = match quarantine {
                Some(reason) => AgentHealth::Quarantined { reason },
                None if live_actors < kind.config.pool_size.max(1) => AgentHealth::Restarting,
                None => AgentHealth::Healthy,
            };
            AgentStatus {
                kind: kind.name.clone(),
                pool_size: kind.config.pool_size.max(1),
                live_actors,
                in_flight: kind.in_flight.load(Ordering::Relaxed),
                restarts: kind.restarts.load(Ordering::Relaxed),
                crashes: kind.crashes.load(Ordering::Relaxed),
                health,
            }
        })
        .collect()
}

impl AgentHealth {
    /// `healthy`, `restarting` or `quarantined`.
    pub fn name(&self) -> &'static str {
        match self {
            AgentHealth::Healthy => "healthy",
            AgentHealth::Restarting => "restarting",
            AgentHealth::Quarantined { .. } => "quarantined",
        }
    }
}

impl PipelineEnv for Shared {
    fn has_agent(&self, kind: &str) -> bool {
        self.agents.contains(kind)
    }

    fn has_validator(&self, name: &str) -> bool {
        self.validators.contains(name)
    }

    fn check_validator(&self, name: &str, step: &crate::pipeline::StepDef) -> Result<(), (String, String)> {
        self.validators.check(name, step)
    }
}
