//! The research track's API: experiments (researchers create them; every user reads what they
//! would consent to), a user's own consent, differentially private releases (their
//! experiment's owner only), and feature flags (admins only).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use troupe_plugins::bus::BusError;
use troupe_runtime::ErrorCode;
use troupe_runtime::accounts::Role;
use troupe_runtime::ids::UserId;
use troupe_runtime::research::{ConsentChange, Experiment, ExperimentStatus, FeatureFlag, Release};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Caller, ClientInfo};
use crate::http::extract::ApiJson;
use crate::http::{ApiError, AppState, ErrorBody};

/// A new experiment.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentRequest {
    /// 1–64 of `a-z`, `0-9`, `_`, `-`.
    #[schema(pattern = "^[a-z0-9_-]{1,64}$")]
    pub id: String,
    /// 1–200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// The hypothesis document users read before they consent.
    #[schema(min_length = 1)]
    pub hypothesis: String,
    /// The whole privacy budget (default 2.0, at most the server's cap).
    #[schema(exclusive_minimum = 0.0)]
    pub epsilon_total: Option<f64>,
    /// What one release spends (default 0.5, at most the server's cap and `epsilon_total`).
    #[schema(exclusive_minimum = 0.0)]
    pub epsilon_per_release: Option<f64>,
}

/// Changes to an experiment (its owner's).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentPatch {
    /// `active` or `closed`.
    #[schema(value_type = Option<ExperimentStatusName>)]
    pub status: Option<String>,
}

/// An experiment's status.
#[derive(ToSchema)]
#[expect(dead_code, reason = "only the schema is used: the handler parses the text")]
#[schema(rename_all = "snake_case")]
pub enum ExperimentStatusName {
    /// Plugins contribute; releases may be made.
    Active,
    /// Nothing more is collected.
    Closed,
}

/// An experiment as users see it.
#[derive(Serialize, ToSchema)]
pub struct ExperimentView {
    pub id: String,
    pub title: String,
    pub hypothesis: String,
    pub owner_id: Uuid,
    pub status: &'static str,
    pub epsilon_total: f64,
    pub epsilon_per_release: f64,
    /// What the releases spent so far.
    pub epsilon_spent: f64,
    /// Whether the caller consents now.
    pub consented: bool,
    pub created_at: DateTime<Utc>,
}

/// A consent decision.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    /// `true` to consent, `false` to revoke.
    pub granted: bool,
}

/// One change of the caller's consent.
#[derive(Serialize, ToSchema)]
pub struct ConsentView {
    pub experiment: String,
    pub granted: bool,
    pub at: DateTime<Utc>,
}

/// A release request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// The metric to release (declared by a plugin of the experiment).
    pub metric: String,
}

/// A differentially private release.
#[derive(Serialize, ToSchema)]
pub struct ReleaseView {
    pub id: Uuid,
    pub metric: String,
    /// The noisy sum of the users' contributions (each clamped to the metric's sensitivity).
    pub noisy_sum: f64,
    /// The noisy number of contributing users.
    pub noisy_count: f64,
    /// `noisy_sum / noisy_count` when the count is at least 1 (post-processing, no extra cost).
    pub noisy_mean: Option<f64>,
    pub epsilon: f64,
    pub sum_scale: f64,
    pub count_scale: f64,
    pub released_at: DateTime<Utc>,
}

impl From<Release> for ReleaseView {
    fn from(release: Release) -> Self {
        Self {
            id: release.id,
            noisy_mean: (release.noisy_count >= 1.0).then(|| release.noisy_sum / release.noisy_count),
            metric: release.metric,
            noisy_sum: release.noisy_sum,
            noisy_count: release.noisy_count,
            epsilon: release.epsilon,
            sum_scale: release.sum_scale,
            count_scale: release.count_scale,
            released_at: release.released_at,
        }
    }
}

/// A feature flag.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagBody {
    /// The master switch.
    pub enabled: bool,
    /// Users for whom it is on, whatever the rollout.
    #[serde(default)]
    pub allow: Vec<Uuid>,
    /// Percentage of the other users (0–100), stable per user.
    #[serde(default)]
    #[schema(maximum = 100)]
    pub rollout_percent: u8,
}

/// A feature flag as stored.
#[derive(Serialize, ToSchema)]
pub struct FlagView {
    pub name: String,
    pub enabled: bool,
    pub allow: Vec<Uuid>,
    pub rollout_percent: u8,
    pub updated_at: DateTime<Utc>,
}

impl From<FeatureFlag> for FlagView {
    fn from(flag: FeatureFlag) -> Self {
        Self {
            name: flag.name,
            enabled: flag.enabled,
            allow: flag.allow.into_iter().map(|user| user.0).collect(),
            rollout_percent: flag.rollout_percent,
            updated_at: flag.updated_at,
        }
    }
}

fn valid_id(id: &str, dots: bool) -> bool {
    !id.is_empty()
        && id.chars().count() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' || (dots && c == '.'))
}

pub(crate) fn bus_error(error: BusError) -> ApiError {
    match error {
        BusError::UnknownExperiment(_) => ApiError::not_found("experiment"),
        // The aggregates of someone else's experiment do not exist for the caller.
        BusError::NotOwner(_) => ApiError::not_found("experiment"),
        BusError::UnknownMetric { .. } => ApiError::invalid_field("metric", error.to_string()),
        BusError::BudgetExhausted(message) => ApiError::new(ErrorCode::PrivacyBudgetExhausted, message),
        BusError::Noise(message) => ApiError::internal(message),
        BusError::Store(error) => error.into(),
    }
}

async fn view(state: &AppState, experiment: Experiment, caller: UserId) -> Result<ExperimentView, ApiError> {
    let research = state.plugins.host().bus().store();
    Ok(ExperimentView {
        epsilon_spent: research.spent_epsilon(&experiment.id).await?,
        consented: research.has_consent(caller, &experiment.id).await?,
        id: experiment.id,
        title: experiment.title,
        hypothesis: experiment.hypothesis,
        owner_id: experiment.owner.0,
        status: experiment.status.as_str(),
        epsilon_total: experiment.epsilon_total,
        epsilon_per_release: experiment.epsilon_per_release,
        created_at: experiment.created_at,
    })
}

async fn experiment(state: &AppState, id: &str) -> Result<Experiment, ApiError> {
    state.plugins.host().bus().store().get_experiment(id).await?.ok_or_else(|| ApiError::not_found("experiment"))
}

/// Creates an experiment (researchers and admins); the caller owns it.
#[utoipa::path(post, path = "/api/v1/experiments", tag = "research", request_body = ExperimentRequest,
    responses((status = 201, body = ExperimentView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_experiment(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<ExperimentRequest>,
) -> Result<(StatusCode, Json<ExperimentView>), ApiError> {
    if !matches!(caller.user.role, Role::Researcher | Role::Admin) {
        return Err(ApiError::new(ErrorCode::Forbidden, "creating an experiment needs the researcher role"));
    }
    let mut problems = Vec::new();
    if !valid_id(&request.id, false) {
        problems.push(("id".to_owned(), "must be 1 to 64 of a-z, 0-9, `_` or `-`".to_owned()));
    }
    if request.title.trim().is_empty() || request.title.chars().count() > 200 {
        problems.push(("title".to_owned(), "must be 1 to 200 characters".to_owned()));
    }
    if request.hypothesis.trim().is_empty() {
        problems.push(("hypothesis".to_owned(), "must not be empty: users read it before they consent".to_owned()));
    }
    // The operator caps what a researcher may spend (TROUPE_RESEARCH_MAX_EPSILON_*).
    let caps = state.settings.epsilon_caps;
    let epsilon_total = request.epsilon_total.unwrap_or(2.0f64.min(caps.total));
    let epsilon_per_release = request.epsilon_per_release.unwrap_or(0.5f64.min(caps.per_release));
    if !(epsilon_total.is_finite() && epsilon_total > 0.0 && epsilon_total <= caps.total) {
        problems.push(("epsilon_total".to_owned(), format!("must be more than 0 and at most {}", caps.total)));
    }
    let per_release_cap = caps.per_release.min(epsilon_total);
    if !(epsilon_per_release.is_finite() && epsilon_per_release > 0.0 && epsilon_per_release <= per_release_cap) {
        problems.push((
            "epsilon_per_release".to_owned(),
            format!("must be more than 0 and at most {per_release_cap} (epsilon_total and the server's cap)"),
        ));
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid_fields(problems));
    }
    let research = state.plugins.host().bus().store();
    let experiment = Experiment {
        id: request.id,
        title: request.title.trim().to_owned(),
        hypothesis: request.hypothesis,
        owner: caller.id(),
        status: ExperimentStatus::Active,
        epsilon_total,
        epsilon_per_release,
        created_at: Utc::now(),
    };
    if !research.create_experiment(&experiment).await? {
        return Err(ApiError::new(ErrorCode::ExperimentExists, format!("an experiment `{}` exists", experiment.id)));
    }
    Ok((StatusCode::CREATED, Json(view(&state, experiment, caller.id()).await?)))
}

/// Lists experiments, with whether the caller consents to each.
#[utoipa::path(get, path = "/api/v1/experiments", tag = "research",
    responses((status = 200, body = Vec<ExperimentView>)), security(("bearer" = [])))]
pub async fn list_experiments(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ExperimentView>>, ApiError> {
    let experiments = state.plugins.host().bus().store().list_experiments().await?;
    let mut views = Vec::with_capacity(experiments.len());
    for experiment in experiments {
        views.push(view(&state, experiment, caller.id()).await?);
    }
    Ok(Json(views))
}

/// Returns an experiment: its hypothesis, budget and the caller's consent.
#[utoipa::path(get, path = "/api/v1/experiments/{id}", tag = "research", params(("id" = String, Path)),
    responses((status = 200, body = ExperimentView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_experiment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ExperimentView>, ApiError> {
    let experiment = experiment(&state, &id).await?;
    Ok(Json(view(&state, experiment, caller.id()).await?))
}

/// Closes or reopens an experiment (its owner or an admin).
#[utoipa::path(patch, path = "/api/v1/experiments/{id}", tag = "research", params(("id" = String, Path)),
    request_body = ExperimentPatch,
    responses((status = 200, body = ExperimentView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_experiment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<ExperimentPatch>,
) -> Result<Json<ExperimentView>, ApiError> {
    let mut experiment = experiment(&state, &id).await?;
    if experiment.owner != caller.id() && !caller.is_admin() {
        return Err(ApiError::not_found("experiment"));
    }
    if let Some(status) = patch.status {
        experiment.status = status.parse().map_err(|error: String| ApiError::invalid_field("status", error))?;
    }
    state.plugins.host().bus().store().put_experiment(&experiment).await?;
    Ok(Json(view(&state, experiment, caller.id()).await?))
}

/// Grants or revokes the caller's own consent to an experiment. A revocation takes effect for
/// the next plugin step and deletes the caller's data not yet released.
#[utoipa::path(post, path = "/api/v1/experiments/{id}/consent", tag = "research", params(("id" = String, Path)),
    request_body = ConsentRequest,
    responses((status = 200, body = ExperimentView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn set_consent(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ConsentRequest>,
) -> Result<Json<ExperimentView>, ApiError> {
    let experiment = experiment(&state, &id).await?;
    let research = state.plugins.host().bus().store();
    let change = ConsentChange { user: caller.id(), experiment: id.clone(), granted: request.granted, at: Utc::now() };
    research.record_consent(&change).await?;
    if !request.granted {
        state.plugins.host().bus().forget(&id, caller.id()).await.map_err(bus_error)?;
    }
    let action = if request.granted { "consent_granted" } else { "consent_revoked" };
    state.auth.audit(Some(caller.id()), action, Some(id), client.ip, json!({})).await;
    Ok(Json(view(&state, experiment, caller.id()).await?))
}

/// The caller's consent history (every change, oldest first).
#[utoipa::path(get, path = "/api/v1/consent", tag = "research",
    responses((status = 200, body = Vec<ConsentView>)), security(("bearer" = [])))]
pub async fn my_consent(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<ConsentView>>, ApiError> {
    let history = state.plugins.host().bus().store().consent_history(caller.id(), None).await?;
    Ok(Json(
        history
            .into_iter()
            .map(|change| ConsentView { experiment: change.experiment, granted: change.granted, at: change.at })
            .collect(),
    ))
}

/// Releases one metric of an experiment with differential privacy (its owner only); refused
/// once the privacy budget is spent.
#[utoipa::path(post, path = "/api/v1/experiments/{id}/releases", tag = "research", params(("id" = String, Path)),
    request_body = ReleaseRequest,
    responses((status = 201, body = ReleaseView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_release(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ReleaseRequest>,
) -> Result<(StatusCode, Json<ReleaseView>), ApiError> {
    let experiment = experiment(&state, &id).await?;
    if experiment.owner != caller.id() {
        return Err(ApiError::not_found("experiment"));
    }
    let declared = state
        .plugins
        .declared_metric(&id, &request.metric)
        .await
        .map_err(|error| ApiError::internal(error.to_string()))?
        .ok_or_else(|| bus_error(BusError::UnknownMetric { experiment: id.clone(), metric: request.metric.clone() }))?;
    let release = state.plugins.host().bus().release(caller.id(), &id, &declared).await.map_err(bus_error)?;
    state
        .auth
        .audit(
            Some(caller.id()),
            "research_release",
            Some(id),
            client.ip,
            json!({"metric": release.metric, "epsilon": release.epsilon}),
        )
        .await;
    Ok((StatusCode::CREATED, Json(ReleaseView::from(release))))
}

/// The releases of an experiment (its owner only): noisy aggregates, never raw data.
#[utoipa::path(get, path = "/api/v1/experiments/{id}/releases", tag = "research", params(("id" = String, Path)),
    responses((status = 200, body = Vec<ReleaseView>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_releases(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<ReleaseView>>, ApiError> {
    let releases = state.plugins.host().bus().releases(caller.id(), &id).await.map_err(bus_error)?;
    Ok(Json(releases.into_iter().map(ReleaseView::from).collect()))
}

fn admin_only(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_admin() { Ok(()) } else { Err(ApiError::new(ErrorCode::Forbidden, "this needs the admin role")) }
}

/// Lists the feature flags (admin).
#[utoipa::path(get, path = "/api/v1/flags", tag = "research",
    responses((status = 200, body = Vec<FlagView>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_flags(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<FlagView>>, ApiError> {
    admin_only(&caller)?;
    let flags = state.plugins.host().bus().store().list_flags().await?;
    Ok(Json(flags.into_iter().map(FlagView::from).collect()))
}

/// Creates or replaces a feature flag (admin).
#[utoipa::path(put, path = "/api/v1/flags/{name}", tag = "research", params(("name" = String, Path)),
    request_body = FlagBody,
    responses((status = 200, body = FlagView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_flag(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<FlagBody>,
) -> Result<Json<FlagView>, ApiError> {
    admin_only(&caller)?;
    if !valid_id(&name, true) {
        return Err(ApiError::invalid_field("name", "must be 1 to 64 of a-z, 0-9, `_`, `-` or `.`"));
    }
    if body.rollout_percent > 100 {
        return Err(ApiError::invalid_field("rollout_percent", "must be 0 to 100"));
    }
    let flag = FeatureFlag {
        name: name.clone(),
        enabled: body.enabled,
        allow: body.allow.into_iter().map(UserId).collect(),
        rollout_percent: body.rollout_percent,
        updated_at: Utc::now(),
    };
    state.plugins.host().bus().store().put_flag(&flag).await?;
    state
        .auth
        .audit(
            Some(caller.id()),
            "flag_changed",
            Some(name),
            client.ip,
            json!({"enabled": flag.enabled, "rollout_percent": flag.rollout_percent}),
        )
        .await;
    Ok(Json(FlagView::from(flag)))
}
