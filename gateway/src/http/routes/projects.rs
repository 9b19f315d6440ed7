//! `/api/v1/projects`: named groups of a user's executions.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::Deserialize;
use troupe_runtime::ErrorCode;
use troupe_runtime::accounts::ProjectRecord;
use troupe_runtime::ids::ProjectId;
use troupe_runtime::store::StoreError;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::http::extract::{ApiJson, parse_id};
use crate::http::views::ProjectView;
use crate::http::{ApiError, AppState, ErrorBody};

/// A new project.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectRequest {
    /// 1–100 characters, unique among the owner's projects.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    pub description: Option<String>,
}

/// Changes to a project.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectPatch {
    /// 1–100 characters, unique among the owner's projects.
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    pub description: Option<String>,
}

fn check_name(name: &str) -> Result<&str, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid_field("name", "must be 1 to 100 characters"));
    }
    Ok(name)
}

fn name_taken(error: StoreError) -> ApiError {
    match error {
        StoreError::Conflict(_) => ApiError::new(ErrorCode::NameTaken, "you already have a project with this name"),
        error => error.into(),
    }
}

/// Returns a project the caller may see (their own; any for an admin), or 404.
pub async fn visible_project(state: &AppState, caller: &Caller, id: ProjectId) -> Result<ProjectRecord, ApiError> {
    match state.auth.store().get_project(id).await? {
        Some(project) if project.owner == caller.id() || caller.is_admin() => Ok(project),
        _ => Err(ApiError::not_found("project")),
    }
}

/// Creates a project.
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", request_body = ProjectRequest,
    responses((status = 201, body = ProjectView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_project(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<ProjectRequest>,
) -> Result<(StatusCode, Json<ProjectView>), ApiError> {
    let now = Utc::now();
    let project = ProjectRecord {
        id: ProjectId::new(),
        owner: caller.id(),
        name: check_name(&request.name)?.to_owned(),
        description: request.description,
        created_at: now,
        updated_at: now,
    };
    state.auth.store().insert_project(&project).await.map_err(name_taken)?;
    Ok((StatusCode::CREATED, Json(ProjectView::from(&project))))
}

/// Lists the caller's projects (an admin sees everyone's).
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects",
    responses((status = 200, body = Vec<ProjectView>)), security(("bearer" = [])))]
pub async fn list_projects(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<ProjectView>>, ApiError> {
    let owner = if caller.is_admin() { None } else { Some(caller.id()) };
    let projects = state.auth.store().list_projects(owner).await?;
    Ok(Json(projects.iter().map(ProjectView::from).collect()))
}

/// Returns a project.
#[utoipa::path(get, path = "/api/v1/projects/{id}", tag = "projects", params(("id" = Uuid, Path)),
    responses((status = 200, body = ProjectView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_project(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ProjectView>, ApiError> {
    let project = visible_project(&state, &caller, parse_id(&id, "id")?).await?;
    Ok(Json(ProjectView::from(&project)))
}

/// Renames a project or changes its description.
#[utoipa::path(patch, path = "/api/v1/projects/{id}", tag = "projects", params(("id" = Uuid, Path)),
    request_body = ProjectPatch,
    responses((status = 200, body = ProjectView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_project(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<ProjectPatch>,
) -> Result<Json<ProjectView>, ApiError> {
    let project = visible_project(&state, &caller, parse_id(&id, "id")?).await?;
    let name = patch.name.as_deref().map(check_name).transpose()?;
    let updated = state
        .auth
        .store()
        .update_project(project.id, name, patch.description.as_deref())
        .await
        .map_err(name_taken)?
        .ok_or_else(|| ApiError::not_found("project"))?;
    Ok(Json(ProjectView::from(&updated)))
}

/// Deletes a project; its executions stay, without a project.
#[utoipa::path(delete, path = "/api/v1/projects/{id}", tag = "projects", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_project(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let project = visible_project(&state, &caller, parse_id(&id, "id")?).await?;
    state.auth.store().delete_project(project.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
