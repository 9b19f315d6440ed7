//! Plugin registrations: checked and persisted ([`PluginRegistry::register`]), then loaded into
//! the plugin tree and offered to the runtime as agent kinds ([`PluginRegistry::sync`], which
//! the server runs at start and every few seconds, so `troupe plugin add` from another process
//! takes effect without a restart).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::Value;
use troupe_runtime::agent::AgentFactory;
use troupe_runtime::ids::UserId;
use troupe_runtime::research::{PluginRecord, ResearchStore};
use troupe_runtime::store::StoreError;
use troupe_runtime::{AgentConfig, Runtime, RuntimeError};

use crate::host::{PluginError, PluginHealth, PluginHost};
use crate::manifest::{CheckedManifest, ManifestError, ManifestIssue, MetricDecl, Track};

/// Why a registration was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The manifest or the module is wrong (the issues name the fields).
    #[error(transparent)]
    Invalid(ManifestError),
    /// The module does not load.
    #[error(transparent)]
    Plugin(PluginError),
    /// No such plugin.
    #[error("no plugin `{0}`")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &str, message: String) -> RegistryError {
    RegistryError::Invalid(ManifestError { issues: vec![ManifestIssue { field: field.into(), message }] })
}

/// What a sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Plugins loaded or reloaded.
    pub loaded: Vec<String>,
    /// Plugins removed.
    pub removed: Vec<String>,
    /// Plugins that failed to load, with why.
    pub failed: Vec<(String, String)>,
}

struct Known {
    registered_at: DateTime<Utc>,
    enabled: bool,
    kind: String,
}

/// The registrations and their loaded plugins.
pub struct PluginRegistry {
    host: PluginHost,
    store: Arc<dyn ResearchStore>,
    known: Mutex<HashMap<String, Known>>,
    /// One sync at a time (the periodic job and API changes both sync).
    syncing: tokio::sync::Mutex<()>,
}

impl PluginRegistry {
    /// A registry over `store`, loading into `host`.
    pub fn new(host: PluginHost, store: Arc<dyn ResearchStore>) -> Self {
        Self { host, store, known: Mutex::new(HashMap::new()), syncing: tokio::sync::Mutex::new(()) }
    }

    /// The plugin host.
    pub fn host(&self) -> &PluginHost {
        &self.host
    }

    /// Checks and persists a registration (replacing one of the same name). `reserved` are
    /// agent kinds a plugin may not take (the built-in ones). A research plugin's experiment
    /// must exist.
    pub async fn register(
        &self,
        manifest: Value,
        module: Option<Vec<u8>>,
        registered_by: UserId,
        reserved: &[String],
    ) -> Result<(PluginRecord, CheckedManifest), RegistryError> {
        let checked = self.host.check(manifest, module.as_deref()).await.map_err(|error| match error {
            PluginError::Manifest(error) => RegistryError::Invalid(error),
            PluginError::Module(error) => invalid("module", error.to_string()),
            PluginError::MissingModule => invalid("module", "a wasm plugin needs its module".into()),
            other => RegistryError::Plugin(other),
        })?;
        let kind = checked.agent_kind().to_owned();
        if reserved.contains(&kind) {
            let field = if checked.manifest.agent.is_some() { "agent" } else { "name" };
            return Err(invalid(field, format!("`{kind}` is a built-in agent kind; choose another name")));
        }
        if checked.manifest.track == Track::Research
            && let Some(research) = &checked.manifest.research
            && self.store.get_experiment(&research.experiment).await?.is_none()
        {
            return Err(invalid(
                "research.experiment",
                format!("no experiment `{}`: a researcher creates it first", research.experiment),
            ));
        }
        let record = PluginRecord {
            name: checked.manifest.name.clone(),
            manifest: serde_json::to_value(&checked.manifest).expect("a manifest serialises"),
            module,
            enabled: true,
            disabled_reason: None,
            registered_by,
            registered_at: troupe_runtime::model::now(),
        };
        self.store.put_plugin(&record).await?;
        Ok((record, checked))
    }

    /// Enables or disables a plugin (persisted; the plugin tree follows at once).
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<(), RegistryError> {
        let reason = (!enabled).then_some("disabled by an admin");
        if !self.store.set_plugin_enabled(name, enabled, reason).await? {
            return Err(RegistryError::NotFound(name.to_owned()));
        }
        if enabled {
            self.host.enable(name).await.map_err(RegistryError::Plugin)?;
        } else {
            self.host.disable(name, "disabled by an admin");
        }
        if let Some(known) = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get_mut(name) {
            known.enabled = enabled;
        }
        Ok(())
    }

    /// Removes a registration (the next sync removes its agent kind).
    pub async fn delete(&self, name: &str) -> Result<(), RegistryError> {
        if !self.store.delete_plugin(name).await? {
            return Err(RegistryError::NotFound(name.to_owned()));
        }
        Ok(())
    }

    /// Loads every registered plugin into the plugin tree before a runtime starts, and returns
    /// the agent kinds (with their factories) to give the runtime's builder: a runtime that
    /// resumes executions must know their plugins' kinds from its first moment.
    pub async fn preload(&self) -> Result<Vec<(String, AgentFactory)>, RegistryError> {
        let _one_at_a_time = self.syncing.lock().await;
        let mut kinds = Vec::new();
        for record in self.store.list_plugins().await? {
            match self.host.load(&record).await {
                Ok(()) => {
                    let kind = self
                        .host
                        .status(&record.name)
                        .map(|status| status.manifest.agent_kind().to_owned())
                        .unwrap_or_else(|| record.name.clone());
                    kinds.push((kind.clone(), self.host.agent_factory(&record.name)));
                    self.remember(&record, Some(kind));
                }
                Err(error) => tracing::warn!(plugin = %record.name, %error, "a registered plugin does not load"),
            }
        }
        Ok(kinds)
    }

    /// Brings the plugin tree and the runtime's agent kinds in line with the registrations.
    pub async fn sync(&self, runtime: &Runtime) -> Result<SyncReport, RegistryError> {
        let _one_at_a_time = self.syncing.lock().await;
        let records = self.store.list_plugins().await?;
        let mut report = SyncReport::default();
        let mut seen = std::collections::HashSet::new();
        for record in &records {
            seen.insert(record.name.clone());
            let (current, enabled_changed) = {
                let known = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                match known.get(&record.name) {
                    Some(known) => (known.registered_at == record.registered_at, known.enabled != record.enabled),
                    None => (false, false),
                }
            };
            if current {
                // The tree disables a plugin by itself past its intensity; an admin's change
                // made elsewhere (another node, the CLI) is followed here.
                if enabled_changed {
                    if record.enabled {
                        self.host.enable(&record.name).await.map_err(RegistryError::Plugin)?;
                    } else {
                        self.host.disable(&record.name, record.disabled_reason.as_deref().unwrap_or("disabled"));
                    }
                    self.remember(record, None);
                }
                continue;
            }
            match self.host.load(record).await {
                Ok(()) => {
                    let kind = self
                        .host
                        .status(&record.name)
                        .map(|status| status.manifest.agent_kind().to_owned())
                        .unwrap_or_else(|| record.name.clone());
                    match runtime
                        .register_agent(&kind, self.host.agent_factory(&record.name), AgentConfig::default())
                        .await
                    {
                        Ok(()) | Err(RuntimeError::AgentExists(_)) => {}
                        Err(error) => report.failed.push((record.name.clone(), error.to_string())),
                    }
                    self.remember(record, Some(kind));
                    report.loaded.push(record.name.clone());
                }
                Err(error) => {
                    tracing::warn!(plugin = %record.name, %error, "a registered plugin does not load");
                    report.failed.push((record.name.clone(), error.to_string()));
                }
            }
        }
        let gone: Vec<(String, String)> = {
            let mut known = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let names: Vec<String> = known.keys().filter(|name| !seen.contains(*name)).cloned().collect();
            names.into_iter().filter_map(|name| known.remove(&name).map(|known| (name, known.kind))).collect()
        };
        for (name, kind) in gone {
            self.host.unload(&name);
            let _ = runtime.unregister_agent(&kind);
            report.removed.push(name);
        }
        Ok(report)
    }

    fn remember(&self, record: &PluginRecord, kind: Option<String>) {
        let mut known = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let kind = kind
            .or_else(|| known.get(&record.name).map(|known| known.kind.clone()))
            .unwrap_or_else(|| record.name.clone());
        known.insert(record.name.clone(), Known { registered_at: record.registered_at, enabled: record.enabled, kind });
    }

    /// The declaration of `metric` by a research plugin of `experiment`, if one declares it.
    pub async fn declared_metric(&self, experiment: &str, metric: &str) -> Result<Option<MetricDecl>, RegistryError> {
        for record in self.store.list_plugins().await? {
            let Ok(checked) = crate::manifest::Manifest::from_value(record.manifest) else { continue };
            if let Some(research) = checked.manifest.research.filter(|research| research.experiment == experiment)
                && let Some(declared) = research.metrics.into_iter().find(|declared| declared.name == metric)
            {
                return Ok(Some(declared));
            }
        }
        Ok(None)
    }

    /// Every registration with its live health (`None` when it is not loaded on this node).
    pub async fn list(&self) -> Result<Vec<(PluginRecord, Option<PluginHealth>)>, RegistryError> {
        let records = self.store.list_plugins().await?;
        Ok(records
            .into_iter()
            .map(|record| {
                let health = self.host.status(&record.name).map(|status| status.health);
                (record, health)
            })
            .collect())
    }
}
