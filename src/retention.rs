//! Retention: how long finished executions (by status), their history and logs, sessions,
//! unverified accounts and memories are kept. `troupe serve` runs it as a supervised periodic
//! job ([`crate::jobs`]); `troupe gc` runs one pass. Nothing is removed unless a window is
//! configured, and a live execution is never touched: only what finished before a cutoff.
//!
//! The windows (the MRWA schema's suggestions in parentheses, none on by default):
//! `completed` (90 days) and `failed` (180 days; cancelled ones too) delete executions
//! entirely; `executions` (`TROUPE_RETENTION_EXECUTIONS`, the window of earlier releases)
//! purges the history of any finished execution — logs, events but the last, artifacts — and
//! keeps the execution, its steps and attempts; `logs` (30 days) removes only log lines;
//! `sessions` (7 days) removes revoked and expired sessions; `unverified` (7 days) deletes
//! accounts never verified, with everything they own; `memories` deletes old memories.

use std::time::Duration;

use troupe_memory::MemoryService;
use troupe_runtime::accounts::AccountStore;
use troupe_runtime::status::ExecutionStatus;
use troupe_runtime::store::{ExecutionStore, PurgeReport};

/// The default interval between retention passes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);

/// How long things are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Logs, events and artifacts of finished executions.
    pub executions: Option<Duration>,
    /// Completed executions, entirely.
    pub completed: Option<Duration>,
    /// Failed and cancelled executions, entirely.
    pub failed: Option<Duration>,
    /// Log lines of finished executions.
    pub logs: Option<Duration>,
    /// Revoked and expired sessions, after they ended.
    pub sessions: Option<Duration>,
    /// Accounts never verified, after they were created.
    pub unverified: Option<Duration>,
    /// Memories.
    pub memories: Option<Duration>,
    /// How often the server runs a pass.
    pub interval: Duration,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            executions: None,
            completed: None,
            failed: None,
            logs: None,
            sessions: None,
            unverified: None,
            memories: None,
            interval: DEFAULT_INTERVAL,
        }
    }
}

impl RetentionPolicy {
    /// Whether anything is ever removed.
    pub fn is_active(&self) -> bool {
        [self.executions, self.completed, self.failed, self.logs, self.sessions, self.unverified, self.memories]
            .iter()
            .any(Option::is_some)
    }
}

/// What a retention pass removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// From finished executions.
    pub executions: PurgeReport,
    /// Executions deleted entirely (completed, failed or cancelled).
    pub deleted: u64,
    /// Log lines removed by the `logs` window.
    pub logs: u64,
    /// Sessions removed.
    pub sessions: u64,
    /// Unverified accounts deleted.
    pub accounts: u64,
    /// Memories deleted.
    pub memories: u64,
}

/// Executions purged per transaction (short transactions: the orchestrator shares the writer).
const PURGE_CHUNK: u32 = 64;

/// What a retention pass works on.
pub struct Stores<'a> {
    /// Executions.
    pub executions: &'a dyn ExecutionStore,
    /// Accounts (the `sessions` window).
    pub accounts: &'a dyn AccountStore,
    /// Memories (the `memories` window).
    pub memories: Option<&'a MemoryService>,
    /// Account deletion (the `unverified` window).
    pub deletion: Option<&'a troupe_gateway::services::deletion::Deletion>,
    /// Where executions' workspaces live (removed with deleted executions).
    pub workspaces: Option<&'a std::path::Path>,
}

/// Runs one pass of `policy` as of now.
pub async fn run(policy: RetentionPolicy, stores: Stores<'_>) -> anyhow::Result<RetentionReport> {
    let now = chrono::Utc::now();
    let cutoff = |keep: Duration| -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
        Ok(now - chrono::Duration::from_std(keep)?)
    };
    let store = stores.executions;
    let mut report = RetentionReport::default();
    if let Some(keep) = policy.executions {
        let cutoff = cutoff(keep)?;
        loop {
            let purged = store.purge_finished(cutoff, PURGE_CHUNK).await?;
            if purged.executions == 0 {
                break;
            }
            report.executions += purged;
        }
    }
    let windows = [
        (policy.completed, &[ExecutionStatus::Completed][..]),
        (policy.failed, &[ExecutionStatus::Failed, ExecutionStatus::Cancelled][..]),
    ];
    for (keep, statuses) in windows {
        let Some(keep) = keep else { continue };
        let cutoff = cutoff(keep)?;
        loop {
            let deleted = store.delete_finished(statuses, cutoff, PURGE_CHUNK).await?;
            if deleted.is_empty() {
                break;
            }
            report.deleted += deleted.len() as u64;
            if let Some(workspaces) = stores.workspaces {
                for id in deleted {
                    let _ = std::fs::remove_dir_all(workspaces.join(id.to_string()));
                }
            }
        }
    }
    if let Some(keep) = policy.logs {
        let cutoff = cutoff(keep)?;
        loop {
            let removed = store.purge_logs(cutoff, 1024).await?;
            if removed == 0 {
                break;
            }
            report.logs += removed;
        }
    }
    // Exports expire after a day whatever the windows say.
    stores.accounts.purge_exports(now).await?;
    if let Some(keep) = policy.sessions {
        report.sessions = stores.accounts.purge_sessions(cutoff(keep)?).await?;
    }
    if let Some(keep) = policy.unverified {
        let deletion =
            stores.deletion.ok_or_else(|| anyhow::anyhow!("the unverified window needs account deletion"))?;
        for user in stores.accounts.unverified_before(cutoff(keep)?).await? {
            deletion
                .delete(user, user)
                .await
                .map_err(|error| anyhow::anyhow!("deleting unverified {user}: {error}"))?;
            report.accounts += 1;
        }
    }
    if let Some(keep) = policy.memories {
        let memories = stores.memories.ok_or_else(|| anyhow::anyhow!("memory retention needs the memory store"))?;
        report.memories = memories.purge_before(cutoff(keep)?).await?;
    }
    if report != RetentionReport::default() {
        tracing::info!(
            executions = report.executions.executions,
            logs = report.executions.logs,
            events = report.executions.events,
            artifacts = report.executions.artifacts,
            deleted = report.deleted,
            log_lines = report.logs,
            sessions = report.sessions,
            accounts = report.accounts,
            memories = report.memories,
            "retention pass"
        );
    }
    Ok(report)
}
