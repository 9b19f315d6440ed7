//! State shared by the actors of one runtime: the store, the bus, the directory of live actor
//! references (updated when a supervisor restarts a child) and admission control.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use ractor::ActorRef;

use super::protocol::{AgentSupervisorMsg, ShardMsg, StepDone, StepFailure, StepJob, StepOutcome};
use crate::agent::AgentFactory;
use crate::config::{AgentConfig, RuntimeConfig};
use crate::events::{EventBus, EventSink};
use crate::ids::ExecutionId;
use crate::store::ExecutionStore;
use crate::validator::Validators;

pub(crate) struct Shared {
    pub store: Arc<dyn ExecutionStore>,
    pub memories: Option<Arc<dyn crate::memory::Memories>>,
    pub bus: Arc<EventBus>,
    pub sinks: Vec<Arc<dyn EventSink>>,
    pub validators: Arc<Validators>,
    pub agents: AgentDirectory,
    pub shards: Vec<ShardSlot>,
    pub admission: Admission,
    pub config: RuntimeConfig,
    pub node_id: String,
    pub stopping: AtomicBool,
    /// Bumped whenever an agent kind's health or counters change (see
    /// `Runtime::wait_for_agent`).
    pub agent_changes: tokio::sync::watch::Sender<u64>,
    /// Wakes the claim loop (see `crate::cluster`).
    pub wake: Arc<crate::cluster::ClusterWake>,
    /// Carries signals to and from the other nodes sharing the store (none: a single node).
    pub signals: Option<Arc<dyn crate::cluster::ClusterSignals>>,
    /// Executions dropped because another node took their lease.
    pub leases_lost: AtomicU64,
    /// Approval deadlines to act on (one timer for all: see `runtime::lease::deadline_loop`).
    pub deadlines: Deadlines,
}

/// When an execution's approval times out.
type Deadline = (chrono::DateTime<chrono::Utc>, ExecutionId);

/// Approval deadlines, earliest first. A parked execution holds no task: one loop per runtime
/// sleeps until the earliest deadline and then takes the execution up.
#[derive(Default)]
pub(crate) struct Deadlines {
    heap: Mutex<std::collections::BinaryHeap<std::cmp::Reverse<Deadline>>>,
    /// Fires when an earlier deadline than the loop sleeps for was added.
    pub changed: tokio::sync::Notify,
}

impl Deadlines {
    /// Adds a deadline of execution `id`.
    pub fn add(&self, at: chrono::DateTime<chrono::Utc>, id: ExecutionId) {
        let mut heap = self.heap.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let earliest = heap.peek().is_none_or(|std::cmp::Reverse((first, _))| at < *first);
        heap.push(std::cmp::Reverse((at, id)));
        drop(heap);
        if earliest {
            self.changed.notify_one();
        }
    }

    /// Returns the earliest deadline.
    pub fn next(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let heap = self.heap.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        heap.peek().map(|std::cmp::Reverse((at, _))| *at)
    }

    /// Removes and returns the executions whose deadline is at or before `now`.
    pub fn take_due(&self, now: chrono::DateTime<chrono::Utc>) -> Vec<ExecutionId> {
        let mut heap = self.heap.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut due = Vec::new();
        while heap.peek().is_some_and(|std::cmp::Reverse((at, _))| *at <= now) {
            let std::cmp::Reverse((_, id)) = heap.pop().expect("peeked");
            if !due.contains(&id) {
                due.push(id);
            }
        }
        due
    }
}

impl Shared {
    /// Tells `wait_for_agent` callers that an agent kind changed.
    pub(crate) fn agent_changed(&self) {
        self.agent_changes.send_modify(|version| *version = version.wrapping_add(1));
    }
}

/// One orchestrator shard's place in the directory.
pub(crate) struct ShardSlot {
    pub actor: RwLock<Option<ActorRef<ShardMsg>>>,
    /// Held while a batch is applied and its effects carried out; a restarted shard takes it
    /// before reloading, so it never reads the store under a half-published batch.
    pub commit_lock: Arc<tokio::sync::Mutex<()>>,
    /// Whether the shard has planned executions waiting for admission.
    pub waiting: AtomicBool,
    /// Whether the shard has been started before (a later start is a restart).
    pub started: AtomicBool,
    /// Ends of attempts waiting for the shard (see [`Shared::deliver`]).
    pub results: Mutex<Vec<StepDone>>,
    /// The batch and job list of the shard's last commit, emptied, for its next one (see
    /// [`crate::store::WriteBatch::clear_for_reuse`]).
    pub spare: Mutex<Option<(crate::store::WriteBatch, Vec<StepJob>)>>,
}

/// The agent kinds, by name: the ones registered at start and those added while running
/// (custom agents and plugins).
#[derive(Default)]
pub(crate) struct AgentDirectory(RwLock<HashMap<String, Arc<AgentKind>>>);

impl AgentDirectory {
    pub fn new(kinds: HashMap<String, Arc<AgentKind>>) -> Self {
        Self(RwLock::new(kinds))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<AgentKind>>> {
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<AgentKind>>> {
        self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn get(&self, name: &str) -> Option<Arc<AgentKind>> {
        self.read().get(name).cloned()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.read().contains_key(name)
    }

    /// Every kind, sorted by name.
    pub fn all(&self) -> Vec<Arc<AgentKind>> {
        let mut kinds: Vec<Arc<AgentKind>> = self.read().values().cloned().collect();
        kinds.sort_by(|a, b| a.name.cmp(&b.name));
        kinds
    }

    /// Adds a kind; false if one of that name exists.
    pub fn insert(&self, kind: Arc<AgentKind>) -> bool {
        match self.write().entry(kind.name.clone()) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(kind);
                true
            }
        }
    }

    pub fn remove(&self, name: &str) -> Option<Arc<AgentKind>> {
        self.write().remove(name)
    }
}

/// One agent kind: how to make it, how to run it, and what the API shows about it.
pub(crate) struct AgentKind {
    pub name: String,
    pub factory: AgentFactory,
    pub config: AgentConfig,
    pub supervisor: RwLock<Option<ActorRef<AgentSupervisorMsg>>>,
    pub restarts: AtomicU64,
    pub crashes: AtomicU64,
    pub in_flight: AtomicUsize,
    pub live_children: AtomicUsize,
    pub quarantine: Mutex<Option<String>>,
}

impl AgentKind {
    pub fn new(name: String, factory: AgentFactory, config: AgentConfig) -> Self {
        Self {
            name,
            factory,
            config,
            supervisor: RwLock::new(None),
            restarts: AtomicU64::new(0),
            crashes: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            live_children: AtomicUsize::new(0),
            quarantine: Mutex::new(None),
        }
    }
}

/// Caps the number of live (admitted, non-terminal) executions.
pub(crate) struct Admission {
    pub max: Option<usize>,
    pub live: AtomicUsize,
}

impl Admission {
    pub fn try_acquire(&self) -> bool {
        let Some(max) = self.max else {
            self.live.fetch_add(1, Ordering::Relaxed);
            return true;
        };
        self.live.fetch_update(Ordering::AcqRel, Ordering::Acquire, |live| (live < max).then_some(live + 1)).is_ok()
    }

    /// Counts an execution that was already running before a restart, whatever the cap.
    pub fn force_acquire(&self) {
        self.live.fetch_add(1, Ordering::Relaxed);
    }

    pub fn release(&self) {
        self.live.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Shared {
    pub fn shard_of(&self, id: ExecutionId) -> usize {
        (id.as_uuid().as_u128() % self.shards.len() as u128) as usize
    }

    pub fn shard(&self, index: usize) -> Option<ActorRef<ShardMsg>> {
        self.shards[index].actor.read().expect("shard directory lock").clone()
    }

    /// Sends a message to the shard that owns `index`; a message to a shard being restarted
    /// is dropped, which is safe: the restarted shard reloads its executions from the store.
    pub fn send_to_shard(&self, index: usize, message: ShardMsg) {
        if let Some(shard) = self.shard(index) {
            let _ = shard.send_message(message);
        }
    }

    /// Hands steps to their agent kinds' supervisors — one message per kind — or reports at
    /// once why a step cannot run.
    pub fn dispatch_all(&self, jobs: &mut Vec<StepJob>) {
        let Some(first) = jobs.first() else { return };
        // Mostly one kind (one busy agent): the jobs go as they are, and `jobs` is given the
        // same room afresh (one allocation; a taken, empty vector would regrow row by row).
        if jobs.iter().all(|job| job.plan.agent == first.plan.agent) {
            let kind = Arc::clone(&first.plan.agent);
            let room = jobs.capacity();
            self.dispatch_group(&kind, std::mem::replace(jobs, Vec::with_capacity(room)));
            return;
        }
        // Else each job's kind is found once, and each kind's group is allocated at its size
        // (a group grown as its jobs come would move them at every doubling); `jobs` keeps its
        // room for the shard's next batch.
        let mut kinds: Vec<(&Arc<str>, usize)> = Vec::new();
        let slots: Vec<usize> = jobs
            .iter()
            .map(|job| match kinds.iter().position(|(kind, _)| **kind == job.plan.agent) {
                Some(slot) => {
                    kinds[slot].1 += 1;
                    slot
                }
                None => {
                    kinds.push((&job.plan.agent, 1));
                    kinds.len() - 1
                }
            })
            .collect();
        let mut groups: Vec<(Arc<str>, Vec<StepJob>)> =
            kinds.iter().map(|(kind, count)| (Arc::clone(kind), Vec::with_capacity(*count))).collect();
        for (job, slot) in jobs.drain(..).zip(slots) {
            groups[slot].1.push(job);
        }
        for (kind, group) in groups {
            self.dispatch_group(&kind, group);
        }
    }

    /// Hands jobs of one agent kind to its supervisor (or fails them when it cannot take them).
    fn dispatch_group(&self, kind: &str, group: Vec<StepJob>) {
        let Some(entry) = self.agents.get(kind) else {
            for job in &group {
                self.report(job, StepFailure::Fatal(format!("agent `{kind}` is not registered")));
            }
            return;
        };
        let supervisor = entry.supervisor.read().expect("agent directory lock").clone();
        let returned = match supervisor {
            Some(supervisor) => match supervisor.send_message(AgentSupervisorMsg::RunBatch(group)) {
                Ok(()) => return,
                Err(ractor::MessagingErr::SendErr(AgentSupervisorMsg::RunBatch(group))) => group,
                Err(_) => return,
            },
            None => group,
        };
        for job in &returned {
            self.report(job, StepFailure::Unavailable(format!("agent `{kind}` is restarting")));
        }
    }

    /// Hands the end of an attempt to its shard. Results queue in the shard's slot and one
    /// `ResultsReady` message rings the shard when the queue was empty, so under load a shard
    /// handles many results per message. A queue left behind by a crashed shard is drained by
    /// its successor.
    pub fn deliver(&self, shard: usize, done: StepDone) {
        let first = {
            let mut results = self.shards[shard].results.lock().expect("results lock");
            results.push(done);
            results.len() == 1
        };
        if first {
            self.send_to_shard(shard, ShardMsg::ResultsReady);
        }
    }

    /// Reports a step that ended without running.
    pub fn report(&self, job: &StepJob, failure: StepFailure) {
        let now = crate::model::now();
        self.deliver(
            job.shard,
            StepDone {
                execution_id: job.execution_id,
                step_index: job.plan.index,
                attempt: job.attempt,
                finished_at: now,
                outcome: StepOutcome::Failed(failure),
            },
        );
    }
}
