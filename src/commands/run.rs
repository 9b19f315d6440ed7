//! `troupe run` and `troupe resume`.

use std::process::ExitCode;

use anyhow::Context;
use troupe_runtime::SubmitRequest;
use troupe_runtime::pipeline::PipelineDef;

use crate::cli::{ResumeArgs, RunArgs};
use crate::config::Config;
use crate::progress;
use crate::system::{Mode, System};

pub async fn run(config: Config, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let input: serde_json::Value = serde_json::from_str(&args.input).context("--input is not valid JSON")?;
    let builtin = (!args.pipeline.exists())
        .then(|| args.pipeline.to_str())
        .flatten()
        .and_then(|name| troupe_agents::builtin_pipelines().into_iter().find(|def| def.name == name));
    let def = match builtin {
        Some(def) => def,
        None => match PipelineDef::from_path(&args.pipeline) {
            Ok(def) => def,
            Err(error) => return Ok(report_invalid(&args.pipeline, &error)),
        },
    };
    let system = System::open(config, Mode::Run { max_live: args.max_live }).await?;
    let runtime = std::sync::Arc::clone(&system.runtime);
    let pipeline = match runtime.validate(def) {
        Ok(pipeline) => pipeline,
        Err(error) => {
            drop(runtime);
            system.shutdown().await;
            return Ok(report_invalid(&args.pipeline, &error));
        }
    };
    let steps = pipeline.steps().len() as u64;
    let mut executions = Vec::with_capacity(args.count as usize);
    for _ in 0..args.count.max(1) {
        let id = runtime.submit(SubmitRequest::new(pipeline.clone(), input.clone())).await?;
        if !args.output.json {
            eprintln!("started execution {id}");
        }
        executions.push(id);
    }
    let outcome = tokio::select! {
        outcome = progress::follow(&runtime, &executions, steps * executions.len() as u64, args.output.json) => outcome?,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted; `troupe resume` finishes what was left");
            drop(runtime);
            system.shutdown().await;
            return Ok(ExitCode::from(130));
        }
    };
    drop(runtime);
    system.shutdown().await;
    finish(&outcome, args.output.json)
}

pub async fn resume(config: Config, resume: &ResumeArgs) -> anyhow::Result<ExitCode> {
    let args = &resume.output;
    let system = System::open(config, Mode::Resume).await?;
    let runtime = std::sync::Arc::clone(&system.runtime);
    let executions = runtime.store().leased_by(runtime.node_id()).await?;
    let outcome = if executions.is_empty() {
        if !args.json {
            eprintln!("nothing to resume");
        }
        None
    } else {
        if !args.json {
            eprintln!("resuming {} execution(s)", executions.len());
        }
        Some(progress::follow(&runtime, &executions, 0, args.json).await?)
    };
    drop(runtime);
    system.shutdown().await;
    match outcome {
        Some(outcome) => finish(&outcome, args.json),
        None => Ok(ExitCode::SUCCESS),
    }
}

fn finish(outcome: &progress::Outcome, json: bool) -> anyhow::Result<ExitCode> {
    if !json {
        for (id, status) in &outcome.statuses {
            eprintln!("execution {id}: {status}");
        }
    }
    Ok(if outcome.all_completed() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn report_invalid(path: &std::path::Path, error: &troupe_runtime::pipeline::PipelineError) -> ExitCode {
    eprintln!("{}: invalid pipeline", path.display());
    for issue in &error.issues {
        eprintln!("  {issue}");
    }
    ExitCode::from(2)
}
