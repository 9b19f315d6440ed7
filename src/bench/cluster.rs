//! `troupe bench cluster`: several nodes sharing one PostgreSQL database.
//!
//! The nodes run in this one process, each with its own runtime, connection pool and signal
//! listener: they meet only in the database, as separate machines would. Three cases:
//!
//! - **throughput**: case (c) of `bench pipeline` (10-step linear pipelines of stand-in agents,
//!   no latency, durable on PostgreSQL) through one node, then through three (submitted
//!   round-robin through the same `Runtime::submit` path);
//! - **delivery**: node A runs executions at a paced rate of events; node B follows every
//!   execution (`subscribe_all`); the latency is from A publishing an event (once durable) to B
//!   receiving it;
//! - **takeover**: node A holds executions of slow steps and stops as if killed (nothing
//!   handed back); the time until B and C run every one of them again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde_json::json;
use troupe_agents::demo::StandInAgent;
use troupe_runtime::events::EventSink;
use troupe_runtime::ids::ExecutionId;
use troupe_runtime::model::Event;
use troupe_runtime::{AgentConfig, Runtime, RuntimeConfig, SubmitRequest};

use super::pipeline::{Finishes, KINDS, OUTPUT_BYTES, WARM_UP, bench_pipeline, submit_all, wait_for};

/// Arguments of `troupe bench cluster`.
#[derive(Debug, Args)]
pub struct ClusterBenchArgs {
    /// PostgreSQL server: a scratch database is created there per case and dropped after
    /// (default: `--database-url`, then `TEST_DATABASE_URL`).
    #[arg(long)]
    pub postgres_url: Option<String>,
    /// Executions of the throughput case.
    #[arg(long, default_value_t = 2000)]
    pub executions: usize,
    /// Events per second of the delivery case.
    #[arg(long, default_value_t = 1000)]
    pub events_per_second: usize,
    /// How long the delivery case runs.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// The lease period of the takeover case.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub lease: Duration,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

/// Runs the three cases and prints their figures.
pub fn cluster(args: &ClusterBenchArgs, database_url: Option<&str>) -> anyhow::Result<std::process::ExitCode> {
    let url = args
        .postgres_url
        .clone()
        .or_else(|| database_url.filter(|url| url.starts_with("postgres")).map(str::to_owned))
        .or_else(|| std::env::var("TEST_DATABASE_URL").ok())
        .context("the cluster benchmark needs PostgreSQL: give --postgres-url")?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads.max(1)).enable_all().build()?;
    runtime.block_on(async {
        println!(
            "troupe bench cluster — nodes in one process sharing one PostgreSQL database, {} threads",
            args.threads
        );
        let one = throughput(&url, 1, args.executions).await?;
        let three = throughput(&url, 3, args.executions).await?;
        println!(
            "throughput (case c, N={}): 1 node {one:.0} steps/s, 3 nodes {three:.0} steps/s ({:.0}% of one)",
            args.executions,
            three / one * 100.0
        );
        delivery(&url, args.events_per_second, args.duration).await?;
        takeover(&url, args.lease).await
    })?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// Starts node `id` on the database at `url`.
async fn node(
    url: &str,
    id: &str,
    lease: Duration,
    latency: Duration,
    sink: Option<Arc<dyn EventSink>>,
) -> anyhow::Result<Runtime> {
    let store = Arc::new(troupe_memory::PostgresStore::connect(url, 8).await?);
    let signals = troupe_memory::PgSignals::connect(url).await?;
    let config = RuntimeConfig { node_id: id.to_owned(), lease_ttl: lease, claims: true, ..RuntimeConfig::default() };
    let agent_config = AgentConfig { concurrency: AgentConfig::UNLIMITED, ..AgentConfig::default() };
    let mut builder =
        Runtime::builder().store(store).signals(signals).config(config).default_agent_config(agent_config);
    if let Some(sink) = sink {
        builder = builder.event_sink(sink);
    }
    for kind in KINDS {
        builder = builder.agent(kind, StandInAgent::new(latency, OUTPUT_BYTES - 14));
    }
    Ok(builder.start().await?)
}

async fn stop(nodes: Vec<Arc<Runtime>>) {
    for node in nodes {
        if let Ok(node) = Arc::try_unwrap(node) {
            node.shutdown().await;
        }
    }
}

/// Steps per second of case (c) through `count` nodes.
async fn throughput(url: &str, count: usize, executions: usize) -> anyhow::Result<f64> {
    let database = troupe_memory::scratch::ScratchDatabase::create(url, "troupe_bench").await?;
    let finishes = Finishes::expecting(WARM_UP);
    let mut nodes = Vec::with_capacity(count);
    for index in 0..count {
        let sink = Arc::clone(&finishes) as Arc<dyn EventSink>;
        let id = format!("bench-{index}");
        nodes.push(Arc::new(node(&database.url, &id, Duration::from_secs(30), Duration::ZERO, Some(sink)).await?));
    }
    let pipeline = nodes[0].validate(bench_pipeline(0.0))?;
    submit_all(&nodes, &pipeline, WARM_UP).await?;
    wait_for(&finishes, WARM_UP).await;
    finishes.ended.lock().expect("finish lock").clear();
    *finishes.target.lock().expect("target lock") = executions;
    let started = Instant::now();
    submit_all(&nodes, &pipeline, executions).await?;
    wait_for(&finishes, executions).await;
    let seconds = started.elapsed().as_secs_f64();
    stop(nodes).await;
    database.drop_database().await;
    Ok((executions * KINDS.len()) as f64 / seconds)
}

/// When each event was published by its node and received by another.
#[derive(Default)]
struct Stamps(Mutex<HashMap<(ExecutionId, u64), Instant>>);

impl EventSink for Stamps {
    fn publish(&self, event: &Arc<Event>) {
        self.0.lock().expect("stamps lock").insert((event.execution_id, event.seq), Instant::now());
    }
}

/// Cross-node event delivery latency at a paced rate of events.
async fn delivery(url: &str, events_per_second: usize, duration: Duration) -> anyhow::Result<()> {
    let database = troupe_memory::scratch::ScratchDatabase::create(url, "troupe_bench").await?;
    let published = Arc::new(Stamps::default());
    let step = Duration::from_millis(10);
    let a = Arc::new(
        node(&database.url, "bench-a", Duration::from_secs(30), step, Some(Arc::clone(&published) as _)).await?,
    );
    let b = Arc::new(node(&database.url, "bench-b", Duration::from_secs(30), step, None).await?);
    let received = Arc::new(Stamps::default());
    let mut events = b.subscribe_all();
    let follower = {
        let received = Arc::clone(&received);
        tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                received.publish(&event);
            }
        })
    };
    let pipeline = a.validate(bench_pipeline(0.0))?;
    // One execution of the pipeline writes this many events; pace executions to the rate.
    let probe = a.submit(SubmitRequest::new(pipeline.clone(), json!({}))).await?;
    a.wait(probe).await?;
    let per_execution = a.store().list_events(probe, 0, 10_000).await?.len().max(1);
    let interval = Duration::from_secs_f64(per_execution as f64 / events_per_second.max(1) as f64);
    let mut ticker = tokio::time::interval(interval);
    let until = Instant::now() + duration;
    let mut submitted = Vec::new();
    while Instant::now() < until {
        ticker.tick().await;
        let a = Arc::clone(&a);
        let request = SubmitRequest::new(pipeline.clone(), json!({}));
        submitted.push(tokio::spawn(async move { a.submit(request).await }));
    }
    let mut ids = Vec::with_capacity(submitted.len());
    for task in submitted {
        ids.push(task.await??);
    }
    for id in &ids {
        a.wait(*id).await?;
    }
    // Let the last notifications arrive.
    let expected = ids.len() * per_execution;
    let deadline = Instant::now() + Duration::from_secs(10);
    while received_of(&received, &ids) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    follower.abort();
    let latencies = {
        let published = published.0.lock().expect("stamps lock");
        let received = received.0.lock().expect("stamps lock");
        let mut latencies: Vec<Duration> = ids
            .iter()
            .flat_map(|id| (1..=per_execution as u64).map(move |seq| (*id, seq)))
            .filter_map(|key| Some(received.get(&key)?.saturating_duration_since(*published.get(&key)?)))
            .collect();
        latencies.sort();
        latencies
    };
    let at = |fraction: f64| {
        latencies.get(((latencies.len() as f64 * fraction) as usize).min(latencies.len().saturating_sub(1))).copied()
    };
    println!(
        "delivery ({events_per_second} events/s for {duration:?}, {} events): received {} on the other node, \
         latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        expected,
        latencies.len(),
        at(0.5).unwrap_or_default().as_secs_f64() * 1e3,
        at(0.99).unwrap_or_default().as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    stop(vec![a, b]).await;
    database.drop_database().await;
    Ok(())
}

fn received_of(received: &Stamps, ids: &[ExecutionId]) -> usize {
    let received = received.0.lock().expect("stamps lock");
    received.keys().filter(|(id, _)| ids.contains(id)).count()
}

/// The time until a dead node's executions run again on the others.
async fn takeover(url: &str, lease: Duration) -> anyhow::Result<()> {
    const EXECUTIONS: usize = 60;
    let database = troupe_memory::scratch::ScratchDatabase::create(url, "troupe_bench").await?;
    let slow = Duration::from_secs(2);
    let a = node(&database.url, "bench-a", lease, slow, None).await?;
    let b = Arc::new(node(&database.url, "bench-b", lease, slow, None).await?);
    let c = Arc::new(node(&database.url, "bench-c", lease, slow, None).await?);
    let pipeline = a.validate(bench_pipeline(0.0))?;
    let mut ids = Vec::with_capacity(EXECUTIONS);
    for _ in 0..EXECUTIONS {
        ids.push(a.submit(SubmitRequest::new(pipeline.clone(), json!({}))).await?);
    }
    let store = Arc::clone(a.store());
    let killed = Instant::now();
    a.halt().await;
    let mut first = None;
    loop {
        let held = store.leased_by("bench-b").await?.len() + store.leased_by("bench-c").await?.len();
        if held > 0 && first.is_none() {
            first = Some(killed.elapsed());
        }
        if held >= EXECUTIONS {
            break;
        }
        anyhow::ensure!(killed.elapsed() < lease * 10, "the other nodes did not take the work over");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let all = killed.elapsed();
    println!(
        "takeover ({EXECUTIONS} executions, lease {lease:?}): first running again after {:.2} s, all after {:.2} s \
         ({:.2} lease periods; goal ≤ 2)",
        first.unwrap_or_default().as_secs_f64(),
        all.as_secs_f64(),
        all.as_secs_f64() / lease.as_secs_f64()
    );
    stop(vec![b, c]).await;
    database.drop_database().await;
    Ok(())
}
