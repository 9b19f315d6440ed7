//! `build` and `qa`: the project's own commands, run for real in the code box.
//!
//! Both write the files (`files`) of the dependencies that write code in the software pipeline
//! — steps run by the `backend`, `frontend` and `infra` agents, whatever their keys — into
//! `<workspaces>/<execution id>/project` (emptied and written again on every attempt, so a
//! resumed or retried step sees the same tree), then run the command list an `infra` step
//! declared — `commands.build` or `commands.test` — in the code box ([`crate::sandbox`]). Other
//! dependencies (a demo agent echoing its parameters, a plugin, anything a user controls
//! directly) can never put a file or a command into the box. Each command's transcript is stored
//! as an artifact; the step fails with the failing command's output when one fails, so
//! `recovery` can read why.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use troupe_runtime::agent::{Agent, AgentError, StepContext, StepOutput};
use troupe_runtime::model::LogLevel;

use crate::ask::AgentsConfig;
use crate::sandbox::{self, BoxRun, CommandResult, SandboxError};

/// The agent kinds whose outputs may hold files for the box.
const FILE_WRITERS: [&str; 3] = ["backend", "frontend", "infra"];
/// The agent kind whose output declares the commands.
const COMMAND_WRITER: &str = "infra";

/// Which command list a [`CommandsAgent`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `commands.build` (compile and syntax checks).
    Build,
    /// `commands.test` (the test suites).
    Test,
}

impl Phase {
    fn key(self) -> &'static str {
        match self {
            Phase::Build => "build",
            Phase::Test => "test",
        }
    }
}

/// The `build` (Phase::Build) and `qa` (Phase::Test) agents.
#[derive(Clone)]
pub struct CommandsAgent {
    phase: Phase,
    config: Arc<AgentsConfig>,
}

impl CommandsAgent {
    /// An agent running `phase`'s commands.
    pub fn new(phase: Phase, config: Arc<AgentsConfig>) -> Self {
        Self { phase, config }
    }
}

/// The project directory of an execution.
pub fn project_dir(config: &AgentsConfig, ctx: &StepContext) -> PathBuf {
    config.workspaces.join(ctx.execution_id.to_string()).join("project")
}

/// Writes the code writers' files into the (emptied) project directory; returns how many.
fn materialize(dir: &std::path::Path, ctx: &StepContext) -> Result<usize, AgentError> {
    let outputs: Vec<&Value> = ctx
        .dependencies
        .iter()
        .filter(|dependency| FILE_WRITERS.contains(&&*dependency.agent))
        .map(|dependency| dependency.output.as_ref())
        .collect();
    let files: Vec<_> = outputs.iter().flat_map(|output| crate::validators::files(output)).collect();
    sandbox::write_files(dir, files.iter().map(|file| (file.path, file.content))).map_err(AgentError::fatal)?;
    Ok(files.len())
}

fn commands(ctx: &StepContext, phase: Phase) -> Result<Vec<Vec<String>>, AgentError> {
    let list = ctx
        .dependencies
        .iter()
        .filter(|dependency| &*dependency.agent == COMMAND_WRITER)
        .find_map(|dependency| dependency.output["commands"].get(phase.key()).and_then(Value::as_array).cloned())
        .ok_or_else(|| {
            AgentError::fatal(format!(
                "no `{COMMAND_WRITER}` step among the dependencies declares `commands.{}`",
                phase.key()
            ))
        })?;
    list.iter()
        .enumerate()
        .map(|(index, argv)| {
            argv.as_array()
                .filter(|argv| !argv.is_empty())
                .and_then(|argv| argv.iter().map(|part| part.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>())
                .ok_or_else(|| {
                    AgentError::fatal(format!("commands.{}[{index}] must be a non-empty list of strings", phase.key()))
                })
        })
        .collect()
}

/// Reads the counts a test runner printed (unittest's `Ran N tests`, node's `# pass N`).
fn test_counts(result: &CommandResult) -> Value {
    let text = format!("{}\n{}", result.stdout, result.stderr);
    let number_after = |prefix: &str| {
        text.lines().find_map(|line| line.trim().strip_prefix(prefix)?.split_whitespace().next()?.parse::<u64>().ok())
    };
    let (ran, failed) = if let Some(ran) = number_after("Ran ") {
        let failed = text
            .lines()
            .find(|line| line.starts_with("FAILED ("))
            .map(|line| line.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse::<u64>().ok()).sum::<u64>())
            .unwrap_or(0);
        (Some(ran), Some(failed))
    } else if let Some(passed) = number_after("# pass ") {
        let failed = number_after("# fail ").unwrap_or(0);
        (Some(passed + failed), Some(failed))
    } else {
        (None, None)
    };
    json!({ "tests": ran, "failed": failed })
}

#[async_trait::async_trait]
impl Agent for CommandsAgent {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, AgentError> {
        let dir = project_dir(&self.config, &ctx);
        let files = materialize(&dir, &ctx)?;
        let commands = commands(&ctx, self.phase)?;
        let mut log = String::new();
        let mut results = Vec::new();
        let mut isolated = true;
        let mut confined = true;
        let run = BoxRun { owner: ctx.owner, project: &dir, commands: &commands, cancel: &ctx.cancel };
        let ran = self.config.sandbox.run(run).await.map_err(|error| match error {
            SandboxError::Unavailable(reason) => AgentError::SandboxUnavailable(reason),
            SandboxError::Cancelled => AgentError::Cancelled,
            SandboxError::Spawn { .. } | SandboxError::Workspace(_) => AgentError::retryable(error.to_string()),
            SandboxError::Empty | SandboxError::NotAllowed { .. } => AgentError::fatal(error.to_string()),
        })?;
        if ctx.cancel.is_cancelled() {
            return Err(AgentError::Cancelled);
        }
        for (argv, result) in commands.iter().zip(ran) {
            isolated &= result.network_isolated;
            confined &= result.confined;
            log.push_str(&result.transcript());
            log.push('\n');
            let mut summary = json!({
                "command": argv.join(" "),
                "exit_code": result.exit_code,
                "signal": result.signal,
                "timed_out": result.timed_out,
                "duration_ms": result.duration_ms,
            });
            if self.phase == Phase::Test {
                summary["counts"] = test_counts(&result);
            }
            results.push(summary);
            if !result.succeeded() {
                let tail: String = {
                    let transcript = result.transcript();
                    let chars: Vec<char> = transcript.chars().collect();
                    chars[chars.len().saturating_sub(3000)..].iter().collect()
                };
                return Err(AgentError::fatal(format!(
                    "`{}` failed during {} (workspace {}):\n{tail}",
                    argv.join(" "),
                    self.phase.key(),
                    dir.display()
                )));
            }
        }
        let name = match self.phase {
            Phase::Build => "build.log",
            Phase::Test => "qa.log",
        };
        let mut output = json!({
            "passed": true,
            "files": files,
            "workspace": dir.display().to_string(),
            "network_isolated": isolated,
            "confined": confined,
            "commands": results,
        });
        if self.phase == Phase::Test {
            let total = |field: &str| -> u64 {
                output["commands"].as_array().into_iter().flatten().filter_map(|c| c["counts"][field].as_u64()).sum()
            };
            let (tests, failed) = (total("tests"), total("failed"));
            output["tests"] = json!(tests);
            output["failed"] = json!(failed);
        }
        let report = serde_json::to_vec_pretty(&output).unwrap_or_default();
        let mut step = StepOutput::new(output)
            .artifact(name, "text/plain", log)
            .log(LogLevel::Info, format!("{} commands of `{}` passed", commands.len(), self.phase.key()));
        if self.phase == Phase::Test {
            step = step.artifact("qa-report.json", "application/json", report);
        }
        if !confined {
            step = step.log(
                LogLevel::Warn,
                "commands ran UNCONFINED, as troupe's own user (TROUPE_SANDBOX=unconfined-development)",
            );
        }
        if !isolated {
            step = step.log(LogLevel::Warn, "commands ran with the host's network: this OS refuses network namespaces");
        }
        Ok(step)
    }
}
