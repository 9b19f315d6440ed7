//! The HTTP gateway: REST under `/api/v1`, the WebSocket at `/api/v1/ws`, health, metrics and
//! the OpenAPI document.
//!
//! Every error answers `{"error": {"code", "message", "details", "timestamp"}}` with the right
//! status, unknown routes and wrong methods included.

pub mod asyncapi;
mod bundle;
pub mod console;
mod error;
pub mod export;
pub mod extract;
mod health;
pub mod limits;
pub mod metrics;
pub mod middleware;
pub mod openapi;
mod routes;
pub mod schemas;
pub mod strict;
mod views;
pub mod ws;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio_util::sync::CancellationToken;
use troupe_runtime::Runtime;

pub use error::{ApiError, ErrorBody};

use crate::auth::Auth;

/// Tunables of the HTTP layer (resolved from the serve configuration).
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Whether anyone may register (the first user always may).
    pub allow_registration: bool,
    /// Largest request body, in bytes (uploads have their own limit).
    pub body_limit: usize,
    /// Largest uploaded file, in bytes.
    pub upload_max_bytes: usize,
    /// Bytes one user's uploaded files may take in all.
    pub upload_quota_bytes: u64,
    /// Longest a request may take.
    pub request_timeout: Duration,
    /// Interval of WebSocket pings.
    pub ws_ping_interval: Duration,
    /// A WebSocket that sends nothing (not even a pong) for this long is closed.
    pub ws_idle_timeout: Duration,
    /// Events a WebSocket client may fall behind before it is told it lagged.
    pub ws_buffer: usize,
    /// Origins allowed by CORS (none: same-origin only).
    pub cors_origins: Vec<String>,
    /// Rate limits (`None`: off).
    pub rate_limit: Option<limits::RateLimit>,
    /// The budget of executions whose request and pipeline give none.
    pub default_budget: Option<troupe_runtime::pipeline::BudgetDef>,
    /// Whether user-defined and inline pipelines of non-admins are refused when they name a
    /// demo agent (`troupe_agents::demo::DEMO_AGENTS`); on in production.
    pub restrict_demo_agents: bool,
    /// How often a WebSocket's credentials are checked again.
    pub ws_recheck_interval: Duration,
    /// Subscriptions one WebSocket may hold.
    pub ws_max_subscriptions: usize,
    /// WebSockets one user may hold open.
    pub ws_max_connections_per_user: usize,
    /// Proxies whose `X-Forwarded-For` is believed (for rate limits and the audit log).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The operator's caps on experiments' privacy budgets.
    pub epsilon_caps: EpsilonCaps,
    /// Whether accounts must verify their email address before they run executions.
    pub require_verified_email: bool,
    /// Where executions' workspaces live (removed with their owner's account).
    pub workspaces: Option<std::path::PathBuf>,
}

/// The most privacy budget a researcher may give an experiment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpsilonCaps {
    /// ε of one release.
    pub per_release: f64,
    /// ε of an experiment in all.
    pub total: f64,
}

impl Default for EpsilonCaps {
    fn default() -> Self {
        Self { per_release: 1.0, total: 10.0 }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            allow_registration: true,
            body_limit: 1024 * 1024,
            upload_max_bytes: 25 << 20,
            upload_quota_bytes: 250 << 20,
            request_timeout: Duration::from_secs(30),
            ws_ping_interval: Duration::from_secs(20),
            ws_idle_timeout: Duration::from_secs(60),
            ws_buffer: 1024,
            cors_origins: Vec::new(),
            rate_limit: Some(limits::RateLimit::default()),
            default_budget: None,
            restrict_demo_agents: false,
            ws_recheck_interval: Duration::from_secs(60),
            ws_max_subscriptions: 100,
            ws_max_connections_per_user: 20,
            trusted_proxies: Vec::new(),
            epsilon_caps: EpsilonCaps::default(),
            require_verified_email: false,
            workspaces: None,
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The runtime (and through it the execution store).
    pub runtime: Arc<Runtime>,
    /// Accounts and tokens.
    pub auth: Auth,
    /// Creates executions (the pipeline catalog, budget defaults, idempotency keys).
    pub executions: Arc<crate::services::executions::Executions>,
    /// Prometheus metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// The HTTP tunables.
    pub settings: Arc<HttpSettings>,
    /// Cancelled when the server shuts down (WebSockets close with a close frame).
    pub shutdown: CancellationToken,
    /// Events serialised for WebSocket subscribers.
    pub ws_frames: Arc<ws::EventFrames>,
    /// Users' memories.
    pub memories: Arc<troupe_memory::MemoryService>,
    /// Open WebSockets per user.
    pub ws_sockets: Arc<dashmap::DashMap<troupe_runtime::ids::UserId, usize>>,
    /// The plugin track: registrations, the plugin tree, the research bus.
    pub plugins: Arc<troupe_plugins::PluginRegistry>,
    /// Users' uploaded files.
    pub files: Arc<dyn troupe_runtime::files::FileStore>,
    /// Users' own model provider keys.
    pub own_models: Arc<crate::services::own_models::OwnModels>,
    /// Account notices for users' WebSockets on this node.
    pub notices: tokio::sync::broadcast::Sender<ws::Notice>,
}

impl AppState {
    /// Builds the state.
    pub fn new(
        runtime: Arc<Runtime>,
        auth: Auth,
        settings: HttpSettings,
        memories: Arc<troupe_memory::MemoryService>,
        plugins: Arc<troupe_plugins::PluginRegistry>,
        files: Arc<dyn troupe_runtime::files::FileStore>,
        own_models: Arc<crate::services::own_models::OwnModels>,
    ) -> Self {
        let catalog = crate::services::pipelines::Catalog::new(settings.restrict_demo_agents);
        let executions = crate::services::executions::Executions::new(
            Arc::clone(&runtime),
            catalog,
            settings.default_budget.clone(),
        );
        let metrics = Arc::new(metrics::Metrics::for_node(runtime.node_id()));
        Self {
            runtime,
            auth,
            executions: Arc::new(executions),
            metrics,
            settings: Arc::new(settings),
            shutdown: CancellationToken::new(),
            ws_frames: Arc::new(ws::EventFrames::default()),
            memories,
            ws_sockets: Arc::default(),
            plugins,
            files,
            own_models,
            notices: tokio::sync::broadcast::channel(256).0,
        }
    }
}

impl AppState {
    /// Account exports over this state's stores.
    pub fn exports(&self) -> export::Exports {
        export::Exports {
            auth: self.auth.clone(),
            runtime: Arc::clone(&self.runtime),
            memories: Arc::clone(&self.memories),
            plugins: Arc::clone(&self.plugins),
            files: Arc::clone(&self.files),
            keys: Arc::clone(self.own_models.sealing_keys()),
            notices: Some(self.notices.clone()),
        }
    }

    /// Account deletion over this state's stores.
    pub fn deletion(&self) -> crate::services::deletion::Deletion {
        crate::services::deletion::Deletion {
            auth: self.auth.clone(),
            runtime: Arc::clone(&self.runtime),
            memories: Arc::clone(&self.memories),
            plugins: Arc::clone(&self.plugins),
            workspaces: self.settings.workspaces.clone(),
        }
    }
}

/// Returns the gateway's router and its OpenAPI document.
pub fn router(state: AppState) -> Router {
    let (api, _) = openapi::api_router().split_for_parts();
    let limiter = state.settings.rate_limit.clone().map(|limit| Arc::new(limits::RateLimiter::new(limit)));
    Router::new()
        .merge(api)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            limits::Limiting {
                limiter,
                auth: state.auth.clone(),
                trusted: Arc::new(state.settings.trusted_proxies.clone()),
            },
            limits::rate_limit,
        ))
        .layer(axum::middleware::from_fn_with_state(state.clone(), limits::timeout))
        .layer(DefaultBodyLimit::max(state.settings.body_limit))
        .layer(limits::cors(&state.settings.cors_origins))
        .layer(axum::middleware::from_fn_with_state(state.metrics.clone(), metrics::track))
        .layer(axum::middleware::from_fn(middleware::request_context))
        .with_state(state)
}
