//! `recovery` (the SystemCrafter RecoveryAgent): runs when a step fails for good.
//!
//! It reads the failed step's error (for build and qa, the failing command's transcript) and
//! decides, in this order:
//! - the failed step is optional → **skip** it, so the execution goes on without it;
//! - the failure is one a fresh attempt can fix (invalid output after every correction, a build
//!   error, failing tests, a timeout) and no re-run was ordered yet → **re-run** from the step
//!   that produced the faulty work (the step itself; for build and test failures the backend or
//!   frontend step whose files the transcript names) with changed parameters: temperature 0 and
//!   the error to avoid (`params.recovery`);
//! - otherwise → **fail** the execution with a root-cause report: which step failed, the error
//!   class, the evidence and what to do next (`recovery-report.md`, also the step's output).

use serde_json::json;
use troupe_runtime::agent::{Agent, AgentError, FailureReport, RecoveryDirective, StepContext, StepOutput};
use troupe_runtime::model::LogLevel;

/// The recovery agent.
#[derive(Clone, Copy, Debug, Default)]
pub struct RecoveryAgent;

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

/// How many re-runs this agent orders per execution before it reports and fails.
const RERUNS: u32 = 1;

/// Which step to re-run for a failure, if a re-run can help.
fn rerun_from(failure: &FailureReport) -> Option<String> {
    let message = failure.error.message.as_str();
    let retryable = matches!(failure.error.code.as_str(), "validation_failed" | "timed_out")
        || message.contains("failed during build")
        || message.contains("failed during test");
    if !retryable {
        return None;
    }
    if matches!(failure.step_key.as_str(), "build" | "qa") {
        // The transcript names the files that broke; the step that wrote them runs again.
        let backend = message.find("backend/");
        let frontend = message.find("frontend/");
        return Some(match (backend, frontend) {
            (Some(_), None) => "backend".into(),
            (None, Some(_)) => "frontend".into(),
            (Some(b), Some(f)) => {
                if b <= f {
                    "backend".into()
                } else {
                    "frontend".into()
                }
            }
            (None, None) => "backend".into(),
        });
    }
    Some(failure.step_key.clone())
}

#[async_trait::async_trait]
impl Agent for RecoveryAgent {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, AgentError> {
        let Some(failure) = &ctx.failure else {
            return Ok(StepOutput::new(json!({ "decision": "none", "reason": "no step failed" })));
        };
        if failure.optional {
            let mut step = StepOutput::new(json!({ "decision": "skip", "failed_step": failure.step_key }))
                .log(LogLevel::Warn, format!("skipping the failed optional step `{}`", failure.step_key));
            step.directive = Some(RecoveryDirective::Skip { step: failure.step_key.clone() });
            return Ok(step);
        }
        if failure.recoveries < RERUNS
            && let Some(from) = rerun_from(failure)
        {
            let excerpt: String = failure.error.message.chars().take(1500).collect();
            let params = json!({
                "temperature": 0.0,
                "recovery": { "failed_step": failure.step_key, "error": excerpt, "rerun": failure.recoveries + 1 },
            });
            let output =
                json!({ "decision": "rerun", "failed_step": failure.step_key, "from": from, "params": params });
            let mut step = StepOutput::new(output).log(
                LogLevel::Warn,
                format!("step `{}` failed ({}): re-running from `{from}`", failure.step_key, failure.error.code),
            );
            step.directive = Some(RecoveryDirective::Rerun { from, params });
            return Ok(step);
        }
        let code = failure.error.code.as_str();
        let (class, advice) = classify(code, &failure.error.message);
        let details = failure.error.details.clone();
        let report = format!(
            "# Recovery report\n\n- Failed step: `{}`\n- Error: `{code}` ({class})\n- Re-runs already tried: {}\n- Decision: fail the execution\n\n## Root cause\n\n{advice}\n\n## Evidence\n\n```\n{}\n```\n{}",
            failure.step_key,
            failure.recoveries,
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
            "reruns": failure.recoveries,
        });
        Ok(StepOutput::new(output)
            .artifact("recovery-report.md", "text/markdown", report)
            .log(LogLevel::Warn, format!("step `{}` failed ({class}); report written", failure.step_key)))
    }
}
