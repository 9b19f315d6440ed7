//! `/api/v1/auth`: register, setup, login, refresh, logout, me, password, sessions, email
//! verification and password reset.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use troupe_runtime::ErrorCode;
use troupe_runtime::accounts::Role;
use utoipa::ToSchema;

use crate::auth::{Caller, ClientInfo, Issued};
use crate::http::extract::{ApiJson, parse_body};
use crate::http::views::{SessionView, TokenView, UserView};
use crate::http::{ApiError, AppState, ErrorBody};

/// A new account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 8 to 1024 characters.
    #[schema(min_length = 8, max_length = 1024)]
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
    /// 8 to 1024 characters.
    #[schema(min_length = 8, max_length = 1024)]
    pub new_password: String,
    /// Whether the caller's API keys stop working too (default true).
    #[serde(default = "yes")]
    pub revoke_api_keys: bool,
}

fn yes() -> bool {
    true
}

/// The first admin, created with the one-time setup token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The token `troupe serve` wrote into its data dir (`setup-token`) on first start.
    #[schema(min_length = 1)]
    pub setup_token: String,
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 8 to 1024 characters.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
    pub name: Option<String>,
}

/// A mailed verification code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    #[schema(min_length = 1, max_length = 256)]
    pub token: String,
}

/// Asks for a password-reset mail.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    #[schema(max_length = 254)]
    pub email: String,
}

/// Sets a new password with a mailed reset code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmRequest {
    #[schema(min_length = 1, max_length = 256)]
    pub token: String,
    /// 8 to 1024 characters.
    #[schema(min_length = 8, max_length = 1024)]
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

/// Creates an account with the `user` role, where registration is open (by default in
/// development, never by default in production). The first admin comes from `troupe admin
/// create-user` or `POST /api/v1/auth/setup`, never from here.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    check_credentials(&request.email, &request.password, "password")?;
    if !state.settings.allow_registration {
        return Err(ApiError::new(
            ErrorCode::RegistrationClosed,
            "registration is closed; ask an admin for an account",
        ));
    }
    let user =
        state.auth.create_user(&request.email, &request.password, request.name, Role::User, false, false).await?;
    mail_verification(&state, &user, &client).await;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

/// Mails a new account its verification code, where this server sends mail.
pub(crate) async fn mail_verification(
    state: &AppState,
    user: &troupe_runtime::accounts::UserRecord,
    client: &ClientInfo,
) {
    if state.auth.sends_mail()
        && let Err(error) = state.auth.send_verification(user, &user.email, client).await
    {
        tracing::warn!(%error, user = %user.id, "cannot mail a verification code");
    }
}

/// Verifies the caller's email address with the code mailed to it (no login needed: the code
/// is the proof). Each code works once, for 48 hours.
#[utoipa::path(post, path = "/api/v1/auth/verify", tag = "auth", request_body = VerifyRequest,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody,
        description = "The code is unknown, used or expired (`invalid_token`)")))]
pub async fn verify(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<VerifyRequest>,
) -> Result<Json<UserView>, ApiError> {
    let user = state.auth.verify_email(&request.token).await?;
    Ok(Json(UserView::from(&user)))
}

/// Mails the caller a new verification code (rate-limited per address and per client). Earlier
/// codes keep working until one is used.
#[utoipa::path(post, path = "/api/v1/auth/verify/resend", tag = "auth",
    responses((status = 202, description = "A code is on its way"),
        (status = 409, body = ErrorBody, description = "The address is verified already (`conflict`)"),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody,
        description = "This server sends no mail (`mail_unavailable`)")),
    security(("bearer" = [])))]
pub async fn resend_verification(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
) -> Result<StatusCode, ApiError> {
    if caller.user.email_verified_at.is_some() {
        return Err(ApiError::new(ErrorCode::Conflict, "the email address is verified already"));
    }
    state.auth.send_verification(&caller.user, &caller.user.email, &client).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Asks for a password-reset code by mail. The answer is the same whether or not the address
/// has an account; requests are rate-limited per address and per client.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = ResetRequest,
    responses((status = 202, description = "If the address has an account, a code is on its way"),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody,
        description = "This server sends no mail (`mail_unavailable`)")))]
pub async fn request_password_reset(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(request): ApiJson<ResetRequest>,
) -> Result<StatusCode, ApiError> {
    if request.email.len() > 254 {
        return Err(ApiError::invalid_field("email", "at most 254 characters"));
    }
    state.auth.request_reset(&request.email, &client).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Sets a new password with a mailed reset code. Every session and API key of the account
/// stops working; the code works once, for an hour.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", request_body = ResetConfirmRequest,
    responses((status = 204), (status = 400, body = ErrorBody,
        description = "The code is unknown, used or expired (`invalid_token`), or the password is too short")))]
pub async fn confirm_password_reset(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ResetConfirmRequest>,
) -> Result<StatusCode, ApiError> {
    let length = request.new_password.chars().count();
    if !(crate::auth::MIN_PASSWORD_LEN..=crate::auth::MAX_PASSWORD_LEN).contains(&length) {
        return Err(ApiError::invalid_field("new_password", "8 to 1024 characters"));
    }
    state.auth.reset_password(&request.token, &request.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Creates the first admin with the one-time setup token that `troupe serve` wrote into its
/// data dir on first start (the path is printed, never the token). It works once.
#[utoipa::path(post, path = "/api/v1/auth/setup", tag = "auth", request_body = SetupRequest,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn setup(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<SetupRequest>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    check_credentials(&request.email, &request.password, "password")?;
    let user = state.auth.setup(&request.setup_token, &request.email, &request.password, request.name).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

/// Logs in: an access token (15 min) and a refresh token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "The account is disabled (`account_disabled`)")))]
pub async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<TokenView>, ApiError> {
    Ok(token_view(state.auth.login(&request.email, &request.password, &client).await?))
}

/// Rotates a refresh token. Reusing an old one revokes every session of its login.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "The account is disabled (`account_disabled`)")))]
pub async fn refresh(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> Result<Json<TokenView>, ApiError> {
    Ok(token_view(state.auth.refresh(&request.refresh_token, &client).await?))
}

/// Revokes a login (every refresh token of its family).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body(content = Option<LogoutRequest>,
        description = "Optional: without a body, the access token's own login ends"),
    responses((status = 204), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let request: LogoutRequest = if body.is_empty() { LogoutRequest::default() } else { parse_body(&body)? };
    state.auth.logout(&caller, request.refresh_token.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn me(caller: Caller) -> Json<UserView> {
    Json(UserView::from(&caller.user))
}

/// Changes the caller's password and revokes their other logins and (unless
/// `revoke_api_keys` is false) their API keys.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<PasswordRequest>,
) -> Result<StatusCode, ApiError> {
    check_credentials(&caller.user.email, &request.new_password, "new_password")?;
    state
        .auth
        .change_password(&caller, &request.current_password, &request.new_password, request.revoke_api_keys)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's active logins (device, address, when it logged in and was last used).
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth",
    responses((status = 200, body = Vec<SessionView>), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_sessions(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<SessionView>>, ApiError> {
    Ok(Json(state.auth.logins(&caller).await?.iter().map(SessionView::from).collect()))
}

/// Ends one of the caller's logins: its refresh and access tokens stop working (on every node
/// within a second).
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "auth", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn end_session(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: uuid::Uuid = crate::http::extract::parse_id(&id, "id")?;
    if !state.auth.end_login(&caller, id).await? {
        return Err(ApiError::not_found("session"));
    }
    Ok(StatusCode::NO_CONTENT)
}
