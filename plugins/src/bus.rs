//! The research bus: the only way plugin metrics leave the plugin track.
//!
//! - **Pseudonyms.** A user is known to the bus only as `HMAC-SHA256(key, experiment ‖ user)`
//!   (hex): stable per key and experiment, unlinkable across experiments, and impossible to
//!   reverse or recompute without the key (a plain hash of a UUID could be matched by anyone
//!   holding the user list).
//! - **Minimisation.** Only the metrics the manifest declares, and only finite numbers, are
//!   kept; strings, objects and undeclared names are dropped. Each value is clamped to ± the
//!   metric's declared sensitivity.
//! - **Consent.** An observation is kept only if the user's consent is active when it arrives;
//!   a revocation deletes the user's pending observations of that experiment.
//! - **Differential privacy.** A release of a metric sums each user's observations, clamps each
//!   user's total to ± sensitivity (so one user moves the sum by at most that: the L1
//!   sensitivity), and adds Laplace noise from OpenDP's exact discrete sampler: half of the
//!   release's ε for the sum (scale = sensitivity / (ε/2)), half for the count of contributing
//!   users (scale = 1 / (ε/2)). The spend is written to the experiment's ledger in the same
//!   transaction as the release, and a release that would pass the budget is refused.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use hmac::{Hmac, Mac};
use opendp::domains::AtomDomain;
use opendp::measurements::make_laplace;
use opendp::measures::MaxDivergence;
use opendp::metrics::AbsoluteDistance;
use serde_json::Value;
use sha2::Sha256;
use troupe_runtime::ids::UserId;
use troupe_runtime::research::{Observation, Release, ResearchStore};
use troupe_runtime::store::StoreError;
use uuid::Uuid;

use crate::manifest::MetricDecl;

/// Why the bus refused.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// No such experiment.
    #[error("no experiment `{0}`")]
    UnknownExperiment(String),
    /// Only the experiment's owner reads or releases its aggregates.
    #[error("only the owner of experiment `{0}` may release or read its aggregates")]
    NotOwner(String),
    /// The metric is not one the experiment's plugins declare.
    #[error("experiment `{experiment}` has no declared metric `{metric}`")]
    UnknownMetric {
        /// The experiment.
        experiment: String,
        /// The metric.
        metric: String,
    },
    /// The privacy budget cannot pay for another release.
    #[error("{0}")]
    BudgetExhausted(String),
    /// The noise could not be drawn (OpenDP refused the parameters or ran out of entropy).
    #[error("differential privacy: {0}")]
    Noise(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

/// A pseudonymisation key (32 random bytes).
#[derive(Clone)]
pub struct PseudonymKey([u8; 32]);

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(<redacted>)")
    }
}

impl PseudonymKey {
    /// A key from its bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The keyed pseudonym of `user` within `experiment`.
    pub fn pseudonym(&self, experiment: &str, user: UserId) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(experiment.as_bytes());
        mac.update(&[0]);
        mac.update(user.0.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// The research bus.
#[derive(Clone)]
pub struct ResearchBus {
    store: Arc<dyn ResearchStore>,
    key: PseudonymKey,
}

/// Draws `value + Laplace(scale)` with OpenDP's sampler, returning also the ε its privacy
/// map gives for `sensitivity` (a check that the noise is calibrated as intended).
pub fn laplace(value: f64, scale: f64, sensitivity: f64) -> Result<(f64, f64), BusError> {
    let noise = |error: opendp::error::Error| BusError::Noise(error.to_string());
    let measurement = make_laplace::<_, _, MaxDivergence>(
        AtomDomain::<f64>::new_non_nan(),
        AbsoluteDistance::<f64>::default(),
        scale,
        None,
    )
    .map_err(noise)?;
    let epsilon = measurement.map(&sensitivity).map_err(noise)?;
    Ok((measurement.invoke(&value).map_err(noise)?, epsilon))
}

impl ResearchBus {
    /// A bus over `store` pseudonymising with `key`.
    pub fn new(store: Arc<dyn ResearchStore>, key: PseudonymKey) -> Self {
        Self { store, key }
    }

    /// The store (the gate reads consent and flags from it).
    pub fn store(&self) -> &Arc<dyn ResearchStore> {
        &self.store
    }

    /// Takes the metrics a plugin step emitted for `user`: keeps the declared, numeric ones
    /// (clamped), pseudonymised, if the user's consent is active now. Returns how many were
    /// kept.
    pub async fn observe(
        &self,
        experiment: &str,
        user: UserId,
        metrics: &serde_json::Map<String, Value>,
        declared: &[MetricDecl],
    ) -> Result<usize, BusError> {
        if !self.store.has_consent(user, experiment).await.map_err(BusError::Store)? {
            return Ok(0);
        }
        let pseudonym = self.key.pseudonym(experiment, user);
        let at = troupe_runtime::model::now();
        let observations: Vec<Observation> = declared
            .iter()
            .filter_map(|metric| {
                let value = metrics.get(&metric.name)?.as_f64().filter(|value| value.is_finite())?;
                Some(Observation {
                    experiment: experiment.to_owned(),
                    metric: metric.name.clone(),
                    pseudonym: pseudonym.clone(),
                    value: value.clamp(-metric.sensitivity, metric.sensitivity),
                    at,
                })
            })
            .collect();
        self.store.add_observations(&observations).await.map_err(BusError::Store)?;
        Ok(observations.len())
    }

    /// Stops delivery of a user's data to an experiment (on revocation): their pending
    /// observations are deleted. Returns how many.
    pub async fn forget(&self, experiment: &str, user: UserId) -> Result<u64, BusError> {
        self.store.forget_pseudonym(experiment, &self.key.pseudonym(experiment, user)).await.map_err(BusError::Store)
    }

    /// Account deletion: the user's pending observations in every experiment and their consent
    /// history go; what was released stays, in aggregate only. Returns how many rows.
    pub async fn forget_user(&self, user: UserId) -> Result<u64, BusError> {
        let mut removed = 0;
        for experiment in self.store.list_experiments().await.map_err(BusError::Store)? {
            removed += self.forget(&experiment.id, user).await?;
        }
        removed += self.store.delete_consents(user).await.map_err(BusError::Store)?;
        self.store.scrub().await.map_err(BusError::Store)?;
        Ok(removed)
    }

    /// Releases one metric of an experiment with differential privacy, for its owner: spends
    /// the experiment's ε per release, refused once the budget is spent.
    pub async fn release(&self, requester: UserId, experiment: &str, metric: &MetricDecl) -> Result<Release, BusError> {
        let record = self.owned_experiment(requester, experiment).await?;
        let spent = self.store.spent_epsilon(experiment).await.map_err(BusError::Store)?;
        let epsilon = record.epsilon_per_release;
        if spent + epsilon > record.epsilon_total + 1e-9 {
            return Err(BusError::BudgetExhausted(format!(
                "the privacy budget of experiment `{experiment}` is spent: {spent} of {} used, a release needs {epsilon}",
                record.epsilon_total
            )));
        }
        let consumed_until = troupe_runtime::model::now();
        let observations = self.store.pending_observations(experiment, &metric.name).await.map_err(BusError::Store)?;
        let mut per_user: HashMap<&str, f64> = HashMap::new();
        for observation in observations.iter().filter(|observation| observation.at <= consumed_until) {
            *per_user.entry(observation.pseudonym.as_str()).or_default() += observation.value;
        }
        let sum: f64 = per_user.values().map(|total| total.clamp(-metric.sensitivity, metric.sensitivity)).sum();
        let count = per_user.len() as f64;
        let share = epsilon / 2.0;
        let (sum_scale, count_scale) = (metric.sensitivity / share, 1.0 / share);
        let (noisy_sum, _) = laplace(sum, sum_scale, metric.sensitivity)?;
        let (noisy_count, _) = laplace(count, count_scale, 1.0)?;
        let release = Release {
            id: Uuid::now_v7(),
            experiment: experiment.to_owned(),
            metric: metric.name.clone(),
            noisy_sum,
            noisy_count,
            epsilon,
            sum_scale,
            count_scale,
            released_at: Utc::now(),
        };
        match self.store.record_release(&release, record.epsilon_total, consumed_until).await {
            Ok(()) => Ok(release),
            Err(StoreError::Conflict(message)) => Err(BusError::BudgetExhausted(message)),
            Err(error) => Err(BusError::Store(error)),
        }
    }

    /// The releases of an experiment, for its owner.
    pub async fn releases(&self, requester: UserId, experiment: &str) -> Result<Vec<Release>, BusError> {
        self.owned_experiment(requester, experiment).await?;
        self.store.list_releases(experiment).await.map_err(BusError::Store)
    }

    /// The experiment, if `requester` owns it.
    async fn owned_experiment(
        &self,
        requester: UserId,
        experiment: &str,
    ) -> Result<troupe_runtime::research::Experiment, BusError> {
        let record = self
            .store
            .get_experiment(experiment)
            .await
            .map_err(BusError::Store)?
            .ok_or_else(|| BusError::UnknownExperiment(experiment.to_owned()))?;
        if record.owner != requester {
            return Err(BusError::NotOwner(experiment.to_owned()));
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests;
