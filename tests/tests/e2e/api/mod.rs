//! The HTTP + WebSocket gateway of a system assembled in process: HTTP calls go through the
//! router with `oneshot` (no socket), the WebSocket over a real socket (tokio-tungstenite), on
//! SQLite and on the real PostgreSQL.

mod approvals;
mod auth;
mod client;
mod deletion;
mod document;
mod export;
mod files;
mod flow;
mod input;
mod live;
mod llm;
mod mail;
mod memories;
mod profile;
pub(crate) mod readiness;
mod research;
mod retention;
mod sessions;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use troupe::{Config, Mode, Server, System};
use troupe_gateway::http::HttpSettings;
use troupe_memory::scratch::ScratchDatabase;

pub use client::Client;

/// The secret the test servers sign tokens with (tests forge tokens with it).
pub const SECRET: &str = "e2e-secret-that-is-long-enough-0123456789";

/// Which database a test server uses.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running test system. HTTP calls go through its router in process (no socket); its
/// server also listens on loopback, for the WebSocket.
pub struct Api {
    server: Option<Server>,
    /// `http://host:port` of the listening server (WebSocket tests).
    pub base: String,
    /// The in-process client.
    pub http: Client,
    _dir: tempfile::TempDir,
    database: Option<ScratchDatabase>,
}

impl Api {
    /// Starts a server; `None` when the PostgreSQL backend is skipped (no TEST_DATABASE_URL
    /// outside CI).
    pub async fn start(backend: Backend, test: &str) -> Option<Self> {
        Self::start_with(backend, test, HttpSettings { rate_limit: None, ..HttpSettings::default() }).await
    }

    pub async fn start_with(backend: Backend, test: &str, http: HttpSettings) -> Option<Self> {
        Self::start_configured(backend, test, |config| Config { http, ..config }).await
    }

    /// Starts a server whose configuration `configure` adjusts (it gets the test defaults:
    /// state in the test's directory, the token secret [`SECRET`], cheap hashing).
    pub async fn start_configured(
        backend: Backend,
        test: &str,
        configure: impl FnOnce(Config) -> Config,
    ) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            jwt_secret: Some(SECRET.into()),
            node_id: Some(format!("node-{test}")),
            ..Config::for_tests(dir.path())
        };
        let database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let database = troupe_memory::testing::postgres_database(test).await?;
                config.database_url = database.url.clone();
                Some(database)
            }
        };
        let server = System::open(configure(config), Mode::Serve).await.unwrap().serve().await.unwrap();
        let base = format!("http://{}", server.addr);
        let http = Client::new(troupe_gateway::http::router(server.state.clone()));
        Some(Self { server: Some(server), base, http, _dir: dir, database })
    }

    /// Stops the server and drops its database.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.unwrap();
        }
        if let Some(database) = self.database.take() {
            database.drop_database().await;
        }
    }

    /// The server's data dir.
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request with an optional bearer token and JSON body; returns status and body.
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method.parse().unwrap(), path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(token), Some(body)).await
    }

    /// Registers and logs in a user; returns the login answer (tokens and user).
    pub async fn user(&self, email: &str) -> Value {
        let (status, body) = self
            .call("POST", "/api/v1/auth/register", None, Some(json!({"email": email, "password": "password-1"})))
            .await;
        assert_eq!(status, 201, "{body}");
        self.login(email, "password-1").await
    }

    /// Creates an admin (as `troupe admin create-user` would) and logs in.
    pub async fn admin(&self, email: &str) -> Value {
        let auth = &self.server.as_ref().expect("a running server").state.auth;
        auth.create_user(email, "password-1", None, troupe_runtime::accounts::Role::Admin, false, true).await.unwrap();
        self.login(email, "password-1").await
    }

    /// The running server's state.
    pub fn state(&self) -> &troupe_gateway::http::AppState {
        &self.server.as_ref().expect("a running server").state
    }

    pub async fn login(&self, email: &str, password: &str) -> Value {
        let (status, body) =
            self.call("POST", "/api/v1/auth/login", None, Some(json!({"email": email, "password": password}))).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Starts an execution of a pipeline (a name or a definition); returns its id.
    pub async fn execute(&self, token: &str, pipeline: Value, input: Value) -> String {
        let (status, body) =
            self.post("/api/v1/executions", token, json!({"pipeline": pipeline, "input": input})).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Opens an authenticated WebSocket.
    pub async fn ws(&self, token: &str) -> Ws {
        let mut ws = self.ws_unchecked(token).await;
        let hello = ws.next_message().await.expect("an answer to auth");
        assert_eq!(hello["type"], "authenticated", "{hello}");
        ws
    }

    /// Opens a WebSocket and sends the auth message, without reading the answer.
    pub async fn ws_unchecked(&self, token: &str) -> Ws {
        let url = format!("{}/api/v1/ws", self.base.replacen("http", "ws", 1));
        let (stream, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut ws = Ws { stream };
        ws.send(json!({"type": "auth", "token": token})).await;
        ws
    }
}

/// A WebSocket client speaking JSON.
pub struct Ws {
    stream: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Ws {
    pub async fn send(&mut self, message: Value) {
        self.stream.send(Message::text(message.to_string())).await.unwrap();
    }

    /// The next JSON message, or `None` when the server closed the connection; waits at most
    /// 30 s (a deadline, not a pause).
    pub async fn next_message(&mut self) -> Option<Value> {
        let deadline = Duration::from_secs(30);
        loop {
            let frame = tokio::time::timeout(deadline, self.stream.next()).await.expect("a message within 30 s");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(text.as_str()).unwrap();
                    crate::contract::check_server_message(&message);
                    return Some(message);
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Reads messages until the event stream of an execution reaches a terminal status;
    /// returns the events.
    pub async fn events_until_terminal(&mut self) -> Vec<Value> {
        let mut events = Vec::new();
        while let Some(message) = self.next_message().await {
            if message["type"] != "event" {
                continue;
            }
            let event = message["event"].clone();
            let terminal = is_terminal(&event);
            events.push(event);
            if terminal {
                break;
            }
        }
        events
    }

    /// Reads until the server closes the socket; returns the error code it sent last and the
    /// close code (waits at most 30 s).
    pub async fn closed(&mut self) -> (Option<String>, Option<u16>) {
        let mut last_error = None;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.stream.next())
                .await
                .expect("the server closes the socket within 30 s");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(text.as_str()).unwrap();
                    crate::contract::check_server_message(&message);
                    if message["type"] == "error" {
                        last_error = message["code"].as_str().map(str::to_owned);
                    }
                }
                Some(Ok(Message::Close(frame))) => return (last_error, frame.map(|frame| u16::from(frame.code))),
                None | Some(Err(_)) => return (last_error, None),
                Some(Ok(_)) => {}
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

/// Whether an event is the terminal status of its execution.
pub fn is_terminal(event: &Value) -> bool {
    event["type"] == "execution_status"
        && matches!(event["status"].as_str(), Some("completed" | "failed" | "cancelled"))
}

/// Runs a test body on SQLite and on PostgreSQL.
macro_rules! on_both_stores {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(api) = crate::api::Api::start(crate::api::Backend::Sqlite, stringify!($name)).await {
                    super::$body(&api).await;
                    api.stop().await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(api) = crate::api::Api::start(crate::api::Backend::Postgres, stringify!($name)).await {
                    super::$body(&api).await;
                    api.stop().await;
                }
            }
        }
    };
}
pub(crate) use on_both_stores;
