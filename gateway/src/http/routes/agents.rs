//! `/api/v1/agents`: agent kinds, their health and restarts; admins release quarantined ones.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;
use troupe_runtime::ErrorCode;
use troupe_runtime::{AgentHealth, AgentStatus};

use crate::auth::Caller;
use crate::http::views::AgentView;
use crate::http::{ApiError, AppState, ErrorBody};

fn view(status: AgentStatus) -> AgentView {
    let (health, reason) = match status.health {
        AgentHealth::Healthy => ("healthy", None),
        AgentHealth::Restarting => ("restarting", None),
        AgentHealth::Quarantined { reason } => ("quarantined", Some(reason)),
    };
    AgentView {
        kind: status.kind,
        pool_size: status.pool_size,
        live_actors: status.live_actors,
        in_flight: status.in_flight,
        status: health,
        reason,
        restarts: status.restarts,
        crashes: status.crashes,
    }
}

/// Lists agent kinds with their pool size, health and restart counts.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents",
    responses((status = 200, body = Vec<AgentView>)), security(("bearer" = [])))]
pub async fn list_agents(State(state): State<AppState>, _caller: Caller) -> Json<Vec<AgentView>> {
    Json(state.runtime.agents().into_iter().map(view).collect())
}

/// Returns one agent kind.
#[utoipa::path(get, path = "/api/v1/agents/{kind}", tag = "agents", params(("kind" = String, Path)),
    responses((status = 200, body = AgentView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_agent(
    State(state): State<AppState>,
    _caller: Caller,
    Path(kind): Path<String>,
) -> Result<Json<AgentView>, ApiError> {
    let status = state.runtime.agents().into_iter().find(|agent| agent.kind == kind);
    status.map(|status| Json(view(status))).ok_or_else(|| ApiError::not_found(&format!("agent `{kind}`")))
}

/// Releases a quarantined agent kind: its actors start again (admin).
#[utoipa::path(post, path = "/api/v1/agents/{kind}/release", tag = "agents", params(("kind" = String, Path)),
    responses((status = 202, description = "Release requested"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn release_agent(
    State(state): State<AppState>,
    caller: Caller,
    Path(kind): Path<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    if !caller.is_admin() {
        return Err(ApiError::new(ErrorCode::Forbidden, "this needs the admin role"));
    }
    state.runtime.release_agent(&kind).await?;
    state.auth.audit(Some(caller.id()), "agent_released", Some(kind), None, Value::Null).await;
    Ok(axum::http::StatusCode::ACCEPTED)
}
