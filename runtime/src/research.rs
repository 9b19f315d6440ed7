//! The research track's records and their port, [`ResearchStore`]: experiments, consent (an
//! append-only history per user and experiment), feature flags, registered plugins, the research
//! bus's pseudonymised observations, and the privacy-budget ledger with the releases it paid for.
//!
//! These live apart from the core tables (a `research` schema on PostgreSQL, a separate SQLite
//! file), so the production track's data and the research track's never share a table. No record
//! here holds a raw user id except consent (which is the user's own choice, shown to them) and
//! the experiment's owner; observations carry keyed pseudonyms only.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::ids::UserId;
use crate::store::StoreError;

/// Where an experiment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExperimentStatus {
    /// Collecting: plugins run for consenting users, observations are kept.
    Active,
    /// Closed: no plugin step of it runs any more; releases of what was collected may go on.
    Closed,
}

impl ExperimentStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExperimentStatus::Active => "active",
            ExperimentStatus::Closed => "closed",
        }
    }
}

impl std::str::FromStr for ExperimentStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "active" => Ok(ExperimentStatus::Active),
            "closed" => Ok(ExperimentStatus::Closed),
            other => Err(format!("unknown experiment status `{other}`")),
        }
    }
}

/// A research experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct Experiment {
    /// Its id (`[a-z0-9_-]`, chosen by its owner).
    pub id: String,
    /// A title users see when asked for consent.
    pub title: String,
    /// The hypothesis document users read before they consent.
    pub hypothesis: String,
    /// The researcher who owns it (the only one who reads its releases).
    pub owner: UserId,
    /// Active or closed.
    pub status: ExperimentStatus,
    /// The whole privacy budget (ε) its releases may spend.
    pub epsilon_total: f64,
    /// What one release spends.
    pub epsilon_per_release: f64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// One change of a user's consent to an experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsentChange {
    /// The user.
    pub user: UserId,
    /// The experiment.
    pub experiment: String,
    /// Granted (`true`) or revoked.
    pub granted: bool,
    /// When.
    pub at: DateTime<Utc>,
}

/// A feature flag: off, on for everyone, on for an allow list, or on for a stable percentage
/// of users.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureFlag {
    /// Its name.
    pub name: String,
    /// Master switch: when off, the flag is off for everyone.
    pub enabled: bool,
    /// Users for whom it is on (when enabled), whatever the rollout.
    pub allow: Vec<UserId>,
    /// Percentage of the other users for whom it is on (0–100), chosen by a stable hash of the
    /// flag's name and the user's id.
    pub rollout_percent: u8,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl FeatureFlag {
    /// Whether the flag is on for `user`.
    pub fn is_on_for(&self, user: UserId) -> bool {
        if !self.enabled {
            return false;
        }
        if self.allow.contains(&user) {
            return true;
        }
        rollout_bucket(&self.name, user) < u32::from(self.rollout_percent.min(100))
    }
}

/// The user's bucket (0–99) for a flag: stable across processes and releases (SHA-256 of the
/// flag's name and the user id), independent between flags.
pub fn rollout_bucket(flag: &str, user: UserId) -> u32 {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(flag.as_bytes());
    hasher.update([0]);
    hasher.update(user.0.as_bytes());
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 100
}

/// A plugin as registered: its manifest (JSON), its module (for WASM plugins) and whether it
/// is enabled.
#[derive(Clone, Debug, PartialEq)]
pub struct PluginRecord {
    /// The plugin's name (also the agent kind it provides).
    pub name: String,
    /// The manifest, as JSON.
    pub manifest: Value,
    /// The WebAssembly module (binary or text), for `wasm` plugins.
    pub module: Option<Vec<u8>>,
    /// Whether an admin left it enabled (a plugin past its restart intensity is disabled).
    pub enabled: bool,
    /// Why it is disabled.
    pub disabled_reason: Option<String>,
    /// Who registered it.
    pub registered_by: UserId,
    /// When.
    pub registered_at: DateTime<Utc>,
}

/// A metric value a plugin step emitted, as the research bus keeps it: pseudonymised.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// The experiment.
    pub experiment: String,
    /// The metric (declared in the plugin's manifest).
    pub metric: String,
    /// The keyed pseudonym of the user (HMAC), never the user id.
    pub pseudonym: String,
    /// The value (already clamped to the metric's declared bounds).
    pub value: f64,
    /// When it was observed.
    pub at: DateTime<Utc>,
}

/// A differentially private release of one metric of an experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// Its id.
    pub id: Uuid,
    /// The experiment.
    pub experiment: String,
    /// The metric.
    pub metric: String,
    /// The noisy sum of the users' (clamped) contributions.
    pub noisy_sum: f64,
    /// The noisy number of contributing users.
    pub noisy_count: f64,
    /// The privacy budget this release spent.
    pub epsilon: f64,
    /// The Laplace scale of the sum's noise (sensitivity / ε share).
    pub sum_scale: f64,
    /// The Laplace scale of the count's noise.
    pub count_scale: f64,
    /// When.
    pub released_at: DateTime<Utc>,
}

/// Persistence of the research track.
#[async_trait]
pub trait ResearchStore: Send + Sync + 'static {
    /// Creates or replaces an experiment.
    async fn put_experiment(&self, experiment: &Experiment) -> Result<(), StoreError>;

    /// Creates an experiment unless one of its id exists; returns whether it did (one of two
    /// concurrent creations wins).
    async fn create_experiment(&self, experiment: &Experiment) -> Result<bool, StoreError>;

    /// Returns an experiment.
    async fn get_experiment(&self, id: &str) -> Result<Option<Experiment>, StoreError>;

    /// Lists every experiment, by id.
    async fn list_experiments(&self) -> Result<Vec<Experiment>, StoreError>;

    /// Appends a consent change (the history is never rewritten).
    async fn record_consent(&self, change: &ConsentChange) -> Result<(), StoreError>;

    /// A user's consent history, oldest first (of one experiment, or all).
    async fn consent_history(&self, user: UserId, experiment: Option<&str>) -> Result<Vec<ConsentChange>, StoreError>;

    /// Whether the user's latest consent change for the experiment is a grant.
    async fn has_consent(&self, user: UserId, experiment: &str) -> Result<bool, StoreError>;

    /// Account deletion: removes the user's whole consent history; returns how many changes.
    async fn delete_consents(&self, user: UserId) -> Result<u64, StoreError>;

    /// Makes deleted rows unrecoverable from the store's own files (see
    /// [`crate::accounts::AccountStore::scrub`]).
    async fn scrub(&self) -> Result<(), StoreError>;

    /// Creates or replaces a flag.
    async fn put_flag(&self, flag: &FeatureFlag) -> Result<(), StoreError>;

    /// Returns a flag.
    async fn get_flag(&self, name: &str) -> Result<Option<FeatureFlag>, StoreError>;

    /// Lists every flag, by name.
    async fn list_flags(&self) -> Result<Vec<FeatureFlag>, StoreError>;

    /// Creates or replaces a plugin's registration.
    async fn put_plugin(&self, plugin: &PluginRecord) -> Result<(), StoreError>;

    /// Lists every registered plugin, by name.
    async fn list_plugins(&self) -> Result<Vec<PluginRecord>, StoreError>;

    /// Sets whether a plugin is enabled (and why not); whether it exists.
    async fn set_plugin_enabled(&self, name: &str, enabled: bool, reason: Option<&str>) -> Result<bool, StoreError>;

    /// Removes a plugin's registration; whether it existed.
    async fn delete_plugin(&self, name: &str) -> Result<bool, StoreError>;

    /// Keeps observations for the next release.
    async fn add_observations(&self, observations: &[Observation]) -> Result<(), StoreError>;

    /// The observations of a metric not released yet.
    async fn pending_observations(&self, experiment: &str, metric: &str) -> Result<Vec<Observation>, StoreError>;

    /// Deletes the pending observations of one pseudonym (a revoked consent stops delivery).
    async fn forget_pseudonym(&self, experiment: &str, pseudonym: &str) -> Result<u64, StoreError>;

    /// In one transaction: checks that the experiment's ledger plus `release.epsilon` stays
    /// within `epsilon_total` (else [`StoreError::Conflict`], nothing written), appends the
    /// ledger entry and the release, and deletes the observations it consumed (those of the
    /// metric observed at or before `consumed_until`).
    async fn record_release(
        &self,
        release: &Release,
        epsilon_total: f64,
        consumed_until: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The budget an experiment has spent.
    async fn spent_epsilon(&self, experiment: &str) -> Result<f64, StoreError>;

    /// An experiment's releases, oldest first.
    async fn list_releases(&self, experiment: &str) -> Result<Vec<Release>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(percent: u8) -> FeatureFlag {
        FeatureFlag {
            name: "plugin.sentiment".into(),
            enabled: true,
            allow: Vec::new(),
            rollout_percent: percent,
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn a_percentage_rollout_is_stable_and_close_to_its_share() {
        let users: Vec<UserId> = (0..4000).map(|_| UserId::new()).collect();
        let thirty = flag(30);
        let on: Vec<bool> = users.iter().map(|user| thirty.is_on_for(*user)).collect();
        let share = on.iter().filter(|on| **on).count() as f64 / users.len() as f64;
        assert!((share - 0.30).abs() < 0.04, "{share}");
        // The same users, asked again (a new flag value, a new process): the same answers.
        assert_eq!(users.iter().map(|user| flag(30).is_on_for(*user)).collect::<Vec<_>>(), on);
        // Widening the rollout keeps everyone who had it.
        let fifty = flag(50);
        assert!(users.iter().zip(&on).all(|(user, was)| !was || fifty.is_on_for(*user)));
        assert!(users.iter().all(|user| flag(100).is_on_for(*user)));
        assert!(users.iter().all(|user| !flag(0).is_on_for(*user)));
    }

    #[test]
    fn the_master_switch_and_the_allow_list_win() {
        let user = UserId::new();
        let mut allowed = flag(0);
        allowed.allow.push(user);
        assert!(allowed.is_on_for(user));
        assert!(!allowed.is_on_for(UserId::new()));
        allowed.enabled = false;
        assert!(!allowed.is_on_for(user), "off is off for everyone");
    }
}

/// A [`ResearchStore`] in process memory, for tests.
#[cfg(any(test, feature = "testsuite"))]
#[derive(Default)]
pub struct InMemoryResearchStore {
    inner: std::sync::Mutex<InMemoryResearch>,
}

#[cfg(any(test, feature = "testsuite"))]
#[derive(Default)]
struct InMemoryResearch {
    experiments: std::collections::BTreeMap<String, Experiment>,
    consent: Vec<ConsentChange>,
    flags: std::collections::BTreeMap<String, FeatureFlag>,
    plugins: std::collections::BTreeMap<String, PluginRecord>,
    observations: Vec<Observation>,
    releases: Vec<Release>,
}

#[cfg(any(test, feature = "testsuite"))]
impl InMemoryResearchStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, InMemoryResearch> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(any(test, feature = "testsuite"))]
#[async_trait]
impl ResearchStore for InMemoryResearchStore {
    async fn put_experiment(&self, experiment: &Experiment) -> Result<(), StoreError> {
        self.lock().experiments.insert(experiment.id.clone(), experiment.clone());
        Ok(())
    }

    async fn create_experiment(&self, experiment: &Experiment) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if inner.experiments.contains_key(&experiment.id) {
            return Ok(false);
        }
        inner.experiments.insert(experiment.id.clone(), experiment.clone());
        Ok(true)
    }

    async fn get_experiment(&self, id: &str) -> Result<Option<Experiment>, StoreError> {
        Ok(self.lock().experiments.get(id).cloned())
    }

    async fn list_experiments(&self) -> Result<Vec<Experiment>, StoreError> {
        Ok(self.lock().experiments.values().cloned().collect())
    }

    async fn record_consent(&self, change: &ConsentChange) -> Result<(), StoreError> {
        self.lock().consent.push(change.clone());
        Ok(())
    }

    async fn consent_history(&self, user: UserId, experiment: Option<&str>) -> Result<Vec<ConsentChange>, StoreError> {
        Ok(self
            .lock()
            .consent
            .iter()
            .filter(|change| change.user == user && experiment.is_none_or(|id| change.experiment == id))
            .cloned()
            .collect())
    }

    async fn has_consent(&self, user: UserId, experiment: &str) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .consent
            .iter()
            .rev()
            .find(|change| change.user == user && change.experiment == experiment)
            .is_some_and(|change| change.granted))
    }

    async fn scrub(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn delete_consents(&self, user: UserId) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let before = inner.consent.len();
        inner.consent.retain(|change| change.user != user);
        Ok((before - inner.consent.len()) as u64)
    }

    async fn put_flag(&self, flag: &FeatureFlag) -> Result<(), StoreError> {
        self.lock().flags.insert(flag.name.clone(), flag.clone());
        Ok(())
    }

    async fn get_flag(&self, name: &str) -> Result<Option<FeatureFlag>, StoreError> {
        Ok(self.lock().flags.get(name).cloned())
    }

    async fn list_flags(&self) -> Result<Vec<FeatureFlag>, StoreError> {
        Ok(self.lock().flags.values().cloned().collect())
    }

    async fn put_plugin(&self, plugin: &PluginRecord) -> Result<(), StoreError> {
        self.lock().plugins.insert(plugin.name.clone(), plugin.clone());
        Ok(())
    }

    async fn list_plugins(&self) -> Result<Vec<PluginRecord>, StoreError> {
        Ok(self.lock().plugins.values().cloned().collect())
    }

    async fn set_plugin_enabled(&self, name: &str, enabled: bool, reason: Option<&str>) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(plugin) = inner.plugins.get_mut(name) else { return Ok(false) };
        plugin.enabled = enabled;
        plugin.disabled_reason = reason.map(str::to_owned);
        Ok(true)
    }

    async fn delete_plugin(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.lock().plugins.remove(name).is_some())
    }

    async fn add_observations(&self, observations: &[Observation]) -> Result<(), StoreError> {
        self.lock().observations.extend_from_slice(observations);
        Ok(())
    }

    async fn pending_observations(&self, experiment: &str, metric: &str) -> Result<Vec<Observation>, StoreError> {
        Ok(self
            .lock()
            .observations
            .iter()
            .filter(|observation| observation.experiment == experiment && observation.metric == metric)
            .cloned()
            .collect())
    }

    async fn forget_pseudonym(&self, experiment: &str, pseudonym: &str) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let before = inner.observations.len();
        inner
            .observations
            .retain(|observation| !(observation.experiment == experiment && observation.pseudonym == pseudonym));
        Ok((before - inner.observations.len()) as u64)
    }

    async fn record_release(
        &self,
        release: &Release,
        epsilon_total: f64,
        consumed_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let spent: f64 =
            inner.releases.iter().filter(|earlier| earlier.experiment == release.experiment).map(|r| r.epsilon).sum();
        if spent + release.epsilon > epsilon_total + 1e-9 {
            return Err(StoreError::Conflict(format!(
                "the privacy budget of experiment `{}` is spent: {spent} of {epsilon_total} used",
                release.experiment
            )));
        }
        inner.releases.push(release.clone());
        inner.observations.retain(|observation| {
            !(observation.experiment == release.experiment
                && observation.metric == release.metric
                && observation.at <= consumed_until)
        });
        Ok(())
    }

    async fn spent_epsilon(&self, experiment: &str) -> Result<f64, StoreError> {
        Ok(self.lock().releases.iter().filter(|release| release.experiment == experiment).map(|r| r.epsilon).sum())
    }

    async fn list_releases(&self, experiment: &str) -> Result<Vec<Release>, StoreError> {
        Ok(self.lock().releases.iter().filter(|release| release.experiment == experiment).cloned().collect())
    }
}
