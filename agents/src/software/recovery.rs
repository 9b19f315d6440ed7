//! `recovery` (the SystemCrafter RecoveryAgent): runs when a step fails for good.
//!
//! It reads the failed step's error and writes a root-cause report: which step failed, the
//! error class (validation, build, tests, timeout, provider, budget…), the evidence (the
//! error's message and details) and what to do next. The report is an artifact
//! (`recovery-report.md`) and the step's output.

use std::sync::Arc;

use serde_json::json;
use troupe_runtime::agent::{Agent, AgentError, StepContext, StepOutput};
use troupe_runtime::model::LogLevel;

use crate::ask::AgentsConfig;

/// The recovery agent.
#[derive(Clone)]
pub struct RecoveryAgent {
    #[allow(dead_code)]
    config: Arc<AgentsConfig>,
}

impl RecoveryAgent {
    /// A recovery agent.
    pub fn new(config: Arc<AgentsConfig>) -> Self {
        Self { config }
    }
}

/// Sorts a failure into a class with advice.
pub fn classify(code: &str, message: &str) -> (&'static str, &'static str) {
    let lower = message.to_lowercase();
    match code {
        "validation_failed" => (
            "invalid output",
            "The step's output kept failing its validators after every correction: read the issues below; a stronger model or a clearer input usually fixes it.",
        ),
        "timed_out" => ("timeout", "The step ran out of time: raise its `timeout` or make the work smaller."),
        "budget_exceeded" => {
            ("budget", "The run reached its token or cost cap: raise the budget or shorten the pipeline.")
        }
        "quarantined" | "crashed" => ("agent crash", "The agent kept crashing: see the agent's crash count and logs."),
        _ if lower.contains("failed during test") => (
            "failing tests",
            "The generated tests fail: the transcript below shows which assertion; regenerate backend or frontend.",
        ),
        _ if lower.contains("failed during build") => {
            ("build error", "The generated sources do not build: the transcript below shows the first error.")
        }
        _ if lower.contains("provider") || lower.contains("rate limited") || lower.contains("circuit breaker") => (
            "provider unavailable",
            "The LLM provider failed: check TROUPE_LLM_* settings and the provider's status, then retry the execution.",
        ),
        _ => ("step error", "Read the error below; retry the execution once the cause is fixed."),
    }
}

#[async_trait::async_trait]
impl Agent for RecoveryAgent {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, AgentError> {
        let Some(failure) = &ctx.failure else {
            return Ok(StepOutput::new(json!({ "decision": "none", "reason": "no step failed" })));
        };
        let code = failure.error.code.as_str();
        let (class, advice) = classify(code, &failure.error.message);
        let details = failure.error.details.clone();
        let report = format!(
            "# Recovery report\n\n- Failed step: `{}`\n- Error: `{code}` ({class})\n- Decision: fail the execution\n\n## Root cause\n\n{advice}\n\n## Evidence\n\n```\n{}\n```\n{}",
            failure.step_key,
            failure.error.message,
            if details.is_null() {
                String::new()
            } else {
                format!(
                    "\n## Details\n\n```json\n{}\n```\n",
                    serde_json::to_string_pretty(&details).unwrap_or_default()
                )
            },
        );
        let output = json!({
            "decision": "fail",
            "failed_step": failure.step_key,
            "error_code": code,
            "root_cause": class,
            "advice": advice,
            "evidence": failure.error.message,
        });
        Ok(StepOutput::new(output)
            .artifact("recovery-report.md", "text/markdown", report)
            .log(LogLevel::Warn, format!("step `{}` failed ({class}); report written", failure.step_key)))
    }
}
