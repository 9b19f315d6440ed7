//! What runtime operations return when they fail.

use crate::ids::ExecutionId;
use crate::pipeline::PipelineError;
use crate::status::ExecutionStatus;
use crate::store::StoreError;

/// Returned by runtime operations.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The pipeline is not valid.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// No execution has this id.
    #[error("execution {0} not found")]
    NotFound(ExecutionId),
    /// The execution already reached a terminal status.
    #[error("execution {id} already {status}")]
    AlreadyFinished {
        /// The execution.
        id: ExecutionId,
        /// Its terminal status.
        status: ExecutionStatus,
    },
    /// Only a failed execution can be retried.
    #[error("execution {id} is {status}; only a failed execution can be retried")]
    NotRetryable {
        /// The execution.
        id: ExecutionId,
        /// Its status.
        status: ExecutionStatus,
    },
    /// The step is not an approval step waiting for a decision.
    #[error("step `{step}` of execution {id} is not waiting for a decision")]
    NotWaiting {
        /// The execution.
        id: ExecutionId,
        /// The step.
        step: String,
    },
    /// No agent kind has this name.
    #[error("unknown agent `{0}`")]
    UnknownAgent(String),
    /// An agent kind of this name is already registered.
    #[error("an agent kind `{0}` is already registered")]
    AgentExists(String),
    /// The runtime is shutting down or its orchestrator is restarting.
    #[error("runtime unavailable: {0}")]
    Unavailable(String),
    /// The actor tree failed to start.
    #[error("failed to start the actor tree: {0}")]
    Start(String),
}

/// Every error code troupe reports: in a step's or an execution's error ([`ErrorInfo`]) and in
/// the API's error body. The gateway maps each to its HTTP status in one place.
///
/// [`ErrorInfo`]: crate::model::ErrorInfo
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    // ----- steps and executions ----------------------------------------------------------------
    /// An agent's transient failure (retried under the step's policy).
    AgentError,
    /// An agent's failure retrying cannot fix.
    AgentFatal,
    /// The agent panicked.
    AgentCrashed,
    /// The attempt passed its timeout.
    StepTimeout,
    /// The execution or step was cancelled.
    Cancelled,
    /// The agent kind is quarantined.
    AgentQuarantined,
    /// No agent of the kind is up.
    AgentUnavailable,
    /// The agent may not run this step for its owner.
    NotPermitted,
    /// The step needs the code box, which cannot be built here.
    SandboxUnavailable,
    /// Validators rejected the output (in a step), or request fields are wrong (in the API).
    ValidationFailed,
    /// A dependency did not complete.
    DependencyNotCompleted,
    /// The step's condition was false.
    ConditionFalse,
    /// The step's condition could not be evaluated.
    ConditionError,
    /// The execution's LLM budget was exceeded.
    BudgetExceeded,
    /// A step failed for good (the execution's error).
    StepFailed,
    /// A failure handler had the step skipped.
    SkippedByRecovery,
    /// A failure handler that no failure needed.
    NotNeeded,
    /// A planner's plan could not be used.
    InvalidPlan,
    /// The pinned pipeline no longer checks.
    PipelineInvalid,
    /// A person rejected an approval step.
    ApprovalRejected,
    /// Nobody decided an approval step before its timeout.
    ApprovalTimedOut,

    // ----- the API -------------------------------------------------------------------------
    /// No such resource (or not the caller's: the two are not told apart).
    NotFound,
    /// No route has this method.
    MethodNotAllowed,
    /// Credentials are missing or wrong.
    Unauthorized,
    /// The caller may not do this.
    Forbidden,
    /// A conflicting write.
    Conflict,
    /// The body is larger than allowed.
    PayloadTooLarge,
    /// The body is not JSON.
    UnsupportedMediaType,
    /// The body could not be read.
    BadBody,
    /// The JSON does not parse.
    MalformedJson,
    /// The route needs a WebSocket upgrade.
    WebsocketRequired,
    /// A pipeline definition does not check (each problem names its step and field).
    InvalidPipeline,
    /// A plugin manifest does not check.
    InvalidManifest,
    /// Too many requests.
    RateLimited,
    /// The request took too long.
    Timeout,
    /// The store does not answer.
    StoreUnavailable,
    /// The memory store or embedder does not answer.
    MemoryUnavailable,
    /// A memory cannot be decrypted.
    MemoryUnreadable,
    /// The actor tree is restarting.
    Restarting,
    /// The runtime cannot take the request now.
    Unavailable,
    /// The execution already finished.
    AlreadyFinished,
    /// Only a failed execution can be retried.
    NotRetryable,
    /// An agent kind of this name exists.
    AgentExists,
    /// Wrong email or password.
    InvalidCredentials,
    /// The account is disabled.
    AccountDisabled,
    /// A refresh token was used twice: its family is revoked.
    RefreshTokenReused,
    /// The email address is taken.
    EmailTaken,
    /// The name is taken.
    NameTaken,
    /// The API key may only read.
    ReadOnlyKey,
    /// Registration is closed.
    RegistrationClosed,
    /// An admin may not demote or disable themself.
    SelfDemotion,
    /// The experiment's privacy budget is spent.
    PrivacyBudgetExhausted,
    /// The experiment exists.
    ExperimentExists,
    /// The setup token is wrong or used, or setup is done.
    SetupRefused,
    /// The step is not waiting for a decision.
    NotWaiting,
    /// The approval was already decided the other way.
    AlreadyDecided,
    /// The uploaded file's content is of a type not accepted.
    UnsupportedFileType,
    /// The user's storage quota would be exceeded.
    QuotaExceeded,
    /// A mailed code (verification, password reset) is unknown, used or expired.
    InvalidToken,
    /// The account's email address is not verified, and this server requires it.
    EmailUnverified,
    /// The server sends no mail, which this needs.
    MailUnavailable,
    /// Something broke on the server (the cause is in its log).
    Internal,
}

impl ErrorCode {
    /// Returns the code's stable `snake_case` spelling.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            AgentError => "agent_error",
            AgentFatal => "agent_fatal",
            AgentCrashed => "agent_crashed",
            StepTimeout => "step_timeout",
            Cancelled => "cancelled",
            AgentQuarantined => "agent_quarantined",
            AgentUnavailable => "agent_unavailable",
            NotPermitted => "not_permitted",
            SandboxUnavailable => "sandbox_unavailable",
            ValidationFailed => "validation_failed",
            DependencyNotCompleted => "dependency_not_completed",
            ConditionFalse => "condition_false",
            ConditionError => "condition_error",
            BudgetExceeded => "budget_exceeded",
            StepFailed => "step_failed",
            SkippedByRecovery => "skipped_by_recovery",
            NotNeeded => "not_needed",
            InvalidPlan => "invalid_plan",
            PipelineInvalid => "pipeline_invalid",
            ApprovalRejected => "approval_rejected",
            ApprovalTimedOut => "approval_timed_out",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            Unauthorized => "unauthorized",
            Forbidden => "forbidden",
            Conflict => "conflict",
            PayloadTooLarge => "payload_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            BadBody => "bad_body",
            MalformedJson => "malformed_json",
            WebsocketRequired => "websocket_required",
            InvalidPipeline => "invalid_pipeline",
            InvalidManifest => "invalid_manifest",
            RateLimited => "rate_limited",
            Timeout => "timeout",
            StoreUnavailable => "store_unavailable",
            MemoryUnavailable => "memory_unavailable",
            MemoryUnreadable => "memory_unreadable",
            Restarting => "restarting",
            Unavailable => "unavailable",
            AlreadyFinished => "already_finished",
            NotRetryable => "not_retryable",
            AgentExists => "agent_exists",
            InvalidCredentials => "invalid_credentials",
            AccountDisabled => "account_disabled",
            RefreshTokenReused => "refresh_token_reused",
            EmailTaken => "email_taken",
            NameTaken => "name_taken",
            ReadOnlyKey => "read_only_key",
            RegistrationClosed => "registration_closed",
            SelfDemotion => "self_demotion",
            PrivacyBudgetExhausted => "privacy_budget_exhausted",
            ExperimentExists => "experiment_exists",
            SetupRefused => "setup_refused",
            NotWaiting => "not_waiting",
            AlreadyDecided => "already_decided",
            UnsupportedFileType => "unsupported_file_type",
            QuotaExceeded => "quota_exceeded",
            InvalidToken => "invalid_token",
            EmailUnverified => "email_unverified",
            MailUnavailable => "mail_unavailable",
            Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<ErrorCode> for String {
    fn from(code: ErrorCode) -> Self {
        code.as_str().to_owned()
    }
}
