//! Account deletion: everything a user owns leaves every store, and what stays is only the
//! bare id in the audit row of the deletion.
//!
//! The order matters: the account is disabled first (no new login, token or execution), live
//! executions are cancelled and awaited (no shard writes for them after their rows go), then
//! the execution store, memories (records and vectors), research data, the account with its
//! sessions, keys, tokens, projects and files, the execution workspaces on disk, and last the
//! scrub of the SQLite files.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use serde_json::json;
use troupe_runtime::Runtime;
use troupe_runtime::accounts::{Role, UserUpdate};
use troupe_runtime::ids::{ExecutionId, UserId};
use troupe_runtime::store::ExecutionQuery;
use utoipa::ToSchema;

use super::ServiceError;
use crate::auth::Auth;

/// What a deletion removed.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct DeletionReport {
    /// Executions (with their steps, attempts, events, logs, artifacts and usage).
    pub executions: u64,
    /// Live executions cancelled first.
    pub cancelled: u64,
    /// Memories (sealed records and their vectors).
    pub memories: u64,
    /// Research rows: pending observations and consent changes.
    pub research: u64,
}

/// Deletes accounts.
#[derive(Clone)]
pub struct Deletion {
    /// Accounts and the audit log.
    pub auth: Auth,
    /// Executions.
    pub runtime: Arc<Runtime>,
    /// Memories.
    pub memories: Arc<troupe_memory::MemoryService>,
    /// The research bus.
    pub plugins: Arc<troupe_plugins::PluginRegistry>,
    /// Where executions' workspaces live (`None`: nowhere on this node).
    pub workspaces: Option<PathBuf>,
}

impl Deletion {
    /// Deletes `user` and everything they own; `by` is who asked (the user or an admin).
    /// The last enabled admin cannot be deleted.
    pub async fn delete(&self, user: UserId, by: UserId) -> Result<DeletionReport, ServiceError> {
        let store = self.auth.store();
        let Some(record) = store.get_user(user).await? else {
            return Err(ServiceError::NotFound("user".into()));
        };
        if record.role == Role::Admin && !record.disabled && store.other_admins(user).await? == 0 {
            return Err(ServiceError::Conflict("the last admin cannot be deleted; make another admin first".into()));
        }
        store.update_user(user, &UserUpdate { disabled: Some(true), ..UserUpdate::default() }).await?;
        store.revoke_user_sessions(user, None).await?;
        store.revoke_user_api_keys(user).await?;
        self.auth.user_changed(user);

        let mut report = DeletionReport::default();
        let executions = self.executions_of(user).await?;
        for record in &executions {
            if record.1.is_terminal() {
                continue;
            }
            match self.runtime.cancel(record.0).await {
                Ok(cancelled) if cancelled.done => report.cancelled += 1,
                Ok(_) => {
                    return Err(ServiceError::Unavailable(format!(
                        "execution {} is still stopping; delete the account again in a moment",
                        record.0
                    )));
                }
                Err(troupe_runtime::RuntimeError::AlreadyFinished { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        report.executions = self.runtime.store().delete_owner(user).await?;
        report.memories =
            self.memories.delete_all(user).await.map_err(|error| ServiceError::Unavailable(error.to_string()))?;
        report.research = self
            .plugins
            .host()
            .bus()
            .forget_user(user)
            .await
            .map_err(|error| ServiceError::Unavailable(error.to_string()))?;
        store.delete_user(user).await?;
        for address in std::iter::once(&record.email).chain(&record.pending_email) {
            self.auth.forget_mail_to(address);
        }
        if let Some(workspaces) = &self.workspaces {
            for (id, _) in &executions {
                let dir = workspaces.join(id.to_string());
                if let Err(error) = std::fs::remove_dir_all(&dir)
                    && error.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!(%error, dir = %dir.display(), "cannot remove a deleted user's workspace");
                }
            }
        }
        let actor = (by != user).then_some(by);
        self.auth.audit(actor, "user_deleted", Some(user.to_string()), None, json!({})).await;
        store.scrub().await?;
        Ok(report)
    }

    /// Every execution of `user`, with its status.
    async fn executions_of(
        &self,
        user: UserId,
    ) -> Result<Vec<(ExecutionId, troupe_runtime::status::ExecutionStatus)>, ServiceError> {
        let mut all = Vec::new();
        let mut before = None;
        loop {
            let query = ExecutionQuery { owner: Some(user), before, limit: Some(500), ..ExecutionQuery::default() };
            let page = self.runtime.store().list_executions(&query).await?;
            let Some(last) = page.last() else { break };
            before = Some(last.id);
            all.extend(page.iter().map(|record| (record.id, record.status)));
        }
        Ok(all)
    }
}
