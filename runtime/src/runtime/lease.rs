//! The loops of a node in a cluster: leases (renew, claim, heartbeat) and the other nodes'
//! signals (events relayed, work woken, commands carried out). See [`crate::cluster`].

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;
use tracing::{debug, warn};

use crate::actors::Shared;
use crate::actors::protocol::ShardMsg;
use crate::cluster::{CLAIM_BATCH, ClusterSignals, Signal, Signaled, this_process};
use crate::ids::ExecutionId;

/// Renews, drops what was lost, heartbeats, and (with `claims`) takes free work.
pub(crate) async fn lease_loop(shared: Arc<Shared>) {
    let ttl = shared.config.lease_ttl;
    let ttl_ms = ttl.as_millis() as i64;
    let mut renew = tokio::time::interval((ttl / 3).max(Duration::from_millis(50)));
    let mut claim = tokio::time::interval((ttl / 2).max(Duration::from_millis(50)));
    renew.tick().await;
    claim.tick().await;
    loop {
        tokio::select! {
            _ = renew.tick() => {
                let since = Instant::now();
                match shared.store.renew_leases(&shared.node_id, ttl_ms).await {
                    Ok(held) => {
                        let held: Arc<HashSet<_>> = Arc::new(held.into_iter().collect());
                        for index in 0..shared.shards.len() {
                            shared.send_to_shard(index, ShardMsg::Renewed { held: Arc::clone(&held), since });
                        }
                    }
                    Err(error) => warn!(%error, "failed to renew execution leases"),
                }
                // Cancellations asked on other nodes whose signal did not arrive.
                match shared.store.cancel_requests(&shared.node_id).await {
                    Ok(ids) => {
                        for id in ids {
                            cancel_here(&shared, id);
                        }
                    }
                    Err(error) => warn!(%error, "cannot read the cancellations asked of this node"),
                }
                if let Err(error) = shared.store.heartbeat_node(&shared.node_id, &status(&shared)).await {
                    warn!(%error, "failed to record this node's heartbeat");
                }
            }
            _ = claim.tick(), if shared.config.claims => claim_round(&shared).await,
            () = shared.wake.notified(), if shared.config.claims => claim_round(&shared).await,
        }
    }
}

/// Cancels execution `id` if a shard of this node holds it (a cancellation asked elsewhere).
fn cancel_here(shared: &Shared, id: ExecutionId) {
    let (reply, _) = tokio::sync::oneshot::channel();
    shared.send_to_shard(shared.shard_of(id), ShardMsg::Cancel { execution_id: id, reply });
}

/// Claims execution `id` here if it can be claimed now (a parked one that is due, or one
/// nobody holds) and hands it to its shard; returns whether it did.
pub(crate) async fn take_up(shared: &Shared, id: ExecutionId) -> Result<bool, crate::store::StoreError> {
    if shared.stopping.load(Ordering::Acquire) {
        return Ok(false);
    }
    let ttl_ms = shared.config.lease_ttl.as_millis() as i64;
    let claimed = shared.store.claim_execution(id, &shared.node_id, ttl_ms).await?.is_some();
    if claimed {
        shared.send_to_shard(shared.shard_of(id), ShardMsg::Adopt(id));
    }
    Ok(claimed)
}

/// Acts on approval deadlines as they pass: a parked execution is taken up (its shard records
/// the timeout), one held here is told to look at its approvals. One task for every deadline.
pub(crate) async fn deadline_loop(shared: Arc<Shared>) {
    loop {
        let sleep = match shared.deadlines.next() {
            Some(at) => (at - crate::model::now()).to_std().unwrap_or_default(),
            None => Duration::from_secs(3600),
        };
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
            () = shared.deadlines.changed.notified() => continue,
        }
        for id in shared.deadlines.take_due(crate::model::now()) {
            match take_up(&shared, id).await {
                Ok(true) => {}
                Ok(false) => shared.send_to_shard(shared.shard_of(id), ShardMsg::Approvals(id)),
                Err(error) => {
                    warn!(%error, execution_id = %id, "cannot take up an execution whose approval timed out; the claim loop will")
                }
            }
        }
    }
}

/// Takes up to the node's free capacity of executions nobody holds.
async fn claim_round(shared: &Shared) {
    if shared.stopping.load(Ordering::Acquire) {
        return;
    }
    if shared.shards.iter().any(|slot| slot.waiting.load(Ordering::Acquire)) {
        return;
    }
    let live = shared.admission.live.load(Ordering::Acquire);
    let free = shared.admission.max.map_or(CLAIM_BATCH, |max| max.saturating_sub(live)).min(CLAIM_BATCH);
    if free == 0 {
        return;
    }
    let ttl_ms = shared.config.lease_ttl.as_millis() as i64;
    match shared.store.claim_executions(&shared.node_id, ttl_ms, Some(free), false).await {
        Ok(ids) if ids.is_empty() => {}
        Ok(ids) => {
            debug!(claimed = ids.len(), node = %shared.node_id, "claimed executions");
            if ids.len() == free {
                // There may be more: look again once these are taken.
                shared.wake.wake();
            }
            for id in ids {
                shared.send_to_shard(shared.shard_of(id), ShardMsg::Adopt(id));
            }
        }
        Err(error) => warn!(%error, "cannot claim executions"),
    }
}

/// What a node reports of itself with its heartbeat.
fn status(shared: &Shared) -> serde_json::Value {
    let agents: Vec<serde_json::Value> = super::agent_statuses(shared)
        .into_iter()
        .map(|agent| json!({"kind": agent.kind, "health": agent.health.name(), "in_flight": agent.in_flight}))
        .collect();
    let mut status = this_process();
    status["live_executions"] = json!(shared.admission.live.load(Ordering::Relaxed));
    status["agents"] = json!(agents);
    status
}

/// Acts on other nodes' signals: relays their events to this node's subscribers, wakes the
/// claim loop, carries out cancellations of executions held here, releases agent kinds.
pub(crate) async fn signal_loop(shared: Arc<Shared>, signals: Arc<dyn ClusterSignals>) {
    let mut receiver = signals.subscribe();
    // The last relayed seq of the other nodes' executions someone here follows.
    let mut relayed: std::collections::HashMap<ExecutionId, u64> = Default::default();
    loop {
        let signaled = match receiver.recv().await {
            Ok(signaled) => signaled,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                Arc::new(Signaled { from: String::new(), signal: Signal::Resync })
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        if signaled.from == shared.node_id {
            continue;
        }
        match &signaled.signal {
            Signal::Events { execution, first, last } => {
                if !shared.bus.is_followed(*execution) {
                    relayed.remove(execution);
                    continue;
                }
                let after = relayed.get(execution).copied().unwrap_or(u64::MAX).min(first.saturating_sub(1));
                relay(&shared, &mut relayed, *execution, after, *last).await;
            }
            Signal::Work => shared.wake.wake(),
            Signal::Cancel(id) => cancel_here(&shared, *id),
            Signal::Decided(id) => shared.send_to_shard(shared.shard_of(*id), ShardMsg::Approvals(*id)),
            Signal::ReleaseAgent(kind) => {
                if let Err(error) = super::release_agent(&shared, kind) {
                    debug!(%error, kind, "cannot release an agent kind here");
                }
            }
            Signal::Memory { .. } => {}
            Signal::Resync => {
                shared.wake.wake();
                let followed: Vec<(ExecutionId, u64)> = relayed.iter().map(|(id, seq)| (*id, *seq)).collect();
                for (id, after) in followed {
                    relay(&shared, &mut relayed, id, after, u64::MAX).await;
                }
            }
        }
    }
}

/// Publishes to this node's bus the stored events of `id` after `after` up to `last`.
async fn relay(
    shared: &Shared,
    relayed: &mut std::collections::HashMap<ExecutionId, u64>,
    id: ExecutionId,
    after: u64,
    last: u64,
) {
    use crate::events::EventSink;
    let want = last.saturating_sub(after).min(512) as u32;
    match shared.store.list_events(id, after, want.max(1)).await {
        Ok(events) => {
            let mut seen = after;
            for event in events {
                seen = event.seq;
                let terminal = event.is_terminal();
                shared.bus.publish(&Arc::new(event));
                if terminal {
                    relayed.remove(&id);
                    return;
                }
            }
            relayed.insert(id, seen);
        }
        Err(error) => warn!(%error, execution_id = %id, "cannot relay another node's events"),
    }
}
