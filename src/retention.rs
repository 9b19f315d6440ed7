//! Retention: how long the logs, events and artifacts of finished executions, and memories,
//! are kept. `troupe serve` runs it as a supervised periodic job ([`crate::jobs`]); `troupe
//! gc` runs one pass. Nothing is removed unless a retention is configured, and a live
//! execution is never touched: only executions that finished before the cutoff are purged
//! (their rows, steps and attempts stay; the terminal event too).

use std::time::Duration;

use troupe_memory::MemoryService;
use troupe_runtime::store::{ExecutionStore, PurgeReport};

/// The default interval between retention passes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);

/// How long things are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Logs, events and artifacts of finished executions.
    pub executions: Option<Duration>,
    /// Memories.
    pub memories: Option<Duration>,
    /// How often the server runs a pass.
    pub interval: Duration,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self { executions: None, memories: None, interval: DEFAULT_INTERVAL }
    }
}

impl RetentionPolicy {
    /// Whether anything is ever removed.
    pub fn is_active(&self) -> bool {
        self.executions.is_some() || self.memories.is_some()
    }
}

/// What a retention pass removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// From finished executions.
    pub executions: PurgeReport,
    /// Memories deleted.
    pub memories: u64,
}

/// Executions purged per transaction (short transactions: the orchestrator shares the writer).
const PURGE_CHUNK: u32 = 64;

/// Runs one pass of `policy` as of now (`memories` is needed when the policy expires them).
pub async fn run(
    policy: RetentionPolicy,
    store: &dyn ExecutionStore,
    memories: Option<&MemoryService>,
) -> anyhow::Result<RetentionReport> {
    let now = chrono::Utc::now();
    let mut report = RetentionReport::default();
    if let Some(keep) = policy.executions {
        let cutoff = now - chrono::Duration::from_std(keep)?;
        loop {
            let purged = store.purge_finished(cutoff, PURGE_CHUNK).await?;
            if purged.executions == 0 {
                break;
            }
            report.executions += purged;
        }
    }
    if let Some(keep) = policy.memories {
        let memories = memories.ok_or_else(|| anyhow::anyhow!("memory retention needs the memory store"))?;
        report.memories = memories.purge_before(now - chrono::Duration::from_std(keep)?).await?;
    }
    if report != RetentionReport::default() {
        tracing::info!(
            executions = report.executions.executions,
            logs = report.executions.logs,
            events = report.executions.events,
            artifacts = report.executions.artifacts,
            memories = report.memories,
            "retention pass"
        );
    }
    Ok(report)
}
