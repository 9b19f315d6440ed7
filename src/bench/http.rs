//! `troupe bench http`: the gateway under load, on loopback, with rate limits off.
//!
//! The server (SQLite in a temporary data dir, the built-in agents) runs in this process; the
//! load generator runs in another (`troupe bench http-load`, see [`super::load`]), as a real
//! client would. Both raise their descriptor limits to the hard limit.
//!
//! 1. Closed loop: C connections each send the next request as soon as the last one is
//!    answered, for `--duration`; the maximum requests/s of `GET /executions/{id}` and
//!    `POST /executions` at 100 and 1000 connections.
//! 2. Open loop: requests at a fixed rate (half the maximum measured in 1) spread over 1000
//!    connections; latency is measured from when each request was *due*, so a stalled server
//!    cannot hide its queueing (no coordinated omission).
//! 3. WebSocket fan-out: K clients of one user (the per-user socket cap is raised to fit),
//!    each subscribed to one of E running executions; latency from an event's creation (its
//!    `at`) to its receipt by each subscriber.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};

use super::load::{Connection, Load, Request, Summary, in_child};
use crate::config::Config;
use crate::system::{Mode, Server, System};

/// Arguments of `troupe bench http`.
#[derive(Debug, Args)]
pub struct HttpBenchArgs {
    /// How long each closed- and open-loop measurement lasts.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// WebSocket subscriber counts to measure, comma-separated (each connection costs one
    /// descriptor in the server and one in the load generator).
    #[arg(long, value_delimiter = ',', default_values_t = [1000, 10_000])]
    pub ws_clients: Vec<usize>,
    /// Executions the WebSocket subscribers are spread over.
    #[arg(long, default_value_t = 100)]
    pub ws_executions: usize,
    /// Measures the WebSocket fan-out only (skips the request phases 1 and 2).
    #[arg(long)]
    pub ws_only: bool,
}

/// Runs the benchmark.
pub fn http(args: &HttpBenchArgs) -> anyhow::Result<std::process::ExitCode> {
    crate::system::raise_descriptor_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(args))?;
    Ok(std::process::ExitCode::SUCCESS)
}

async fn run(args: &HttpBenchArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("troupe-bench-http-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir)?;
    // The test configuration: cheap password hashing (logins are not measured), no rate limits;
    // every subscriber is the one bench user, so its socket cap makes room for all of them.
    let mut config = Config { node_id: Some("bench".into()), ..Config::for_tests(&dir) };
    let most_clients = args.ws_clients.iter().copied().max().unwrap_or(0);
    config.http.ws_max_connections_per_user = config.http.ws_max_connections_per_user.max(most_clients + 16);
    let server = System::open(config, Mode::Serve).await?.serve().await?;
    let result = measure(args, &server).await;
    server.shutdown().await?;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Waits until the executions the last phase created have finished, so phases do not overlap.
async fn settle(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while server.state.runtime.live_executions() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn measure(args: &HttpBenchArgs, server: &Server) -> anyhow::Result<()> {
    let addr = server.addr;
    let token = setup_user(addr).await?;
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    println!("troupe bench http — loopback, load generator in a separate process, {cores} cores, SQLite");
    println!("rate limits off; argon2 in its fast test setting (logins are not measured)\n");

    let (_, created) = call(addr, "POST", "/api/v1/executions", &token, Some(&one_step("bench-get"))).await?;
    let id = created["id"].as_str().context("a created execution")?.to_owned();
    let get = Request::new(addr, "GET", &format!("/api/v1/executions/{id}"), &token, None);
    let create_body = json!({"pipeline": one_step("bench-create")["pipeline"], "input": {}});
    let create = Request::new(addr, "POST", "/api/v1/executions", &token, Some(&create_body));
    let seconds = args.duration.as_secs_f64();
    if !args.ws_only {
        requests(server, [(&get, 200), (&create, 201)], seconds).await?;
    }
    fan_out(args, server, &token).await
}

/// Phases 1 and 2: the closed and the open loop of each request.
async fn requests(server: &Server, requests: [(&Request, u16); 2], seconds: f64) -> anyhow::Result<()> {
    println!("1. closed loop (each connection sends its next request when the last is answered)");
    println!("{:<34} {:>11} {:>10} {:>10} {:>10}", "", "requests/s", "p50 ms", "p99 ms", "errors");
    let mut maximum = [0.0f64; 2];
    let names = ["GET /executions/{id}", "POST /executions"];
    for (index, (request, expected)) in requests.into_iter().enumerate() {
        let name = names[index];
        for connections in [100, 1000] {
            settle(server).await;
            let load = Load::Closed { request: request.clone(), expected, connections, seconds };
            let result = in_child(&load).await?;
            maximum[index] = maximum[index].max(result.rate);
            println!(
                "{:<34} {:>11.0} {:>10.2} {:>10.2} {:>10}",
                format!("{name}, {connections} conns"),
                result.rate,
                result.p50,
                result.p99,
                result.errors
            );
        }
    }

    println!("\n2. open loop, 1000 connections, half the maximum rate (latency from each request's due time)");
    println!("{:<34} {:>11} {:>10} {:>10} {:>10}", "", "offered/s", "p50 ms", "p99 ms", "errors");
    for (index, (request, expected)) in requests.into_iter().enumerate() {
        let name = names[index];
        let rate = (maximum[index] / 2.0).max(1.0);
        settle(server).await;
        let load = Load::Open { request: request.clone(), expected, connections: 1000, rate, seconds };
        let result = in_child(&load).await?;
        println!("{:<34} {:>11.0} {:>10.2} {:>10.2} {:>10}", name, rate, result.p50, result.p99, result.errors);
    }

    Ok(())
}

/// Phase 3: WebSocket subscribers, each following one execution: first a burst (every
/// execution's steps at once: the most the server delivers), then the same executions paced
/// so that events are due at half that rate (as the open loop of phase 2 is).
async fn fan_out(args: &HttpBenchArgs, server: &Server, token: &str) -> anyhow::Result<()> {
    println!("\n3. WebSocket fan-out (latency from an event's creation to its receipt)");
    for &clients in &args.ws_clients {
        let executions = args.ws_executions.clamp(1, clients.max(1));
        let burst = fan_out_once(server, token, clients, executions, Duration::ZERO).await?;
        report(clients, executions, "burst (all executions' steps at once)", &burst);
        // Space the executions' starts so that their events come at half the burst's rate.
        let per_execution = burst.count as f64 / executions as f64;
        let stagger = Duration::from_secs_f64((2.0 * per_execution / burst.delivery_rate.max(1.0)).min(1.0));
        let paced = fan_out_once(server, token, clients, executions, stagger).await?;
        let label = format!("paced at half that rate (starts {:.1} ms apart)", stagger.as_secs_f64() * 1000.0);
        report(clients, executions, &label, &paced);
    }
    Ok(())
}

async fn fan_out_once(
    server: &Server,
    token: &str,
    clients: usize,
    executions: usize,
    stagger: Duration,
) -> anyhow::Result<Summary> {
    settle(server).await;
    let addr = server.addr;
    let ids = fan_out_executions(addr, token, clients, executions, stagger).await?;
    let load = Load::WebSocket { url: format!("ws://{addr}/api/v1/ws"), token: token.to_owned(), ids, clients };
    in_child(&load).await
}

fn report(clients: usize, executions: usize, label: &str, fan_out: &Summary) {
    println!(
        "{clients} subscribers over {executions} executions, {label} (set up in {:.1} s): {} events delivered \
         at {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} failed subscribers",
        fan_out.setup_seconds,
        fan_out.count,
        fan_out.delivery_rate,
        fan_out.p50,
        fan_out.p99,
        fan_out.max,
        fan_out.errors
    );
}

/// A one-step echo pipeline, inline.
fn one_step(name: &str) -> Value {
    json!({"pipeline": {"name": name, "steps": [{"key": "only", "agent": "echo"}]}, "input": {}})
}

async fn setup_user(addr: SocketAddr) -> anyhow::Result<String> {
    let credentials = json!({"email": "bench@example.com", "password": "bench-password"});
    call(addr, "POST", "/api/v1/auth/register", "", Some(&credentials)).await?;
    let (_, login) = call(addr, "POST", "/api/v1/auth/login", "", Some(&credentials)).await?;
    let token = login["access_token"].as_str().context("a login answer")?.to_owned();
    Ok(token)
}

/// One request, on its own connection.
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    let request = Request::new(addr, method, path, token, body);
    let mut connection = Connection::open(addr).await?;
    let (status, body) = connection.send(request.bytes.as_bytes()).await?;
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// Starts `executions` slow executions for the fan-out: a first step that waits long enough for
/// every client to connect and subscribe (execution `i` waits `i × stagger` longer), then five
/// steps of 50 ms whose events are measured.
async fn fan_out_executions(
    addr: SocketAddr,
    token: &str,
    clients: usize,
    executions: usize,
    stagger: Duration,
) -> anyhow::Result<Vec<String>> {
    let hold = Duration::from_millis(10_000 + 4 * clients as u64);
    let measured: Vec<Value> = (0..5)
        .map(|step| {
            let after = if step == 0 { "hold".to_owned() } else { format!("s{}", step - 1) };
            json!({"key": format!("s{step}"), "agent": "sleep", "depends_on": [after], "params": {"ms": 50}})
        })
        .collect();
    let mut ids = Vec::with_capacity(executions);
    for index in 0..executions {
        let hold_ms = (hold + stagger.mul_f64(index as f64)).as_millis() as u64;
        let mut steps = vec![json!({"key": "hold", "agent": "sleep", "params": {"ms": hold_ms}})];
        steps.extend(measured.iter().cloned());
        let body = json!({"pipeline": {"name": "bench-fan-out", "steps": steps}, "input": {}});
        let (status, created) = call(addr, "POST", "/api/v1/executions", token, Some(&body)).await?;
        if status != 201 {
            bail!("creating a fan-out execution answered {status}: {created}");
        }
        ids.push(created["id"].as_str().context("an id")?.to_owned());
    }
    Ok(ids)
}
