//! The `Agent` port: what a step runs.
//!
//! An agent is plain async code. The runtime wraps it in an actor that gives it a mailbox,
//! supervision, a timeout and a concurrency limit; built-in agents, custom Rust agents and (later)
//! plugins all implement this one trait, so a pipeline step does not care which it names.

use std::sync::Arc;

use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::ids::{ExecutionId, UserId};
use crate::model::{ErrorInfo, LogLevel, Usage};
use crate::pipeline::StepDef;
use crate::validator::ValidationIssue;

/// Everything a step's agent receives.
#[derive(Clone, Debug)]
pub struct StepContext {
    /// The execution this step belongs to.
    pub execution_id: ExecutionId,
    /// The owner of the execution.
    pub owner: UserId,
    /// The step key.
    pub step_key: Arc<str>,
    /// The execution's input.
    pub input: Arc<Value>,
    /// The step's dependencies (key, agent kind, output), in `depends_on` order.
    pub dependencies: Vec<Dependency>,
    /// The step's `params` from the definition (`null` when none).
    pub params: Arc<Value>,
    /// The attempt number, from 1 (retries and corrections both count).
    pub attempt: u32,
    /// Set when re-running after validators rejected the previous output.
    pub correction: Option<Correction>,
    /// Set when this step runs as another step's `on_failure` handler.
    pub failure: Option<FailureReport>,
    /// When the attempt times out.
    pub deadline: Instant,
    /// Cancelled when the execution is cancelled or the attempt times out.
    pub cancel: CancellationToken,
    /// Where the attempt reports its LLM use and streams answer tokens.
    pub telemetry: Arc<StepTelemetry>,
    /// The owner's memories nearest to the step's input, best first (empty when the runtime
    /// has no memory service, or nothing is close).
    pub memories: Vec<crate::memory::RecalledMemory>,
}

/// A finished dependency of a step, as its agent sees it.
#[derive(Clone, Debug)]
pub struct Dependency {
    /// The dependency's step key.
    pub key: Arc<str>,
    /// The agent kind that produced the output (a key can be anything; the kind says who wrote
    /// the output, e.g. whether a model did).
    pub agent: Arc<str>,
    /// Its output.
    pub output: Arc<Value>,
}

/// One LLM call of an attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmCall {
    /// The provider.
    pub provider: String,
    /// The model that answered.
    pub model: String,
    /// Tokens and cost.
    pub usage: Usage,
    /// The request and the answer, secrets redacted, kept in the execution's logs for debugging.
    pub transcript: Option<String>,
}

/// What an attempt reports while it runs: its LLM calls (stored for accounting and counted
/// against the execution's budget when the attempt ends, whether it succeeded or not) and the
/// tokens of answers as they stream (sent live to subscribers, not stored).
#[derive(Default)]
pub struct StepTelemetry {
    calls: std::sync::Mutex<Vec<LlmCall>>,
    stream: Option<(Arc<crate::events::EventBus>, ExecutionId, Arc<str>, u32)>,
}

impl std::fmt::Debug for StepTelemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepTelemetry").field("calls", &self.calls).finish()
    }
}

impl StepTelemetry {
    /// Telemetry whose tokens go to `bus` as the given attempt's.
    pub fn streaming(
        bus: Arc<crate::events::EventBus>,
        execution_id: ExecutionId,
        step: Arc<str>,
        attempt: u32,
    ) -> Self {
        Self { calls: Default::default(), stream: Some((bus, execution_id, step, attempt)) }
    }

    /// Records one LLM call.
    pub fn record(&self, call: LlmCall) {
        self.calls.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(call);
    }

    /// Sends a piece of a streaming answer to live subscribers.
    pub fn token(&self, text: &str) {
        if let Some((bus, execution_id, step, attempt)) = &self.stream {
            bus.publish_token(crate::events::TokenChunk {
                execution_id: *execution_id,
                step: String::from(&**step),
                attempt: *attempt,
                text: text.to_owned(),
            });
        }
    }

    /// Takes the recorded calls, merged per provider and model.
    pub fn take(&self) -> Vec<LlmCall> {
        let calls = std::mem::take(&mut *self.calls.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        let mut merged: Vec<LlmCall> = Vec::new();
        for call in calls {
            match merged.iter_mut().find(|seen| seen.provider == call.provider && seen.model == call.model) {
                Some(seen) => {
                    seen.usage += call.usage;
                    if let Some(more) = call.transcript {
                        let joined = match seen.transcript.take() {
                            Some(earlier) => format!("{earlier}\n{more}"),
                            None => more,
                        };
                        seen.transcript = Some(joined);
                    }
                }
                None => merged.push(call),
            }
        }
        merged
    }
}

impl StepContext {
    /// Returns the output of dependency `key`, if the step depends on it.
    pub fn dependency(&self, key: &str) -> Option<&Value> {
        self.dependencies.iter().find(|dependency| &*dependency.key == key).map(|dependency| dependency.output.as_ref())
    }

    /// Resolves when the step is cancelled; agents doing long work should select on it.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }
}

/// The rejected output and what the validators said about it.
#[derive(Clone, Debug)]
pub struct Correction {
    /// The output that was rejected.
    pub previous_output: Arc<Value>,
    /// Every problem the validators found.
    pub issues: Vec<ValidationIssue>,
}

/// What an `on_failure` handler is told about the failure it handles.
#[derive(Clone, Debug)]
pub struct FailureReport {
    /// The step that failed.
    pub step_key: String,
    /// Its final error.
    pub error: ErrorInfo,
    /// Whether the failed step is optional (the execution can go on without it).
    pub optional: bool,
    /// How many times a failure handler of this execution has already had steps re-run
    /// (a handler gives up past the pipeline's cap).
    pub recoveries: u32,
}

/// What a failure handler (`on_failure` step) decided, applied by the runtime.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum RecoveryDirective {
    /// Run step `from` and every step after it again, with `params` merged into `from`'s
    /// parameters. Refused past the pipeline's `max_recoveries`.
    Rerun {
        /// The step to start over from.
        from: String,
        /// Parameters merged (top-level keys) into the step's `params`.
        #[serde(default)]
        params: Value,
    },
    /// Mark the failed optional step `skipped` so the execution goes on without it.
    Skip {
        /// The step.
        step: String,
    },
}

/// A file produced by a step; stored once per (execution, step, name).
#[derive(Clone, Debug, PartialEq)]
pub struct ArtifactOutput {
    /// Name, unique within the step.
    pub name: String,
    /// Media type.
    pub content_type: String,
    /// Content.
    pub content: Vec<u8>,
}

/// What a successful run of a step returns.
#[derive(Clone, Debug, Default)]
pub struct StepOutput {
    /// The output handed to dependent steps and checked by validators.
    pub output: Value,
    /// Files to store.
    pub artifacts: Vec<ArtifactOutput>,
    /// Log lines to record.
    pub logs: Vec<(LogLevel, String)>,
    /// Steps to append to the running execution (a planner uses this); checked and persisted
    /// before they run, up to the pipeline's cap.
    pub append_steps: Vec<StepDef>,
    /// A failure handler's decision (ignored from other steps).
    pub directive: Option<RecoveryDirective>,
    /// On a correction attempt: how the agent corrected (recorded with the correction).
    pub correction_note: Option<Value>,
}

impl StepOutput {
    /// Builds an output with just a JSON value.
    pub fn new(output: Value) -> Self {
        Self { output, ..Self::default() }
    }

    /// Adds an artifact.
    pub fn artifact(
        mut self,
        name: impl Into<String>,
        content_type: impl Into<String>,
        content: impl Into<Vec<u8>>,
    ) -> Self {
        self.artifacts.push(ArtifactOutput {
            name: name.into(),
            content_type: content_type.into(),
            content: content.into(),
        });
        self
    }

    /// Adds a log line.
    pub fn log(mut self, level: LogLevel, message: impl Into<String>) -> Self {
        self.logs.push((level, message.into()));
        self
    }
}

/// Why an agent's run failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AgentError {
    /// A transient failure (rate limit, network): the step is retried under its policy.
    #[error("{0}")]
    Retryable(String),
    /// A failure retrying cannot fix: the step fails at once.
    #[error("{0}")]
    Fatal(String),
    /// The agent stopped because the step was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The step needs the code box and it cannot be built here: the step fails at once with
    /// `sandbox_unavailable` (troupe never runs such a step unconfined unless configured to).
    #[error("{0}")]
    SandboxUnavailable(String),
    /// The agent may not run this step for its owner (no consent, a feature flag off, a
    /// disabled plugin): an optional step is skipped with the reason, any other fails at once.
    /// The agent did nothing.
    #[error("not permitted: {0}")]
    Refused(String),
}

impl AgentError {
    /// Builds a retryable error.
    pub fn retryable(message: impl Into<String>) -> Self {
        AgentError::Retryable(message.into())
    }

    /// Builds a fatal error.
    pub fn fatal(message: impl Into<String>) -> Self {
        AgentError::Fatal(message.into())
    }

    /// Builds a refusal.
    pub fn refused(reason: impl Into<String>) -> Self {
        AgentError::Refused(reason.into())
    }
}

/// A kind of work a step can name: requirements, architect, a custom agent, a plugin…
#[async_trait::async_trait]
pub trait Agent: Send + Sync + 'static {
    /// Runs one attempt of a step.
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, AgentError>;
}

/// Makes a fresh agent instance; called at start and after every crash.
pub type AgentFactory = Arc<dyn Fn() -> Arc<dyn Agent> + Send + Sync>;
