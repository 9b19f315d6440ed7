//! The runtime's settings: of the whole ([`RuntimeConfig`]) and of each agent kind
//! ([`AgentConfig`]).

use std::time::Duration;

use crate::supervision::RestartPolicy;

/// Settings of one agent kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentConfig {
    /// How many `AgentActor`s host the kind (each runs many steps concurrently).
    pub pool_size: usize,
    /// How many steps of the kind may run at once across the pool.
    pub concurrency: usize,
    /// How crashes are healed.
    pub restart: RestartPolicy,
    /// How long a quarantine lasts before the kind is released by itself (`None`: until an
    /// operator releases it).
    pub quarantine_for: Option<Duration>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self { pool_size: 1, concurrency: 256, restart: RestartPolicy::default(), quarantine_for: None }
    }
}

impl AgentConfig {
    /// The largest concurrency a kind can be given (effectively unlimited).
    pub const UNLIMITED: usize = tokio::sync::Semaphore::MAX_PERMITS;
}

/// Settings of the runtime as a whole.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Orchestrator shards (default: one per available core).
    pub shards: usize,
    /// The most executions running at once; further ones wait in `planned` (default: no cap).
    pub max_live_executions: Option<usize>,
    /// This node's name in execution leases; stable across restarts of the same node.
    pub node_id: String,
    /// How long a lease lasts without renewal.
    pub lease_ttl: Duration,
    /// How long a cancelled agent may take to wind down before it is dropped.
    pub cancel_grace: Duration,
    /// Restart policy of the core tree (orchestrator shards, agent supervisors).
    pub core_restart: RestartPolicy,
    /// Events buffered per live subscriber before it lags and replays from the store.
    pub event_capacity: usize,
    /// Whether to take over and resume unfinished executions on start.
    pub resume: bool,
    /// Whether to keep taking executions other nodes left (dead, shut down, or never taken)
    /// while running: the claim loop of `troupe serve` in a cluster.
    pub claims: bool,
    /// How many of the owner's memories a step receives (recalled by its input; 0: none).
    pub recall_limit: usize,
    /// The longest a recall may take before the step runs without memories.
    pub recall_timeout: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            shards: std::thread::available_parallelism().map_or(2, usize::from),
            max_live_executions: None,
            node_id: format!("node-{}", uuid::Uuid::now_v7()),
            lease_ttl: Duration::from_secs(30),
            cancel_grace: Duration::from_secs(2),
            core_restart: RestartPolicy::default(),
            event_capacity: 1024,
            resume: true,
            claims: false,
            recall_limit: 5,
            recall_timeout: Duration::from_secs(2),
        }
    }
}
