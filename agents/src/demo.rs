//! Demo agents that run offline: for the examples, demos and benchmarks.
//!
//! - [`EchoAgent`] (`echo`): echoes what it was given, merged with `params.set`, and stores it as
//!   an artifact — the smallest agent that exercises inputs, dependencies and artifacts. With
//!   `params.fail_before_attempt: n` its attempts before the n-th fail (retryably), to show
//!   retries.
//! - [`SleepAgent`] (`sleep`): like `echo`, after sleeping `params.ms` (default 100 ms) while
//!   honouring cancellation — a stand-in for a slow LLM call.
//! - [`StandInAgent`]: the benchmark's stand-in: yields once (or sleeps a latency) and returns a
//!   fixed output, optionally failing a seeded fraction of first attempts.

use std::hash::{DefaultHasher, Hash, Hasher};

/// The demo and test agent kinds: `echo` outputs whatever its `params.set` says (and fails on
/// demand), `sleep` holds a step as long as asked. In production, user-defined and inline
/// pipelines may not name them (the built-in templates still can).
pub const DEMO_AGENTS: &[&str] = &["echo", "sleep"];
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use troupe_runtime::agent::{Agent, AgentError, StepContext, StepOutput};
use troupe_runtime::model::LogLevel;

/// Echoes its context: `{"step", "attempt", "input", "dependencies", …params.set}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct EchoAgent;

fn echo(ctx: &StepContext) -> StepOutput {
    let dependencies: serde_json::Map<String, Value> = ctx
        .dependencies
        .iter()
        .map(|dependency| (String::from(&*dependency.key), dependency.output.as_ref().clone()))
        .collect();
    let mut output = json!({
        "step": ctx.step_key,
        "attempt": ctx.attempt,
        "input": ctx.input.as_ref(),
        "dependencies": dependencies,
    });
    if let (Some(extra), Some(object)) = (ctx.params.get("set").and_then(Value::as_object), output.as_object_mut()) {
        for (key, value) in extra {
            object.insert(key.clone(), value.clone());
        }
    }
    let artifact = serde_json::to_vec_pretty(&output).expect("a JSON value always serialises");
    StepOutput::new(output)
        .artifact(format!("{}.json", ctx.step_key), "application/json", artifact)
        .log(LogLevel::Info, format!("{} echoed {} dependencies", ctx.step_key, ctx.dependencies.len()))
}

#[async_trait::async_trait]
impl Agent for EchoAgent {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, AgentError> {
        let fail_before = ctx.params.get("fail_before_attempt").and_then(Value::as_u64).unwrap_or(0);
        if u64::from(ctx.attempt) < fail_before {
            return Err(AgentError::retryable(format!(
                "attempt {} fails on purpose (fail_before_attempt)",
                ctx.attempt
            )));
        }
        Ok(echo(&ctx))
    }
}

/// Sleeps `params.ms` milliseconds (default: its own default), then echoes.
#[derive(Clone, Copy, Debug)]
pub struct SleepAgent {
    /// The sleep when the step gives no `params.ms`.
    pub default_sleep: Duration,
}

impl Default for SleepAgent {
    fn default() -> Self {
        Self { default_sleep: Duration::from_millis(100) }
    }
}

#[async_trait::async_trait]
impl Agent for SleepAgent {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, AgentError> {
        let sleep = ctx.params.get("ms").and_then(Value::as_u64).map_or(self.default_sleep, Duration::from_millis);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => Ok(echo(&ctx)),
            _ = ctx.cancel.cancelled() => Err(AgentError::Cancelled),
        }
    }
}

/// The benchmark's stand-in agent.
#[derive(Clone, Debug)]
pub struct StandInAgent {
    /// Sleep per step; zero means yield to the scheduler once.
    pub latency: Duration,
    /// The output every step returns.
    pub output: Arc<Value>,
    /// The probability that a step's first attempt fails (retryably).
    pub first_attempt_failure: f64,
    /// Seed that makes the failures reproducible.
    pub seed: u64,
}

impl StandInAgent {
    /// Returns a stand-in with a fixed output of about `size` bytes.
    pub fn new(latency: Duration, size: usize) -> Self {
        Self { latency, output: Arc::new(json!({ "payload": "x".repeat(size) })), first_attempt_failure: 0.0, seed: 0 }
    }

    fn fails(&self, ctx: &StepContext) -> bool {
        if self.first_attempt_failure <= 0.0 || ctx.attempt != 1 {
            return false;
        }
        let mut hasher = DefaultHasher::new();
        (self.seed, ctx.execution_id, &ctx.step_key).hash(&mut hasher);
        fastrand::Rng::with_seed(hasher.finish()).f64() < self.first_attempt_failure
    }
}

#[async_trait::async_trait]
impl Agent for StandInAgent {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, AgentError> {
        if self.latency.is_zero() {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(self.latency).await;
        }
        if self.fails(&ctx) {
            return Err(AgentError::retryable("stand-in failure of a first attempt"));
        }
        Ok(StepOutput::new(self.output.as_ref().clone()))
    }
}
