//! The one error format of the API: `{"error": {"code", "message", "details", "timestamp"}}`.

use axum::Json;
use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use troupe_runtime::RuntimeError;
use troupe_runtime::store::StoreError;
use utoipa::ToSchema;

use crate::auth::AuthError;

/// An error as the API answers it.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable `snake_case` code.
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// Structured details (`null` when none; boxed to keep `Result<_, ApiError>` small).
    pub details: Box<Value>,
    /// Seconds to wait before retrying (429, 503).
    pub retry_after: Option<u64>,
}

/// The body of every error response (for the OpenAPI document).
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorFields,
}

/// The fields of an error.
#[derive(Serialize, ToSchema)]
pub struct ErrorFields {
    /// A stable `snake_case` code, e.g. `validation_failed`, `not_found`, `rate_limited`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// Structured details: for validation errors `{"fields": [{"field", "message"}]}`.
    #[schema(value_type = Object)]
    pub details: Value,
    /// When (RFC 3339).
    pub timestamp: String,
}

impl ApiError {
    /// Builds an error without details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: Box::new(Value::Null), retry_after: None }
    }

    /// Adds details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Box::new(details);
        self
    }

    /// Replaces the code.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    /// A 400 `validation_failed` naming each bad field.
    pub fn invalid_fields(fields: impl IntoIterator<Item = (String, String)>) -> Self {
        let fields: Vec<Value> =
            fields.into_iter().map(|(field, message)| json!({ "field": field, "message": message })).collect();
        let message = match fields.as_slice() {
            [one] => format!("{}: {}", one["field"].as_str().unwrap_or(""), one["message"].as_str().unwrap_or("")),
            many => format!("{} fields are invalid", many.len()),
        };
        Self::new(StatusCode::BAD_REQUEST, "validation_failed", message).with_details(json!({ "fields": fields }))
    }

    /// A 400 `validation_failed` for one field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid_fields([(field.into(), message.into())])
    }

    /// A 404 that says the same whether the resource does not exist or belongs to someone else.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    /// A 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// A 403.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// A 409.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// A 500 whose cause is logged, not shown.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the server log")
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "store unavailable");
                let mut error =
                    Self::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "the store does not answer; retry");
                error.retry_after = Some(1);
                error
            }
            StoreError::Conflict(cause) => Self::conflict("conflict", cause),
            StoreError::Corrupt(cause) => Self::internal(format!("corrupt record: {cause}")),
        }
    }
}

impl From<RuntimeError> for ApiError {
    fn from(error: RuntimeError) -> Self {
        match error {
            RuntimeError::Store(error) => error.into(),
            RuntimeError::Pipeline(error) => pipeline_error(&error),
            RuntimeError::NotFound(_) => Self::not_found("execution"),
            RuntimeError::AlreadyFinished { status, .. } => {
                Self::conflict("already_finished", format!("the execution already {status}"))
            }
            RuntimeError::NotRetryable { status, .. } => Self::conflict(
                "not_retryable",
                format!("the execution is {status}; only a failed execution can be retried"),
            ),
            RuntimeError::UnknownAgent(kind) => Self::not_found(&format!("agent `{kind}`")),
            RuntimeError::Unavailable(cause) => {
                let mut error = Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", cause);
                error.retry_after = Some(1);
                error
            }
            RuntimeError::AgentExists(kind) => {
                Self::conflict("agent_exists", format!("an agent kind `{kind}` is already registered"))
            }
            RuntimeError::Start(cause) => Self::internal(cause),
        }
    }
}

impl From<troupe_runtime::memory::MemoryError> for ApiError {
    fn from(error: troupe_runtime::memory::MemoryError) -> Self {
        use troupe_runtime::embed::EmbedError;
        use troupe_runtime::memory::MemoryError;
        match error {
            MemoryError::Invalid { field, message } => Self::invalid_field(field, message),
            MemoryError::Store(error) => error.into(),
            MemoryError::Unavailable(cause) | MemoryError::Embed(EmbedError::Provider(cause)) => {
                tracing::warn!(%cause, "memory backend unavailable");
                let mut error = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "memory_unavailable",
                    "the memory store or the embedder does not answer; retry",
                );
                error.retry_after = Some(1);
                error
            }
            MemoryError::Embed(EmbedError::Input(message)) => Self::invalid_field("text", message),
            MemoryError::Embed(error @ EmbedError::Dimension { .. }) => Self::internal(error),
            MemoryError::Sealed { id, message } => {
                tracing::error!(memory_id = %id, %message, "a memory cannot be decrypted");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "memory_unreadable",
                    format!("memory {id} cannot be decrypted: it was altered, or its key is no longer configured"),
                )
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::InvalidCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_credentials", error.to_string())
            }
            AuthError::Disabled => Self::forbidden("account_disabled", error.to_string()),
            AuthError::Unauthenticated(message) => Self::unauthorized(message),
            AuthError::RefreshReused => Self::new(StatusCode::UNAUTHORIZED, "refresh_token_reused", error.to_string()),
            AuthError::EmailTaken => Self::conflict("email_taken", error.to_string()),
            AuthError::Store(error) => error.into(),
            AuthError::Internal(cause) => Self::internal(cause),
        }
    }
}

/// A pipeline that does not check: every problem, each naming its step and field.
pub fn pipeline_error(error: &troupe_runtime::pipeline::PipelineError) -> ApiError {
    let fields: Vec<Value> = error
        .issues
        .iter()
        .map(|issue| json!({ "step": issue.step, "field": issue.field, "message": issue.message }))
        .collect();
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_pipeline", error.to_string())
        .with_details(json!({ "fields": fields }))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "details": *self.details,
                "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            }
        });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no route for `{}`", uri.path()))
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("`{method}` is not allowed on `{}`", uri.path()),
    )
}
