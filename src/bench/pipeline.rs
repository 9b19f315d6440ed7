//! `troupe bench pipeline`: orchestration throughput and latency.
//!
//! A 10-step linear pipeline (requirements → … → deploy) of stand-in agents that yield once
//! (or sleep a latency) and return the same 1 KiB output, which later steps receive in their
//! context. 20 warm-up executions run first, untimed; then all N executions are submitted at
//! once with no concurrency limit, and the clock stops when the last one completes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::json;
use tokio::sync::Notify;
use troupe_agents::demo::StandInAgent;
use troupe_runtime::events::EventSink;
use troupe_runtime::ids::ExecutionId;
use troupe_runtime::model::Event;
use troupe_runtime::pipeline::{PipelineDef, ValidatedPipeline};
use troupe_runtime::status::ExecutionStatus;
use troupe_runtime::store::{ExecutionStore, InMemoryStore};
use troupe_runtime::{AgentConfig, Runtime, RuntimeConfig, SubmitRequest};

pub(crate) const KINDS: [&str; 10] =
    ["requirements", "architect", "api_design", "db_design", "backend", "frontend", "infra", "build", "qa", "deploy"];
pub(crate) const WARM_UP: usize = 20;
pub(crate) const OUTPUT_BYTES: usize = 1000;

/// Arguments of `troupe bench pipeline`.
#[derive(Debug, Args)]
pub struct PipelineBenchArgs {
    /// Which case to run (default: all of the cases).
    #[arg(long, value_enum, default_value_t = Case::All)]
    pub case: Case,
    /// Worker threads; default: each case on 1 thread and on every core.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Executions (overrides the case's N).
    #[arg(long)]
    pub executions: Option<usize>,
    /// Orchestrator shards (default: one per worker thread).
    #[arg(long)]
    pub shards: Option<usize>,
    /// Runs of each case; the run with the median wall time is reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// PostgreSQL server for case (c): a scratch database is created there and dropped after
    /// (default: `--database-url`, then `TEST_DATABASE_URL`).
    #[arg(long)]
    pub postgres_url: Option<String>,
}

/// The benchmark cases of the runtime-core issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Case {
    /// Every case below.
    All,
    /// N=1000, no latency, in memory.
    A,
    /// N=1000 and N=10,000, 20 ms latency, in memory.
    B,
    /// N=2000, no latency, durable on SQLite and on PostgreSQL.
    C,
    /// N=1000, no latency, 10% of first attempts fail (seeded) and retry with no backoff.
    D,
}

#[derive(Clone, Copy, Debug)]
enum StoreKind {
    Memory,
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
struct Scenario {
    name: &'static str,
    executions: usize,
    latency: Duration,
    store: StoreKind,
    failure_rate: f64,
}

struct Report {
    scenario: Scenario,
    threads: usize,
    wall: Duration,
    steps: u64,
    cpu: Duration,
    p50: Duration,
    p99: Duration,
    peak_rss_kib: Option<u64>,
    failed: usize,
}

pub fn pipeline(args: &PipelineBenchArgs, database_url: Option<&str>) -> anyhow::Result<std::process::ExitCode> {
    let mut scenarios = Vec::new();
    let all = args.case == Case::All;
    let memory =
        |name, executions, latency| Scenario { name, executions, latency, store: StoreKind::Memory, failure_rate: 0.0 };
    if all || args.case == Case::A {
        scenarios.push(memory("a: no latency, memory", 1000, Duration::ZERO));
    }
    if all || args.case == Case::B {
        scenarios.push(memory("b: 20ms latency, memory", 1000, Duration::from_millis(20)));
        scenarios.push(memory("b: 20ms latency, memory", 10_000, Duration::from_millis(20)));
    }
    if all || args.case == Case::C {
        let durable =
            |name, store| Scenario { name, executions: 2000, latency: Duration::ZERO, store, failure_rate: 0.0 };
        scenarios.push(durable("c: no latency, sqlite", StoreKind::Sqlite));
        scenarios.push(durable("c: no latency, postgres", StoreKind::Postgres));
    }
    if all || args.case == Case::D {
        let mut scenario = memory("d: 10% first attempts fail, memory", 1000, Duration::ZERO);
        scenario.failure_rate = 0.1;
        scenarios.push(scenario);
    }
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let thread_counts = match args.threads {
        Some(threads) => vec![threads.max(1)],
        None if cores > 1 => vec![1, cores],
        None => vec![1],
    };
    let postgres_url = args
        .postgres_url
        .clone()
        .or_else(|| database_url.filter(|url| url.starts_with("postgres")).map(str::to_owned))
        .or_else(|| std::env::var("TEST_DATABASE_URL").ok());
    println!(
        "troupe bench pipeline — 10-step linear pipeline, {OUTPUT_BYTES}-byte outputs, {WARM_UP} warm-up executions"
    );
    println!(
        "machine: {cores} cores; each case runs {} times and the median run (by wall time) is shown\n",
        args.repeat.max(1)
    );
    println!(
        "{:<36} {:>7} {:>3} {:>9} {:>10} {:>11} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "case", "N", "thr", "wall ms", "exec/s", "steps/s", "ovh µs", "cpu µs", "p50 ms", "p99 ms", "RSS MiB"
    );
    for mut scenario in scenarios {
        if let Some(executions) = args.executions {
            scenario.executions = executions;
        }
        if matches!(scenario.store, StoreKind::Postgres) && postgres_url.is_none() {
            println!("{:<36} skipped: no PostgreSQL (give --postgres-url)", scenario.name);
            continue;
        }
        for &threads in &thread_counts {
            let tokio = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .enable_all()
                .build()
                .context("failed to build the async runtime")?;
            let mut reports = Vec::new();
            for _ in 0..args.repeat.max(1) {
                reports.push(tokio.block_on(run_scenario(
                    scenario.clone(),
                    threads,
                    args.shards.unwrap_or(threads),
                    postgres_url.as_deref(),
                ))?);
            }
            reports.sort_by_key(|report| report.wall);
            print_report(&reports[reports.len() / 2]);
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn print_report(report: &Report) {
    let seconds = report.wall.as_secs_f64();
    let ideal = report.scenario.latency.as_secs_f64() * KINDS.len() as f64;
    let overhead_us = (seconds - ideal).max(0.0) * 1e6 / report.steps as f64;
    println!(
        "{:<36} {:>7} {:>3} {:>9.1} {:>10.0} {:>11.0} {:>9.2} {:>9.2} {:>9.1} {:>9.1} {:>9}{}",
        report.scenario.name,
        report.scenario.executions,
        report.threads,
        seconds * 1e3,
        report.scenario.executions as f64 / seconds,
        report.steps as f64 / seconds,
        overhead_us,
        report.cpu.as_secs_f64() * 1e6 / report.steps as f64,
        report.p50.as_secs_f64() * 1e3,
        report.p99.as_secs_f64() * 1e3,
        report.peak_rss_kib.map_or("?".to_owned(), |kib| format!("{:.0}", kib as f64 / 1024.0)),
        if report.failed > 0 { format!("  ({} not completed)", report.failed) } else { String::new() },
    );
    if ideal > 0.0 {
        println!("{:<36} makespan {:.2}× the ideal {:.0} ms", "", seconds / ideal, ideal * 1e3);
    }
}

/// Records when each execution ended.
pub(crate) struct Finishes {
    pub(crate) ended: Mutex<HashMap<ExecutionId, (Instant, ExecutionStatus)>>,
    pub(crate) target: Mutex<usize>,
    pub(crate) done: Notify,
}

impl Finishes {
    /// Waits for `count` ends.
    pub(crate) fn expecting(count: usize) -> Arc<Self> {
        Arc::new(Self { ended: Mutex::default(), target: Mutex::new(count), done: Notify::new() })
    }
}

impl EventSink for Finishes {
    fn publish(&self, event: &Arc<Event>) {
        if let troupe_runtime::model::EventKind::ExecutionStatus { status, .. } = &event.kind
            && status.is_terminal()
        {
            let mut ended = self.ended.lock().expect("finish lock");
            ended.insert(event.execution_id, (Instant::now(), *status));
            if ended.len() >= *self.target.lock().expect("target lock") {
                self.done.notify_one();
            }
        }
    }
}

pub(crate) fn bench_pipeline(failure_rate: f64) -> PipelineDef {
    let retry = if failure_rate > 0.0 {
        Some(json!({"max_attempts": 3, "backoff": {"initial": "0s", "max": "0s"}}))
    } else {
        None
    };
    let steps: Vec<_> = KINDS
        .iter()
        .enumerate()
        .map(|(index, kind)| {
            let mut step = json!({ "key": kind, "agent": kind });
            if index > 0 {
                step["depends_on"] = json!([KINDS[index - 1]]);
            }
            if let Some(retry) = &retry {
                step["retry"] = retry.clone();
            }
            step
        })
        .collect();
    PipelineDef::from_value(json!({ "name": "bench", "steps": steps })).expect("the bench pipeline parses")
}

async fn run_scenario(
    scenario: Scenario,
    threads: usize,
    shards: usize,
    postgres_url: Option<&str>,
) -> anyhow::Result<Report> {
    let temp_dir = std::env::temp_dir().join(format!("troupe-bench-{}", uuid::Uuid::now_v7()));
    let mut scratch = None;
    let store: Arc<dyn ExecutionStore> = match scenario.store {
        StoreKind::Memory => Arc::new(InMemoryStore::new()),
        StoreKind::Sqlite => Arc::new(troupe_memory::SqliteStore::open(&temp_dir.join("bench.db")).await?),
        StoreKind::Postgres => {
            let url = postgres_url.context("no PostgreSQL URL")?;
            let database = troupe_memory::scratch::ScratchDatabase::create(url, "troupe_bench").await?;
            let store = troupe_memory::PostgresStore::connect(&database.url, 8).await?;
            scratch = Some(database);
            Arc::new(store)
        }
    };
    let finishes = Finishes::expecting(WARM_UP);
    let agent_config = AgentConfig { concurrency: AgentConfig::UNLIMITED, ..AgentConfig::default() };
    let config = RuntimeConfig { shards: shards.max(1), resume: false, ..RuntimeConfig::default() };
    let mut builder = Runtime::builder()
        .store(store)
        .config(config)
        .default_agent_config(agent_config)
        .event_sink(Arc::clone(&finishes) as Arc<dyn EventSink>);
    for kind in KINDS {
        let mut agent = StandInAgent::new(scenario.latency, OUTPUT_BYTES - 14);
        agent.first_attempt_failure = scenario.failure_rate;
        agent.seed = 7;
        builder = builder.agent(kind, agent);
    }
    let runtime = Arc::new(builder.start().await?);
    let pipeline = runtime.validate(bench_pipeline(scenario.failure_rate))?;

    // Warm-up, untimed.
    submit_all(std::slice::from_ref(&runtime), &pipeline, WARM_UP).await?;
    wait_for(&finishes, WARM_UP).await;
    finishes.ended.lock().expect("finish lock").clear();
    *finishes.target.lock().expect("target lock") = scenario.executions;

    reset_peak_rss();
    let cpu_before = process_cpu_time();
    let started = Instant::now();
    let submitted = submit_all(std::slice::from_ref(&runtime), &pipeline, scenario.executions).await?;
    wait_for(&finishes, scenario.executions).await;
    let wall = started.elapsed();
    let cpu = process_cpu_time().saturating_sub(cpu_before);
    let peak_rss_kib = peak_rss_kib();

    let ended = std::mem::take(&mut *finishes.ended.lock().expect("finish lock"));
    let mut latencies: Vec<Duration> = submitted
        .iter()
        .filter_map(|(id, start)| ended.get(id).map(|(end, _)| end.saturating_duration_since(*start)))
        .collect();
    latencies.sort();
    let failed = ended.values().filter(|(_, status)| *status != ExecutionStatus::Completed).count();
    let percentile = |fraction: f64| {
        latencies
            .get(((latencies.len() as f64 * fraction) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let report = Report {
        steps: (scenario.executions * KINDS.len()) as u64,
        p50: percentile(0.50),
        p99: percentile(0.99),
        scenario,
        threads,
        wall,
        cpu,
        peak_rss_kib,
        failed,
    };
    if let Ok(runtime) = Arc::try_unwrap(runtime) {
        runtime.shutdown().await;
    }
    if let Some(database) = scratch {
        database.drop_database().await;
    }
    let _ = std::fs::remove_dir_all(&temp_dir);
    Ok(report)
}

/// Submits `count` executions at once, round-robin through `nodes`; returns their ids with the
/// instant each was submitted.
pub(crate) async fn submit_all(
    nodes: &[Arc<Runtime>],
    pipeline: &ValidatedPipeline,
    count: usize,
) -> anyhow::Result<Vec<(ExecutionId, Instant)>> {
    let mut tasks = Vec::with_capacity(count);
    for index in 0..count {
        let runtime = Arc::clone(&nodes[index % nodes.len()]);
        let request = SubmitRequest::new(pipeline.clone(), json!({"idea": "benchmark"}));
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            runtime.submit(request).await.map(|id| (id, start))
        }));
    }
    let mut submitted = Vec::with_capacity(count);
    for task in tasks {
        submitted.push(task.await??);
    }
    Ok(submitted)
}

pub(crate) async fn wait_for(finishes: &Finishes, count: usize) {
    loop {
        let notified = finishes.done.notified();
        if finishes.ended.lock().expect("finish lock").len() >= count {
            return;
        }
        notified.await;
    }
}

/// Resets the kernel's peak-RSS counter of this process (Linux), so each case reports its own.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| line.strip_prefix("VmHWM:")?.trim().strip_suffix("kB")?.trim().parse().ok())
}

/// User plus system CPU time of the whole process (Linux; zero elsewhere).
fn process_cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return Duration::ZERO };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else { return Duration::ZERO };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    // The kernel reports in USER_HZ, 100 on Linux.
    Duration::from_millis(ticks * 10)
}
