//! The one error format of the API: `{"error": {"code", "message", "details", "timestamp"}}`.

use axum::Json;
use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use troupe_runtime::store::StoreError;
use troupe_runtime::{ErrorCode, RuntimeError};
use utoipa::ToSchema;

use crate::auth::AuthError;

/// An error as the API answers it.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable code (its `snake_case` spelling is what clients see).
    pub code: ErrorCode,
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
    /// Structured details, `null` when there are none; for validation errors
    /// `{"fields": [{"field", "message"}]}`, for invalid pipelines each field also names its
    /// `step`.
    pub details: Value,
    /// When (RFC 3339).
    #[schema(format = DateTime)]
    pub timestamp: String,
}

/// The HTTP status each error code answers with: the one place codes meet statuses.
pub fn status_of(code: ErrorCode) -> StatusCode {
    use ErrorCode::*;
    match code {
        ValidationFailed | InvalidManifest | BadBody | MalformedJson | WebsocketRequired | InvalidToken => {
            StatusCode::BAD_REQUEST
        }
        Unauthorized | InvalidCredentials | RefreshTokenReused => StatusCode::UNAUTHORIZED,
        Forbidden | AccountDisabled | ReadOnlyKey | RegistrationClosed | NotPermitted | SetupRefused
        | EmailUnverified => StatusCode::FORBIDDEN,
        NotFound => StatusCode::NOT_FOUND,
        MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Conflict
        | AlreadyFinished
        | NotRetryable
        | AgentExists
        | EmailTaken
        | NameTaken
        | SelfDemotion
        | PrivacyBudgetExhausted
        | ExperimentExists
        | NotWaiting
        | AlreadyDecided => StatusCode::CONFLICT,
        PayloadTooLarge | QuotaExceeded => StatusCode::PAYLOAD_TOO_LARGE,
        UnsupportedMediaType | UnsupportedFileType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        InvalidPipeline | PipelineInvalid | InvalidPlan => StatusCode::UNPROCESSABLE_ENTITY,
        RateLimited => StatusCode::TOO_MANY_REQUESTS,
        Timeout | StoreUnavailable | MemoryUnavailable | Restarting | Unavailable | SandboxUnavailable
        | AgentUnavailable | AgentQuarantined | MailUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        // The rest describe steps and executions; they never answer a request themselves.
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    /// Builds an error without details; its status follows from its code.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status: status_of(code),
            code,
            message: message.into(),
            details: Box::new(Value::Null),
            retry_after: None,
        }
    }

    /// Adds details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Box::new(details);
        self
    }

    /// Replaces the code (and so the status).
    pub fn with_code(mut self, code: ErrorCode) -> Self {
        self.code = code;
        self.status = status_of(code);
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
        Self::new(ErrorCode::ValidationFailed, message).with_details(json!({ "fields": fields }))
    }

    /// A 400 `validation_failed` for one field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid_fields([(field.into(), message.into())])
    }

    /// A 404 that says the same whether the resource does not exist or belongs to someone else.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// A 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    /// A 500 whose cause is logged, not shown.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        Self::new(ErrorCode::Internal, "internal error; see the server log")
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "store unavailable");
                let mut error = Self::new(ErrorCode::StoreUnavailable, "the store does not answer; retry");
                error.retry_after = Some(1);
                error
            }
            StoreError::Conflict(cause) => Self::new(ErrorCode::Conflict, cause),
            StoreError::Corrupt(cause) => Self::internal(format!("corrupt record: {cause}")),
        }
    }
}

impl From<crate::services::ServiceError> for ApiError {
    fn from(error: crate::services::ServiceError) -> Self {
        use crate::services::ServiceError;
        match error {
            ServiceError::InvalidFields(fields) => Self::invalid_fields(fields),
            ServiceError::Pipeline(error) => pipeline_error(&error),
            ServiceError::NotFound(what) => Self::not_found(&what),
            ServiceError::Store(error) => error.into(),
            ServiceError::Runtime(error) => error.into(),
            ServiceError::Conflict(message) => Self::new(ErrorCode::Conflict, message),
            ServiceError::Unavailable(message) => Self::new(ErrorCode::Unavailable, message),
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
                Self::new(ErrorCode::AlreadyFinished, format!("the execution already {status}"))
            }
            RuntimeError::NotRetryable { status, .. } => Self::new(
                ErrorCode::NotRetryable,
                format!("the execution is {status}; only a failed execution can be retried"),
            ),
            RuntimeError::NotWaiting { step, .. } => {
                Self::new(ErrorCode::NotWaiting, format!("step `{step}` is not waiting for a decision"))
                    .with_details(json!({ "step": step }))
            }
            RuntimeError::UnknownAgent(kind) => Self::not_found(&format!("agent `{kind}`")),
            RuntimeError::Unavailable(cause) => {
                let mut error = Self::new(ErrorCode::Unavailable, cause);
                error.retry_after = Some(1);
                error
            }
            RuntimeError::AgentExists(kind) => {
                Self::new(ErrorCode::AgentExists, format!("an agent kind `{kind}` is already registered"))
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
                let mut error =
                    Self::new(ErrorCode::MemoryUnavailable, "the memory store or the embedder does not answer; retry");
                error.retry_after = Some(1);
                error
            }
            MemoryError::Embed(EmbedError::Input(message)) => Self::invalid_field("text", message),
            MemoryError::Embed(error @ EmbedError::Dimension { .. }) => Self::internal(error),
            MemoryError::Sealed { id, message } => {
                tracing::error!(memory_id = %id, %message, "a memory cannot be decrypted");
                Self::new(
                    ErrorCode::MemoryUnreadable,
                    format!("memory {id} cannot be decrypted: it was altered, or its key is no longer configured"),
                )
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::InvalidCredentials => Self::new(ErrorCode::InvalidCredentials, error.to_string()),
            AuthError::Disabled => Self::new(ErrorCode::AccountDisabled, error.to_string()),
            AuthError::Unauthenticated(message) => Self::unauthorized(message),
            AuthError::RefreshReused => Self::new(ErrorCode::RefreshTokenReused, error.to_string()),
            AuthError::EmailTaken => Self::new(ErrorCode::EmailTaken, error.to_string()),
            AuthError::Store(error) => error.into(),
            AuthError::Busy(busy) => {
                let mut error = Self::new(ErrorCode::Unavailable, busy.to_string());
                error.retry_after = Some(1);
                error
            }
            AuthError::SetupRefused => Self::new(ErrorCode::SetupRefused, error.to_string()),
            AuthError::Internal(cause) => Self::internal(cause),
            AuthError::MailLimited => {
                let mut error = Self::new(ErrorCode::RateLimited, error.to_string());
                error.retry_after = Some(60);
                error
            }
            AuthError::MailOff => Self::new(ErrorCode::MailUnavailable, error.to_string()),
            AuthError::BadMailToken => Self::new(ErrorCode::InvalidToken, error.to_string()),
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
    ApiError::new(ErrorCode::InvalidPipeline, error.to_string()).with_details(json!({ "fields": fields }))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": {
                "code": self.code.as_str(),
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
    ApiError::new(ErrorCode::NotFound, format!("no route for `{}`", uri.path()))
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed, format!("`{method}` is not allowed on `{}`", uri.path()))
}
