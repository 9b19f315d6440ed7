//! Prometheus metrics at `/metrics` (text format). The series are documented in
//! docs/observability.md:
//!
//! - `troupe_http_request_duration_seconds` (histogram; `method`, `route`, `status`)
//! - `troupe_executions_finished_total` (counter; `status`)
//! - `troupe_step_duration_seconds` (histogram; `status`): from running to a terminal status
//! - `troupe_agent_restarts_total`, `troupe_agent_crashes_total` (counters; `agent`)
//! - `troupe_live_executions` (gauge), `troupe_ws_connections` (gauge)
//! - `troupe_leases_lost_total` (counter): executions this node dropped because another node
//!   took their lease (it was paused or cut off past its lease period)
//!
//! Every series carries the `node` label (`TROUPE_NODE_ID`), so one Prometheus can scrape all
//! the nodes of a cluster.
//! - `troupe_llm_tokens_total` (counter; `provider`, `model`, `kind` = prompt | completion)
//! - `troupe_llm_cost_usd_total` (counter, float; `provider`, `model`)

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dashmap::DashMap;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use troupe_runtime::Runtime;
use troupe_runtime::ids::ExecutionId;
use troupe_runtime::model::EventKind;
use troupe_runtime::status::StepStatus;

use super::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AgentLabel {
    agent: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    provider: String,
    model: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    provider: String,
    model: String,
}

/// The gateway's metrics registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Histogram>,
    executions_finished: Family<StatusLabel, Counter>,
    step_durations: Family<StatusLabel, Histogram>,
    agent_restarts: Family<AgentLabel, Counter>,
    agent_crashes: Family<AgentLabel, Counter>,
    live_executions: Gauge,
    leases_lost: Counter,
    /// Open WebSocket connections.
    pub ws_connections: Gauge,
    llm_tokens: Family<TokenLabels, Counter>,
    llm_cost: Family<ModelLabels, Counter<f64, std::sync::atomic::AtomicU64>>,
    /// When each running step of each execution started.
    running_steps: DashMap<ExecutionId, HashMap<Arc<str>, Instant>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every series.
    pub fn new() -> Self {
        Self::with_registry(Registry::with_prefix("troupe"))
    }

    /// Registers every series, each labelled with the node it comes from.
    pub fn for_node(node: &str) -> Self {
        let labels = [(std::borrow::Cow::Borrowed("node"), std::borrow::Cow::Owned(node.to_owned()))];
        Self::with_registry(Registry::with_prefix_and_labels("troupe", labels.into_iter()))
    }

    fn with_registry(mut registry: Registry) -> Self {
        let requests = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
        });
        registry.register("http_request_duration_seconds", "HTTP request latency", requests.clone());
        let executions_finished = Family::<StatusLabel, Counter>::default();
        registry.register(
            "executions_finished",
            "Executions that reached a terminal status",
            executions_finished.clone(),
        );
        let step_durations = Family::<StatusLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 20))
        });
        registry.register(
            "step_duration_seconds",
            "Step time from running to a terminal status",
            step_durations.clone(),
        );
        let agent_restarts = Family::<AgentLabel, Counter>::default();
        registry.register("agent_restarts", "Agent actor restarts", agent_restarts.clone());
        let agent_crashes = Family::<AgentLabel, Counter>::default();
        registry.register("agent_crashes", "Agent crashes (panics)", agent_crashes.clone());
        let live_executions = Gauge::default();
        registry.register("live_executions", "Executions admitted and not finished", live_executions.clone());
        let leases_lost = Counter::default();
        registry.register(
            "leases_lost",
            "Executions dropped because another node took their lease",
            leases_lost.clone(),
        );
        let ws_connections = Gauge::default();
        registry.register("ws_connections", "Open WebSocket connections", ws_connections.clone());
        let llm_tokens = Family::<TokenLabels, Counter>::default();
        registry.register("llm_tokens", "LLM tokens used by steps", llm_tokens.clone());
        let llm_cost = Family::<ModelLabels, Counter<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register("llm_cost_usd", "LLM cost of steps in US dollars", llm_cost.clone());
        Self {
            registry,
            llm_tokens,
            llm_cost,
            requests,
            executions_finished,
            step_durations,
            agent_restarts,
            agent_crashes,
            live_executions,
            leases_lost,
            ws_connections,
            running_steps: DashMap::new(),
        }
    }

    /// Follows the runtime's events for execution and step metrics until the runtime stops.
    pub fn observe(self: &Arc<Self>, runtime: &Runtime) -> tokio::task::JoinHandle<()> {
        let mut events = runtime.subscribe_all();
        let metrics = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => metrics.record(event.execution_id, &event.kind),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        })
    }

    fn record(&self, execution: ExecutionId, kind: &EventKind) {
        match kind {
            EventKind::ExecutionStatus { status, .. } if status.is_terminal() => {
                self.executions_finished.get_or_create(&StatusLabel { status: status.to_string() }).inc();
                self.running_steps.remove(&execution);
            }
            EventKind::StepStatus { step, status: StepStatus::Running, .. } => {
                self.running_steps.entry(execution).or_default().insert(Arc::clone(step), Instant::now());
            }
            EventKind::StepStatus { step, status, .. } if status.is_terminal() => {
                let started = self.running_steps.get_mut(&execution).and_then(|mut steps| steps.remove(&**step));
                if let Some(started) = started {
                    self.step_durations
                        .get_or_create(&StatusLabel { status: status.to_string() })
                        .observe(started.elapsed().as_secs_f64());
                }
            }
            EventKind::Usage { provider, model, prompt_tokens, completion_tokens, cost_usd, .. } => {
                for (kind, tokens) in [("prompt", prompt_tokens), ("completion", completion_tokens)] {
                    let labels = TokenLabels { provider: provider.clone(), model: model.clone(), kind };
                    self.llm_tokens.get_or_create(&labels).inc_by(*tokens);
                }
                self.llm_cost
                    .get_or_create(&ModelLabels { provider: provider.clone(), model: model.clone() })
                    .inc_by(*cost_usd);
            }
            _ => {}
        }
    }

    fn refresh(&self, runtime: &Runtime) {
        self.live_executions.set(runtime.live_executions() as i64);
        self.leases_lost.inc_by(runtime.leases_lost().saturating_sub(self.leases_lost.get()));
        for agent in runtime.agents() {
            let label = AgentLabel { agent: agent.kind };
            let restarts = self.agent_restarts.get_or_create(&label);
            restarts.inc_by(agent.restarts.saturating_sub(restarts.get()));
            let crashes = self.agent_crashes.get_or_create(&label);
            crashes.inc_by(agent.crashes.saturating_sub(crashes.get()));
        }
    }
}

/// Times every request by method, route template and status, and logs it (`info`).
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // Labels come from fixed sets, so made-up methods and paths cannot add series.
    let method = match *request.method() {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::PATCH => "PATCH",
        axum::http::Method::DELETE => "DELETE",
        axum::http::Method::HEAD => "HEAD",
        axum::http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
    .to_owned();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    // Inside the request's span, so the line carries its request id.
    tracing::info!(status, elapsed_ms = elapsed.as_secs_f64() * 1000.0, "request");
    let labels = RequestLabels { method, route, status };
    metrics.requests.get_or_create(&labels).observe(elapsed.as_secs_f64());
    response
}

/// `GET /metrics`: the Prometheus text exposition (never rate limited).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "The OpenMetrics 1.0 text format", content_type = "application/openmetrics-text",
        body = String)))]
pub async fn render(State(state): State<AppState>) -> Response {
    state.metrics.refresh(&state.runtime);
    let mut text = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &state.metrics.registry) {
        return super::ApiError::internal(error).into_response();
    }
    ([(CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response()
}
