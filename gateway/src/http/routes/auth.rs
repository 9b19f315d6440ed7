//! `/api/v1/auth`: register, login, refresh, logout, me, password.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use troupe_runtime::ErrorCode;
use troupe_runtime::accounts::Role;
use utoipa::ToSchema;

use crate::auth::{Caller, ClientInfo, Issued};
use crate::http::extract::{ApiJson, parse_json};
use crate::http::views::{TokenView, UserView};
use crate::http::{ApiError, AppState, ErrorBody};

/// A new account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub email: String,
    /// At least 8 characters.
    pub password: String,
    pub name: Option<String>,
}

/// Credentials.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// A refresh token to rotate or revoke.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Logout: revokes the login of `refresh_token`, or of the access token when absent.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    pub refresh_token: Option<String>,
}

/// A password change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// Checks an email and a password; returns every problem.
pub fn check_credentials(email: &str, password: &str, password_field: &str) -> Result<(), ApiError> {
    Ok(crate::services::accounts::check_credentials_named(email, password, password_field)?)
}

fn token_view(issued: Issued) -> Json<TokenView> {
    Json(TokenView {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        refresh_token: issued.refresh_token,
        user: UserView::from(&issued.user),
    })
}

/// Creates an account. The first account of an installation becomes `admin`.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    check_credentials(&request.email, &request.password, "password")?;
    if !state.settings.allow_registration && !state.auth.store().list_users(None, 1).await?.is_empty() {
        return Err(ApiError::new(
            ErrorCode::RegistrationClosed,
            "registration is closed; ask an admin for an account",
        ));
    }
    let user = state.auth.create_user(&request.email, &request.password, request.name, Role::User).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

/// Logs in: an access token (15 min) and a refresh token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenView), (status = 401, body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<TokenView>, ApiError> {
    Ok(token_view(state.auth.login(&request.email, &request.password, &client).await?))
}

/// Rotates a refresh token. Reusing an old one revokes every session of its login.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenView), (status = 401, body = ErrorBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> Result<Json<TokenView>, ApiError> {
    Ok(token_view(state.auth.refresh(&request.refresh_token, &client).await?))
}

/// Revokes a login (every refresh token of its family).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = LogoutRequest,
    responses((status = 204), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let request: LogoutRequest = if body.is_empty() { LogoutRequest::default() } else { parse_json(&body)? };
    state.auth.logout(&caller, request.refresh_token.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn me(caller: Caller) -> Json<UserView> {
    Json(UserView::from(&caller.user))
}

/// Changes the caller's password and revokes their other logins.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<PasswordRequest>,
) -> Result<StatusCode, ApiError> {
    check_credentials(&caller.user.email, &request.new_password, "new_password")?;
    state.auth.change_password(&caller, &request.current_password, &request.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}
