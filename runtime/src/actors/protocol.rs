//! The messages of the actor tree: what the runtime, the orchestrator shards and the agent
//! supervisors send each other. Kept apart so the actors that exchange them depend on this
//! module, not on each other.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use crate::agent::{StepContext, StepOutput};
use crate::ids::ExecutionId;
use crate::model::{ErrorInfo, ExecutionRecord};
use crate::pipeline::{StepPlan, ValidatedPipeline};
use crate::status::AttemptStatus;
use crate::validator::ValidationIssue;

/// One attempt of one step, on its way to an agent.
pub(crate) struct StepJob {
    pub shard: usize,
    pub execution_id: ExecutionId,
    pub attempt: u32,
    pub plan: Arc<StepPlan>,
    /// Boxed: a job moves from the shard's list to its kind's, to a child's share and into the
    /// attempt's task, and the context is most of its size (≈ 300 bytes).
    pub ctx: Box<StepContext>,
}

pub(crate) enum AgentSupervisorMsg {
    RunBatch(Vec<StepJob>),
    TaskPanicked { child: usize, generation: u64, message: String },
    Respawn { child: usize },
    Release,
}

/// What an orchestrator shard is told.
pub(crate) enum ShardMsg {
    Submit(Box<Submission>),
    /// Ends of attempts are queued in the shard's slot (see `Shared::deliver`).
    ResultsReady,
    RetryDue {
        execution_id: ExecutionId,
        step_index: usize,
        attempt: u32,
    },
    Cancel {
        execution_id: ExecutionId,
        reply: oneshot::Sender<bool>,
    },
    /// Runs a failed execution again from its unfinished steps; answers with a receiver that
    /// fires once the restart is durable.
    Retry {
        execution_id: ExecutionId,
        reply: oneshot::Sender<Result<oneshot::Receiver<()>, crate::RuntimeError>>,
    },
    Flushed,
    StoreFailed(String),
    /// Another node holds these executions now: drop them without writing.
    Lost(Vec<ExecutionId>),
    /// This node claimed the execution: load it from the store and run it.
    Adopt(ExecutionId),
    /// This node claimed a parked execution to cancel it: load it and cancel it at once.
    CancelParked {
        execution_id: ExecutionId,
        reply: oneshot::Sender<bool>,
    },
    /// An approval of the execution may have been decided or timed out: if this shard holds
    /// it, read its approvals and act on the decisions.
    Approvals(ExecutionId),
    /// A lease renewal that started at `since` found this node holding only `held`.
    Renewed {
        held: std::sync::Arc<std::collections::HashSet<ExecutionId>>,
        since: std::time::Instant,
    },
    AdmitWaiting,
    Redispatch {
        agent: String,
    },
    #[cfg(any(test, feature = "testsuite"))]
    InjectPanic,
}

/// A new execution on its way into a shard.
pub(crate) struct Submission {
    pub record: ExecutionRecord,
    pub pipeline: ValidatedPipeline,
    pub reply: oneshot::Sender<()>,
}

/// The end of one attempt, reported by the agent's task.
pub(crate) struct StepDone {
    pub execution_id: ExecutionId,
    pub step_index: usize,
    pub attempt: u32,
    pub finished_at: DateTime<Utc>,
    pub outcome: StepOutcome,
}

pub(crate) enum StepOutcome {
    Output { output: Box<StepOutput>, issues: Vec<ValidationIssue> },
    Failed(StepFailure),
}

/// Why an attempt produced no output.
#[derive(Debug)]
pub(crate) enum StepFailure {
    Retryable(String),
    Fatal(String),
    Crashed(String),
    TimedOut(Duration),
    Cancelled,
    Quarantined(String),
    Unavailable(String),
    /// The agent refused to run the step for this caller (see [`AgentError::Refused`]).
    Refused(String),
    /// The step needs the code box, which cannot be built here.
    SandboxUnavailable(String),
}

impl StepFailure {
    pub(crate) fn is_retryable(&self) -> bool {
        matches!(
            self,
            StepFailure::Retryable(_)
                | StepFailure::Crashed(_)
                | StepFailure::TimedOut(_)
                | StepFailure::Unavailable(_)
        )
    }

    pub(crate) fn attempt_status(&self) -> AttemptStatus {
        match self {
            StepFailure::Crashed(_) => AttemptStatus::Crashed,
            StepFailure::TimedOut(_) => AttemptStatus::TimedOut,
            StepFailure::Cancelled => AttemptStatus::Cancelled,
            _ => AttemptStatus::Failed,
        }
    }

    pub(crate) fn error(&self) -> ErrorInfo {
        match self {
            StepFailure::Retryable(message) => ErrorInfo::new(crate::ErrorCode::AgentError, message.clone()),
            StepFailure::Fatal(message) => ErrorInfo::new(crate::ErrorCode::AgentFatal, message.clone()),
            StepFailure::Crashed(message) => {
                ErrorInfo::new(crate::ErrorCode::AgentCrashed, format!("the agent panicked: {message}"))
            }
            StepFailure::TimedOut(after) => ErrorInfo::new(
                crate::ErrorCode::StepTimeout,
                format!("the attempt did not finish within {}", humantime::format_duration(*after)),
            ),
            StepFailure::Cancelled => ErrorInfo::new(crate::ErrorCode::Cancelled, "the step was cancelled"),
            StepFailure::Quarantined(reason) => ErrorInfo::new(crate::ErrorCode::AgentQuarantined, reason.clone()),
            StepFailure::Unavailable(message) => ErrorInfo::new(crate::ErrorCode::AgentUnavailable, message.clone()),
            StepFailure::Refused(reason) => ErrorInfo::new(crate::ErrorCode::NotPermitted, reason.clone()),
            StepFailure::SandboxUnavailable(reason) => {
                ErrorInfo::new(crate::ErrorCode::SandboxUnavailable, reason.clone())
            }
        }
    }
}
