//! The OpenAPI 3.1 document, generated from the handlers (utoipa) and completed by
//! [`complete`], served at `/api/docs/openapi.json`, with a small self-contained page at
//! `/api/docs`.

mod complete;

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::{Html, IntoResponse, Response};
use serde_json::Value;
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::health;
use super::metrics;
use super::routes::{
    agents, approvals, auth, executions, files, memories, nodes, pipelines, plugins, projects, research, users,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "troupe", description = "An actor-based multi-agent runtime: executions, live events, agents, accounts."),
    tags(
        (name = "auth", description = "Accounts, logins and tokens"),
        (name = "users", description = "User administration"),
        (name = "api-keys", description = "Keys for programs"),
        (name = "projects", description = "Groups of executions"),
        (name = "pipelines", description = "Pipeline definitions"),
        (name = "executions", description = "Runs of pipelines"),
        (name = "files", description = "Files users upload (research sources)"),
        (name = "console", description = "The web console (a static page that uses this API)"),
        (name = "agents", description = "Agent kinds and their health"),
        (name = "cluster", description = "The nodes sharing this store"),
        (name = "memories", description = "A user's memories: stored encrypted, searched by meaning"),
        (name = "plugins", description = "Custom and research agents in the sandbox"),
        (name = "research", description = "Experiments, consent, feature flags, differentially private releases"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
struct ApiDoc;

/// Every REST route, each registered with its OpenAPI operation.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::register))
        .routes(routes!(auth::setup))
        .routes(routes!(auth::list_sessions))
        .routes(routes!(auth::end_session))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::change_password))
        .routes(routes!(auth::verify))
        .routes(routes!(auth::resend_verification))
        .routes(routes!(auth::request_password_reset))
        .routes(routes!(auth::confirm_password_reset))
        .routes(routes!(users::get_me, users::update_me, users::delete_me))
        .routes(routes!(users::start_export))
        .routes(routes!(users::get_export))
        .routes(routes!(users::download_export))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::get_user, users::update_user, users::delete_user))
        .routes(routes!(users::create_api_key, users::list_api_keys))
        .routes(routes!(users::revoke_api_key))
        .routes(routes!(users::list_audit))
        .routes(routes!(projects::create_project, projects::list_projects))
        .routes(routes!(projects::get_project, projects::update_project, projects::delete_project))
        .routes(routes!(pipelines::list_pipelines, pipelines::register_pipeline))
        .routes(routes!(pipelines::get_pipeline, pipelines::delete_pipeline))
        .routes(routes!(executions::create_execution, executions::list_executions))
        .routes(routes!(executions::get_execution))
        .routes(routes!(executions::my_usage))
        .routes(routes!(executions::cancel_execution))
        .routes(routes!(executions::retry_execution))
        .routes(routes!(executions::list_steps))
        .routes(routes!(executions::list_logs))
        .routes(routes!(executions::list_events))
        .routes(routes!(executions::list_artifacts))
        .routes(routes!(executions::download_artifact))
        .routes(routes!(approvals::list_approvals))
        .routes(routes!(approvals::approve_step))
        .routes(routes!(approvals::reject_step))
        .routes(routes!(files::upload_file, files::list_files))
        .routes(routes!(files::download_file, files::delete_file))
        .routes(routes!(agents::list_agents))
        .routes(routes!(agents::get_agent))
        .routes(routes!(agents::release_agent))
        .routes(routes!(nodes::list_nodes))
        .routes(routes!(memories::store_memory, memories::delete_all_memories))
        .routes(routes!(memories::search_memories))
        .routes(routes!(memories::export_memories))
        .routes(routes!(memories::get_memory, memories::delete_memory))
        .routes(routes!(plugins::register_plugin, plugins::list_plugins))
        .routes(routes!(plugins::get_plugin, plugins::delete_plugin))
        .routes(routes!(plugins::enable_plugin))
        .routes(routes!(plugins::disable_plugin))
        .routes(routes!(research::create_experiment, research::list_experiments))
        .routes(routes!(research::get_experiment, research::update_experiment))
        .routes(routes!(research::set_consent))
        .routes(routes!(research::my_consent))
        .routes(routes!(research::create_release, research::list_releases))
        .routes(routes!(research::list_flags))
        .routes(routes!(research::put_flag))
        .routes(routes!(super::console::index))
        .routes(routes!(super::console::asset))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(metrics::render))
        .routes(routes!(openapi_json))
        .routes(routes!(asyncapi_json))
        .routes(routes!(docs_page))
        .routes(routes!(super::ws::upgrade))
}

/// Completes the generated document (see [`complete`]).
pub fn completed(generated: OpenApiDoc) -> Value {
    let mut document = serde_json::to_value(generated).expect("the document serialises");
    complete::complete(&mut document);
    document
}

/// Returns the OpenAPI document the server serves.
pub fn document() -> Value {
    completed(api_router().into_openapi())
}

/// A document serialised once, served as is.
fn served(document: &'static OnceLock<Bytes>, build: fn() -> Value) -> Response {
    let bytes = document.get_or_init(|| Bytes::from(serde_json::to_vec(&build()).expect("the document serialises")));
    ([(CONTENT_TYPE, "application/json")], bytes.clone()).into_response()
}

/// The OpenAPI document of this API (what client generators read).
#[utoipa::path(get, path = "/api/docs/openapi.json", tag = "operations",
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object)))]
pub async fn openapi_json() -> Response {
    static DOCUMENT: OnceLock<Bytes> = OnceLock::new();
    served(&DOCUMENT, document)
}

/// The AsyncAPI 3 document of the WebSocket protocol at `/api/v1/ws`.
#[utoipa::path(get, path = "/api/docs/asyncapi.json", tag = "operations",
    responses((status = 200, description = "The AsyncAPI 3 document", body = Object)))]
pub async fn asyncapi_json() -> Response {
    static DOCUMENT: OnceLock<Bytes> = OnceLock::new();
    served(&DOCUMENT, super::asyncapi::document)
}

/// A page listing the operations.
#[utoipa::path(get, path = "/api/docs", tag = "operations",
    responses((status = 200, description = "An HTML page listing the operations", content_type = "text/html", body = String)))]
pub async fn docs_page() -> Response {
    ([(CONTENT_SECURITY_POLICY, DOCS_POLICY)], Html(DOCS_PAGE)).into_response()
}

/// The docs page runs its own inline script and style, and fetches only from this origin.
const DOCS_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'";

/// A page with no external script: it lists the operations from the document.
const DOCS_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>troupe API</title>
<style>body{font:15px system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
code{background:#f3f3f3;padding:0 .3em}.m{display:inline-block;width:4.5rem;font-weight:bold}
li{margin:.3rem 0}</style></head>
<body><h1>troupe API</h1>
<p>The OpenAPI 3.1 document: <a href="/api/docs/openapi.json"><code>/api/docs/openapi.json</code></a>
(load it into any OpenAPI viewer or client generator). Live events: the WebSocket <code>/api/v1/ws</code>,
described by the AsyncAPI 3 document <a href="/api/docs/asyncapi.json"><code>/api/docs/asyncapi.json</code></a>.</p>
<ul id="ops"></ul>
<script>
fetch('/api/docs/openapi.json').then(r => r.json()).then(doc => {
  const ops = document.getElementById('ops');
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const li = document.createElement('li');
      li.innerHTML = '<span class="m"></span><code></code> ';
      li.children[0].textContent = method.toUpperCase();
      li.children[1].textContent = path;
      li.append(op.summary || op.description || '');
      ops.append(li);
    }
  }
});
</script></body></html>"#;
