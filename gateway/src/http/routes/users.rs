//! `/api/v1/users` (admin) and `/api/v1/api-keys` (the caller's keys).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use troupe_runtime::ErrorCode;
use troupe_runtime::accounts::{Role, UserUpdate};
use troupe_runtime::ids::UserId;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::http::extract::{ApiJson, ApiQuery, parse_id};
use crate::http::schemas::{Budget, RoleName};
use crate::http::views::{ApiKeyView, ProfileView, UserView};
use crate::http::{ApiError, AppState, ErrorBody};
use crate::services::deletion::DeletionReport;

fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_admin() { Ok(()) } else { Err(ApiError::new(ErrorCode::Forbidden, "this needs the admin role")) }
}

/// Paging of the user list.
#[derive(Deserialize, serde::Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// The last id of the previous page.
    pub cursor: Option<Uuid>,
    /// At most this many (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// Changes to a user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// The new role.
    #[schema(value_type = Option<RoleName>)]
    pub role: Option<String>,
    /// Disabling revokes every session; the user's tokens stop working at once.
    pub disabled: Option<bool>,
    /// The default budget of the user's executions (`{"max_tokens", "max_cost_usd"}`), or
    /// `null` to fall back to the server's.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Budget>)]
    pub budget: Option<Value>,
}

/// Keeps an explicit `null` as `Some(Value::Null)` (clear) apart from an absent field (`None`).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    use serde::Deserialize;
    Value::deserialize(deserializer).map(Some)
}

/// A user an admin creates (invites).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 8 to 1024 characters; the user changes it after logging in.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
    pub name: Option<String>,
    /// The role (default `user`).
    #[schema(value_type = Option<RoleName>)]
    pub role: Option<String>,
}

/// Changes to the caller's own account; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    /// The display name (at most 200 characters), or `null` to clear it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub name: Option<Value>,
    /// A new email address: a code is mailed to it, and it replaces the current one once
    /// that code is used (`POST /auth/verify`). The current address is told.
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    /// The user's own settings for clients: a JSON object of at most 16 KiB, replaced whole.
    #[schema(value_type = Option<Object>)]
    pub preferences: Option<Value>,
    /// The user's own model provider key and model, used for their executions instead of the
    /// server's; `null` removes it. The key is sealed at rest and never shown again.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<OwnModelPatch>)]
    pub llm: Option<Value>,
}

/// A user's own model provider key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnModelPatch {
    /// The provider key (8 to 512 visible characters).
    #[schema(min_length = 8, max_length = 512)]
    pub api_key: String,
    /// The model (at most 200 characters; the server's default when absent).
    #[schema(max_length = 200)]
    pub model: Option<String>,
}

/// Largest `preferences` object, serialised.
const MAX_PREFERENCES: usize = 16 * 1024;

/// The caller's account, with their pending email, preferences and own model key (its last
/// four characters).
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users",
    responses((status = 200, body = ProfileView), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_me(State(state): State<AppState>, caller: Caller) -> Result<Json<ProfileView>, ApiError> {
    let user = state.auth.store().get_user(caller.id()).await?.ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Json(ProfileView::from(&user)))
}

/// Changes the caller's display name, email (after verification), preferences or own model
/// provider key.
#[utoipa::path(patch, path = "/api/v1/users/me", tag = "users", request_body = ProfilePatch,
    responses((status = 200, body = ProfileView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody,
            description = "The email is another account's (`email_taken`), or this server has no model provider for a key (`conflict`)"),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody,
            description = "An email change needs mail, which this server does not send (`mail_unavailable`)")),
    security(("bearer" = [])))]
pub async fn update_me(
    State(state): State<AppState>,
    caller: Caller,
    client: crate::auth::ClientInfo,
    ApiJson(patch): ApiJson<ProfilePatch>,
) -> Result<Json<ProfileView>, ApiError> {
    let mut update = UserUpdate::default();
    let mut problems = Vec::new();
    match &patch.name {
        None => {}
        Some(Value::Null) => update.name = Some(None),
        Some(Value::String(name)) if name.chars().count() <= 200 => {
            update.name = Some(Some(name.trim().to_owned()).filter(|name| !name.is_empty()));
        }
        Some(_) => problems.push(("name".to_owned(), "must be a string of at most 200 characters, or null".to_owned())),
    }
    if let Some(preferences) = &patch.preferences {
        if !preferences.is_object() || preferences.to_string().len() > MAX_PREFERENCES {
            problems.push(("preferences".to_owned(), "must be a JSON object of at most 16 KiB".to_owned()));
        }
        update.preferences = Some(preferences.clone());
    }
    let new_email = match &patch.email {
        Some(email) if !crate::services::accounts::valid_email(email) => {
            problems.push(("email".to_owned(), "must be an email address".to_owned()));
            None
        }
        Some(email) => Some(crate::auth::normalize_email(email)),
        None => None,
    };
    match &patch.llm {
        None => {}
        Some(Value::Null) => update.llm = Some(None),
        Some(value) => match serde_json::from_value::<OwnModelPatch>(value.clone()) {
            Ok(own) => {
                let key_ok = (8..=512).contains(&own.api_key.chars().count())
                    && own.api_key.chars().all(|c| c.is_ascii_graphic());
                let model_ok = own.model.as_ref().is_none_or(|model| (1..=200).contains(&model.chars().count()));
                if !key_ok {
                    problems.push(("llm.api_key".to_owned(), "must be 8 to 512 visible ASCII characters".to_owned()));
                }
                if !model_ok {
                    problems.push(("llm.model".to_owned(), "must be 1 to 200 characters".to_owned()));
                }
                if key_ok && model_ok {
                    if !state.own_models.accepts_keys() {
                        return Err(ApiError::new(
                            ErrorCode::Conflict,
                            "this server runs the offline provider: there is no model provider to use a key with",
                        ));
                    }
                    update.llm = Some(Some(state.own_models.seal(caller.id(), &own.api_key, own.model)));
                }
            }
            Err(error) => {
                problems.push(("llm".to_owned(), format!("must be {{\"api_key\", \"model\"?}} or null: {error}")))
            }
        },
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid_fields(problems));
    }
    if let Some(email) = &new_email {
        if *email == caller.user.email {
            update.pending_email = Some(None);
        } else {
            if !state.auth.sends_mail() {
                return Err(crate::auth::AuthError::MailOff.into());
            }
            if state.auth.store().get_user_by_email(email).await?.is_some() {
                return Err(crate::auth::AuthError::EmailTaken.into());
            }
            state.auth.send_verification(&caller.user, email, &client).await?;
            state.auth.mail_change_notice(&caller.user.email, email);
            update.pending_email = Some(Some(email.clone()));
        }
    }
    let user =
        state.auth.store().update_user(caller.id(), &update).await?.ok_or_else(|| ApiError::not_found("user"))?;
    state.auth.user_changed(user.id);
    if patch.llm.is_some() {
        let action = if user.llm.is_some() { "own_model_key_set" } else { "own_model_key_removed" };
        state.auth.audit(Some(user.id), action, Some(user.id.to_string()), client.ip.clone(), json!({})).await;
    }
    Ok(Json(ProfileView::from(&user)))
}

/// The password that confirms deleting one's own account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccount {
    pub password: String,
}

/// Deletes the caller's account and everything it owns: live executions are cancelled, then
/// executions (steps, attempts, events, logs, artifacts), pipelines, projects, uploaded files,
/// memories (records and vectors), research consent and pending observations, sessions, API
/// keys and the execution workspaces go. The audit log keeps only the deletion, with the bare
/// id. The last admin cannot be deleted.
#[utoipa::path(delete, path = "/api/v1/users/me", tag = "users", request_body = DeleteAccount,
    responses((status = 200, body = DeletionReport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The last admin (`conflict`)"),
        (status = 503, body = ErrorBody, description = "An execution is still stopping: try again")),
    security(("bearer" = [])))]
pub async fn delete_me(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<DeleteAccount>,
) -> Result<Json<DeletionReport>, ApiError> {
    if caller.api_key.is_some() {
        return Err(ApiError::new(ErrorCode::Forbidden, "an API key cannot delete its account; sign in"));
    }
    if !state.auth.check_password(&caller.user, &request.password).await? {
        return Err(ApiError::new(ErrorCode::InvalidCredentials, "the password is wrong"));
    }
    Ok(Json(state.deletion().delete(caller.id(), caller.id()).await?))
}

/// Deletes a user and everything they own (admin); see `DELETE /users/me`.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, body = DeletionReport), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The last admin (`conflict`)"),
        (status = 503, body = ErrorBody, description = "An execution is still stopping: try again")),
    security(("bearer" = [])))]
pub async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DeletionReport>, ApiError> {
    require_admin(&caller)?;
    let id: UserId = parse_id(&id, "id")?;
    Ok(Json(state.deletion().delete(id, caller.id()).await?))
}

/// An export of everything the caller owns.
#[derive(serde::Serialize, ToSchema)]
pub struct ExportView {
    pub id: Uuid,
    /// `preparing`, `ready` or `failed`.
    pub status: String,
    /// The archive's size in bytes, once ready.
    pub size: u64,
    /// Why it failed.
    pub error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it stops being downloadable.
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// Where to download the archive once ready.
    pub archive_url: String,
}

impl From<&troupe_runtime::accounts::ExportRecord> for ExportView {
    fn from(record: &troupe_runtime::accounts::ExportRecord) -> Self {
        Self {
            id: record.id,
            status: record.status.clone(),
            size: record.size,
            error: record.error.clone(),
            created_at: record.created_at,
            expires_at: record.expires_at,
            archive_url: format!("/api/v1/users/me/exports/{}/archive", record.id),
        }
    }
}

/// Starts preparing one archive (`.tar.gz`) of everything the caller owns: account, projects,
/// pipelines, executions with steps, attempts, events, logs and artifacts, uploaded files,
/// memories (decrypted), consent history and usage, with a `manifest.json` (each entry's path,
/// size and SHA-256). Poll `GET /users/me/exports/{id}` until `ready`; the archive is sealed at
/// rest and can be downloaded for a day.
#[utoipa::path(post, path = "/api/v1/users/me/export", tag = "users",
    responses((status = 202, body = ExportView), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn start_export(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<(StatusCode, Json<ExportView>), ApiError> {
    let record = state.exports().start(caller.id()).await?;
    state.auth.audit(Some(caller.id()), "export_requested", Some(record.id.to_string()), None, json!({})).await;
    Ok((StatusCode::ACCEPTED, Json(ExportView::from(&record))))
}

/// One of the caller's exports (404 once it expired).
#[utoipa::path(get, path = "/api/v1/users/me/exports/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, body = ExportView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_export(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ExportView>, ApiError> {
    let id: Uuid = parse_id(&id, "id")?;
    let record = state.exports().get(caller.id(), id).await?.ok_or_else(|| ApiError::not_found("export"))?;
    Ok(Json(ExportView::from(&record)))
}

/// Downloads a ready export's archive (`application/gzip`, a tar).
#[utoipa::path(get, path = "/api/v1/users/me/exports/{id}/archive", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The archive (`application/gzip`, a tar)"), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Not ready yet, or failed (`conflict`)")),
    security(("bearer" = [])))]
pub async fn download_export(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let id: Uuid = parse_id(&id, "id")?;
    let exports = state.exports();
    let record = exports.get(caller.id(), id).await?.ok_or_else(|| ApiError::not_found("export"))?;
    let archive = exports.open(&record)?;
    let disposition = format!("attachment; filename=\"troupe-export-{id}.tar.gz\"");
    Ok(([("content-type", "application/gzip".to_owned()), ("content-disposition", disposition)], archive)
        .into_response())
}

/// Creates a user (admin): the way in when registration is closed.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    client: crate::auth::ClientInfo,
    ApiJson(request): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    require_admin(&caller)?;
    crate::http::routes::auth::check_credentials(&request.email, &request.password, "password")?;
    let role = match &request.role {
        Some(role) => role.parse::<Role>().map_err(|error| ApiError::invalid_field("role", error))?,
        None => Role::User,
    };
    let user = state.auth.create_user(&request.email, &request.password, request.name, role, false, false).await?;
    crate::http::routes::auth::mail_verification(&state, &user, &client).await;
    state
        .auth
        .audit(Some(caller.id()), "user_invited", Some(user.id.to_string()), None, json!({ "role": role.as_str() }))
        .await;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

/// Lists users (admin).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserListQuery),
    responses((status = 200, body = Vec<UserView>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<UserListQuery>,
) -> Result<Json<Vec<UserView>>, ApiError> {
    require_admin(&caller)?;
    let limit = query.limit.unwrap_or(50);
    let users = state.auth.store().list_users(query.cursor.map(UserId), limit).await?;
    Ok(Json(users.iter().map(UserView::from).collect()))
}

/// Returns a user (admin, or the user themself).
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let id: UserId = parse_id(&id, "id")?;
    if !caller.is_admin() && caller.id() != id {
        return Err(ApiError::not_found("user"));
    }
    let user = state.auth.store().get_user(id).await?.ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Json(UserView::from(&user)))
}

/// Changes a user's role or disables them (admin).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)), request_body = UserPatch,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "An admin may not demote or disable themself (`self_demotion`)")),
    security(("bearer" = [])))]
pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> Result<Json<UserView>, ApiError> {
    require_admin(&caller)?;
    let id: UserId = parse_id(&id, "id")?;
    let role =
        patch.role.as_deref().map(str::parse::<Role>).transpose().map_err(|e| ApiError::invalid_field("role", e))?;
    if id == caller.id() && (role.is_some_and(|role| role != Role::Admin) || patch.disabled == Some(true)) {
        return Err(ApiError::new(ErrorCode::SelfDemotion, "an admin cannot demote or disable themself"));
    }
    let budget = match &patch.budget {
        None => None,
        Some(Value::Null) => Some(None),
        Some(value) => Some(Some(crate::http::routes::executions::parse_budget(value.clone())?)),
    };
    let update = UserUpdate { role, disabled: patch.disabled, budget: budget.clone(), ..UserUpdate::default() };
    let user = state.auth.store().update_user(id, &update).await?.ok_or_else(|| ApiError::not_found("user"))?;
    if patch.disabled == Some(true) {
        state.auth.store().revoke_user_sessions(id, None).await?;
    }
    state.auth.user_changed(id);
    state
        .auth
        .audit(
            Some(caller.id()),
            "user_updated",
            Some(id.to_string()),
            None,
            json!({ "role": role.map(Role::as_str), "disabled": patch.disabled, "budget": patch.budget }),
        )
        .await;
    Ok(Json(UserView::from(&user)))
}

/// How much of the audit log to return.
#[derive(Deserialize, serde::Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// At most this many, newest first (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// One entry of the audit log.
#[derive(serde::Serialize, ToSchema)]
pub struct AuditView {
    pub id: Uuid,
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor: Option<Uuid>,
    /// `login`, `login_failed`, `refresh_reuse`, `user_updated`, `api_key_created`, …
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    /// What the action concerned (any JSON).
    pub details: serde_json::Value,
}

/// Returns the audit log of security-relevant actions, newest first (admin).
#[utoipa::path(get, path = "/api/v1/audit", tag = "users", params(AuditQuery),
    responses((status = 200, body = Vec<AuditView>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<Vec<AuditView>>, ApiError> {
    require_admin(&caller)?;
    let records = state.auth.store().list_audit(query.limit.unwrap_or(100)).await?;
    let views = records
        .into_iter()
        .map(|record| AuditView {
            id: record.id,
            at: record.at,
            actor: record.actor.map(|actor| actor.0),
            action: record.action,
            target: record.target,
            ip: record.ip,
            details: record.details,
        })
        .collect();
    Ok(Json(views))
}

/// A new API key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRequest {
    /// A name to recognise it by (1–100 characters).
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// A read-only key may only call GET endpoints.
    #[serde(default)]
    pub read_only: bool,
}

/// Creates an API key; the key is in the answer and nowhere else, ever.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", request_body = ApiKeyRequest,
    responses((status = 201, body = ApiKeyView), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create_api_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<ApiKeyRequest>,
) -> Result<(StatusCode, Json<ApiKeyView>), ApiError> {
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid_field("name", "must be 1 to 100 characters"));
    }
    if caller.api_key.is_some() {
        return Err(ApiError::new(ErrorCode::Forbidden, "an API key cannot create API keys; log in"));
    }
    let (record, key) = state.auth.create_api_key(&caller, name.to_owned(), request.read_only).await?;
    let mut view = ApiKeyView::from(&record);
    view.key = Some(key);
    Ok((StatusCode::CREATED, Json(view)))
}

/// Lists the caller's API keys.
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys",
    responses((status = 200, body = Vec<ApiKeyView>)), security(("bearer" = [])))]
pub async fn list_api_keys(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<ApiKeyView>>, ApiError> {
    let keys = state.auth.store().list_api_keys(caller.id()).await?;
    Ok(Json(keys.iter().map(ApiKeyView::from).collect()))
}

/// Revokes one of the caller's API keys.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api-keys", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: Uuid = parse_id(&id, "id")?;
    if !state.auth.store().revoke_api_key(caller.id(), id).await? {
        return Err(ApiError::not_found("API key"));
    }
    state.auth.user_changed(caller.id());
    state.auth.audit(Some(caller.id()), "api_key_revoked", Some(id.to_string()), None, serde_json::Value::Null).await;
    Ok(StatusCode::NO_CONTENT)
}
