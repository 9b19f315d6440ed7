//! `troupe run` and `troupe resume`.

use std::process::ExitCode;

use anyhow::Context;
use troupe_runtime::SubmitRequest;
use troupe_runtime::pipeline::PipelineDef;

use crate::cli::{Cli, ResumeArgs, RunArgs};
use crate::progress;
use crate::setup;

pub async fn run(cli: &Cli, args: &RunArgs) -> anyhow::Result<ExitCode> {
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
    let runtime = setup::start_runtime(cli, false, args.max_live, &args.llm).await?;
    let pipeline = match runtime.validate(def) {
        Ok(pipeline) => pipeline,
        Err(error) => {
            runtime.shutdown().await;
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
            runtime.shutdown().await;
            return Ok(ExitCode::from(130));
        }
    };
    runtime.shutdown().await;
    finish(&outcome, args.output.json)
}

pub async fn resume(cli: &Cli, resume: &ResumeArgs) -> anyhow::Result<ExitCode> {
    let args = &resume.output;
    let runtime = setup::start_runtime(cli, true, None, &resume.llm).await?;
    let executions = runtime.store().leased_by(runtime.node_id()).await?;
    if executions.is_empty() {
        if !args.json {
            eprintln!("nothing to resume");
        }
        runtime.shutdown().await;
        return Ok(ExitCode::SUCCESS);
    }
    if !args.json {
        eprintln!("resuming {} execution(s)", executions.len());
    }
    let outcome = progress::follow(&runtime, &executions, 0, args.json).await?;
    runtime.shutdown().await;
    finish(&outcome, args.json)
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
