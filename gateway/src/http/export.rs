//! Exports: one `.tar.gz` archive of everything a user owns — account, projects, pipelines,
//! executions with steps, attempts, events, logs and artifacts, uploaded files, memories
//! (decrypted), consent history, usage — with a manifest. Prepared on a background task,
//! sealed at rest with the memory keys (bound to the user and the export), downloadable by
//! its owner for a day.

use std::sync::Arc;

use chrono::Utc;
use serde_json::{Value, json};
use sha2::Digest;
use troupe_memory::crypto::{MemoryKeys, Sealed};
use troupe_runtime::Runtime;
use troupe_runtime::accounts::ExportRecord;
use troupe_runtime::ids::UserId;
use troupe_runtime::store::ExecutionQuery;
use uuid::Uuid;

use super::views::{ExecutionView, PipelineView, ProfileView, ProjectView, StepView};
use crate::auth::Auth;
use crate::services::ServiceError;

/// How long a prepared export can be downloaded.
pub const EXPORT_TTL: chrono::Duration = chrono::Duration::days(1);

/// Prepares and opens exports.
#[derive(Clone)]
pub struct Exports {
    /// Accounts (and where exports are kept).
    pub auth: Auth,
    /// Executions.
    pub runtime: Arc<Runtime>,
    /// Memories.
    pub memories: Arc<troupe_memory::MemoryService>,
    /// Consent history.
    pub plugins: Arc<troupe_plugins::PluginRegistry>,
    /// Uploaded files.
    pub files: Arc<dyn troupe_runtime::files::FileStore>,
    /// Seals archives.
    pub keys: Arc<MemoryKeys>,
    /// Tells the user's WebSockets (on this node) when an export is ready.
    pub notices: Option<tokio::sync::broadcast::Sender<super::ws::Notice>>,
}

impl Exports {
    /// Starts preparing an export of `user`'s data; returns it (`preparing`).
    pub async fn start(&self, user: UserId) -> Result<ExportRecord, ServiceError> {
        let now = Utc::now();
        let record = ExportRecord {
            id: Uuid::now_v7(),
            user_id: user,
            status: "preparing".into(),
            sealed: None,
            size: 0,
            error: None,
            created_at: now,
            expires_at: now + EXPORT_TTL,
        };
        // Expired exports go whenever a new one is asked for (and with each retention pass).
        self.auth.store().purge_exports(now).await?;
        self.auth.store().put_export(&record).await?;
        let exports = self.clone();
        let mut done = record.clone();
        tokio::spawn(async move {
            match exports.archive(user).await {
                Ok(archive) => {
                    let Sealed { key_id, nonce, ciphertext } = exports.keys.seal(user, done.id, &archive);
                    done.status = "ready".into();
                    done.size = archive.len() as u64;
                    done.sealed = Some((key_id, nonce, ciphertext));
                }
                Err(error) => {
                    tracing::warn!(%error, %user, "an export failed");
                    done.status = "failed".into();
                    done.error = Some(error.to_string());
                }
            }
            done.expires_at = Utc::now() + EXPORT_TTL;
            if let Err(error) = exports.auth.store().put_export(&done).await {
                tracing::warn!(%error, %user, "cannot store a prepared export");
                return;
            }
            if done.status == "ready"
                && let Some(notices) = &exports.notices
            {
                let _ = notices.send(super::ws::Notice { user, kind: "export_ready", id: done.id });
            }
            if done.status == "ready"
                && let Ok(Some(account)) = exports.auth.store().get_user(user).await
            {
                let body = format!(
                    "The export of your troupe account is ready: download it from the console, or from \
                     GET /api/v1/users/me/exports/{}/archive, until {}.\n",
                    done.id,
                    done.expires_at.format("%Y-%m-%d %H:%M UTC")
                );
                exports.auth.mail_notice(&account.email, "Your troupe export is ready", body);
            }
        });
        Ok(record)
    }

    /// The user's export, if it exists and has not expired.
    pub async fn get(&self, user: UserId, id: Uuid) -> Result<Option<ExportRecord>, ServiceError> {
        let record = self.auth.store().get_export(user, id).await?;
        Ok(record.filter(|record| record.expires_at > Utc::now()))
    }

    /// Opens a ready export's archive.
    pub fn open(&self, record: &ExportRecord) -> Result<Vec<u8>, ServiceError> {
        let Some((key_id, nonce, ciphertext)) = &record.sealed else {
            return Err(ServiceError::Conflict(format!("the export is {}", record.status)));
        };
        let sealed = Sealed { key_id: key_id.clone(), nonce: nonce.clone(), ciphertext: ciphertext.clone() };
        self.keys
            .open(record.user_id, record.id, &sealed)
            .map_err(|error| ServiceError::Unavailable(format!("cannot open the export: {error}")))
    }

    /// Builds the archive.
    async fn archive(&self, user: UserId) -> Result<Vec<u8>, ServiceError> {
        let mut archive = Archive::default();
        let accounts = self.auth.store();
        let account = accounts.get_user(user).await?.ok_or_else(|| ServiceError::NotFound("user".into()))?;
        archive.json("account.json", &serde_json::to_value(ProfileView::from(&account)).unwrap_or_default());
        let projects: Vec<ProjectView> =
            accounts.list_projects(Some(user)).await?.iter().map(ProjectView::from).collect();
        archive.json("projects.json", &serde_json::to_value(projects).unwrap_or_default());
        let store = self.runtime.store();
        let pipelines: Vec<PipelineView> =
            store.list_pipelines(Some(user)).await?.iter().map(super::routes::pipelines::user_view).collect();
        archive.json("pipelines.json", &serde_json::to_value(pipelines).unwrap_or_default());

        let mut before = None;
        let mut executions = 0;
        loop {
            let query = ExecutionQuery { owner: Some(user), before, limit: Some(200), ..ExecutionQuery::default() };
            let page = store.list_executions(&query).await?;
            let Some(last) = page.last() else { break };
            before = Some(last.id);
            for record in &page {
                executions += 1;
                let dir = format!("executions/{}", record.id);
                archive.json(
                    &format!("{dir}/execution.json"),
                    &serde_json::to_value(ExecutionView::from(record)).unwrap_or_default(),
                );
                let (steps, attempts) = tokio::try_join!(store.list_steps(record.id), store.list_attempts(record.id))?;
                let steps: Vec<StepView> = steps
                    .iter()
                    .map(|step| StepView::new(step, attempts.iter().filter(|a| *a.step_key == *step.key).collect()))
                    .collect();
                archive.json(&format!("{dir}/steps.json"), &serde_json::to_value(steps).unwrap_or_default());
                let events = store.list_events(record.id, 0, u32::MAX).await?;
                archive.json(&format!("{dir}/events.json"), &serde_json::to_value(events).unwrap_or_default());
                let logs = store.list_logs(record.id).await?;
                archive.json(&format!("{dir}/logs.json"), &serde_json::to_value(logs).unwrap_or_default());
                let usage: Vec<Value> = store
                    .execution_usage(record.id)
                    .await?
                    .iter()
                    .map(|row| {
                        json!({"provider": row.provider, "model": row.model, "prompt_tokens": row.usage.prompt_tokens,
                        "completion_tokens": row.usage.completion_tokens, "cost_usd": row.usage.cost_usd})
                    })
                    .collect();
                archive.json(&format!("{dir}/usage.json"), &Value::Array(usage));
                for artifact in store.list_artifacts(record.id).await? {
                    let path = format!("{dir}/artifacts/{}/{}", safe(&artifact.step_key), safe(&artifact.name));
                    archive.bytes(&path, artifact.content);
                }
            }
        }
        for file in self.files.list_files(user).await? {
            if let Some((record, content)) = self.files.read_file(user, file.id).await? {
                archive.bytes(&format!("files/{}-{}", record.id, safe(&record.name)), content);
            }
        }
        let memories: Vec<Value> = self
            .memories
            .export(user)
            .await
            .map_err(|error| ServiceError::Unavailable(error.to_string()))?
            .iter()
            .map(|memory| {
                json!({"id": memory.id, "kind": memory.kind, "text": memory.text, "source": memory.source,
                    "metadata": memory.metadata, "created_at": memory.created_at})
            })
            .collect();
        let memory_count = memories.len();
        archive.json("memories.json", &Value::Array(memories));
        let consent: Vec<Value> = self
            .plugins
            .host()
            .bus()
            .store()
            .consent_history(user, None)
            .await?
            .iter()
            .map(|change| json!({"experiment": change.experiment, "granted": change.granted, "at": change.at}))
            .collect();
        archive.json("consent.json", &Value::Array(consent));
        let usage = store.owner_usage(user).await?;
        archive.json(
            "usage.json",
            &json!({"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens, "cost_usd": usage.cost_usd}),
        );
        let manifest = json!({
            "format": "troupe-export/1",
            "user": user.0,
            "created_at": Utc::now(),
            "counts": {"executions": executions, "memories": memory_count},
            "files": archive.manifest,
        });
        archive
            .finish(&manifest)
            .map_err(|error| ServiceError::Unavailable(format!("cannot write the archive: {error}")))
    }
}

/// A name made safe as one path segment of the archive.
fn safe(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .take(120)
        .collect();
    match cleaned.trim_start_matches('.') {
        "" => "_".to_owned(),
        rest => rest.to_owned(),
    }
}

/// The archive's entries, in memory until finished.
#[derive(Default)]
struct Archive {
    entries: Vec<(String, Vec<u8>)>,
    manifest: Vec<Value>,
}

impl Archive {
    fn json(&mut self, path: &str, value: &Value) {
        self.bytes(path, serde_json::to_vec_pretty(value).unwrap_or_default());
    }

    fn bytes(&mut self, path: &str, content: Vec<u8>) {
        let digest = hex::encode(sha2::Sha256::digest(&content));
        self.manifest.push(json!({"path": path, "size": content.len(), "sha256": digest}));
        self.entries.push((path.to_owned(), content));
    }

    /// Writes `manifest.json` first, then every entry, as a gzipped tar.
    fn finish(self, manifest: &Value) -> std::io::Result<Vec<u8>> {
        let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut tar = tar::Builder::new(encoder);
        let manifest = serde_json::to_vec_pretty(manifest).unwrap_or_default();
        for (path, content) in std::iter::once(("manifest.json".to_owned(), manifest)).chain(self.entries) {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o600);
            header.set_mtime(Utc::now().timestamp().max(0) as u64);
            header.set_cksum();
            tar.append_data(&mut header, path, content.as_slice())?;
        }
        tar.into_inner()?.finish()
    }
}
