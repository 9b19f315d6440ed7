//! Many nodes, one system: what nodes sharing a store tell each other, and how.
//!
//! Leases are rows in the store (owner, epoch, expiry by the database's clock). Each node
//! renews what it holds every third of a lease period and drops what a renewal no longer
//! lists (another node took it); every batch it writes is fenced by the epochs it holds, so a
//! node that lost a lease — paused, partitioned — has its writes refused in the same
//! transaction (see `ExecutionStore::apply`). With `claims`, the node also takes executions
//! whose lease ran out (a dead node's), that were handed back (an orderly shutdown) or that
//! nobody took, up to its capacity: every half lease period, and at once when woken
//! ([`ClusterWake`]) by a cross-node [`Signal`]. The loops themselves are the runtime's.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::Notify;

use crate::ids::ExecutionId;

/// The most executions one claim round takes (a node with a backlog takes none).
pub const CLAIM_BATCH: usize = 64;

/// Wakes a node's claim loop at once (work was handed back or submitted elsewhere).
#[derive(Default)]
pub struct ClusterWake(Notify);

impl ClusterWake {
    /// Runs a claim round now instead of at the next tick.
    pub fn wake(&self) {
        self.0.notify_one();
    }

    /// Resolves at the next wake.
    pub(crate) async fn notified(&self) {
        self.0.notified().await;
    }
}

/// Names this process: its host and pid (a restarted node tells its killed predecessor from a
/// live namesake by them).
pub fn this_process() -> serde_json::Value {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    json!({"host": host.trim(), "pid": std::process::id()})
}

// ----- signals between nodes ----------------------------------------------------------------

/// What one node tells the others. Signals are hints that save waiting: the store stays the
/// truth (a node that missed some — a dropped connection — resynchronises from it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Events `first..=last` of an execution are durable.
    Events {
        /// The execution.
        execution: ExecutionId,
        /// The first new event's seq.
        first: u64,
        /// The last new event's seq.
        last: u64,
    },
    /// Executions are free to claim (handed back by a node that stopped).
    Work,
    /// A user asked to cancel an execution (the intent is in the store).
    Cancel(ExecutionId),
    /// An approval of an execution was decided (the decision is in the store).
    Decided(ExecutionId),
    /// An admin released a quarantined agent kind.
    ReleaseAgent(String),
    /// A memory of `owner` was stored (`Some(id)`) or memories were deleted (`None`).
    Memory {
        /// The owner.
        owner: crate::ids::UserId,
        /// The memory stored, if one.
        id: Option<uuid::Uuid>,
    },
    /// Signals may have been missed (the connection carrying them dropped): re-read the store.
    Resync,
}

/// A signal and the node that sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signaled {
    /// The sending node (empty for a local [`Signal::Resync`]).
    pub from: String,
    /// What it says.
    pub signal: Signal,
}

/// Carries signals between the nodes sharing a store (PostgreSQL `LISTEN/NOTIFY`).
#[async_trait::async_trait]
pub trait ClusterSignals: Send + Sync + 'static {
    /// Sends signals to every node (this one included; receivers skip their own).
    async fn publish(&self, from: &str, signals: &[Signal]) -> Result<(), crate::store::StoreError>;
    /// Returns a receiver of the signals every node sends.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<Signaled>>;
}

/// The largest payload one notification carries (PostgreSQL's limit is 8000 bytes).
pub const MAX_PAYLOAD: usize = 7900;

/// Encodes signals as text payloads of at most [`MAX_PAYLOAD`] bytes each:
/// `from` then one signal per line (`e id first last`, `w`, `c id`, `d id`, `a kind`,
/// `m owner [id]`).
pub fn encode_signals(from: &str, signals: &[Signal]) -> Vec<String> {
    let mut payloads = Vec::new();
    let mut current = from.to_owned();
    for signal in signals {
        let line = match signal {
            Signal::Events { execution, first, last } => format!("e {} {first} {last}", execution.0),
            Signal::Work => "w".to_owned(),
            Signal::Cancel(id) => format!("c {}", id.0),
            Signal::Decided(id) => format!("d {}", id.0),
            Signal::ReleaseAgent(kind) => format!("a {kind}"),
            Signal::Memory { owner, id: Some(id) } => format!("m {} {id}", owner.0),
            Signal::Memory { owner, id: None } => format!("m {}", owner.0),
            Signal::Resync => continue,
        };
        if current.len() + 1 + line.len() > MAX_PAYLOAD && current.len() > from.len() {
            payloads.push(std::mem::replace(&mut current, from.to_owned()));
        }
        current.push('\n');
        current.push_str(&line);
    }
    if current.len() > from.len() {
        payloads.push(current);
    }
    payloads
}

/// Decodes a payload of [`encode_signals`]; lines it does not understand are skipped.
pub fn decode_signals(payload: &str) -> Vec<Signaled> {
    let mut lines = payload.split('\n');
    let from = lines.next().unwrap_or_default().to_owned();
    let uuid = |text: Option<&str>| text.and_then(|text| text.parse::<uuid::Uuid>().ok());
    lines
        .filter_map(|line| {
            let mut parts = line.split(' ');
            let signal = match parts.next()? {
                "e" => Signal::Events {
                    execution: ExecutionId(uuid(parts.next())?),
                    first: parts.next()?.parse().ok()?,
                    last: parts.next()?.parse().ok()?,
                },
                "w" => Signal::Work,
                "c" => Signal::Cancel(ExecutionId(uuid(parts.next())?)),
                "d" => Signal::Decided(ExecutionId(uuid(parts.next())?)),
                "a" => Signal::ReleaseAgent(parts.next()?.to_owned()),
                "m" => Signal::Memory { owner: crate::ids::UserId(uuid(parts.next())?), id: uuid(parts.next()) },
                _ => return None,
            };
            Some(Signaled { from: from.clone(), signal })
        })
        .collect()
}

/// Returns the signals announcing a batch's events: per execution, the range it added.
pub fn event_signals(events: &[std::sync::Arc<crate::model::Event>]) -> Vec<Signal> {
    let mut ranges: std::collections::BTreeMap<ExecutionId, (u64, u64)> = Default::default();
    for event in events {
        let range = ranges.entry(event.execution_id).or_insert((event.seq, event.seq));
        range.0 = range.0.min(event.seq);
        range.1 = range.1.max(event.seq);
    }
    ranges.into_iter().map(|(execution, (first, last))| Signal::Events { execution, first, last }).collect()
}
