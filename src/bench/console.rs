//! `troupe bench console`: how soon the web console shows what a person asked for, measured in
//! a real headless Chromium (Debian's `chromium` and `chromium-driver`) against `troupe serve`
//! on SQLite with 10,000 executions in the store and one execution of 100 steps.
//!
//! The console keeps its token in memory, so a measurement is an in-app navigation after
//! signing in: from the hash change to the screen's `troupe:*-rendered` performance mark (set
//! once its data is on screen), timed by the page's own clock.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde_json::{Value, json};
use troupe_runtime::ids::{ExecutionId, UserId};
use troupe_runtime::model::{AttemptKind, AttemptRecord, ExecutionRecord, StepRecord};
use troupe_runtime::pipeline::{PipelineDef, StepDef};
use troupe_runtime::status::{AttemptStatus, ExecutionStatus, StepStatus};
use troupe_runtime::store::WriteBatch;

use crate::config::Config;
use crate::system::{Mode, System};
use crate::webdriver::Browser;

/// Arguments of `troupe bench console`.
#[derive(Debug, Args)]
pub struct ConsoleBenchArgs {
    /// Executions in the store.
    #[arg(long, default_value_t = 10_000)]
    pub executions: usize,
    /// Steps of the execution whose page is opened.
    #[arg(long, default_value_t = 100)]
    pub steps: usize,
    /// Measurements of each screen (the median is reported).
    #[arg(long, default_value_t = 7)]
    pub repeat: usize,
}

/// Seeds the store, signs in through the console and times its two heaviest screens.
pub fn console(args: &ConsoleBenchArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::ensure!(crate::webdriver::available(), "the console benchmark needs Debian's chromium and chromium-driver");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let server = System::open(Config::for_tests(dir.path()), Mode::Serve).await?.serve().await?;
        let auth = &server.state.auth;
        let admin = auth
            .create_user(
                "bench@example.com",
                "bench-password-1",
                None,
                troupe_runtime::accounts::Role::Admin,
                false,
                true,
            )
            .await
            .context("cannot create the benchmark's user")?;
        let store = server.state.runtime.store();
        let big = seed(store.as_ref(), admin.id, args.executions, args.steps).await?;
        println!(
            "troupe bench console — headless Chromium, SQLite, {} executions in the store, one of {} steps",
            args.executions, args.steps
        );

        let browser = Browser::start(1280, 900).await?;
        let base = format!("http://{}", server.addr);
        browser.goto(&format!("{base}/#/executions")).await?;
        let email = browser.wait_for("input[name=email]", Duration::from_secs(30)).await?;
        browser.type_into(&email, "bench@example.com").await?;
        let password = browser.wait_for("input[name=password]", Duration::from_secs(30)).await?;
        browser.type_into(&password, "bench-password-1").await?;
        browser.click(&browser.wait_for("form button[type=submit]", Duration::from_secs(30)).await?).await?;
        browser.wait_until("document.body.dataset.rendered === 'executions'", Duration::from_secs(30)).await?;
        let shell = browser
            .execute("return performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd;", Vec::new())
            .await?;

        let mut list = Vec::new();
        let mut execution = Vec::new();
        for _ in 0..args.repeat {
            // From another screen each time, so every navigation renders afresh.
            browser.execute("location.hash = '#/agents'; return true;", Vec::new()).await?;
            list.push(measure(&browser, "#/executions", "executions").await?);
            execution.push(measure(&browser, &format!("#/executions/{big}"), "execution").await?);
        }
        println!("the console's shell: DOMContentLoaded after {:.0} ms (cold)", shell.as_f64().unwrap_or_default());
        println!("executions list (newest 25 of {}): {}", args.executions, summary(&mut list));
        println!("execution of {} steps (graph, approvals, artifacts, log): {}", args.steps, summary(&mut execution));
        browser.quit().await;
        server.shutdown().await?;
        anyhow::Ok(())
    })?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// Navigates in the app and returns the milliseconds until the screen marked itself rendered.
async fn measure(browser: &Browser, hash: &str, screen: &str) -> anyhow::Result<f64> {
    let start = "performance.clearMarks(); document.body.dataset.rendered = ''; \
                 performance.mark('troupe:navigate'); location.hash = arguments[0]; return true;";
    browser.execute(start, vec![json!(hash)]).await?;
    browser.wait_until(&format!("document.body.dataset.rendered === '{screen}'"), Duration::from_secs(60)).await?;
    let read = format!(
        "const a = performance.getEntriesByName('troupe:navigate')[0]; \
         const b = performance.getEntriesByName('troupe:{screen}-rendered').pop(); return b.startTime - a.startTime;"
    );
    let value: Value = browser.execute(&read, Vec::new()).await?;
    value.as_f64().context("no timing")
}

fn summary(samples: &mut [f64]) -> String {
    samples.sort_by(f64::total_cmp);
    let median = samples[samples.len() / 2];
    format!(
        "median {median:.0} ms, min {:.0} ms, max {:.0} ms over {} runs",
        samples[0],
        samples[samples.len() - 1],
        samples.len()
    )
}

/// Writes `count` finished executions of a small pipeline and one of `steps` steps (each with
/// an attempt); returns the big one's id.
async fn seed(
    store: &dyn troupe_runtime::store::ExecutionStore,
    owner: UserId,
    count: usize,
    steps: usize,
) -> anyhow::Result<ExecutionId> {
    let small = PipelineDef::from_value(json!({"name": "seeded", "steps": [{"key": "only", "agent": "echo"}]}))?;
    let record = |def: &PipelineDef| {
        let now = troupe_runtime::model::now();
        ExecutionRecord {
            id: ExecutionId::new(),
            owner,
            project_id: None,
            pipeline_name: def.name.clone(),
            pipeline_hash: def.content_hash(),
            pipeline: std::sync::Arc::new(def.clone()),
            input: json!({}),
            status: ExecutionStatus::Completed,
            error: None,
            idempotency_key: None,
            created_at: now,
            updated_at: now,
            started_at: Some(now),
            finished_at: Some(now),
            lease_owner: None,
            lease_expires_at: None,
            lease_epoch: 0,
        }
    };
    for chunk in (0..count.saturating_sub(1)).collect::<Vec<_>>().chunks(500) {
        let batch =
            WriteBatch { new_executions: chunk.iter().map(|_| record(&small)).collect(), ..WriteBatch::default() };
        store.apply(&batch).await?;
    }
    let big_def = PipelineDef {
        name: "hundred".into(),
        description: None,
        on_failure: None,
        max_dynamic_steps: None,
        max_recoveries: None,
        budget: None,
        input_schema: None,
        steps: (0..steps)
            .map(|index| StepDef {
                depends_on: if index == 0 { Vec::new() } else { vec![format!("s{:03}", index - 1)] },
                ..StepDef::new(format!("s{index:03}"), "echo")
            })
            .collect(),
    };
    let big = record(&big_def);
    let id = big.id;
    let now = big.created_at;
    let mut batch = WriteBatch { new_executions: vec![big], ..WriteBatch::default() };
    for step in &big_def.steps {
        batch.steps.push(StepRecord {
            execution_id: id,
            key: step.key.as_str().into(),
            agent: step.agent.as_str().into(),
            status: StepStatus::Completed,
            attempt: 1,
            corrections: 0,
            output: None,
            error: None,
            started_at: Some(now),
            finished_at: Some(now),
            updated_at: now,
        });
        batch.attempts.push(AttemptRecord {
            execution_id: id,
            step_key: step.key.clone(),
            attempt: 1,
            kind: AttemptKind::Initial,
            status: AttemptStatus::Succeeded,
            input: std::sync::Arc::new(json!({})),
            output: Some(std::sync::Arc::new(json!({"step": step.key}))),
            error: None,
            started_at: now,
            finished_at: Some(now),
        });
    }
    store.apply(&batch).await?;
    Ok(id)
}
