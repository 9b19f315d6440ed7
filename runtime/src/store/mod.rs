//! The `ExecutionStore` port: where executions, steps, attempts, events, logs, artifacts and
//! pipelines are persisted.
//!
//! Writes arrive as [`WriteBatch`]es applied in one transaction: the orchestrator groups every
//! transition of many executions into one batch (group commit), and acts on a transition only
//! after its batch is durable. Implementations: [`InMemoryStore`] here (tests, benchmarks), and
//! SQLite and PostgreSQL in `troupe-memory`.

mod in_memory;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use in_memory::InMemoryStore;

use crate::ids::{ExecutionId, ProjectId, UserId};
use crate::model::{
    ArtifactRecord, AttemptRecord, CorrectionRecord, Event, ExecutionRecord, ExecutionUpdate, LogRecord, StepRecord,
    Usage, UsageRecord,
};
use crate::pipeline::PipelineDef;
use crate::pipeline::approval::{ApprovalRecord, Decided, DecisionRequest};
use crate::status::ExecutionStatus;

/// Returned by store operations.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused the operation.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored record could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The write conflicts with what is stored (a duplicate key, a stale version).
    #[error("conflict: {0}")]
    Conflict(String),
}

/// A group of writes applied atomically, in this order: new executions, execution updates,
/// pipeline updates, steps, attempts, events, logs, artifacts. Steps, attempts and artifacts are
/// upserts keyed by (execution, step[, attempt | name]); the last write of a key in a batch wins.
#[derive(Clone, Debug, Default)]
pub struct WriteBatch {
    /// Executions to insert.
    pub new_executions: Vec<ExecutionRecord>,
    /// Status changes of existing executions.
    pub execution_updates: Vec<ExecutionUpdate>,
    /// Pinned definitions replaced because steps were appended: (execution, hash, definition).
    pub pipeline_updates: Vec<(ExecutionId, String, PipelineDef)>,
    /// Step rows to upsert (their `output` is ignored: it lives in the attempt).
    pub steps: Vec<StepRecord>,
    /// Attempt rows to upsert.
    pub attempts: Vec<AttemptRecord>,
    /// Events to append (shared: the same allocation goes to the store, the bus and every
    /// subscriber).
    pub events: Vec<Arc<Event>>,
    /// Log lines to append.
    pub logs: Vec<LogRecord>,
    /// Artifacts to upsert.
    pub artifacts: Vec<ArtifactRecord>,
    /// LLM usage rows to append.
    pub usage: Vec<UsageRecord>,
    /// Corrections to append.
    pub corrections: Vec<CorrectionRecord>,
    /// Approvals asked (inserted once per step attempt; a decision is never overwritten).
    pub approvals: Vec<ApprovalRecord>,
    /// The leases the rows of existing executions are written under (new executions carry
    /// their own); `None`: unfenced (tests, single-process tools).
    pub fence: Option<Fence>,
}

/// The leases a batch is written under: `node` must hold each execution's lease at the given
/// epoch, checked in the batch's own transaction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fence {
    /// The writing node.
    pub node: String,
    /// Each execution written, with the epoch its claim started.
    pub epochs: Vec<(ExecutionId, i64)>,
}

/// The most rows of one kind a reused batch keeps room for (see [`WriteBatch::clear_for_reuse`]).
pub(crate) const KEPT_ROWS: usize = 4096;

/// Returns `rows` emptied, with its room if that is at most [`KEPT_ROWS`] rows.
pub(crate) fn keep_room<T>(mut rows: Vec<T>) -> Vec<T> {
    rows.clear();
    if rows.capacity() > KEPT_ROWS { Vec::with_capacity(KEPT_ROWS) } else { rows }
}

/// The room to give the next vector of a stream whose last one was `last`: its length, or
/// three quarters of its capacity if that is more (see [`WriteBatch::with_capacity_of`]).
pub(crate) fn room_after<T>(last: &Vec<T>) -> usize {
    last.len().max(last.capacity() - last.capacity() / 4)
}

impl WriteBatch {
    /// Returns the executions the batch writes rows of, new ones included, in order, once each.
    pub fn touched(&self) -> Vec<ExecutionId> {
        // Sorted and deduplicated at the end: far cheaper than a set insert per row. The rows of
        // one execution mostly come one after another (a step's row, its attempt, its events),
        // so a repeat of the id just added is skipped before it reaches the sort.
        let mut ids: Vec<ExecutionId> = Vec::with_capacity(self.len());
        let mut add = |id: ExecutionId| {
            if ids.last() != Some(&id) {
                ids.push(id);
            }
        };
        self.new_executions.iter().for_each(|record| add(record.id));
        self.execution_updates.iter().for_each(|update| add(update.id));
        self.pipeline_updates.iter().for_each(|(id, _, _)| add(*id));
        self.steps.iter().for_each(|step| add(step.execution_id));
        self.attempts.iter().for_each(|attempt| add(attempt.execution_id));
        self.events.iter().for_each(|event| add(event.execution_id));
        self.logs.iter().for_each(|log| add(log.execution_id));
        self.artifacts.iter().for_each(|artifact| add(artifact.execution_id));
        self.usage.iter().for_each(|usage| add(usage.execution_id));
        self.corrections.iter().for_each(|correction| add(correction.execution_id));
        self.approvals.iter().for_each(|approval| add(approval.execution_id));
        // By the id as one number: the same order as the bytes', without a `memcmp` per comparison.
        ids.sort_unstable_by_key(|id| id.0.as_u128());
        ids.dedup();
        ids
    }

    /// Returns an empty batch with room for the rows of each kind that `last` held, or for
    /// three quarters of what it had room for if that is more: batches in a stream are alike,
    /// and a vector grown from less room moves every row it holds each time it doubles. The
    /// room decays over quieter batches, so one burst does not keep its memory for good.
    pub fn with_capacity_of(last: &WriteBatch) -> WriteBatch {
        WriteBatch {
            new_executions: Vec::with_capacity(room_after(&last.new_executions)),
            execution_updates: Vec::with_capacity(room_after(&last.execution_updates)),
            steps: Vec::with_capacity(room_after(&last.steps)),
            attempts: Vec::with_capacity(room_after(&last.attempts)),
            events: Vec::with_capacity(room_after(&last.events)),
            ..WriteBatch::default()
        }
    }

    /// Empties the batch for the shard's next one, keeping each vector's room (up to
    /// [`KEPT_ROWS`] rows: a burst does not keep its memory for good), so a stream of batches
    /// stops allocating and growing vectors once it has seen its usual size.
    pub(crate) fn clear_for_reuse(&mut self) {
        fn clear<T>(rows: &mut Vec<T>) {
            *rows = keep_room(std::mem::take(rows));
        }
        clear(&mut self.new_executions);
        clear(&mut self.execution_updates);
        clear(&mut self.pipeline_updates);
        clear(&mut self.steps);
        clear(&mut self.attempts);
        clear(&mut self.events);
        clear(&mut self.logs);
        clear(&mut self.artifacts);
        clear(&mut self.usage);
        clear(&mut self.corrections);
        clear(&mut self.approvals);
        self.fence = None;
    }

    /// Returns the batch without the rows of the executions in `lost`.
    pub fn without(&self, lost: &std::collections::HashSet<ExecutionId>) -> WriteBatch {
        let keep = |id: &ExecutionId| !lost.contains(id);
        WriteBatch {
            new_executions: self.new_executions.iter().filter(|r| keep(&r.id)).cloned().collect(),
            execution_updates: self.execution_updates.iter().filter(|u| keep(&u.id)).cloned().collect(),
            pipeline_updates: self.pipeline_updates.iter().filter(|(id, _, _)| keep(id)).cloned().collect(),
            steps: self.steps.iter().filter(|s| keep(&s.execution_id)).cloned().collect(),
            attempts: self.attempts.iter().filter(|a| keep(&a.execution_id)).cloned().collect(),
            events: self.events.iter().filter(|e| keep(&e.execution_id)).cloned().collect(),
            logs: self.logs.iter().filter(|l| keep(&l.execution_id)).cloned().collect(),
            artifacts: self.artifacts.iter().filter(|a| keep(&a.execution_id)).cloned().collect(),
            usage: self.usage.iter().filter(|u| keep(&u.execution_id)).cloned().collect(),
            corrections: self.corrections.iter().filter(|c| keep(&c.execution_id)).cloned().collect(),
            approvals: self.approvals.iter().filter(|a| keep(&a.execution_id)).cloned().collect(),
            fence: None,
        }
    }

    /// Returns whether the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.new_executions.is_empty()
            && self.execution_updates.is_empty()
            && self.pipeline_updates.is_empty()
            && self.steps.is_empty()
            && self.attempts.is_empty()
            && self.events.is_empty()
            && self.logs.is_empty()
            && self.artifacts.is_empty()
            && self.usage.is_empty()
            && self.corrections.is_empty()
            && self.approvals.is_empty()
    }

    /// Returns the total number of rows the batch writes.
    pub fn len(&self) -> usize {
        self.new_executions.len()
            + self.execution_updates.len()
            + self.pipeline_updates.len()
            + self.steps.len()
            + self.attempts.len()
            + self.events.len()
            + self.logs.len()
            + self.artifacts.len()
            + self.approvals.len()
    }
}

/// What one retention pass removed (see [`ExecutionStore::purge_finished`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Executions purged.
    pub executions: u64,
    /// Log lines deleted.
    pub logs: u64,
    /// Events deleted.
    pub events: u64,
    /// Artifacts deleted.
    pub artifacts: u64,
}

impl std::ops::AddAssign for PurgeReport {
    fn add_assign(&mut self, other: Self) {
        self.executions += other.executions;
        self.logs += other.logs;
        self.events += other.events;
        self.artifacts += other.artifacts;
    }
}

/// Everything needed to resume an execution.
#[derive(Clone, Debug)]
pub struct ExecutionSnapshot {
    /// The execution row.
    pub execution: ExecutionRecord,
    /// Its steps, with the outputs of completed ones.
    pub steps: Vec<StepRecord>,
    /// The highest event `seq` written (0 when none).
    pub last_seq: u64,
    /// The LLM usage of the execution so far (budgets count it).
    pub usage: Usage,
}

/// Filters for listing executions; results are newest first.
#[derive(Clone, Debug, Default)]
pub struct ExecutionQuery {
    /// Only this owner's executions (all owners when `None`).
    pub owner: Option<UserId>,
    /// Only executions in this status.
    pub status: Option<ExecutionStatus>,
    /// Only executions of this pipeline.
    pub pipeline: Option<String>,
    /// Only executions in this project.
    pub project: Option<ProjectId>,
    /// Only executions older than this one (cursor pagination).
    pub before: Option<ExecutionId>,
    /// At most this many (default 50).
    pub limit: Option<u32>,
}

/// A pipeline registered by a user.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredPipeline {
    /// The owner.
    pub owner: UserId,
    /// The definition.
    pub def: PipelineDef,
    /// Its content hash.
    pub hash: String,
}

/// A node of a cluster sharing one store.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NodeRecord {
    /// Its id.
    pub id: String,
    /// When it joined.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat (the database's clock).
    pub heartbeat_at: DateTime<Utc>,
    /// Whether its heartbeat is recent (within a lease period).
    pub live: bool,
    /// Non-terminal executions whose lease it holds.
    pub executions: u64,
    /// What it last reported of itself (agent health, address…).
    pub status: serde_json::Value,
}

/// Persistence of executions and pipelines.
#[async_trait]
pub trait ExecutionStore: Send + Sync + 'static {
    /// Applies a batch of writes in one transaction. With a [`Fence`], the rows of an execution
    /// whose lease the node no longer holds at the recorded epoch are not written; their ids
    /// are returned (the node lost them and must drop them).
    async fn apply(&self, batch: &WriteBatch) -> Result<Vec<ExecutionId>, StoreError>;

    /// Checks that the store answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Claims up to `limit` (all when `None`) non-terminal executions whose lease is free or
    /// expired (by the database's clock) — a parked (`waiting`) one only once it is due: its
    /// wake time passed, an approval of a waiting step was decided, or a cancellation asked —
    /// and with `mine` also those `node` holds (a node that restarted under its id): each claim is atomic (one winner), raises the execution's epoch
    /// and lasts `lease_ttl_ms`. Returns the claimed ids, oldest first.
    async fn claim_executions(
        &self,
        node: &str,
        lease_ttl_ms: i64,
        limit: Option<usize>,
        mine: bool,
    ) -> Result<Vec<ExecutionId>, StoreError>;

    /// Claims one execution now if it can be claimed (as [`claim_executions`] would: not
    /// terminal, lease free or expired, and when parked, due); returns its new epoch.
    ///
    /// [`claim_executions`]: ExecutionStore::claim_executions
    async fn claim_execution(&self, id: ExecutionId, node: &str, lease_ttl_ms: i64) -> Result<Option<i64>, StoreError>;

    /// Records the decision of the approval the step's current `waiting` attempt asked, unless
    /// it is decided already (one winner, on any node); a [`Decision::TimedOut`] only once its
    /// deadline has passed. Returns the step's latest approval as stored afterwards and whether
    /// this call decided it; `None` when the step never asked for one.
    ///
    /// A decided approval of a `waiting` step makes its parked execution claimable.
    ///
    /// [`Decision::TimedOut`]: crate::pipeline::approval::Decision::TimedOut
    async fn decide_approval(&self, request: &DecisionRequest) -> Result<Option<Decided>, StoreError>;

    /// Returns an execution's approvals, by step then attempt.
    async fn list_approvals(&self, id: ExecutionId) -> Result<Vec<ApprovalRecord>, StoreError>;

    /// Extends every lease `node` holds on a non-terminal execution by `lease_ttl_ms` from the
    /// database's now; returns the executions it still holds.
    async fn renew_leases(&self, node: &str, lease_ttl_ms: i64) -> Result<Vec<ExecutionId>, StoreError>;

    /// Gives back every lease `node` holds (an orderly shutdown): other nodes claim them at
    /// once. Returns how many.
    async fn release_leases(&self, node: &str) -> Result<u64, StoreError>;

    /// Takes the lease of a failed execution for a retry, whichever node ran it: raises its
    /// epoch (so a concurrent retry elsewhere has its writes refused) and returns it; `None`
    /// when the execution is not failed.
    async fn take_failed(&self, id: ExecutionId, node: &str, lease_ttl_ms: i64) -> Result<Option<i64>, StoreError>;

    /// Records that a user asked to cancel a non-terminal execution, for its owner (now or
    /// next) to carry out; returns whether it was recorded (false: finished or unknown).
    async fn request_cancel(&self, id: ExecutionId) -> Result<bool, StoreError>;

    /// Returns the non-terminal executions `node` holds whose cancellation was requested.
    async fn cancel_requests(&self, node: &str) -> Result<Vec<ExecutionId>, StoreError>;

    /// Joins a cluster: refuses (`Conflict`) when a live node holds this id, or when the
    /// cluster's secret fingerprints (name → fingerprint; the first node records them) differ
    /// from `fingerprints`, naming which. The default accepts (a store one process uses).
    async fn register_node(
        &self,
        _node: &str,
        _fingerprints: &std::collections::BTreeMap<String, String>,
        _lease_ttl_ms: i64,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// Records a node's heartbeat and what it reports of itself.
    async fn heartbeat_node(&self, _node: &str, _status: &serde_json::Value) -> Result<(), StoreError> {
        Ok(())
    }

    /// Removes a node from the cluster (an orderly shutdown).
    async fn leave_cluster(&self, _node: &str) -> Result<(), StoreError> {
        Ok(())
    }

    /// Lists the cluster's nodes (live ones first); `lease_ttl_ms` decides which are live.
    async fn list_nodes(&self, _lease_ttl_ms: i64) -> Result<Vec<NodeRecord>, StoreError> {
        Ok(Vec::new())
    }

    /// Returns the non-terminal executions whose lease `node` holds.
    async fn leased_by(&self, node: &str) -> Result<Vec<ExecutionId>, StoreError>;

    /// Loads an execution with its steps and last event seq.
    async fn load_execution(&self, id: ExecutionId) -> Result<Option<ExecutionSnapshot>, StoreError>;

    /// Returns one execution row.
    async fn get_execution(&self, id: ExecutionId) -> Result<Option<ExecutionRecord>, StoreError>;

    /// Returns the execution an owner created with this idempotency key, if any.
    async fn find_by_idempotency_key(&self, owner: UserId, key: &str) -> Result<Option<ExecutionRecord>, StoreError>;

    /// Lists executions, newest first.
    async fn list_executions(&self, query: &ExecutionQuery) -> Result<Vec<ExecutionRecord>, StoreError>;

    /// Returns an execution's steps in pipeline order, with outputs of completed ones.
    async fn list_steps(&self, id: ExecutionId) -> Result<Vec<StepRecord>, StoreError>;

    /// Returns an execution's attempts, by step then attempt number.
    async fn list_attempts(&self, id: ExecutionId) -> Result<Vec<AttemptRecord>, StoreError>;

    /// Returns up to `limit` events with `seq > after_seq`, in order.
    async fn list_events(&self, id: ExecutionId, after_seq: u64, limit: u32) -> Result<Vec<Event>, StoreError>;

    /// Returns an execution's log lines in order.
    async fn list_logs(&self, id: ExecutionId) -> Result<Vec<LogRecord>, StoreError>;

    /// Returns an execution's artifacts, by step then name.
    async fn list_artifacts(&self, id: ExecutionId) -> Result<Vec<ArtifactRecord>, StoreError>;

    /// Returns one artifact.
    async fn get_artifact(
        &self,
        id: ExecutionId,
        step_key: &str,
        name: &str,
    ) -> Result<Option<ArtifactRecord>, StoreError>;

    /// Registers or replaces a user's pipeline.
    async fn put_pipeline(&self, owner: UserId, def: &PipelineDef) -> Result<(), StoreError>;

    /// Returns a user's pipeline by name.
    async fn get_pipeline(&self, owner: UserId, name: &str) -> Result<Option<StoredPipeline>, StoreError>;

    /// Returns the LLM usage rows of an execution, in the order they were written.
    async fn execution_usage(&self, id: ExecutionId) -> Result<Vec<UsageRecord>, StoreError>;

    /// Returns a user's total LLM usage over all their executions.
    async fn owner_usage(&self, owner: UserId) -> Result<Usage, StoreError>;

    /// Returns the corrections recorded for an execution's steps, oldest first.
    async fn list_corrections(&self, id: ExecutionId) -> Result<Vec<CorrectionRecord>, StoreError>;

    /// Lists a user's pipelines (every user's when `owner` is `None`).
    async fn list_pipelines(&self, owner: Option<UserId>) -> Result<Vec<StoredPipeline>, StoreError>;

    /// Deletes a user's pipeline; returns whether it existed.
    async fn delete_pipeline(&self, owner: UserId, name: &str) -> Result<bool, StoreError>;

    /// Retention: for up to `limit` executions that finished (completed, failed or cancelled)
    /// before `before` and were not purged yet, deletes their logs, their artifacts and every
    /// event but the last (the terminal one, so a subscriber still learns how it ended), and
    /// marks them purged, in one transaction. The execution, its steps and attempts stay. A
    /// live execution is never touched. Callers repeat until it reports no execution.
    async fn purge_finished(&self, before: DateTime<Utc>, limit: u32) -> Result<PurgeReport, StoreError>;

    /// Account deletion: removes every execution of `owner` — with its steps, attempts,
    /// events, logs, artifacts, usage, corrections and approvals — and every pipeline of
    /// theirs, in one transaction; returns how many executions. Callers cancel live ones first.
    async fn delete_owner(&self, owner: UserId) -> Result<u64, StoreError>;

    /// Retention by status: deletes entirely up to `limit` executions in one of `statuses`
    /// (terminal ones only) that finished before `before`; returns their ids. Callers repeat
    /// until none is left.
    async fn delete_finished(
        &self,
        statuses: &[ExecutionStatus],
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ExecutionId>, StoreError>;

    /// Retention of logs: deletes up to `limit` log lines of executions that finished before
    /// `before`; returns how many. Callers repeat until it reports none.
    async fn purge_logs(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{KEPT_ROWS, WriteBatch, keep_room, room_after};
    use crate::ids::ExecutionId;
    use crate::model::{Event, EventKind};
    use crate::status::ExecutionStatus;

    fn running(execution_id: ExecutionId, seq: u64) -> Arc<Event> {
        let kind = EventKind::ExecutionStatus { status: ExecutionStatus::Running, error: None };
        Arc::new(Event { execution_id, seq, at: chrono::Utc::now(), kind })
    }

    #[test]
    fn the_next_batch_has_room_for_the_last_and_forgets_a_burst_slowly() {
        let mut burst: Vec<u8> = Vec::with_capacity(1000);
        burst.extend([0; 10]);
        // Three quarters of the burst's room, though only ten rows came last.
        assert_eq!(room_after(&burst), 750);
        let mut room = room_after(&burst);
        for _ in 0..40 {
            room = room_after(&Vec::<u8>::with_capacity(room));
        }
        assert!(room < 10, "the room decays over quiet batches: {room}");
        let full: Vec<u8> = vec![0; 64];
        assert!(room_after(&full) >= 64);
    }

    #[test]
    fn a_batch_names_each_execution_it_writes_once_in_order() {
        let [a, b, c] = [ExecutionId::new(), ExecutionId::new(), ExecutionId::new()];
        let mut batch = WriteBatch::default();
        for (seq, id) in [b, b, a, b, c, a, a].into_iter().enumerate() {
            batch.events.push(running(id, seq as u64));
        }
        let mut expected = vec![a, b, c];
        expected.sort();
        assert_eq!(batch.touched(), expected);
    }

    #[test]
    fn a_batch_sized_like_the_last_starts_empty() {
        let mut last = WriteBatch::default();
        last.events.reserve(100);
        let next = WriteBatch::with_capacity_of(&last);
        assert!(next.is_empty());
        assert!(next.events.capacity() >= 75);
    }

    #[test]
    fn a_reused_batch_is_empty_and_unfenced_and_keeps_its_room_up_to_a_bound() {
        let id = ExecutionId::new();
        let mut batch = WriteBatch::default();
        for seq in 0..100 {
            batch.events.push(running(id, seq));
        }
        batch.fence = Some(super::Fence { node: "n".into(), epochs: vec![(id, 1)] });
        let room = batch.events.capacity();
        batch.clear_for_reuse();
        assert!(batch.is_empty() && batch.fence.is_none(), "nothing of the last batch is written again");
        assert_eq!(batch.events.capacity(), room, "the room stays for the next batch");
        assert!(batch.touched().is_empty());

        let burst: Vec<u8> = vec![0; KEPT_ROWS * 4];
        let kept = keep_room(burst);
        assert!(kept.is_empty());
        assert!(
            kept.capacity() >= KEPT_ROWS && kept.capacity() < KEPT_ROWS * 4,
            "a burst does not keep its memory for good"
        );
    }
}
