//! The load generator of `troupe bench http`, run as a process of its own (`troupe bench
//! http-load`, hidden): as a real client would be, it shares the machine with the server but
//! not its scheduler, allocator or descriptor table.
//!
//! The parent writes one [`Load`] as JSON to the child's standard input (so the access token
//! never appears in a process listing) and reads one [`Summary`] as JSON from its output.
//! HTTP is a minimal keep-alive HTTP/1.1 client over raw sockets, so it costs far less per
//! request than the server does; WebSocket clients are tokio-tungstenite's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// One measurement, as the parent describes it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "load", rename_all = "snake_case")]
pub(crate) enum Load {
    /// `connections` connections each send the next request as soon as the last is answered.
    Closed { request: Request, expected: u16, connections: usize, seconds: f64 },
    /// Requests at `rate` per second spread over `connections` connections; latency counts
    /// from when each request was due, so a stalled server cannot hide its queueing.
    Open { request: Request, expected: u16, connections: usize, rate: f64, seconds: f64 },
    /// `clients` WebSockets, client `i` subscribed to `ids[i % ids.len()]`; latency from each
    /// event's creation (its `at`) to its receipt, for the events created once all subscribed.
    WebSocket { url: String, token: String, ids: Vec<String>, clients: usize },
}

/// What one measurement found (milliseconds).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Summary {
    pub count: usize,
    pub errors: u64,
    pub rate: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    /// WebSockets: how long connecting, authenticating and subscribing every client took.
    pub setup_seconds: f64,
    /// WebSockets: events delivered per second, from the first measured event's creation to
    /// the last receipt.
    pub delivery_rate: f64,
}

/// A request serialised once and sent many times.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Request {
    pub addr: SocketAddr,
    pub bytes: String,
}

impl Request {
    pub(crate) fn new(
        addr: SocketAddr,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&serde_json::Value>,
    ) -> Self {
        let body = body.map(serde_json::Value::to_string).unwrap_or_default();
        let mut bytes = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n", body.len());
        if !token.is_empty() {
            bytes.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if !body.is_empty() {
            bytes.push_str("Content-Type: application/json\r\n");
        }
        bytes.push_str("\r\n");
        bytes.push_str(&body);
        Self { addr, bytes }
    }
}

/// Runs a [`Load`] in a child process (this program, `bench http-load`) and returns its summary.
pub(crate) async fn in_child(load: &Load) -> anyhow::Result<Summary> {
    let program = std::env::current_exe().context("cannot find this program to run the load generator")?;
    let mut child = tokio::process::Command::new(program)
        .args(["bench", "http-load"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the load generator")?;
    let mut stdin = child.stdin.take().context("the load generator's input")?;
    stdin.write_all(&serde_json::to_vec(load)?).await?;
    drop(stdin);
    let output = child.wait_with_output().await?;
    if !output.status.success() {
        bail!("the load generator failed ({})", output.status);
    }
    serde_json::from_slice(&output.stdout).context("the load generator's answer")
}

/// `troupe bench http-load`: reads a [`Load`] from standard input, runs it, prints its
/// [`Summary`].
pub fn http_load() -> anyhow::Result<std::process::ExitCode> {
    crate::system::raise_descriptor_limit();
    let mut input = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)?;
    let load: Load = serde_json::from_str(&input).context("a load description on standard input")?;
    // WebSocket clients mostly wait: one thread serves them all without cross-thread wake-ups,
    // and leaves the server the other cores.
    let mut builder = match load {
        Load::WebSocket { .. } => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = builder.enable_all().build()?;
    let summary = runtime.block_on(run(load))?;
    println!("{}", serde_json::to_string(&summary)?);
    Ok(std::process::ExitCode::SUCCESS)
}

async fn run(load: Load) -> anyhow::Result<Summary> {
    match load {
        Load::Closed { request, expected, connections, seconds } => {
            closed_loop(&request, expected, connections, Duration::from_secs_f64(seconds)).await
        }
        Load::Open { request, expected, connections, rate, seconds } => {
            open_loop(&request, expected, connections, rate, Duration::from_secs_f64(seconds)).await
        }
        Load::WebSocket { url, token, ids, clients } => ws_fan_out(url, token, ids, clients).await,
    }
}

/// A keep-alive HTTP/1.1 connection.
pub(crate) struct Connection {
    stream: BufReader<TcpStream>,
    line: String,
}

impl Connection {
    pub(crate) async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self { stream: BufReader::new(stream), line: String::new() })
    }

    /// Sends a request and reads the whole response; returns its status and body.
    pub(crate) async fn send(&mut self, request: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
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
    /// WebSockets: the first measured event's creation and the last receipt.
    span: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
}

impl Sample {
    fn merge(&mut self, other: Sample) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        if let Some((first, last)) = other.span {
            self.widen(first, last);
        }
    }

    /// Records a WebSocket event created `at` and received at `received`.
    fn delivered(&mut self, at: chrono::DateTime<chrono::Utc>, received: chrono::DateTime<chrono::Utc>) {
        self.latencies.push((received - at).num_microseconds().unwrap_or(0) as f64 / 1000.0);
        self.widen(at, received);
    }

    /// Widens the span of the deliveries to cover `first` to `last`.
    fn widen(&mut self, first: chrono::DateTime<chrono::Utc>, last: chrono::DateTime<chrono::Utc>) {
        self.span = Some(self.span.map_or((first, last), |(from, to)| (from.min(first), to.max(last))));
    }

    /// Events per second over the span of the deliveries.
    fn delivery_rate(&self) -> f64 {
        let seconds =
            self.span.map_or(0.0, |(first, last)| (last - first).num_microseconds().unwrap_or(0) as f64 / 1e6);
        if seconds > 0.0 { self.latencies.len() as f64 / seconds } else { 0.0 }
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

    fn summary(mut self, seconds: f64) -> Summary {
        self.latencies.sort_by(f64::total_cmp);
        let delivery_rate = self.delivery_rate();
        let sorted = &self.latencies;
        let percentile = |quantile: f64| {
            if sorted.is_empty() {
                return f64::NAN;
            }
            sorted[((sorted.len() as f64 * quantile).ceil() as usize).clamp(1, sorted.len()) - 1]
        };
        Summary {
            delivery_rate,
            count: sorted.len(),
            errors: self.errors,
            rate: if seconds > 0.0 { sorted.len() as f64 / seconds } else { 0.0 },
            p50: percentile(0.50),
            p99: percentile(0.99),
            max: percentile(1.0),
            setup_seconds: 0.0,
        }
    }
}

async fn closed_loop(
    request: &Request,
    expected: u16,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Summary> {
    let bytes: Arc<[u8]> = Arc::from(request.bytes.as_bytes());
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
    Ok(total.summary(started.elapsed().as_secs_f64()))
}

async fn open_loop(
    request: &Request,
    expected: u16,
    connections: usize,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<Summary> {
    let bytes: Arc<[u8]> = Arc::from(request.bytes.as_bytes());
    // Connect first: the schedule starts when every connection is open.
    let mut opened = Vec::with_capacity(connections);
    for _ in 0..connections {
        opened.push(Connection::open(request.addr).await?);
    }
    let per_connection = Duration::from_secs_f64(connections as f64 / rate.max(1.0));
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
    Ok(total.summary(duration.as_secs_f64()))
}

/// Connects `clients` subscribers (at most 256 handshakes at once: a burst of thousands of
/// connects overflows the listen backlog and the kernel's SYN retries would be measured
/// instead), then measures the delivery of every later event.
async fn ws_fan_out(url: String, token: String, ids: Vec<String>, clients: usize) -> anyhow::Result<Summary> {
    if ids.is_empty() {
        bail!("no executions to subscribe to");
    }
    let ready = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let connecting = Arc::new(tokio::sync::Semaphore::new(256));
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let subscriber = Subscriber {
            url: url.clone(),
            token: token.clone(),
            id: ids[client % ids.len()].clone(),
            ready: Arc::clone(&ready),
            connecting: Arc::clone(&connecting),
        };
        tasks.push(tokio::spawn(subscriber.run()));
    }
    let started = Instant::now();
    ready.wait().await;
    let setup_seconds = started.elapsed().as_secs_f64();
    let mut total = Sample::default();
    for task in tasks {
        total.merge(task.await?);
    }
    Ok(Summary { setup_seconds, ..total.summary(0.0) })
}

/// The fields of a WebSocket message the subscriber reads (borrowed, to keep the load
/// generator's own cost low).
#[derive(Deserialize)]
struct EventMessage<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(borrow)]
    event: Option<EventFields<'a>>,
}

#[derive(Deserialize)]
struct EventFields<'a> {
    at: chrono::DateTime<chrono::Utc>,
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(borrow)]
    status: Option<&'a str>,
}

struct Subscriber {
    url: String,
    token: String,
    id: String,
    ready: Arc<tokio::sync::Barrier>,
    connecting: Arc<tokio::sync::Semaphore>,
}

impl Subscriber {
    /// Connects, authenticates, subscribes, waits for the others, then records the delivery
    /// latency of every event created after that until the terminal one.
    async fn run(self) -> Sample {
        let mut sample = Sample::default();
        let connected = async {
            let _permit = self.connecting.acquire().await.ok()?;
            let config =
                tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4 * 1024);
            let (mut stream, _) =
                tokio_tungstenite::connect_async_with_config(&self.url, Some(config), true).await.ok()?;
            stream.send(Message::text(json!({"type": "auth", "token": self.token}).to_string())).await.ok()?;
            stream.send(Message::text(json!({"type": "subscribe", "execution_id": self.id}).to_string())).await.ok()?;
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
        self.ready.wait().await;
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
                sample.delivered(event.at, received);
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

    #[test]
    fn a_load_description_survives_the_trip_to_the_child() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let request = Request::new(addr, "GET", "/api/v1/executions", "token", None);
        assert!(request.bytes.starts_with("GET /api/v1/executions HTTP/1.1\r\n"));
        assert!(request.bytes.ends_with("Authorization: Bearer token\r\n\r\n"));
        let load = Load::Open { request, expected: 200, connections: 10, rate: 50.0, seconds: 1.0 };
        let back: Load = serde_json::from_str(&serde_json::to_string(&load).unwrap()).unwrap();
        let Load::Open { request, rate, .. } = back else { panic!("the same kind of load") };
        assert_eq!((request.addr, rate), (addr, 50.0));
    }

    #[test]
    fn a_summary_reports_percentiles_of_what_was_recorded() {
        let sample = Sample { latencies: (1..=100).rev().map(f64::from).collect(), errors: 2, span: None };
        let summary = sample.summary(2.0);
        assert_eq!((summary.count, summary.errors, summary.rate), (100, 2, 50.0));
        assert_eq!((summary.p50, summary.p99, summary.max), (50.0, 99.0, 100.0));
    }

    #[test]
    fn the_delivery_rate_spans_every_subscriber_from_first_creation_to_last_receipt() {
        let at = |ms: i64| chrono::DateTime::UNIX_EPOCH + chrono::Duration::milliseconds(ms);
        let (mut one, mut other) = (Sample::default(), Sample::default());
        one.delivered(at(100), at(110));
        one.delivered(at(300), at(320));
        other.delivered(at(50), at(60));
        other.delivered(at(400), at(550));
        one.merge(other);
        assert_eq!(one.span, Some((at(50), at(550))));
        let summary = one.summary(0.0);
        assert_eq!(summary.count, 4);
        assert!((summary.delivery_rate - 8.0).abs() < 1e-9, "4 events in 0.5 s: {}", summary.delivery_rate);
        assert_eq!(summary.max, 150.0);
        assert_eq!(Sample::default().summary(0.0).delivery_rate, 0.0, "nothing delivered, no rate");
    }
}
