//! `troupe bench http`: the gateway under load, on loopback, with rate limits off.
//!
//! The server (SQLite in a temporary data dir, the built-in agents) and the load generator run
//! in this one process and share its cores; the generator is a minimal keep-alive HTTP/1.1
//! client over raw sockets, so it costs far less per request than the server does.
//!
//! 1. Closed loop: C connections each send the next request as soon as the last one is
//!    answered, for `--duration`; the maximum requests/s of `GET /executions/{id}` and
//!    `POST /executions` at 100 and 1000 connections.
//! 2. Open loop: requests at a fixed rate (half the maximum measured in 1) spread over 1000
//!    connections; latency is measured from when each request was *due*, so a stalled server
//!    cannot hide its queueing (no coordinated omission).
//! 3. WebSocket fan-out: K clients, each subscribed to one of E running executions; latency
//!    from an event's creation (its `at`) to its receipt by each subscriber.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::config::Config;
use crate::system::{Mode, Server, System};

/// Arguments of `troupe bench http`.
#[derive(Debug, Args)]
pub struct HttpBenchArgs {
    /// How long each closed- and open-loop measurement lasts.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// WebSocket subscriber counts to measure, comma-separated (each connection costs two
    /// descriptors in this process; 9000 fits a 20,000 descriptor limit).
    #[arg(long, value_delimiter = ',', default_values_t = [1000, 9000])]
    pub ws_clients: Vec<usize>,
    /// Executions the WebSocket subscribers are spread over.
    #[arg(long, default_value_t = 100)]
    pub ws_executions: usize,
}

/// Runs the benchmark.
pub fn http(args: &HttpBenchArgs) -> anyhow::Result<std::process::ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(args))?;
    Ok(std::process::ExitCode::SUCCESS)
}

async fn run(args: &HttpBenchArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("troupe-bench-http-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir)?;
    // The test configuration: cheap password hashing (logins are not measured), no rate limits.
    let config = Config { node_id: Some("bench".into()), ..Config::for_tests(&dir) };
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
    println!("troupe bench http — loopback, server and load generator in one process, {cores} cores, SQLite");
    println!("rate limits off; argon2 in its fast test setting (logins are not measured)\n");

    let (_, created) = call(addr, "POST", "/api/v1/executions", &token, Some(&one_step("bench-get"))).await?;
    let id = created["id"].as_str().context("a created execution")?.to_owned();
    let get = Request::new(addr, "GET", &format!("/api/v1/executions/{id}"), &token, None);
    let create_body = json!({"pipeline": one_step("bench-create")["pipeline"], "input": {}});
    let create = Request::new(addr, "POST", "/api/v1/executions", &token, Some(&create_body));

    println!("1. closed loop (each connection sends its next request when the last is answered)");
    println!("{:<34} {:>11} {:>10} {:>10} {:>10}", "", "requests/s", "p50 ms", "p99 ms", "errors");
    let mut maximum = [0.0f64; 2];
    for (index, (name, request, expected)) in
        [("GET /executions/{id}", &get, 200), ("POST /executions", &create, 201)].into_iter().enumerate()
    {
        for connections in [100, 1000] {
            settle(server).await;
            let result = closed_loop(request, expected, connections, args.duration).await?;
            maximum[index] = maximum[index].max(result.rate);
            println!(
                "{:<34} {:>11.0} {:>10.2} {:>10.2} {:>10}",
                format!("{name}, {connections} conns"),
                result.rate,
                result.percentile(0.50),
                result.percentile(0.99),
                result.errors
            );
        }
    }

    println!("\n2. open loop, 1000 connections, half the maximum rate (latency from each request's due time)");
    println!("{:<34} {:>11} {:>10} {:>10} {:>10}", "", "offered/s", "p50 ms", "p99 ms", "errors");
    for (index, (name, request, expected)) in
        [("GET /executions/{id}", &get, 200), ("POST /executions", &create, 201)].into_iter().enumerate()
    {
        let rate = (maximum[index] / 2.0).max(1.0);
        settle(server).await;
        let result = open_loop(request, expected, 1000, rate, args.duration).await?;
        println!(
            "{:<34} {:>11.0} {:>10.2} {:>10.2} {:>10}",
            name,
            rate,
            result.percentile(0.50),
            result.percentile(0.99),
            result.errors
        );
    }

    println!("\n3. WebSocket fan-out (latency from an event's creation to its receipt)");
    for &clients in &args.ws_clients {
        settle(server).await;
        let fan_out = ws_fan_out(addr, &token, clients, args.ws_executions).await?;
        println!(
            "{clients} subscribers over {} executions: {} events delivered, p50 {:.2} ms, p99 {:.2} ms, \
             max {:.2} ms, {} failed subscribers",
            args.ws_executions,
            fan_out.latencies.len(),
            fan_out.percentile(0.50),
            fan_out.percentile(0.99),
            fan_out.percentile(1.0),
            fan_out.errors
        );
    }
    Ok(())
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
    let (status, body) = connection.send(&request.bytes).await?;
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// A request serialised once and sent many times.
struct Request {
    addr: SocketAddr,
    bytes: Vec<u8>,
}

impl Request {
    fn new(addr: SocketAddr, method: &str, path: &str, token: &str, body: Option<&Value>) -> Self {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n", body.len());
        if !token.is_empty() {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if !body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        Self { addr, bytes }
    }
}

/// A keep-alive HTTP/1.1 connection.
struct Connection {
    stream: BufReader<TcpStream>,
    line: String,
}

impl Connection {
    async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self { stream: BufReader::new(stream), line: String::new() })
    }

    /// Sends a request and reads the whole response; returns its status and body.
    async fn send(&mut self, request: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
        self.stream.get_mut().write_all(request).await?;
        self.line.clear();
        self.stream.read_line(&mut self.line).await?;
        let status = self.line.split(' ').nth(1).and_then(|code| code.parse().ok()).context("a status line")?;
        let mut length = 0usize;
        loop {
            self.line.clear();
            if self.stream.read_line(&mut self.line).await? == 0 {
                bail!("the connection closed");
            }
            let line = self.line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse()?;
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok((status, body))
    }
}

/// Latencies (ms) and counts of one measurement.
#[derive(Default)]
struct Sample {
    latencies: Vec<f64>,
    errors: u64,
    rate: f64,
}

impl Sample {
    fn merge(&mut self, other: Sample) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
    }

    /// Records one answer (latency since `since`, or an error); returns whether the
    /// connection is still usable.
    fn record(&mut self, answer: anyhow::Result<(u16, Vec<u8>)>, expected: u16, since: tokio::time::Instant) -> bool {
        match answer {
            Ok((status, _)) if status == expected => {
                self.latencies.push(since.elapsed().as_secs_f64() * 1000.0);
                true
            }
            Ok(_) => {
                self.errors += 1;
                true
            }
            Err(_) => {
                self.errors += 1;
                false
            }
        }
    }

    fn percentile(&self, quantile: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.latencies.clone();
        sorted.sort_by(f64::total_cmp);
        let index = ((sorted.len() as f64 * quantile).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[index]
    }
}

async fn closed_loop(
    request: &Request,
    expected: u16,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Sample> {
    let bytes = Arc::new(request.bytes.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (bytes, stop, addr) = (Arc::clone(&bytes), Arc::clone(&stop), request.addr);
        tasks.push(tokio::spawn(async move {
            let mut sample = Sample::default();
            let Ok(mut connection) = Connection::open(addr).await else {
                sample.errors += 1;
                return sample;
            };
            while !stop.load(Ordering::Relaxed) {
                let started = tokio::time::Instant::now();
                if !sample.record(connection.send(&bytes).await, expected, started) {
                    break;
                }
            }
            sample
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = Sample::default();
    for task in tasks {
        total.merge(task.await?);
    }
    total.rate = total.latencies.len() as f64 / started.elapsed().as_secs_f64();
    Ok(total)
}

async fn open_loop(
    request: &Request,
    expected: u16,
    connections: usize,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<Sample> {
    let bytes = Arc::new(request.bytes.clone());
    // Connect first: the schedule starts when every connection is open.
    let mut opened = Vec::with_capacity(connections);
    for _ in 0..connections {
        opened.push(Connection::open(request.addr).await?);
    }
    let per_connection = Duration::from_secs_f64(connections as f64 / rate);
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let end = start + duration;
    let mut tasks = Vec::with_capacity(connections);
    for (index, mut connection) in opened.into_iter().enumerate() {
        let bytes = Arc::clone(&bytes);
        // Spread the connections' schedules evenly over one period.
        let first = start + per_connection.mul_f64(index as f64 / connections as f64);
        tasks.push(tokio::spawn(async move {
            let mut sample = Sample::default();
            let mut schedule = tokio::time::interval_at(first, per_connection);
            schedule.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            loop {
                let due = schedule.tick().await;
                if due >= end || !sample.record(connection.send(&bytes).await, expected, due) {
                    break;
                }
            }
            sample
        }));
    }
    let mut total = Sample::default();
    for task in tasks {
        total.merge(task.await?);
    }
    Ok(total)
}

/// Starts `executions` slow executions, subscribes `clients` WebSockets to them while their
/// first step sleeps, and measures the delivery of every later event.
async fn ws_fan_out(addr: SocketAddr, token: &str, clients: usize, executions: usize) -> anyhow::Result<Sample> {
    let executions = executions.clamp(1, clients.max(1));
    // The first step waits long enough for every client to connect and subscribe; the
    // measured events are those of the steps after it.
    let hold_ms = 10_000 + 4 * clients as u64;
    let mut steps = vec![json!({"key": "hold", "agent": "sleep", "params": {"ms": hold_ms}})];
    for index in 0..5 {
        let after = if index == 0 { "hold".to_owned() } else { format!("s{}", index - 1) };
        steps.push(json!({"key": format!("s{index}"), "agent": "sleep", "depends_on": [after], "params": {"ms": 50}}));
    }
    let body = json!({"pipeline": {"name": "bench-fan-out", "steps": steps}, "input": {}});
    let mut ids = Vec::with_capacity(executions);
    for _ in 0..executions {
        let (status, created) = call(addr, "POST", "/api/v1/executions", token, Some(&body)).await?;
        if status != 201 {
            bail!("creating a fan-out execution answered {status}: {created}");
        }
        ids.push(created["id"].as_str().context("an id")?.to_owned());
    }
    let ready = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let url = format!("ws://{addr}/api/v1/ws");
    // At most this many handshakes at once: a burst of thousands of connects overflows the
    // listen backlog and the kernel's SYN retries (1 s, 3 s, …) would be measured instead.
    let connecting = Arc::new(tokio::sync::Semaphore::new(256));
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let (url, token, id, ready, connecting) = (
            url.clone(),
            token.to_owned(),
            ids[client % executions].clone(),
            Arc::clone(&ready),
            Arc::clone(&connecting),
        );
        tasks.push(tokio::spawn(async move { subscriber(url, token, id, ready, connecting).await }));
    }
    let connecting = Instant::now();
    ready.wait().await;
    println!(
        "({clients} subscribers connected, authenticated and subscribed in {:.1} s)",
        connecting.elapsed().as_secs_f64()
    );
    let mut total = Sample::default();
    for task in tasks {
        total.merge(task.await?);
    }
    Ok(total)
}

/// The fields of a WebSocket message the subscriber reads (borrowed, to keep the load
/// generator's own cost low).
#[derive(serde::Deserialize)]
struct EventMessage<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(borrow)]
    event: Option<EventFields<'a>>,
}

#[derive(serde::Deserialize)]
struct EventFields<'a> {
    at: chrono::DateTime<chrono::Utc>,
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(borrow)]
    status: Option<&'a str>,
}

/// One WebSocket subscriber: connects, authenticates, subscribes, waits for the others, then
/// records the delivery latency of every event created after that until the terminal one.
async fn subscriber(
    url: String,
    token: String,
    id: String,
    ready: Arc<tokio::sync::Barrier>,
    connecting: Arc<tokio::sync::Semaphore>,
) -> Sample {
    let mut sample = Sample::default();
    let connected = async {
        let _permit = connecting.acquire().await.ok()?;
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4 * 1024);
        let (mut stream, _) = tokio_tungstenite::connect_async_with_config(&url, Some(config), true).await.ok()?;
        stream.send(Message::text(json!({"type": "auth", "token": token}).to_string())).await.ok()?;
        stream.send(Message::text(json!({"type": "subscribe", "execution_id": id}).to_string())).await.ok()?;
        // Ready once the server confirms the subscription.
        while let Some(Ok(frame)) = stream.next().await {
            if let Message::Text(text) = frame
                && text.as_str().contains(r#""type":"subscribed""#)
            {
                return Some(stream);
            }
        }
        None
    }
    .await;
    ready.wait().await;
    let Some(mut stream) = connected else {
        sample.errors += 1;
        return sample;
    };
    let since = chrono::Utc::now();
    while let Some(Ok(frame)) = stream.next().await {
        let received = chrono::Utc::now();
        let Message::Text(text) = frame else { continue };
        let Ok(EventMessage { kind: "event", event: Some(event) }) = serde_json::from_str(text.as_str()) else {
            continue;
        };
        if event.at > since {
            sample.latencies.push((received - event.at).num_microseconds().unwrap_or(0) as f64 / 1000.0);
        }
        let terminal =
            event.kind == "execution_status" && matches!(event.status, Some("completed" | "failed" | "cancelled"));
        if terminal {
            break;
        }
    }
    let _ = stream.close(None).await;
    sample
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subscriber_reads_event_messages() {
        let text = r#"{"type":"event","event":{"execution_id":"x","seq":3,"at":"2026-11-25T19:19:52.303114Z","type":"execution_status","status":"completed"}}"#;
        let parsed: EventMessage = serde_json::from_str(text).unwrap();
        assert_eq!(parsed.kind, "event");
        let event = parsed.event.unwrap();
        assert_eq!((event.kind, event.status), ("execution_status", Some("completed")));
        let other: EventMessage = serde_json::from_str(r#"{"type":"subscribed","execution_id":"x"}"#).unwrap();
        assert!(other.event.is_none());
    }
}
