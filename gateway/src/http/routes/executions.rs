//! `/api/v1/executions`: create, list, get, cancel, steps, logs, events, artifacts.
//! Another user's execution answers 404, exactly like one that does not exist.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use troupe_runtime::ids::{ExecutionId, ProjectId};
use troupe_runtime::model::ExecutionRecord;
use troupe_runtime::status::ExecutionStatus;
use troupe_runtime::store::ExecutionQuery;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::projects::visible_project;
use crate::auth::Caller;
use crate::http::extract::{ApiJson, ApiQuery, parse_id};
use crate::http::schemas::{Budget, EventSchema, ExecutionStatusName, LogEntrySchema, PipelineRef};
use crate::http::views::{ArtifactView, ExecutionPage, ExecutionView, StepView, UsageView, to_json};
use crate::http::{ApiError, AppState, ErrorBody};
use crate::services::executions::{Created, NewExecution, PipelineChoice, Requester};

/// The header that makes a create idempotent.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// A new execution.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExecution {
    /// A pipeline name (the caller's own, else a built-in one) or an inline definition.
    #[schema(value_type = PipelineRef)]
    pub pipeline: Value,
    /// The execution's input (any JSON; default `{}`).
    #[serde(default)]
    pub input: Option<Value>,
    /// One of the caller's projects.
    pub project_id: Option<Uuid>,
    /// Caps on this execution's LLM use; default: the pipeline's, else the user's, else the
    /// server's.
    #[schema(value_type = Option<Budget>)]
    pub budget: Option<Value>,
}

/// Filters of the execution list.
#[derive(Deserialize, Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only executions in this status.
    #[param(value_type = Option<ExecutionStatusName>, inline)]
    pub status: Option<String>,
    /// Only executions of this pipeline.
    #[param(max_length = 128)]
    pub pipeline: Option<String>,
    /// Only executions of this project.
    pub project_id: Option<Uuid>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<Uuid>,
    /// At most this many (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// Which events to return.
#[derive(Deserialize, Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events with a greater `seq` (default 0: from the start).
    pub after_seq: Option<u64>,
    /// At most this many (1–1000, default 500).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// Returns an execution the caller may see (their own; any for an admin), or 404.
pub async fn visible_execution(state: &AppState, caller: &Caller, id: &str) -> Result<ExecutionRecord, ApiError> {
    let id: ExecutionId = parse_id(id, "id")?;
    match state.runtime.store().get_execution(id).await? {
        Some(record) if record.owner == caller.id() || caller.is_admin() => Ok(record),
        _ => Err(ApiError::not_found("execution")),
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else { return Ok(None) };
    match value.to_str() {
        Ok(key) if (1..=255).contains(&key.len()) => Ok(Some(key.to_owned())),
        _ => Err(ApiError::invalid_field("Idempotency-Key", "must be 1 to 255 visible ASCII characters")),
    }
}

/// Starts an execution. It answers at once (`planned` or `running`); follow it over the
/// WebSocket or `GET …/events`. With an `Idempotency-Key` header, repeating the request answers
/// the first execution (200) instead of starting another.
#[utoipa::path(post, path = "/api/v1/executions", tag = "executions", request_body = CreateExecution,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255,
        description = "Makes a repeated create return the same execution (1–255 characters)")),
    responses((status = 201, body = ExecutionView), (status = 200, body = ExecutionView, description = "The execution created earlier with this idempotency key"),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "The server requires a verified email address (`email_unverified`)"),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_execution(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(request): ApiJson<CreateExecution>,
) -> Result<Response, ApiError> {
    if state.settings.require_verified_email && caller.user.email_verified_at.is_none() {
        return Err(ApiError::new(
            troupe_runtime::ErrorCode::EmailUnverified,
            "verify your email address first: use the code mailed to you (POST /api/v1/auth/verify)",
        ));
    }
    let idempotency_key = idempotency_key(&headers)?;
    let pipeline = match request.pipeline {
        Value::String(name) => PipelineChoice::Name(name),
        definition @ Value::Object(_) => {
            super::pipelines::check_shape(&definition)?;
            PipelineChoice::Inline(definition)
        }
        _ => return Err(ApiError::invalid_field("pipeline", "must be a pipeline name or a definition object")),
    };
    let budget = request.budget.map(parse_budget).transpose()?;
    let project = match request.project_id {
        Some(id) => Some(
            visible_project(&state, &caller, ProjectId(id))
                .await
                .map_err(|_| ApiError::invalid_field("project_id", "no such project of yours"))?
                .id,
        ),
        None => None,
    };
    let requester = Requester { id: caller.id(), admin: caller.is_admin(), budget: caller.user.budget.clone() };
    let input = request.input.unwrap_or_else(|| Value::Object(Default::default()));
    check_files(&state, &caller, &input).await?;
    let new = NewExecution { pipeline, input, project, budget, idempotency_key };
    let Created { record, created } = state.executions.create(&requester, new).await?;
    if !created {
        return Ok((StatusCode::OK, Json(ExecutionView::from(&record))).into_response());
    }
    let mut response = (StatusCode::CREATED, Json(ExecutionView::from(&record))).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/executions/{}", record.id)) {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

/// The most sources of an input checked for uploaded files (the research planner caps sources
/// far below this).
const MAX_CHECKED_SOURCES: usize = 100;

/// Every `input.sources[].file` must name one of the caller's uploaded files: another user's
/// (or none) answers 404, naming the field, before anything runs.
async fn check_files(state: &AppState, caller: &Caller, input: &Value) -> Result<(), ApiError> {
    let sources = input.get("sources").and_then(Value::as_array).into_iter().flatten();
    for (index, source) in sources.enumerate().take(MAX_CHECKED_SOURCES) {
        let Some(file) = source.get("file") else { continue };
        let field = format!("input.sources[{index}].file");
        let id: Uuid = file
            .as_str()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| ApiError::invalid_field(field.clone(), "must be the id of a file you uploaded"))?;
        if state.files.get_file(caller.id(), id).await?.is_none() {
            return Err(ApiError::not_found("file").with_details(serde_json::json!({ "field": field })));
        }
    }
    Ok(())
}

/// Lists the caller's executions, newest first (an admin sees everyone's), each with its LLM
/// use in all.
#[utoipa::path(get, path = "/api/v1/executions", tag = "executions", params(ListQuery),
    responses((status = 200, body = ExecutionPage), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_executions(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<ExecutionPage>, ApiError> {
    let status = query
        .status
        .as_deref()
        .map(str::parse::<ExecutionStatus>)
        .transpose()
        .map_err(|error| ApiError::invalid_field("status", error.to_string()))?;
    let limit = query.limit.unwrap_or(50);
    let filter = ExecutionQuery {
        owner: if caller.is_admin() { None } else { Some(caller.id()) },
        status,
        pipeline: query.pipeline,
        project: query.project_id.map(ProjectId),
        before: query.cursor.map(ExecutionId),
        limit: Some(limit + 1),
    };
    let mut records = state.runtime.store().list_executions(&filter).await?;
    let next_cursor = if records.len() > limit as usize {
        records.truncate(limit as usize);
        records.last().map(|record| record.id.0)
    } else {
        None
    };
    // Each row's LLM use in all (a page is at most 200 rows; their ledgers are read at once).
    let store = state.runtime.store();
    let usages = futures::future::try_join_all(records.iter().map(|record| store.execution_usage(record.id))).await?;
    let items = records
        .iter()
        .zip(usages)
        .map(|(record, rows)| {
            let mut view = ExecutionView::from(record);
            view.usage = Some(UsageView::total(rows.iter().map(|row| row.usage).sum()));
            view
        })
        .collect();
    Ok(Json(ExecutionPage { items, next_cursor }))
}

/// Returns an execution.
#[utoipa::path(get, path = "/api/v1/executions/{id}", tag = "executions", params(("id" = Uuid, Path)),
    responses((status = 200, body = ExecutionView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_execution(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ExecutionView>, ApiError> {
    let record = visible_execution(&state, &caller, &id).await?;
    let rows = state.runtime.store().execution_usage(record.id).await?;
    let mut view = ExecutionView::from(&record);
    view.usage = Some(UsageView::of(&rows));
    view.definition = serde_json::to_value(&record.pipeline).ok();
    Ok(Json(view))
}

/// Reads a `budget` field: both caps optional, positive.
pub fn parse_budget(value: Value) -> Result<troupe_runtime::pipeline::BudgetDef, ApiError> {
    let budget: troupe_runtime::pipeline::BudgetDef = serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." { "budget".to_owned() } else { format!("budget.{path}") };
        ApiError::invalid_field(field, error.inner().to_string())
    })?;
    if budget.max_tokens == Some(0) {
        return Err(ApiError::invalid_field("budget.max_tokens", "must be at least 1"));
    }
    if budget.max_cost_usd.is_some_and(|cost| !cost.is_finite() || cost <= 0.0) {
        return Err(ApiError::invalid_field("budget.max_cost_usd", "must be a positive number of dollars"));
    }
    Ok(budget)
}

/// The caller's LLM use over all their executions.
#[utoipa::path(get, path = "/api/v1/usage", tag = "executions",
    responses((status = 200, body = UsageView)), security(("bearer" = [])))]
pub async fn my_usage(State(state): State<AppState>, caller: Caller) -> Result<Json<UsageView>, ApiError> {
    Ok(Json(UsageView::total(state.runtime.store().owner_usage(caller.id()).await?)))
}

/// Cancels an execution: running steps are told to stop and it ends `cancelled`. In a
/// cluster, the node that runs it carries it out: 202 says it is recorded and not done yet.
#[utoipa::path(post, path = "/api/v1/executions/{id}/cancel", tag = "executions", params(("id" = Uuid, Path)),
    responses((status = 200, body = ExecutionView, description = "Cancelled"),
        (status = 202, body = ExecutionView, description = "Recorded; the node that holds the execution carries it out"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel_execution(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(axum::http::StatusCode, Json<ExecutionView>), ApiError> {
    let record = visible_execution(&state, &caller, &id).await?;
    let cancelled = state.runtime.cancel(record.id).await?;
    let status = if cancelled.done { axum::http::StatusCode::OK } else { axum::http::StatusCode::ACCEPTED };
    Ok((status, Json(ExecutionView::from(&cancelled.record))))
}

/// Re-runs a failed execution from its failed steps; completed steps keep their outputs.
#[utoipa::path(post, path = "/api/v1/executions/{id}/retry", tag = "executions", params(("id" = Uuid, Path)),
    responses((status = 200, body = ExecutionView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn retry_execution(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ExecutionView>, ApiError> {
    let record = visible_execution(&state, &caller, &id).await?;
    let record = state.runtime.retry(record.id).await?;
    Ok(Json(ExecutionView::from(&record)))
}

/// Returns the steps of an execution with every attempt (input, output or error, timing).
#[utoipa::path(get, path = "/api/v1/executions/{id}/steps", tag = "executions", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<StepView>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_steps(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<StepView>>, ApiError> {
    let record = visible_execution(&state, &caller, &id).await?;
    let store = state.runtime.store();
    let (steps, attempts) = tokio::try_join!(store.list_steps(record.id), store.list_attempts(record.id))?;
    let views = steps
        .iter()
        .map(|step| StepView::new(step, attempts.iter().filter(|attempt| *attempt.step_key == *step.key).collect()))
        .collect();
    Ok(Json(views))
}

/// Returns the log lines of an execution.
#[utoipa::path(get, path = "/api/v1/executions/{id}/logs", tag = "executions", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<LogEntrySchema>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_logs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let record = visible_execution(&state, &caller, &id).await?;
    let logs = state.runtime.store().list_logs(record.id).await?;
    Ok(Json(logs.iter().map(to_json).collect()))
}

/// Returns the events of an execution after `after_seq`, in order (the WebSocket's replay).
#[utoipa::path(get, path = "/api/v1/executions/{id}/events", tag = "executions", params(("id" = Uuid, Path), EventsQuery),
    responses((status = 200, body = Vec<EventSchema>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let record = visible_execution(&state, &caller, &id).await?;
    let limit = query.limit.unwrap_or(500);
    let events = state.runtime.store().list_events(record.id, query.after_seq.unwrap_or(0), limit).await?;
    Ok(Json(events.iter().map(to_json).collect()))
}

/// Lists the artifacts of an execution (metadata; download each from its `url`).
#[utoipa::path(get, path = "/api/v1/executions/{id}/artifacts", tag = "executions", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<ArtifactView>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_artifacts(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<ArtifactView>>, ApiError> {
    let record = visible_execution(&state, &caller, &id).await?;
    let artifacts = state.runtime.store().list_artifacts(record.id).await?;
    let views = artifacts
        .iter()
        .map(|artifact| ArtifactView {
            step: artifact.step_key.clone(),
            name: artifact.name.clone(),
            content_type: artifact.content_type.clone(),
            size: artifact.content.len(),
            created_at: artifact.created_at,
            url: format!("/api/v1/executions/{}/artifacts/{}/{}", record.id, artifact.step_key, artifact.name),
        })
        .collect();
    Ok(Json(views))
}

/// Downloads an artifact's content.
#[utoipa::path(get, path = "/api/v1/executions/{id}/artifacts/{step}/{name}", tag = "executions",
    params(("id" = Uuid, Path), ("step" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "The artifact's bytes, with its content type"), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn download_artifact(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, step, name)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let record = visible_execution(&state, &caller, &id).await?;
    let artifact = state
        .runtime
        .store()
        .get_artifact(record.id, &step, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("artifact"))?;
    let content_type =
        HeaderValue::from_str(&artifact.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let file_name: String =
        artifact.name.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).collect();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    Ok(([(CONTENT_TYPE, content_type), (CONTENT_DISPOSITION, disposition)], artifact.content).into_response())
}
