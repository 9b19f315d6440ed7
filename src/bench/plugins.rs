//! `troupe bench plugins`: how much a misbehaving plugin costs the production track.
//!
//! Track 1 is N executions of a 10-step pipeline of stand-in agents that yield once (the
//! orchestration-bound case, the most sensitive to a stolen core), submitted at once, on the
//! in-memory store. It runs three ways, taking turns, `--repeat` times each (the median run is
//! reported):
//! alone; beside a plugin that traps on every run, kept crashing (its restart intensity set so
//! it is never disabled) by `--pressure` loops running its steps; and beside a plugin that
//! burns its CPU (a counting loop of about 50 ms) under the same loops. Plugins run on the
//! plugin pool's own thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde_json::json;
use troupe_agents::demo::StandInAgent;
use troupe_plugins::HostConfig;

use crate::config::Config;
use crate::config::secrets::Secrets;
use troupe_runtime::agent::StepContext;
use troupe_runtime::ids::{ExecutionId, UserId};
use troupe_runtime::pipeline::{PipelineDef, ValidatedPipeline};
use troupe_runtime::supervision::RestartPolicy;
use troupe_runtime::{AgentConfig, Runtime, RuntimeConfig, SubmitRequest};

/// Arguments of `troupe bench plugins`.
#[derive(Debug, Args)]
pub struct PluginBenchArgs {
    /// Track-1 executions per run.
    #[arg(long, default_value_t = 10_000)]
    pub executions: usize,
    /// Loops running plugin steps beside track 1.
    #[arg(long, default_value_t = 4)]
    pub pressure: usize,
    /// Runs of each case (taking turns); the median is reported.
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
}

const STEPS: usize = 10;

/// Traps on every run.
const CRASHER: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "troupe_abi_version") (result i32) (i32.const 1))
  (func (export "troupe_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "troupe_run") (param i32 i32) (result i64) (unreachable)))"#;

/// Counts to 40 million, then answers `{"output":{}}`.
const BURNER: &str = r#"(module
  (memory (export "memory") 1)
  (data (i32.const 0) "{\22output\22:{}}")
  (func (export "troupe_abi_version") (result i32) (i32.const 1))
  (func (export "troupe_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "troupe_run") (param i32 i32) (result i64)
    (local $i i32)
    (loop $spin
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $spin (i32.lt_u (local.get $i) (i32.const 40000000))))
    (i64.const 13)))"#;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Load {
    None,
    Crashing,
    Burning,
}

impl Load {
    fn label(self) -> &'static str {
        match self {
            Load::None => "track 1 alone",
            Load::Crashing => "beside a plugin crashing in a loop",
            Load::Burning => "beside a CPU-burning plugin",
        }
    }
}

/// Runs the benchmark and prints its figures.
pub fn plugins(args: &PluginBenchArgs) -> anyhow::Result<std::process::ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("async runtime")?;
    runtime.block_on(async {
        println!(
            "troupe bench plugins: {} executions × {STEPS} steps of track 1 (stand-ins, in memory), {} loops running plugin \
             steps beside them, median of {} runs, {} cores",
            args.executions,
            args.pressure,
            args.repeat.max(1),
            std::thread::available_parallelism().map_or(1, usize::from)
        );
        // The cases take turns, so a slow spell of the machine hits all of them alike.
        let loads = [Load::None, Load::Crashing, Load::Burning];
        let mut results: Vec<Vec<Outcome>> = loads.iter().map(|_| Vec::new()).collect();
        for _ in 0..args.repeat.max(1) {
            for (load, runs) in loads.iter().zip(&mut results) {
                runs.push(run(args, *load).await?);
            }
        }
        let mut baseline = None;
        for (load, mut runs) in loads.into_iter().zip(results) {
            runs.sort_by(|a, b| a.throughput.total_cmp(&b.throughput));
            let median = runs.swap_remove(runs.len() / 2);
            let base = *baseline.get_or_insert(median.throughput);
            println!(
                "  {:<38} {:>8.0} executions/s  ({:>5.1}% of alone)  plugin steps {:>5}, plugin crashes {:>5}",
                load.label(),
                median.throughput,
                100.0 * median.throughput / base,
                median.plugin_runs,
                median.plugin_failures
            );
        }
        Ok(std::process::ExitCode::SUCCESS)
    })
}

struct Outcome {
    throughput: f64,
    plugin_runs: u64,
    plugin_failures: u64,
}

fn linear() -> PipelineDef {
    let steps: Vec<_> = (0..STEPS)
        .map(|index| {
            let mut step = json!({ "key": format!("s{index}"), "agent": format!("k{index}") });
            if index > 0 {
                step["depends_on"] = json!([format!("s{}", index - 1)]);
            }
            step
        })
        .collect();
    PipelineDef::from_value(json!({"name": "track-one", "steps": steps})).expect("the bench pipeline parses")
}

async fn run(args: &PluginBenchArgs, load: Load) -> anyhow::Result<Outcome> {
    let dir = std::env::temp_dir().join(format!("troupe-bench-plugins-{}", uuid::Uuid::now_v7()));
    let config = Config {
        plugins: HostConfig {
            // Kept crashing for the whole run: never disabled, restarted at once.
            restart: RestartPolicy {
                max_restarts: u32::MAX,
                period: Duration::from_secs(1),
                backoff_initial: Duration::from_millis(1),
                backoff_max: Duration::from_millis(1),
            },
            ..HostConfig::default()
        },
        ..Config::for_tests(&dir)
    };
    let stores = crate::system::open_stores(&config).await?;
    let registry = crate::system::open_plugins(&config, &stores, &Secrets::load(&config)?).await?;
    let host = registry.host().clone();
    let agent_config = AgentConfig { concurrency: AgentConfig::UNLIMITED, ..AgentConfig::default() };
    let mut builder = Runtime::builder()
        .config(RuntimeConfig { resume: false, ..RuntimeConfig::default() })
        .default_agent_config(agent_config);
    for index in 0..STEPS {
        builder = builder.agent(format!("k{index}"), StandInAgent::new(Duration::ZERO, 1000));
    }
    let runtime = Arc::new(builder.start().await?);
    let plugin = match load {
        Load::None => None,
        Load::Crashing | Load::Burning => {
            let (name, module) = if load == Load::Crashing { ("crasher", CRASHER) } else { ("burner", BURNER) };
            let manifest = json!({"name": name, "version": "1.0.0", "kind": "wasm", "track": "custom", "entry": "m.wat",
                "limits": {"fuel": 1_000_000_000u64, "timeout": "5s"}});
            registry.register(manifest, Some(module.as_bytes().to_vec()), UserId::LOCAL, &[]).await?;
            registry.sync(&runtime).await?;
            Some(name)
        }
    };
    let track_one = runtime.validate(linear())?;
    // Warm-up, untimed.
    submit_and_wait(&runtime, &track_one, 50).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let plugin_runs = Arc::new(AtomicU64::new(0));
    let mut pressure = Vec::new();
    if let Some(name) = plugin {
        // The plugin's steps are driven through its agent directly, so the figure is the cost
        // of the plugin track itself (sandbox, actor, supervisor), not of orchestrating more
        // executions; a failed step waits a retry backoff of 1 ms, as a step's policy would.
        let agent = (host.agent_factory(name))();
        for _ in 0..args.pressure {
            let (agent, stop, runs) = (Arc::clone(&agent), Arc::clone(&stop), Arc::clone(&plugin_runs));
            pressure.push(tokio::spawn(async move {
                while !stop.load(Ordering::Acquire) {
                    let failed = agent.run(context()).await.is_err();
                    runs.fetch_add(1, Ordering::Relaxed);
                    if failed {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }));
        }
    }
    let started = Instant::now();
    submit_and_wait(&runtime, &track_one, args.executions).await?;
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Release);
    for task in pressure {
        let _ = task.await;
    }
    let failures = plugin.and_then(|name| host.status(name)).map_or(0, |status| status.failures);
    host.stop();
    if let Ok(runtime) = Arc::try_unwrap(runtime) {
        runtime.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Outcome {
        throughput: args.executions as f64 / elapsed.as_secs_f64(),
        plugin_runs: plugin_runs.load(Ordering::Relaxed),
        plugin_failures: failures,
    })
}

/// A step context for driving a plugin's agent outside any execution.
fn context() -> StepContext {
    StepContext {
        execution_id: ExecutionId::new(),
        owner: UserId::LOCAL,
        step_key: "plugin".into(),
        input: Arc::new(json!({})),
        dependencies: Vec::new(),
        params: Arc::new(serde_json::Value::Null),
        attempt: 1,
        correction: None,
        failure: None,
        deadline: tokio::time::Instant::now() + Duration::from_secs(30),
        cancel: tokio_util::sync::CancellationToken::new(),
        telemetry: Arc::default(),
        memories: Vec::new(),
    }
}

/// Submits `count` executions at once and waits for all of them.
async fn submit_and_wait(runtime: &Runtime, pipeline: &ValidatedPipeline, count: usize) -> anyhow::Result<()> {
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        ids.push(runtime.submit(SubmitRequest::new(pipeline.clone(), json!({}))).await?);
    }
    for id in ids {
        runtime.wait(id).await?;
    }
    Ok(())
}
