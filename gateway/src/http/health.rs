//! `/healthz` (the process is up) and `/readyz` (the store answers and the actor tree is up).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use troupe_runtime::ErrorCode;

use super::{ApiError, AppState};

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if let Err(error) = state.runtime.store().ping().await {
        tracing::warn!(%error, "readiness: store unreachable");
        return Err(ApiError::new(ErrorCode::StoreUnavailable, "the store does not answer"));
    }
    if !state.runtime.is_ready() {
        return Err(ApiError::new(ErrorCode::Restarting, "the actor tree is restarting"));
    }
    Ok(Json(json!({ "status": "ready" })))
}
