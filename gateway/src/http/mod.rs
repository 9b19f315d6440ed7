//! The HTTP gateway: the router, its state and the error format.
//!
//! Every error answers `{"error": {"code", "message", "details", "timestamp"}}` with the right
//! status, unknown routes and wrong methods included.

mod error;
mod health;
pub mod middleware;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use troupe_runtime::Runtime;

pub use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The runtime (and through it the store).
    pub runtime: Arc<Runtime>,
}

/// Returns the gateway's router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn(middleware::request_context))
        .with_state(state)
}
