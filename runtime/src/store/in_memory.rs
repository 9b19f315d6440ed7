//! A store that keeps everything in process memory: for tests, benchmarks and demos. Nothing
//! survives the process.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{ExecutionQuery, ExecutionSnapshot, ExecutionStore, StoreError, StoredPipeline, WriteBatch};
use crate::ids::{ExecutionId, IdHashing, UserId};
use crate::model::{
    ArtifactRecord, AttemptRecord, CorrectionRecord, Event, ExecutionRecord, LogRecord, StepRecord, Usage, UsageRecord,
};
use crate::pipeline::PipelineDef;
use crate::pipeline::approval::{ApprovalRecord, Decided, Decision, DecisionRequest};
use crate::status::{AttemptStatus, StepStatus};

/// An [`ExecutionStore`] in process memory.
#[derive(Default)]
pub struct InMemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    executions: HashMap<ExecutionId, ExecutionData, IdHashing>,
    pipelines: BTreeMap<(UserId, String), StoredPipeline>,
    corrections: Vec<CorrectionRecord>,
    cancel_requested: std::collections::HashSet<ExecutionId>,
}

struct ExecutionData {
    record: ExecutionRecord,
    steps: Vec<StepRecord>,
    attempts: BTreeMap<(String, u32), AttemptRecord>,
    events: Vec<Arc<Event>>,
    logs: Vec<LogRecord>,
    artifacts: BTreeMap<(String, String), ArtifactRecord>,
    usage: Vec<UsageRecord>,
    approvals: BTreeMap<(String, u32), ApprovalRecord>,
    /// While parked: when it is due without a decision (epoch milliseconds).
    wake_ms: Option<i64>,
    purged: bool,
}

impl ExecutionData {
    /// Whether a parked execution may be claimed: its wake time passed, an approval of a
    /// waiting step was decided, or a cancellation was asked. Others always may.
    fn due(&self, now_ms: i64, cancel_requested: bool) -> bool {
        if self.record.status != crate::status::ExecutionStatus::Waiting || cancel_requested {
            return true;
        }
        self.wake_ms.is_some_and(|wake| wake <= now_ms)
            || self.steps.iter().any(|step| {
                step.status == crate::status::StepStatus::Waiting
                    && self
                        .approvals
                        .get(&(String::from(&*step.key), step.attempt))
                        .is_some_and(|approval| approval.decision.is_some())
            })
    }
}

impl InMemoryStore {
    /// Creates an empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied batch visible to callers
        // who care (tests); recover the data rather than poisoning every later call.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn with_output(data: &ExecutionData, step: &StepRecord) -> StepRecord {
    let mut step = step.clone();
    if step.status == StepStatus::Completed {
        step.output = data
            .attempts
            .get(&(String::from(&*step.key), step.attempt))
            .filter(|attempt| attempt.status == AttemptStatus::Succeeded)
            .and_then(|attempt| attempt.output.as_deref().cloned());
    }
    step
}

#[async_trait]
impl ExecutionStore for InMemoryStore {
    async fn apply(&self, batch: &WriteBatch) -> Result<Vec<ExecutionId>, StoreError> {
        let mut inner = self.lock();
        let mut lost: std::collections::HashSet<ExecutionId> = match &batch.fence {
            Some(fence) => fence
                .epochs
                .iter()
                .filter(|(id, epoch)| {
                    inner.executions.get(id).is_some_and(|data| {
                        data.record.lease_owner.as_deref() != Some(fence.node.as_str())
                            || data.record.lease_epoch != *epoch
                    })
                })
                .map(|(id, _)| *id)
                .collect(),
            None => Default::default(),
        };
        // An idempotency key is used once per owner: a second execution with it is not created.
        for record in &batch.new_executions {
            if let Some(key) = &record.idempotency_key
                && inner
                    .executions
                    .values()
                    .any(|data| data.record.owner == record.owner && data.record.idempotency_key.as_ref() == Some(key))
            {
                lost.insert(record.id);
            }
        }
        let filtered;
        let batch = if lost.is_empty() {
            batch
        } else {
            filtered = batch.without(&lost);
            &filtered
        };
        let mut lost: Vec<ExecutionId> = lost.into_iter().collect();
        lost.sort();
        for record in &batch.new_executions {
            if inner.executions.contains_key(&record.id) {
                return Err(StoreError::Conflict(format!("execution {} exists", record.id)));
            }
        }
        for record in &batch.new_executions {
            inner.executions.insert(
                record.id,
                ExecutionData {
                    record: record.clone(),
                    steps: Vec::with_capacity(record.pipeline.steps.len()),
                    attempts: BTreeMap::new(),
                    events: Vec::new(),
                    logs: Vec::new(),
                    artifacts: BTreeMap::new(),
                    usage: Vec::new(),
                    approvals: BTreeMap::new(),
                    wake_ms: None,
                    purged: false,
                },
            );
        }
        let missing = |id: &ExecutionId| StoreError::Conflict(format!("execution {id} does not exist"));
        for update in &batch.execution_updates {
            let data = inner.executions.get_mut(&update.id).ok_or_else(|| missing(&update.id))?;
            let record = &mut data.record;
            record.status = update.status;
            record.error = update.error.clone();
            record.updated_at = update.updated_at;
            record.started_at = update.started_at;
            record.finished_at = update.finished_at;
            data.wake_ms = update.wake_at.map(|at| at.timestamp_millis());
            if update.status == crate::status::ExecutionStatus::Waiting {
                // Parked: nobody holds it until it is due.
                record.lease_owner = None;
                record.lease_expires_at = None;
            }
        }
        for (id, hash, def) in &batch.pipeline_updates {
            let data = inner.executions.get_mut(id).ok_or_else(|| missing(id))?;
            data.record.pipeline_hash = hash.clone();
            data.record.pipeline = Arc::new(def.clone());
        }
        for step in &batch.steps {
            let data = inner.executions.get_mut(&step.execution_id).ok_or_else(|| missing(&step.execution_id))?;
            match data.steps.iter_mut().find(|existing| existing.key == step.key) {
                // In place: the key and agent of a step never change.
                Some(existing) => {
                    existing.status = step.status;
                    existing.attempt = step.attempt;
                    existing.corrections = step.corrections;
                    existing.error.clone_from(&step.error);
                    existing.started_at = step.started_at;
                    existing.finished_at = step.finished_at;
                    existing.updated_at = step.updated_at;
                }
                None => data.steps.push(StepRecord { output: None, ..step.clone() }),
            }
        }
        for attempt in &batch.attempts {
            let data = inner.executions.get_mut(&attempt.execution_id).ok_or_else(|| missing(&attempt.execution_id))?;
            data.attempts.insert((attempt.step_key.clone(), attempt.attempt), attempt.clone());
        }
        for event in &batch.events {
            let data = inner.executions.get_mut(&event.execution_id).ok_or_else(|| missing(&event.execution_id))?;
            if data.events.last().is_some_and(|last| last.seq >= event.seq) {
                return Err(StoreError::Conflict(format!(
                    "event seq {} of {} is not new",
                    event.seq, event.execution_id
                )));
            }
            data.events.push(Arc::clone(event));
        }
        for log in &batch.logs {
            let data = inner.executions.get_mut(&log.execution_id).ok_or_else(|| missing(&log.execution_id))?;
            data.logs.push(log.clone());
        }
        for artifact in &batch.artifacts {
            let data =
                inner.executions.get_mut(&artifact.execution_id).ok_or_else(|| missing(&artifact.execution_id))?;
            data.artifacts.insert((artifact.step_key.clone(), artifact.name.clone()), artifact.clone());
        }
        for usage in &batch.usage {
            let data = inner.executions.get_mut(&usage.execution_id).ok_or_else(|| missing(&usage.execution_id))?;
            data.usage.push(usage.clone());
        }
        for approval in &batch.approvals {
            let data =
                inner.executions.get_mut(&approval.execution_id).ok_or_else(|| missing(&approval.execution_id))?;
            data.approvals.entry((approval.step_key.clone(), approval.attempt)).or_insert_with(|| approval.clone());
        }
        inner.corrections.extend(batch.corrections.iter().cloned());
        Ok(lost)
    }

    async fn execution_usage(&self, id: ExecutionId) -> Result<Vec<UsageRecord>, StoreError> {
        Ok(self.lock().executions.get(&id).map(|data| data.usage.clone()).unwrap_or_default())
    }

    async fn owner_usage(&self, owner: UserId) -> Result<Usage, StoreError> {
        let inner = self.lock();
        let owned = inner.executions.values().filter(|data| data.record.owner == owner);
        Ok(owned.flat_map(|data| data.usage.iter().map(|row| row.usage)).sum())
    }

    async fn list_corrections(&self, id: ExecutionId) -> Result<Vec<CorrectionRecord>, StoreError> {
        let inner = self.lock();
        Ok(inner.corrections.iter().filter(|record| record.execution_id == id).cloned().collect())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn claim_executions(
        &self,
        node: &str,
        lease_ttl_ms: i64,
        limit: Option<usize>,
        mine: bool,
    ) -> Result<Vec<ExecutionId>, StoreError> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut inner = self.lock();
        let inner = &mut *inner;
        let mut claimable: Vec<ExecutionId> = inner
            .executions
            .values()
            .filter(|data| {
                let record = &data.record;
                let free = match (&record.lease_owner, record.lease_expires_at) {
                    (None, _) => true,
                    (Some(owner), _) if owner == node && mine => true,
                    (Some(_), expires) => expires.is_none_or(|expires| expires < now_ms),
                };
                !record.status.is_terminal() && free && data.due(now_ms, inner.cancel_requested.contains(&record.id))
            })
            .map(|data| data.record.id)
            .collect();
        claimable.sort();
        claimable.truncate(limit.unwrap_or(usize::MAX));
        for id in &claimable {
            let record = &mut inner.executions.get_mut(id).expect("listed above").record;
            record.lease_owner = Some(node.to_owned());
            record.lease_expires_at = Some(now_ms + lease_ttl_ms);
            record.lease_epoch += 1;
        }
        Ok(claimable)
    }

    async fn claim_execution(&self, id: ExecutionId, node: &str, lease_ttl_ms: i64) -> Result<Option<i64>, StoreError> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut inner = self.lock();
        let inner = &mut *inner;
        let cancel_requested = inner.cancel_requested.contains(&id);
        let Some(data) = inner.executions.get_mut(&id) else { return Ok(None) };
        let free = data.record.lease_owner.is_none() || data.record.lease_expires_at.is_none_or(|at| at < now_ms);
        if data.record.status.is_terminal() || !free || !data.due(now_ms, cancel_requested) {
            return Ok(None);
        }
        data.record.lease_owner = Some(node.to_owned());
        data.record.lease_expires_at = Some(now_ms + lease_ttl_ms);
        data.record.lease_epoch += 1;
        Ok(Some(data.record.lease_epoch))
    }

    async fn decide_approval(&self, request: &DecisionRequest) -> Result<Option<Decided>, StoreError> {
        let mut inner = self.lock();
        let Some(data) = inner.executions.get_mut(&request.execution_id) else { return Ok(None) };
        let waiting = data
            .steps
            .iter()
            .find(|step| *step.key == *request.step_key && step.status == crate::status::StepStatus::Waiting)
            .map(|step| step.attempt);
        let Some(((_, _), latest)) =
            data.approvals.range_mut((request.step_key.clone(), 0)..=(request.step_key.clone(), u32::MAX)).next_back()
        else {
            return Ok(None);
        };
        let due = request.decision != Decision::TimedOut || latest.deadline.is_some_and(|at| at <= request.at);
        let recorded = latest.decision.is_none() && waiting == Some(latest.attempt) && due;
        if recorded {
            latest.decision = Some(request.decision);
            latest.decided_by = request.by;
            latest.decided_at = Some(request.at);
            latest.comment = request.comment.clone();
        }
        Ok(Some(Decided { record: latest.clone(), recorded }))
    }

    async fn list_approvals(&self, id: ExecutionId) -> Result<Vec<ApprovalRecord>, StoreError> {
        Ok(self.lock().executions.get(&id).map(|data| data.approvals.values().cloned().collect()).unwrap_or_default())
    }

    async fn renew_leases(&self, node: &str, lease_ttl_ms: i64) -> Result<Vec<ExecutionId>, StoreError> {
        let expires = chrono::Utc::now().timestamp_millis() + lease_ttl_ms;
        let mut inner = self.lock();
        let mut held = Vec::new();
        for data in inner.executions.values_mut() {
            if !data.record.status.is_terminal() && data.record.lease_owner.as_deref() == Some(node) {
                data.record.lease_expires_at = Some(expires);
                held.push(data.record.id);
            }
        }
        held.sort();
        Ok(held)
    }

    async fn release_leases(&self, node: &str) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let mut released = 0;
        for data in inner.executions.values_mut() {
            if !data.record.status.is_terminal() && data.record.lease_owner.as_deref() == Some(node) {
                data.record.lease_owner = None;
                data.record.lease_expires_at = None;
                released += 1;
            }
        }
        Ok(released)
    }

    async fn take_failed(&self, id: ExecutionId, node: &str, lease_ttl_ms: i64) -> Result<Option<i64>, StoreError> {
        let mut inner = self.lock();
        let Some(data) = inner.executions.get_mut(&id) else { return Ok(None) };
        if data.record.status != crate::status::ExecutionStatus::Failed {
            return Ok(None);
        }
        data.record.lease_owner = Some(node.to_owned());
        data.record.lease_expires_at = Some(chrono::Utc::now().timestamp_millis() + lease_ttl_ms);
        data.record.lease_epoch += 1;
        Ok(Some(data.record.lease_epoch))
    }

    async fn request_cancel(&self, id: ExecutionId) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let open = inner.executions.get(&id).is_some_and(|data| !data.record.status.is_terminal());
        if open {
            inner.cancel_requested.insert(id);
        }
        Ok(open)
    }

    async fn cancel_requests(&self, node: &str) -> Result<Vec<ExecutionId>, StoreError> {
        let inner = self.lock();
        let mut ids: Vec<ExecutionId> = inner
            .cancel_requested
            .iter()
            .filter(|id| {
                inner.executions.get(id).is_some_and(|data| {
                    !data.record.status.is_terminal() && data.record.lease_owner.as_deref() == Some(node)
                })
            })
            .copied()
            .collect();
        ids.sort();
        Ok(ids)
    }

    async fn leased_by(&self, node: &str) -> Result<Vec<ExecutionId>, StoreError> {
        let inner = self.lock();
        let mut ids: Vec<ExecutionId> = inner
            .executions
            .values()
            .filter(|data| !data.record.status.is_terminal() && data.record.lease_owner.as_deref() == Some(node))
            .map(|data| data.record.id)
            .collect();
        ids.sort();
        Ok(ids)
    }

    async fn load_execution(&self, id: ExecutionId) -> Result<Option<ExecutionSnapshot>, StoreError> {
        let inner = self.lock();
        Ok(inner.executions.get(&id).map(|data| ExecutionSnapshot {
            execution: data.record.clone(),
            steps: data.steps.iter().map(|step| with_output(data, step)).collect(),
            last_seq: data.events.last().map_or(0, |event| event.seq),
            usage: data.usage.iter().map(|row| row.usage).sum(),
        }))
    }

    async fn get_execution(&self, id: ExecutionId) -> Result<Option<ExecutionRecord>, StoreError> {
        Ok(self.lock().executions.get(&id).map(|data| data.record.clone()))
    }

    async fn find_by_idempotency_key(&self, owner: UserId, key: &str) -> Result<Option<ExecutionRecord>, StoreError> {
        Ok(self
            .lock()
            .executions
            .values()
            .find(|data| data.record.owner == owner && data.record.idempotency_key.as_deref() == Some(key))
            .map(|data| data.record.clone()))
    }

    async fn list_executions(&self, query: &ExecutionQuery) -> Result<Vec<ExecutionRecord>, StoreError> {
        let inner = self.lock();
        let mut records: Vec<ExecutionRecord> = inner
            .executions
            .values()
            .map(|data| &data.record)
            .filter(|record| query.owner.is_none_or(|owner| record.owner == owner))
            .filter(|record| query.status.is_none_or(|status| record.status == status))
            .filter(|record| query.pipeline.as_deref().is_none_or(|name| record.pipeline_name == name))
            .filter(|record| query.project.is_none_or(|project| record.project_id == Some(project)))
            .filter(|record| query.before.is_none_or(|before| record.id < before))
            .cloned()
            .collect();
        records.sort_by_key(|record| std::cmp::Reverse(record.id));
        records.truncate(query.limit.unwrap_or(50) as usize);
        Ok(records)
    }

    async fn list_steps(&self, id: ExecutionId) -> Result<Vec<StepRecord>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .executions
            .get(&id)
            .map(|data| data.steps.iter().map(|step| with_output(data, step)).collect())
            .unwrap_or_default())
    }

    async fn list_attempts(&self, id: ExecutionId) -> Result<Vec<AttemptRecord>, StoreError> {
        let inner = self.lock();
        Ok(inner.executions.get(&id).map(|data| data.attempts.values().cloned().collect()).unwrap_or_default())
    }

    async fn list_events(&self, id: ExecutionId, after_seq: u64, limit: u32) -> Result<Vec<Event>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .executions
            .get(&id)
            .map(|data| {
                let start = data.events.partition_point(|event| event.seq <= after_seq);
                data.events[start..].iter().take(limit as usize).map(|event| Event::clone(event)).collect()
            })
            .unwrap_or_default())
    }

    async fn purge_finished(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<super::PurgeReport, StoreError> {
        let mut inner = self.lock();
        let mut report = super::PurgeReport::default();
        let purgeable = inner.executions.values_mut().filter(|data| {
            !data.purged && data.record.status.is_terminal() && data.record.finished_at.is_some_and(|at| at < before)
        });
        for data in purgeable.take(limit as usize) {
            report.executions += 1;
            report.logs += data.logs.len() as u64;
            report.artifacts += data.artifacts.len() as u64;
            let kept = data.events.pop();
            report.events += data.events.len() as u64;
            data.events = kept.into_iter().collect();
            data.logs.clear();
            data.artifacts.clear();
            data.purged = true;
        }
        Ok(report)
    }

    async fn delete_owner(&self, owner: UserId) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let gone: std::collections::HashSet<ExecutionId> =
            inner.executions.values().filter(|data| data.record.owner == owner).map(|data| data.record.id).collect();
        inner.executions.retain(|id, _| !gone.contains(id));
        inner.corrections.retain(|record| !gone.contains(&record.execution_id));
        inner.cancel_requested.retain(|id| !gone.contains(id));
        inner.pipelines.retain(|(pipeline_owner, _), _| *pipeline_owner != owner);
        Ok(gone.len() as u64)
    }

    async fn delete_finished(
        &self,
        statuses: &[crate::status::ExecutionStatus],
        before: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<Vec<ExecutionId>, StoreError> {
        let mut inner = self.lock();
        let gone: Vec<ExecutionId> = inner
            .executions
            .values()
            .filter(|data| {
                data.record.status.is_terminal()
                    && statuses.contains(&data.record.status)
                    && data.record.finished_at.is_some_and(|at| at < before)
            })
            .map(|data| data.record.id)
            .take(limit as usize)
            .collect();
        for id in &gone {
            inner.executions.remove(id);
        }
        inner.corrections.retain(|record| !gone.contains(&record.execution_id));
        Ok(gone)
    }

    async fn purge_logs(&self, before: chrono::DateTime<chrono::Utc>, limit: u32) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let mut left = limit as usize;
        let mut removed = 0;
        for data in inner.executions.values_mut() {
            if left == 0 {
                break;
            }
            if data.record.status.is_terminal() && data.record.finished_at.is_some_and(|at| at < before) {
                let take = data.logs.len().min(left);
                data.logs.drain(..take);
                left -= take;
                removed += take as u64;
            }
        }
        Ok(removed)
    }

    async fn list_logs(&self, id: ExecutionId) -> Result<Vec<LogRecord>, StoreError> {
        Ok(self.lock().executions.get(&id).map(|data| data.logs.clone()).unwrap_or_default())
    }

    async fn list_artifacts(&self, id: ExecutionId) -> Result<Vec<ArtifactRecord>, StoreError> {
        let inner = self.lock();
        Ok(inner.executions.get(&id).map(|data| data.artifacts.values().cloned().collect()).unwrap_or_default())
    }

    async fn get_artifact(
        &self,
        id: ExecutionId,
        step_key: &str,
        name: &str,
    ) -> Result<Option<ArtifactRecord>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .executions
            .get(&id)
            .and_then(|data| data.artifacts.get(&(step_key.to_owned(), name.to_owned())).cloned()))
    }

    async fn put_pipeline(&self, owner: UserId, def: &PipelineDef) -> Result<(), StoreError> {
        let stored = StoredPipeline { owner, def: def.clone(), hash: def.content_hash() };
        self.lock().pipelines.insert((owner, def.name.clone()), stored);
        Ok(())
    }

    async fn get_pipeline(&self, owner: UserId, name: &str) -> Result<Option<StoredPipeline>, StoreError> {
        Ok(self.lock().pipelines.get(&(owner, name.to_owned())).cloned())
    }

    async fn list_pipelines(&self, owner: Option<UserId>) -> Result<Vec<StoredPipeline>, StoreError> {
        Ok(self
            .lock()
            .pipelines
            .values()
            .filter(|stored| owner.is_none_or(|owner| stored.owner == owner))
            .cloned()
            .collect())
    }

    async fn delete_pipeline(&self, owner: UserId, name: &str) -> Result<bool, StoreError> {
        Ok(self.lock().pipelines.remove(&(owner, name.to_owned())).is_some())
    }
}
