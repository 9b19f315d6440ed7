//! `/api/v1/pipelines`: the built-in pipelines and the caller's own.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::Value;
use troupe_runtime::ErrorCode;
use troupe_runtime::pipeline::{PipelineDef, ValidatedPipeline};
use troupe_runtime::store::StoredPipeline;

use crate::auth::Caller;
use crate::http::error::pipeline_error;
use crate::http::extract::ApiJson;
use crate::http::schemas::PipelineDefinition;
use crate::http::strict::{self, Format};
use crate::http::views::{PipelineView, to_json};
use crate::http::{ApiError, AppState, ErrorBody};

fn builtin_view(def: &PipelineDef) -> PipelineView {
    PipelineView {
        name: def.name.clone(),
        source: "builtin",
        owner: None,
        hash: def.content_hash(),
        definition: to_json(def),
    }
}

pub(crate) fn user_view(stored: &StoredPipeline) -> PipelineView {
    PipelineView {
        name: stored.def.name.clone(),
        source: "user",
        owner: Some(stored.owner.0),
        hash: stored.hash.clone(),
        definition: to_json(&stored.def),
    }
}

/// Parses and checks a definition sent over the API (errors name the step and field).
pub fn check_definition(state: &AppState, caller: &Caller, value: Value) -> Result<ValidatedPipeline, ApiError> {
    check_shape(&value)?;
    let def = PipelineDef::from_value(value).map_err(|error| pipeline_error(&error))?;
    state.executions.catalog().check_agents_allowed(&def, caller.is_admin())?;
    state.runtime.validate(def).map_err(|error| pipeline_error(&error))
}

/// Checks a definition against the published pipeline schema (objects where it says objects,
/// known fields only): 422 `invalid_pipeline`, each problem naming its field.
pub fn check_shape(value: &Value) -> Result<(), ApiError> {
    let problems = strict::check_format(Format::Pipeline, value);
    if problems.is_empty() {
        return Ok(());
    }
    let issues = problems
        .into_iter()
        .map(|(field, message)| troupe_runtime::pipeline::PipelineIssue { step: None, field, message })
        .collect();
    Err(pipeline_error(&troupe_runtime::pipeline::PipelineError { issues }))
}

/// Lists the built-in pipelines and the caller's own (an admin sees every user's).
#[utoipa::path(get, path = "/api/v1/pipelines", tag = "pipelines",
    responses((status = 200, body = Vec<PipelineView>)), security(("bearer" = [])))]
pub async fn list_pipelines(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<PipelineView>>, ApiError> {
    let owner = if caller.is_admin() { None } else { Some(caller.id()) };
    let mut views: Vec<PipelineView> = state.executions.catalog().builtins().map(builtin_view).collect();
    views.extend(state.runtime.store().list_pipelines(owner).await?.iter().map(user_view));
    Ok(Json(views))
}

/// Returns a pipeline by name (the caller's own, else a built-in one).
#[utoipa::path(get, path = "/api/v1/pipelines/{name}", tag = "pipelines", params(("name" = String, Path)),
    responses((status = 200, body = PipelineView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_pipeline(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<PipelineView>, ApiError> {
    if let Some(stored) = state.runtime.store().get_pipeline(caller.id(), &name).await? {
        return Ok(Json(user_view(&stored)));
    }
    let def =
        state.executions.catalog().builtin(&name).ok_or_else(|| ApiError::not_found(&format!("pipeline `{name}`")))?;
    Ok(Json(builtin_view(def)))
}

/// Registers (or replaces) one of the caller's pipelines. The body is the definition
/// (docs/pipeline.schema.json); every problem is listed, each naming its step and field.
#[utoipa::path(post, path = "/api/v1/pipelines", tag = "pipelines", request_body = PipelineDefinition,
    responses((status = 201, body = PipelineView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn register_pipeline(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(PipelineDefinition(definition)): ApiJson<PipelineDefinition>,
) -> Result<(StatusCode, Json<PipelineView>), ApiError> {
    let pipeline = check_definition(&state, &caller, definition)?;
    let def = pipeline.def();
    if state.executions.catalog().builtin(&def.name).is_some() {
        return Err(ApiError::new(
            ErrorCode::NameTaken,
            format!("`{}` is a built-in pipeline; choose another name", def.name),
        ));
    }
    state.runtime.store().put_pipeline(caller.id(), def).await?;
    let stored = StoredPipeline { owner: caller.id(), def: def.clone(), hash: pipeline.hash().to_owned() };
    Ok((StatusCode::CREATED, Json(user_view(&stored))))
}

/// Deletes one of the caller's pipelines (executions keep their pinned copy).
#[utoipa::path(delete, path = "/api/v1/pipelines/{name}", tag = "pipelines", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_pipeline(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !state.runtime.store().delete_pipeline(caller.id(), &name).await? {
        return Err(ApiError::not_found(&format!("pipeline `{name}`")));
    }
    Ok(StatusCode::NO_CONTENT)
}
