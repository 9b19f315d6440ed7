//! `/healthz` (the process is up) and `/readyz` (the store answers and the actor tree is up).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use troupe_runtime::ErrorCode;

use super::{ApiError, AppState};

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// How long readiness waits for the store: a load balancer must learn of an outage at once,
/// not after the pool's acquire timeout.
pub const READINESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(json!({ "status": "ready" })))
}
