//! The records the runtime persists: executions, steps, attempts, artifacts, logs and events.
//!
//! These types are the rows of the store (`ExecutionStore`) and the payloads of the event log;
//! their serialised form is a compatibility promise.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{ExecutionId, ProjectId, UserId};
use crate::pipeline::PipelineDef;
use crate::status::{AttemptStatus, ExecutionStatus, StepStatus};

/// The current time at the precision the stores keep (microseconds), so an event or record
/// seen live is identical to the same one read back from SQLite or PostgreSQL.
pub fn now() -> DateTime<Utc> {
    // Built from the system clock's whole microseconds: `Utc::now().trunc_subsecs(6)` reads
    // the same clock and then subtracts the nanoseconds as a calendar operation, which cost
    // more than the reading (it runs several times per step).
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let seconds = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
    DateTime::from_timestamp(seconds, since_epoch.subsec_micros() * 1_000).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A machine-readable error with a stable code, a message for people and details.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ErrorInfo {
    /// A stable `snake_case` code, such as `agent_quarantined` or `validation_failed`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// Structured details (validator issues, the failing step…); `null` when none.
    #[serde(default)]
    pub details: Value,
}

/// The JSON Schemas of what the API shows of the model as is: errors (`ErrorInfo`), log lines
/// (`LogEntry`) and events (`Event`), for the gateway's OpenAPI document (in this order: later
/// ones refer to earlier ones).
pub fn json_schemas() -> Vec<(&'static str, Value)> {
    let schema = |schema: schemars::Schema| serde_json::to_value(schema).expect("a schema serialises");
    vec![
        ("ErrorInfo", schema(schemars::schema_for!(ErrorInfo))),
        ("LogEntry", schema(schemars::schema_for!(LogRecord))),
        ("Event", schema(schemars::schema_for!(Event))),
    ]
}

impl ErrorInfo {
    /// Builds an error without details.
    pub fn new(code: crate::ErrorCode, message: impl Into<String>) -> Self {
        Self { code: code.as_str().to_owned(), message: message.into(), details: Value::Null }
    }

    /// Attaches structured details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// One execution of a pipeline, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    /// The execution id.
    pub id: ExecutionId,
    /// The user who owns it.
    pub owner: UserId,
    /// The project it belongs to, if any.
    pub project_id: Option<ProjectId>,
    /// The pipeline's name.
    pub pipeline_name: String,
    /// The content hash of the pinned definition.
    pub pipeline_hash: String,
    /// The exact definition the execution runs (steps appended at run time included); shared,
    /// not copied, with the validated pipeline it was submitted as and the store's copy.
    pub pipeline: Arc<PipelineDef>,
    /// The input the execution was started with.
    pub input: Value,
    /// Its current status.
    pub status: ExecutionStatus,
    /// Why it failed, when it did.
    pub error: Option<ErrorInfo>,
    /// The client-chosen key that makes creation idempotent, if one was given.
    pub idempotency_key: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it started running.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a terminal status.
    pub finished_at: Option<DateTime<Utc>>,
    /// The node currently driving it.
    pub lease_owner: Option<String>,
    /// When that node's lease runs out, in milliseconds since the Unix epoch (the database's
    /// clock).
    pub lease_expires_at: Option<i64>,
    /// How many times the execution was claimed: a node writes only under the epoch it claimed
    /// at, so a node that lost the lease (and so the epoch) has its writes refused.
    #[serde(default)]
    pub lease_epoch: i64,
}

/// The mutable part of an execution row.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionUpdate {
    /// The execution.
    pub id: ExecutionId,
    /// Its new status.
    pub status: ExecutionStatus,
    /// Its error, if failed.
    pub error: Option<ErrorInfo>,
    /// When it changed.
    pub updated_at: DateTime<Utc>,
    /// When it started running.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// With status `waiting` (parked): when it must be taken up again without a decision (its
    /// earliest approval deadline); `None`: only a decision or a cancellation wakes it.
    pub wake_at: Option<DateTime<Utc>>,
}

/// One step of an execution, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The execution.
    pub execution_id: ExecutionId,
    /// The step key (shared, not copied, with the plan and the step's other rows).
    pub key: Arc<str>,
    /// The agent kind running it (shared like the key).
    pub agent: Arc<str>,
    /// Its status.
    pub status: StepStatus,
    /// The number of its latest attempt (0 before the first).
    pub attempt: u32,
    /// How many corrections it has used.
    pub corrections: u32,
    /// Its accepted output, once completed (read from its successful attempt).
    pub output: Option<Value>,
    /// Why it failed, was skipped or was cancelled.
    pub error: Option<ErrorInfo>,
    /// When its first attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a terminal status.
    pub finished_at: Option<DateTime<Utc>>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Why an attempt ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptKind {
    /// The step's first run.
    Initial,
    /// A run after a failed attempt.
    Retry,
    /// A run after validators rejected the output.
    Correction,
    /// A run of an `on_failure` step, triggered by another step's failure.
    Recovery,
}

impl AttemptKind {
    /// Returns the kind as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptKind::Initial => "initial",
            AttemptKind::Retry => "retry",
            AttemptKind::Correction => "correction",
            AttemptKind::Recovery => "recovery",
        }
    }

    /// Parses a stored kind.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "initial" => AttemptKind::Initial,
            "retry" => AttemptKind::Retry,
            "correction" => AttemptKind::Correction,
            "recovery" => AttemptKind::Recovery,
            _ => return None,
        })
    }
}

/// One run of a step: what went in, what came out, how long it took.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// The execution.
    pub execution_id: ExecutionId,
    /// The step key.
    pub step_key: String,
    /// The attempt number, from 1.
    pub attempt: u32,
    /// Why it ran.
    pub kind: AttemptKind,
    /// How it ended (or `running`).
    pub status: AttemptStatus,
    /// What the attempt received beyond the execution input: the keys of the dependency
    /// outputs it was given and, for a correction, the validator issues.
    pub input: Arc<Value>,
    /// The output it produced (also kept when validators rejected it); shared, not copied,
    /// with the step's in-memory state.
    pub output: Option<Arc<Value>>,
    /// Its error, when it failed.
    pub error: Option<ErrorInfo>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A file a step produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    /// The execution.
    pub execution_id: ExecutionId,
    /// The step that produced it.
    pub step_key: String,
    /// Its name, unique per step.
    pub name: String,
    /// Its media type.
    pub content_type: String,
    /// Its bytes.
    pub content: Vec<u8>,
    /// When it was (last) written.
    pub created_at: DateTime<Utc>,
}

/// Severity of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Diagnostic detail.
    Debug,
    /// Normal progress.
    Info,
    /// Something unexpected that did not stop the step.
    Warn,
    /// A failure.
    Error,
}

impl LogLevel {
    /// Returns the level as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }

    /// Parses a stored level.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            _ => return None,
        })
    }
}

/// A log line of an execution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LogRecord {
    /// The execution.
    pub execution_id: ExecutionId,
    /// The step it came from, if any.
    pub step_key: Option<String>,
    /// Its severity.
    pub level: LogLevel,
    /// The text.
    pub message: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

/// One entry of an execution's event log; `seq` increases by one per event of an execution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Event {
    /// The execution.
    pub execution_id: ExecutionId,
    /// Position in the execution's log, from 1.
    pub seq: u64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What an event reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The execution changed status.
    ExecutionStatus {
        /// The new status.
        status: ExecutionStatus,
        /// The error, when it failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<ErrorInfo>,
    },
    /// A step changed status.
    StepStatus {
        /// The step key.
        step: Arc<str>,
        /// The new status.
        status: StepStatus,
        /// The attempt it concerns.
        attempt: u32,
        /// The error or reason (failed, skipped, cancelled).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<ErrorInfo>,
    },
    /// A failed attempt will be retried after a delay.
    StepRetrying {
        /// The step key.
        step: String,
        /// The attempt that failed.
        attempt: u32,
        /// The delay before the next attempt, in milliseconds.
        delay_ms: u64,
        /// Why the attempt failed.
        error: ErrorInfo,
    },
    /// Steps were appended to the running execution.
    StepsAppended {
        /// The step that appended them.
        by: String,
        /// Their keys.
        steps: Vec<String>,
    },
    /// A step wrote an artifact.
    Artifact {
        /// The step key.
        step: String,
        /// The artifact name.
        name: String,
        /// Its size in bytes.
        size: u64,
    },
    /// An attempt called an LLM (one event per provider and model used by the attempt).
    Usage {
        /// The step key.
        step: String,
        /// The attempt.
        attempt: u32,
        /// The provider.
        provider: String,
        /// The model.
        model: String,
        /// Tokens of the prompts.
        prompt_tokens: u64,
        /// Tokens of the answers.
        completion_tokens: u64,
        /// What it cost, in US dollars (0 when no price is configured).
        cost_usd: f64,
    },
    /// An approval step asks people to decide (the step is `waiting`).
    ApprovalRequested {
        /// The step key.
        step: String,
        /// The attempt.
        attempt: u32,
        /// What is to be approved.
        prompt: String,
        /// When it times out, if it does.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deadline: Option<DateTime<Utc>>,
    },
    /// An approval step was decided (or timed out).
    ApprovalDecided {
        /// The step key.
        step: String,
        /// The attempt.
        attempt: u32,
        /// The decision.
        decision: crate::pipeline::approval::Decision,
        /// Who decided (absent for a timeout).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<crate::ids::UserId>,
        /// Their comment.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    /// A step logged a line.
    Log {
        /// The step key, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// Its severity.
        level: LogLevel,
        /// The text.
        message: String,
    },
}

impl EventKind {
    /// Returns the event's type name, as stored in the `kind` column.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::ExecutionStatus { .. } => "execution_status",
            EventKind::StepStatus { .. } => "step_status",
            EventKind::StepRetrying { .. } => "step_retrying",
            EventKind::StepsAppended { .. } => "steps_appended",
            EventKind::Artifact { .. } => "artifact",
            EventKind::Usage { .. } => "usage",
            EventKind::ApprovalRequested { .. } => "approval_requested",
            EventKind::ApprovalDecided { .. } => "approval_decided",
            EventKind::Log { .. } => "log",
        }
    }
}

impl Event {
    /// Returns whether this event ends its execution's log (a terminal execution status).
    pub fn is_terminal(&self) -> bool {
        matches!(&self.kind, EventKind::ExecutionStatus { status, .. } if status.is_terminal())
    }
}

/// Tokens and cost of LLM calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens of the prompts.
    pub prompt_tokens: u64,
    /// Tokens of the answers.
    pub completion_tokens: u64,
    /// Cost in US dollars.
    pub cost_usd: f64,
}

impl Usage {
    /// All tokens.
    pub fn tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

impl std::iter::Sum for Usage {
    fn sum<I: Iterator<Item = Usage>>(usages: I) -> Self {
        let mut total = Usage::default();
        for usage in usages {
            total += usage;
        }
        total
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Self) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.cost_usd += other.cost_usd;
    }
}

/// The LLM use of one attempt with one provider and model: the accounting ledger's row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// The execution.
    pub execution_id: ExecutionId,
    /// Who ran it (usage is accounted per user).
    pub owner: UserId,
    /// The step.
    pub step_key: String,
    /// The attempt.
    pub attempt: u32,
    /// The provider.
    pub provider: String,
    /// The model.
    pub model: String,
    /// Tokens and cost.
    pub usage: Usage,
    /// When the attempt ended.
    pub created_at: DateTime<Utc>,
}

/// One correction of a rejected output and whether it passed: what later corrections learn from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorrectionRecord {
    /// The execution.
    pub execution_id: ExecutionId,
    /// The step.
    pub step_key: String,
    /// The agent kind.
    pub agent: String,
    /// The correction attempt.
    pub attempt: u32,
    /// The issues' signature (see [`crate::validator::signature`]): similar failures share it.
    pub signature: String,
    /// The issues the correction was asked to fix.
    pub issues: Vec<crate::validator::ValidationIssue>,
    /// How the agent corrected (its prompt adjustments) and, when it passed, the accepted
    /// values at the paths the issues named.
    pub strategy: Value,
    /// Whether the corrected output passed the validators.
    pub passed: bool,
    /// When it was validated.
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use chrono::Timelike;

    use super::*;

    #[test]
    fn now_is_the_clock_at_microsecond_precision() {
        let before = Utc::now() - chrono::Duration::microseconds(1);
        let now = now();
        let after = Utc::now();
        assert_eq!(now.nanosecond() % 1_000, 0, "{now} keeps nanoseconds the stores drop");
        assert!(before <= now && now <= after, "{before} <= {now} <= {after}");
    }
}
