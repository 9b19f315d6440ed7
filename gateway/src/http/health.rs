//! `/healthz` (the process is up) and `/readyz` (the store answers and the actor tree is up).

use axum::Json;
use axum::extract::State;
use troupe_runtime::ErrorCode;

use super::{ApiError, AppState};

/// Whether the process is up.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` (`/healthz`) or `ready` (`/readyz`).
    pub status: String,
}

/// The process is up (never rate limited).
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// How long readiness waits for the store: a load balancer must learn of an outage at once,
/// not after the pool's acquire timeout.
pub const READINESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// The store answers (within a second) and the actor tree is up: 200, else 503 (never rate
/// limited).
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = crate::http::ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let unavailable = || {
        let mut error = ApiError::new(ErrorCode::StoreUnavailable, "the store does not answer");
        error.retry_after = Some(1);
        error
    };
    match tokio::time::timeout(READINESS_TIMEOUT, state.runtime.store().ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: store unreachable");
            return Err(unavailable());
        }
        Err(_) => {
            tracing::warn!("readiness: the store did not answer within a second");
            return Err(unavailable());
        }
    }
    if !state.runtime.is_ready() {
        return Err(ApiError::new(ErrorCode::Restarting, "the actor tree is restarting"));
    }
    Ok(Json(Health { status: "ready".into() }))
}
