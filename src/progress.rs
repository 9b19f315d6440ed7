//! Live progress of executions on the terminal: a progress bar on a terminal, plain lines
//! otherwise, or one JSON object per event (`--json`).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::mpsc;
use troupe_runtime::Runtime;
use troupe_runtime::ids::ExecutionId;
use troupe_runtime::model::{Event, EventKind};
use troupe_runtime::status::{ExecutionStatus, StepStatus};

/// How the final statuses came out.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Final status per execution.
    pub statuses: HashMap<ExecutionId, ExecutionStatus>,
}

impl Outcome {
    /// Returns whether every execution completed.
    pub fn all_completed(&self) -> bool {
        self.statuses.values().all(|status| *status == ExecutionStatus::Completed)
    }
}

enum Display {
    Json,
    Lines,
    Bar(ProgressBar),
}

/// Follows `executions` until each has ended, showing their events; `total_steps` sizes the bar.
pub async fn follow(
    runtime: &Runtime,
    executions: &[ExecutionId],
    total_steps: u64,
    json: bool,
) -> anyhow::Result<Outcome> {
    let display = if json {
        Display::Json
    } else if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total_steps);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} steps {msg}")
                .expect("the template is valid"),
        );
        Display::Bar(bar)
    } else {
        Display::Lines
    };
    let (sender, mut receiver) = mpsc::unbounded_channel::<Arc<Event>>();
    let mut tasks = Vec::new();
    for &id in executions {
        let mut subscription = runtime.subscribe(id, 0);
        let sender = sender.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(event) = subscription.next().await? {
                if sender.send(event).is_err() {
                    break;
                }
            }
            Ok::<(), troupe_runtime::store::StoreError>(())
        }));
    }
    drop(sender);
    let mut outcome = Outcome::default();
    let multiple = executions.len() > 1;
    let stdout = std::io::stdout();
    while let Some(event) = receiver.recv().await {
        if let EventKind::ExecutionStatus { status, .. } = &event.kind
            && status.is_terminal()
        {
            outcome.statuses.insert(event.execution_id, *status);
        }
        match &display {
            Display::Json => {
                let mut out = stdout.lock();
                serde_json::to_writer(&mut out, event.as_ref())?;
                writeln!(out)?;
                out.flush()?;
            }
            Display::Lines => {
                if let Some(line) = describe(&event, multiple) {
                    println!("{line}");
                }
            }
            Display::Bar(bar) => {
                if matches!(&event.kind, EventKind::StepStatus { status, .. } if status.is_terminal()) {
                    bar.inc(1);
                }
                if let Some(line) = describe(&event, multiple) {
                    bar.set_message(line);
                }
            }
        }
    }
    if let Display::Bar(bar) = &display {
        bar.finish_and_clear();
    }
    for task in tasks {
        task.await??;
    }
    Ok(outcome)
}

/// Returns a one-line description of an event, or `None` for events not worth a line.
fn describe(event: &Event, with_id: bool) -> Option<String> {
    let prefix = if with_id { format!("[{}] ", short(event.execution_id)) } else { String::new() };
    let text = match &event.kind {
        EventKind::ExecutionStatus { status, error } => match error {
            Some(error) => format!("execution {status}: {}", error.message),
            None => format!("execution {status}"),
        },
        EventKind::StepStatus { step, status, attempt, error } => {
            let detail = error.as_ref().map(|error| format!(": {}", error.message)).unwrap_or_default();
            match status {
                StepStatus::Running | StepStatus::Correcting => format!("step {step} {status} (attempt {attempt})"),
                _ => format!("step {step} {status}{detail}"),
            }
        }
        EventKind::StepRetrying { step, attempt, delay_ms, error } => {
            format!("step {step} attempt {attempt} failed ({}); retrying in {delay_ms} ms", error.message)
        }
        EventKind::StepsAppended { by, steps } => format!("step {by} appended {}", steps.join(", ")),
        EventKind::Artifact { step, name, size } => format!("step {step} wrote {name} ({size} bytes)"),
        EventKind::Usage { step, provider, model, prompt_tokens, completion_tokens, cost_usd, .. } => format!(
            "step {step} used {} tokens ({prompt_tokens} prompt, {completion_tokens} completion) of {provider}/{model}, ${cost_usd:.4}",
            prompt_tokens + completion_tokens
        ),
        EventKind::ApprovalRequested { step, prompt, deadline, .. } => {
            let until = deadline.map(|at| format!(" (until {at})")).unwrap_or_default();
            format!("step {step} waits for approval{until}: {prompt}")
        }
        EventKind::ApprovalDecided { step, decision, comment, .. } => {
            let comment = comment.as_ref().map(|text| format!(": {text}")).unwrap_or_default();
            format!("step {step} {}{comment}", decision.as_str())
        }
        EventKind::Log { .. } => return None,
    };
    Some(format!("{prefix}{text}"))
}

fn short(id: ExecutionId) -> String {
    let text = id.to_string();
    text[text.len() - 8..].to_owned()
}
