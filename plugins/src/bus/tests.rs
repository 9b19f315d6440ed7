//! The research bus: pseudonyms, minimisation, consent, the Laplace scale, the budget.

use std::sync::Arc;

use serde_json::json;
use troupe_runtime::ids::UserId;
use troupe_runtime::research::{ConsentChange, Experiment, ExperimentStatus, InMemoryResearchStore, ResearchStore};

use super::*;

fn key(byte: u8) -> PseudonymKey {
    PseudonymKey::new([byte; 32])
}

fn metric(name: &str, sensitivity: f64) -> MetricDecl {
    MetricDecl { name: name.into(), sensitivity, description: None }
}

async fn bus_with_experiment(owner: UserId, epsilon_total: f64) -> (ResearchBus, Arc<InMemoryResearchStore>) {
    let store = Arc::new(InMemoryResearchStore::default());
    store
        .put_experiment(&Experiment {
            id: "tone-study".into(),
            title: "Tone".into(),
            hypothesis: "h".into(),
            owner,
            status: ExperimentStatus::Active,
            epsilon_total,
            epsilon_per_release: 0.5,
            created_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    (ResearchBus::new(Arc::clone(&store) as Arc<dyn ResearchStore>, key(7)), store)
}

async fn consent(store: &InMemoryResearchStore, user: UserId, granted: bool) {
    let change = ConsentChange { user, experiment: "tone-study".into(), granted, at: chrono::Utc::now() };
    store.record_consent(&change).await.unwrap();
}

#[test]
fn pseudonyms_are_stable_per_key_and_differ_across_keys_and_experiments() {
    let user = UserId::new();
    assert_eq!(key(1).pseudonym("a", user), key(1).pseudonym("a", user));
    assert_ne!(key(1).pseudonym("a", user), key(2).pseudonym("a", user));
    assert_ne!(key(1).pseudonym("a", user), key(1).pseudonym("b", user));
    assert_ne!(key(1).pseudonym("a", user), key(1).pseudonym("a", UserId::new()));
    let pseudonym = key(1).pseudonym("a", user);
    assert_eq!(pseudonym.len(), 64);
    assert!(!pseudonym.contains(&user.0.simple().to_string()) && !pseudonym.contains(&user.0.to_string()));
    assert!(!format!("{:?}", key(1)).contains("1, 1"), "the key is never printed");
}

#[test]
fn the_noise_has_the_laplace_scale_sensitivity_over_epsilon() {
    // OpenDP's sampler draws from the OS and cannot be seeded; 20,000 draws make the estimate
    // tight enough (a standard error of 0.7% of the scale) that a 5% tolerance never flakes.
    let (sensitivity, epsilon) = (3.0, 0.5);
    let scale = sensitivity / epsilon;
    let draws: Vec<f64> = (0..20_000).map(|_| laplace(100.0, scale, sensitivity).unwrap().0 - 100.0).collect();
    let mean = draws.iter().sum::<f64>() / draws.len() as f64;
    let mean_absolute = draws.iter().map(|x| x.abs()).sum::<f64>() / draws.len() as f64;
    let variance = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / draws.len() as f64;
    assert!(mean.abs() < 0.05 * scale, "centred: mean {mean}");
    assert!((mean_absolute / scale - 1.0).abs() < 0.05, "E|X| = b: {mean_absolute} vs {scale}");
    assert!((variance / (2.0 * scale * scale) - 1.0).abs() < 0.08, "Var = 2b²: {variance}");
    // OpenDP's privacy map agrees that this scale buys ε for this sensitivity.
    let (_, mapped) = laplace(0.0, scale, sensitivity).unwrap();
    assert!((mapped - epsilon).abs() < 1e-6, "{mapped}");
}

#[tokio::test]
async fn only_declared_numbers_of_consenting_users_reach_the_bus_pseudonymised() {
    let owner = UserId::new();
    let (bus, store) = bus_with_experiment(owner, 2.0).await;
    let (consenting, refusing) = (UserId::new(), UserId::new());
    consent(&store, consenting, true).await;
    let declared = [metric("input_bytes", 100.0)];
    let emitted = json!({
        "input_bytes": 250, "comment": "I feel great today, my name is Ada", "undeclared": 4, "nested": {"x": 1}
    });
    let metrics = emitted.as_object().unwrap();
    assert_eq!(bus.observe("tone-study", consenting, metrics, &declared).await.unwrap(), 1);
    assert_eq!(bus.observe("tone-study", refusing, metrics, &declared).await.unwrap(), 0, "no consent, no data");
    let kept = store.pending_observations("tone-study", "input_bytes").await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].value, 100.0, "clamped to the declared sensitivity");
    assert_eq!(kept[0].pseudonym, key(7).pseudonym("tone-study", consenting));
    let everything = format!("{kept:?}");
    assert!(!everything.contains(&consenting.0.to_string()), "no raw user id on the bus");
    assert!(!everything.contains("Ada") && !everything.contains("great"), "no free text on the bus");
    assert!(store.pending_observations("tone-study", "comment").await.unwrap().is_empty());

    // Revocation stops delivery: pending data goes, new data is not taken.
    consent(&store, consenting, false).await;
    assert_eq!(bus.forget("tone-study", consenting).await.unwrap(), 1);
    assert_eq!(bus.observe("tone-study", consenting, metrics, &declared).await.unwrap(), 0);
    assert!(store.pending_observations("tone-study", "input_bytes").await.unwrap().is_empty());
}

#[tokio::test]
async fn releases_spend_the_budget_and_are_refused_when_it_is_spent() {
    let owner = UserId::new();
    let (bus, store) = bus_with_experiment(owner, 1.0).await;
    let declared = [metric("exclamations", 10.0)];
    for _ in 0..30 {
        let user = UserId::new();
        consent(&store, user, true).await;
        bus.observe("tone-study", user, json!({"exclamations": 3}).as_object().unwrap(), &declared).await.unwrap();
    }
    // Only the owner.
    assert!(matches!(bus.release(UserId::new(), "tone-study", &declared[0]).await, Err(BusError::NotOwner(_))));
    assert!(matches!(bus.releases(UserId::new(), "tone-study").await, Err(BusError::NotOwner(_))));
    let first = bus.release(owner, "tone-study", &declared[0]).await.unwrap();
    assert_eq!((first.epsilon, first.sum_scale, first.count_scale), (0.5, 40.0, 4.0));
    assert!(first.noisy_sum.is_finite() && first.noisy_count.is_finite());
    assert!(store.pending_observations("tone-study", "exclamations").await.unwrap().is_empty(), "consumed");
    bus.release(owner, "tone-study", &declared[0]).await.unwrap();
    let refused = bus.release(owner, "tone-study", &declared[0]).await.unwrap_err();
    assert!(matches!(refused, BusError::BudgetExhausted(_)), "{refused}");
    assert!(refused.to_string().contains("spent"), "{refused}");
    assert_eq!(bus.releases(owner, "tone-study").await.unwrap().len(), 2);
    assert_eq!(store.spent_epsilon("tone-study").await.unwrap(), 1.0);
}
