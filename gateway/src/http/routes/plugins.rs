//! `/api/v1/plugins`: registering, listing, enabling, disabling and removing plugins. Anyone
//! signed in may list them (a user should see what may run in their pipelines); only admins
//! change them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use troupe_plugins::host::PluginHealth;
use troupe_plugins::registry::RegistryError;
use troupe_runtime::ErrorCode;
use troupe_runtime::research::PluginRecord;
use utoipa::ToSchema;

use crate::auth::{Caller, ClientInfo};
use crate::http::extract::ApiJson;
use crate::http::schemas::PluginManifest;
use crate::http::{ApiError, AppState, ErrorBody};

/// A plugin to register.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterPlugin {
    /// The manifest (the JSON form of plugin.toml; docs/plugin.schema.json).
    #[schema(value_type = PluginManifest)]
    pub manifest: Value,
    /// The WebAssembly module, binary or text, base64-encoded (`wasm` plugins).
    pub module_base64: Option<String>,
}

/// A plugin as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct PluginView {
    pub name: String,
    pub version: String,
    pub kind: String,
    pub track: String,
    /// The agent kind pipeline steps name.
    pub agent: String,
    pub description: Option<String>,
    /// `running`, `restarting`, `disabled` or `not_loaded`.
    pub status: &'static str,
    /// Why it is disabled.
    pub reason: Option<String>,
    /// The research section (experiment, flag, metrics) of research plugins; `null` for others.
    #[schema(value_type = Option<Object>)]
    pub research: Value,
    pub registered_at: DateTime<Utc>,
}

fn view(record: &PluginRecord, health: Option<PluginHealth>) -> PluginView {
    let manifest = &record.manifest;
    let text = |field: &str| manifest[field].as_str().unwrap_or_default().to_owned();
    let (status, reason) = match (health, record.enabled) {
        (_, false) => ("disabled", record.disabled_reason.clone()),
        (Some(PluginHealth::Running), true) => ("running", None),
        (Some(PluginHealth::Restarting), true) => ("restarting", None),
        (Some(PluginHealth::Disabled { reason }), true) => ("disabled", Some(reason)),
        (None, true) => ("not_loaded", None),
    };
    PluginView {
        agent: manifest["agent"].as_str().map_or_else(|| text("name"), str::to_owned),
        name: text("name"),
        version: text("version"),
        kind: text("kind"),
        track: text("track"),
        description: manifest["description"].as_str().map(str::to_owned),
        status,
        reason,
        research: manifest["research"].clone(),
        registered_at: record.registered_at,
    }
}

pub(crate) fn registry_error(error: RegistryError) -> ApiError {
    match error {
        RegistryError::Invalid(error) => {
            ApiError::invalid_fields(error.issues.into_iter().map(|issue| (issue.field, issue.message)))
                .with_code(ErrorCode::InvalidManifest)
        }
        RegistryError::NotFound(_) => ApiError::not_found("plugin"),
        RegistryError::Store(error) => error.into(),
        RegistryError::Plugin(error) => ApiError::internal(error),
    }
}

fn admin_only(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_admin() { Ok(()) } else { Err(ApiError::new(ErrorCode::Forbidden, "this needs the admin role")) }
}

async fn find(state: &AppState, name: &str) -> Result<PluginView, ApiError> {
    let plugins = state.plugins.list().await.map_err(registry_error)?;
    plugins
        .iter()
        .find(|(record, _)| record.name == name)
        .map(|(record, health)| view(record, health.clone()))
        .ok_or_else(|| ApiError::not_found("plugin"))
}

/// Registers (or replaces) a plugin (admin). The manifest is checked — every problem named by
/// its field — and the module compiled before anything is stored.
#[utoipa::path(post, path = "/api/v1/plugins", tag = "plugins", request_body = RegisterPlugin,
    responses((status = 201, body = PluginView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn register_plugin(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    ApiJson(request): ApiJson<RegisterPlugin>,
) -> Result<(StatusCode, Json<PluginView>), ApiError> {
    admin_only(&caller)?;
    let problems = crate::http::strict::check_format(crate::http::strict::Format::Manifest, &request.manifest);
    if !problems.is_empty() {
        let fields = problems.into_iter().map(|(field, message)| (format!("manifest.{field}"), message));
        return Err(ApiError::invalid_fields(fields).with_code(ErrorCode::InvalidManifest));
    }
    let module = request
        .module_base64
        .map(|text| base64::engine::general_purpose::STANDARD.decode(text.trim()))
        .transpose()
        .map_err(|_| ApiError::invalid_field("module_base64", "is not base64"))?;
    let reserved: Vec<String> = troupe_agents::BUILTIN_AGENTS.iter().map(|kind| (*kind).to_owned()).collect();
    let (record, _) =
        state.plugins.register(request.manifest, module, caller.id(), &reserved).await.map_err(registry_error)?;
    state.plugins.sync(&state.runtime).await.map_err(registry_error)?;
    state
        .auth
        .audit(
            Some(caller.id()),
            "plugin_registered",
            Some(record.name.clone()),
            client.ip,
            json!({"track": record.manifest["track"]}),
        )
        .await;
    Ok((StatusCode::CREATED, Json(find(&state, &record.name).await?)))
}

/// Lists the registered plugins with their status.
#[utoipa::path(get, path = "/api/v1/plugins", tag = "plugins",
    responses((status = 200, body = Vec<PluginView>)), security(("bearer" = [])))]
pub async fn list_plugins(State(state): State<AppState>, _caller: Caller) -> Result<Json<Vec<PluginView>>, ApiError> {
    let plugins = state.plugins.list().await.map_err(registry_error)?;
    Ok(Json(plugins.into_iter().map(|(record, health)| view(&record, health)).collect()))
}

/// Returns one plugin.
#[utoipa::path(get, path = "/api/v1/plugins/{name}", tag = "plugins", params(("name" = String, Path)),
    responses((status = 200, body = PluginView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_plugin(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<PluginView>, ApiError> {
    Ok(Json(find(&state, &name).await?))
}

/// Enables a plugin again (admin); it starts with a fresh restart intensity.
#[utoipa::path(post, path = "/api/v1/plugins/{name}/enable", tag = "plugins", params(("name" = String, Path)),
    responses((status = 200, body = PluginView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn enable_plugin(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<PluginView>, ApiError> {
    admin_only(&caller)?;
    state.plugins.set_enabled(&name, true).await.map_err(registry_error)?;
    Ok(Json(find(&state, &name).await?))
}

/// Disables a plugin (admin): its steps are refused until it is enabled.
#[utoipa::path(post, path = "/api/v1/plugins/{name}/disable", tag = "plugins", params(("name" = String, Path)),
    responses((status = 200, body = PluginView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn disable_plugin(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<PluginView>, ApiError> {
    admin_only(&caller)?;
    state.plugins.set_enabled(&name, false).await.map_err(registry_error)?;
    Ok(Json(find(&state, &name).await?))
}

/// Removes a plugin (admin); pipelines naming its agent kind no longer check.
#[utoipa::path(delete, path = "/api/v1/plugins/{name}", tag = "plugins", params(("name" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_plugin(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin_only(&caller)?;
    state.plugins.delete(&name).await.map_err(registry_error)?;
    state.plugins.sync(&state.runtime).await.map_err(registry_error)?;
    state.auth.audit(Some(caller.id()), "plugin_removed", Some(name), client.ip, json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}
