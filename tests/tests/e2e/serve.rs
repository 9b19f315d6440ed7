//! `troupe serve` over a real socket: health, readiness, the error format, configuration.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::troupe;

/// A `troupe serve` child process, killed (SIGKILL) when dropped.
pub(crate) struct Server {
    /// The process (taken by [`Server::wait_exit`]).
    child: Option<Child>,
    /// `host:port`.
    pub addr: String,
    /// Where the server's log (standard error) goes: next to its data dir.
    log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Server {
    /// Returns the server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server's process").id()
    }

    /// Waits for the server to exit on its own (after SIGTERM), killing it past `deadline`.
    pub(crate) fn wait_exit(mut self, deadline: std::time::Duration) -> std::process::ExitStatus {
        let child = self.child.take().expect("the server's process");
        crate::kill::wait_with_deadline(child, deadline)
    }

    /// Kills the server with SIGKILL and reaps it.
    pub(crate) fn kill(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The last `lines` lines the server logged (warnings and errors unless `RUST_LOG` says
    /// otherwise), for a failing test to show.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Starts `troupe serve` on a free port of loopback.
pub(crate) fn serve(data_dir: &Path) -> Server {
    serve_with(data_dir, &[])
}

/// Starts `troupe serve` on a free port of loopback with these environment variables.
pub(crate) fn serve_with(data_dir: &Path, env: &[(&str, &str)]) -> Server {
    let log = data_dir.with_extension("log");
    let log_file = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
    let mut child = troupe(data_dir)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.strip_prefix("troupe listening on http://") {
                let _ = sender.send(addr.to_owned());
            }
        }
    });
    let addr = receiver.recv_timeout(Duration::from_secs(60)).expect("the server announced its address");
    Server { child: Some(child), addr, log }
}

/// Sends one HTTP/1.1 request; returns the status, the headers (lowercased names) and the
/// JSON body.
fn exchange(addr: &str, method: &str, path: &str, extra_headers: &str) -> (u16, Vec<(String, String)>, Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra_headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|line| line.split(' ').nth(1)).and_then(|code| code.parse().ok());
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let status = status.expect("a status line");
    crate::contract::check_response(method, path, status, header(&headers, "content-type"), body.as_bytes());
    (status, headers, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn request(addr: &str, method: &str, path: &str) -> (u16, Value) {
    let (status, _, body) = exchange(addr, method, path, "");
    (status, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
}

fn assert_error(body: &Value, code: &str) {
    let error = &body["error"];
    assert_eq!(error["code"], code, "{body}");
    assert!(error["message"].as_str().is_some_and(|message| !message.is_empty()), "{body}");
    assert!(error.get("details").is_some(), "{body}");
    assert!(
        error["timestamp"].as_str().is_some_and(|stamp| chrono::DateTime::parse_from_rfc3339(stamp).is_ok()),
        "{body}"
    );
}

#[test]
fn the_server_reports_health_and_answers_errors_in_the_api_format() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    assert_eq!(request(&server.addr, "GET", "/healthz"), (200, serde_json::json!({"status": "ok"})));
    assert_eq!(request(&server.addr, "GET", "/readyz"), (200, serde_json::json!({"status": "ready"})));
    let (status, body) = request(&server.addr, "GET", "/api/v1/nothing-here");
    assert_eq!(status, 404);
    assert_error(&body, "not_found");
    let (status, body) = request(&server.addr, "DELETE", "/healthz");
    assert_eq!(status, 405);
    assert_error(&body, "method_not_allowed");
    // Every response, errors included, carries a request id and the security headers.
    let (_, headers, _) = exchange(&server.addr, "GET", "/nope", "X-Request-Id: trace-me-42\r\n");
    assert_eq!(header(&headers, "x-request-id"), Some("trace-me-42"));
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(&headers, "x-frame-options"), Some("DENY"));
    let (_, headers, _) = exchange(&server.addr, "GET", "/healthz", "X-Request-Id: bad id with spaces\r\n");
    let generated = header(&headers, "x-request-id").expect("a generated request id");
    assert!(generated.parse::<uuid::Uuid>().is_ok(), "a malformed id is replaced: {generated}");
    // Development generated the token secret into the data dir.
    assert!(dir.path().join("jwt-secret").exists());
}

#[test]
fn production_refuses_to_start_without_a_strong_secret() {
    let dir = tempfile::tempdir().unwrap();
    let output = troupe(dir.path())
        .env("TROUPE_ENV", "production")
        .env("TROUPE_JWT_SECRET", "too-short")
        .args(["serve", "--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("too short for production"), "{stderr}");
    assert!(!stderr.contains("too-short"), "the secret itself is never printed: {stderr}");
}

/// A fresh production server: registration is closed, and the first admin comes from the
/// one-time setup token in the data dir (its path printed, the token never logged).
#[test]
fn a_fresh_production_server_is_set_up_with_its_one_time_token() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("server.log");
    let key = base64::engine::general_purpose::STANDARD.encode([5u8; 32]);
    let mut child = troupe(dir.path())
        .env("TROUPE_ENV", "production")
        .env("TROUPE_JWT_SECRET", "a-production-secret-that-is-long-enough-42")
        .env("TROUPE_MEMORY_KEYS", format!("k1:{key}"))
        .env("TROUPE_RESEARCH_KEY", &key)
        .env("RUST_LOG", "debug")
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&logs).unwrap())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines() {
            let Ok(line) = line else { break };
            let _ = sender.send(line);
        }
    });
    let mut printed = Vec::new();
    let addr = loop {
        let line = receiver.recv_timeout(Duration::from_secs(60)).expect("the server announced its address");
        printed.push(line.clone());
        if let Some(addr) = line.strip_prefix("troupe listening on http://") {
            break addr.to_owned();
        }
    };
    let server = Server { child: Some(child), addr, log: logs.clone() };
    // The rest of what it printed at start.
    while let Ok(line) = receiver.recv_timeout(Duration::from_millis(500)) {
        printed.push(line);
    }
    let token_file = dir.path().join("setup-token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    let printed = printed.join("\n");
    assert!(printed.contains(&token_file.display().to_string()), "{printed}");

    let post = |path: &str, body: serde_json::Value| {
        let body = body.to_string();
        let mut stream = TcpStream::connect(&server.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response.split_whitespace().nth(1).unwrap().parse::<u16>().unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let content_type = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map(|(_, value)| value.trim());
        crate::contract::check_response("POST", path, status, content_type, body.as_bytes());
        status
    };
    let credentials = serde_json::json!({"email": "eve@example.com", "password": "password-1"});
    assert_eq!(post("/api/v1/auth/register", credentials), 403, "registration is closed in production");
    let setup = serde_json::json!({"setup_token": token, "email": "ada@example.com", "password": "password-1"});
    assert_eq!(post("/api/v1/auth/setup", setup.clone()), 201);
    assert_eq!(post("/api/v1/auth/setup", setup), 403, "the token works once");
    drop(server);
    let logged = std::fs::read_to_string(&logs).unwrap();
    assert!(!logged.contains(token.trim()) && !printed.contains(token.trim()), "the setup token is never logged");
}

/// A user's own model provider key reaches the model for their execution but never the
/// server's log, even at debug level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_own_model_key_never_reaches_the_log() {
    const OWN_KEY: &str = "sk-own-key-that-must-not-be-logged-8642";
    let (base_url, seen) = crate::fake_model::model_server_seeing_keys(None).await;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let env = [
        ("TROUPE_LLM_PROVIDER", "openai"),
        ("TROUPE_LLM_BASE_URL", base_url.as_str()),
        ("TROUPE_LLM_MODEL", "server-model"),
        ("TROUPE_LLM_API_KEY", "server-key-0000"),
        ("TROUPE_INSECURE_FAST_HASHING", "true"),
        ("RUST_LOG", "debug"),
    ];
    let server = serve_with(&data_dir, &env);
    let http = reqwest::Client::new();
    let base = format!("http://{}", server.addr);
    let credentials = serde_json::json!({"email": "ada@example.com", "password": "password-1"});
    let answer = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.unwrap_or(Value::Null))
    };
    let (status, _) =
        answer(http.post(format!("{base}/api/v1/auth/register")).json(&credentials).send().await.unwrap()).await;
    assert_eq!(status, 201);
    let (_, login) =
        answer(http.post(format!("{base}/api/v1/auth/login")).json(&credentials).send().await.unwrap()).await;
    let token = login["access_token"].as_str().unwrap().to_owned();
    let own = serde_json::json!({"llm": {"api_key": OWN_KEY}});
    let (status, me) =
        answer(http.patch(format!("{base}/api/v1/users/me")).bearer_auth(&token).json(&own).send().await.unwrap())
            .await;
    assert_eq!(status, 200, "{me}");
    let pipeline = serde_json::json!({"name": "own", "steps": [{"key": "requirements", "agent": "requirements"}]});
    let run = serde_json::json!({"pipeline": pipeline, "input": {"idea": "a book club planner"}});
    let (status, created) =
        answer(http.post(format!("{base}/api/v1/executions")).bearer_auth(&token).json(&run).send().await.unwrap())
            .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    crate::poll(Duration::from_secs(60), "the execution completes", || async {
        let url = format!("{base}/api/v1/executions/{id}");
        let (_, execution) = answer(http.get(&url).bearer_auth(&token).send().await.unwrap()).await;
        (execution["status"] == "completed").then_some(())
    })
    .await;
    assert_eq!(seen.lock().unwrap().as_slice(), [format!("Bearer {OWN_KEY}")], "the model saw her key");
    let log = server.log_tail(100_000);
    assert!(log.contains("DEBUG"), "the server logged at debug level");
    assert!(!log.contains(OWN_KEY), "the key is in the log");
}
