//! `GET /api/v1/ws`: live events over a WebSocket (protocol in docs/websocket.md).
//!
//! 1. The client authenticates first: `{"type":"auth","token":"<JWT or API key>"}` within 10 s;
//!    nothing else is accepted before. The server answers `{"type":"authenticated","user_id"}`.
//! 2. `{"type":"subscribe","execution_id","after_seq"}` replays the stored events after
//!    `after_seq`, then streams live ones, with no gap and no duplicate, until the terminal
//!    event. `{"type":"subscribe_all"}` streams every live event of the caller's executions.
//!    `{"type":"unsubscribe","execution_id"}` stops one.
//! 3. Server messages: `event` (`{"type":"event","event":{…}}`), `token` (a piece of an LLM
//!    answer as it streams, for a subscribed execution: `{"type":"token","execution_id","step",
//!    "attempt","text"}` — ephemeral: not stored, not replayed, dropped for a client that is
//!    behind; the step's final output is in its events), `subscribed`, `lagged`
//!    (`resume_after_seq`: subscribe again from there), `error`. The server pings every
//!    `ws_ping_interval` and closes a connection silent for `ws_idle_timeout`; on shutdown it
//!    sends a close frame (1001).
//! 4. Credentials are checked again on every subscription, every `ws_recheck_interval`, and
//!    when the access token expires: a revoked key or login, a disabled user or an expired
//!    token gets `{"type":"error","code":"unauthorized"}` and close code 4401. A user has at
//!    most `ws_max_connections_per_user` sockets (more: `too_many_connections`, close 4429) and
//!    a socket at most `ws_max_subscriptions` subscriptions (more: `too_many_subscriptions`).
//!    An execution id is one subscription however it is spelled.

mod messages;

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use troupe_runtime::ErrorCode;
use troupe_runtime::ids::{ExecutionId, UserId};

pub use self::messages::{ClientMessage, Notice, ServerMessage};
use super::{ApiError, AppState};
use crate::auth::Caller;

const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Close codes (4000–4999 are for applications).
const CLOSE_UNAUTHORIZED: u16 = 4401;
const CLOSE_TOO_MANY: u16 = 4429;
const CLOSE_POLICY: u16 = 1008;
const CLOSE_GOING_AWAY: u16 = 1001;
/// Messages written to a socket before it is flushed.
const WRITE_BATCH: usize = 64;
/// Serialised events kept for reuse by the other subscribers of the same execution.
const FRAME_CACHE: usize = 16_384;

/// Each event is serialised once, however many connections it goes to: subscribers of one
/// execution receive it at nearly the same time, so a small cache catches them all.
#[derive(Default)]
pub struct EventFrames {
    frames: dashmap::DashMap<(ExecutionId, u64), Utf8Bytes>,
}

impl EventFrames {
    fn message(&self, event: &troupe_runtime::model::Event) -> Message {
        let key = (event.execution_id, event.seq);
        if let Some(frame) = self.frames.get(&key) {
            return Message::Text(frame.clone());
        }
        let message = ServerMessage::Event { event }.frame();
        if self.frames.len() >= FRAME_CACHE {
            self.frames.clear();
        }
        if let Message::Text(frame) = &message {
            self.frames.insert(key, frame.clone());
        }
        message
    }
}

/// Upgrades to the WebSocket of live events; authentication happens in the first message
/// (the protocol: `/api/docs/asyncapi.json`).
#[utoipa::path(get, path = "/api/v1/ws", tag = "operations",
    responses((status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, body = crate::http::ErrorBody, description = "Not a WebSocket upgrade (`websocket_required`)"),
        (status = 403, body = crate::http::ErrorBody, description = "A browser page of another origin (`forbidden`)")))]
pub async fn upgrade(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if !origin_allowed(&headers, &state.settings.cors_origins) {
        return ApiError::new(ErrorCode::Forbidden, "WebSockets are open to pages of this origin only").into_response();
    }
    match upgrade {
        Ok(upgrade) => {
            // A 4 KiB read buffer, not tungstenite's 128 KiB: clients send small messages, and
            // 10,000 sockets would otherwise hold (and zero) over a gigabyte of buffers.
            upgrade
                .max_message_size(64 * 1024)
                .read_buffer_size(4 * 1024)
                .on_upgrade(move |socket| serve(state, socket))
                .into_response()
        }
        Err(rejection) => ApiError::new(ErrorCode::WebsocketRequired, rejection.body_text()).into_response(),
    }
}

/// Whether a WebSocket upgrade may proceed: a browser sends the page's `Origin`, which must be
/// this server's own (its `Host`) or one `TROUPE_CORS_ORIGINS` allows; programs send none.
/// (Browsers let any page open a WebSocket to any server, so this is what stops another site
/// from using a visitor's network position or session.)
fn origin_allowed(headers: &axum::http::HeaderMap, allowed: &[String]) -> bool {
    use axum::http::header::{HOST, ORIGIN};
    let Some(origin) = headers.get(ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    if allowed.iter().any(|allowed| allowed.eq_ignore_ascii_case(origin)) {
        return true;
    }
    let host = headers.get(HOST).and_then(|host| host.to_str().ok()).unwrap_or_default();
    let Ok(url) = url::Url::parse(origin) else { return false };
    let origin_host = match (url.host_str(), url.port()) {
        (Some(name), Some(port)) => format!("{name}:{port}"),
        (Some(name), None) => name.to_owned(),
        _ => return false,
    };
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))
}

fn error(code: &str, message: impl Into<String>) -> Message {
    ServerMessage::Error { code, message: message.into() }.frame()
}

/// Counts a user's sockets; the count goes down when dropped.
struct SocketSlot {
    sockets: std::sync::Arc<dashmap::DashMap<UserId, usize>>,
    user: UserId,
}

impl SocketSlot {
    fn take(state: &AppState, user: UserId) -> Option<Self> {
        let mut count = state.ws_sockets.entry(user).or_insert(0);
        if *count >= state.settings.ws_max_connections_per_user {
            return None;
        }
        *count += 1;
        Some(Self { sockets: std::sync::Arc::clone(&state.ws_sockets), user })
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        if let dashmap::Entry::Occupied(mut entry) = self.sockets.entry(self.user) {
            *entry.get_mut() -= 1;
            if *entry.get() == 0 {
                entry.remove();
            }
        }
    }
}

async fn serve(state: AppState, socket: WebSocket) {
    state.metrics.ws_connections.inc();
    let (mut sink, mut stream) = socket.split();
    let caller = match authenticate(&state, &mut stream).await {
        Ok(caller) => caller,
        Err(message) => {
            let _ = sink.send(error("unauthorized", message)).await;
            let _ = sink.send(close(CLOSE_UNAUTHORIZED, "unauthorized")).await;
            state.metrics.ws_connections.dec();
            return;
        }
    };
    let Some(_slot) = SocketSlot::take(&state, caller.id()) else {
        let limit = state.settings.ws_max_connections_per_user;
        let _ = sink.send(error("too_many_connections", format!("at most {limit} sockets per user"))).await;
        let _ = sink.send(close(CLOSE_TOO_MANY, "too many connections")).await;
        state.metrics.ws_connections.dec();
        return;
    };
    // Subscriptions queue events here; the loop below is the only writer of the socket, and
    // answers the client's own messages directly (never through the queue it drains).
    let (tx, mut rx) = mpsc::channel::<Message>(state.settings.ws_buffer.max(1));
    if sink.send(ServerMessage::Authenticated { user_id: caller.id().0 }.frame()).await.is_err() {
        state.metrics.ws_connections.dec();
        return;
    }
    // The socket is read by a task of its own, woken only when the client sends something:
    // polling the read half on every outgoing event would cost a buffer reset each time.
    let (client_tx, mut client_rx) = mpsc::channel(8);
    let reader = tokio::spawn(async move {
        while let Some(incoming) = stream.next().await {
            let last = matches!(incoming, Ok(Message::Close(_)) | Err(_));
            if client_tx.send(incoming).await.is_err() || last {
                break;
            }
        }
    });
    let mut subscriptions: HashMap<String, JoinHandle<()>> = HashMap::new();
    let mut ping = tokio::time::interval(state.settings.ws_ping_interval);
    ping.tick().await;
    let mut recheck = tokio::time::interval(state.settings.ws_recheck_interval);
    recheck.tick().await;
    // An access token's expiry ends the socket when it comes, not at the next re-check.
    let expiry = async {
        match caller.expires_at.and_then(|at| (at - chrono::Utc::now()).to_std().ok()) {
            Some(left) => tokio::time::sleep(left).await,
            None if caller.expires_at.is_some() => {}
            None => std::future::pending().await,
        }
    };
    tokio::pin!(expiry);
    let idle = state.settings.ws_idle_timeout;
    let mut last_heard = tokio::time::Instant::now();
    let mut notices = Notices::new(state.notices.subscribe());
    // Made once: a `cancelled()` future made afresh in every round would join and leave the
    // waiters of the token every socket shares, under its lock, at every event.
    let shutdown = state.shutdown.cancelled();
    tokio::pin!(shutdown);
    let farewell = loop {
        tokio::select! {
            notice = notices.next() => {
                // Account notices of this node for this caller (missed ones: the endpoints say it).
                if let Ok(notice) = notice
                    && notice.user == caller.id()
                    && sink.send(ServerMessage::Notice { kind: notice.kind, id: notice.id }.frame()).await.is_err()
                {
                    break None;
                }
            }
            outgoing = rx.recv() => {
                // `tx` lives in this loop, so the channel never closes under it.
                let Some(message) = outgoing else { break None };
                // Write what is queued in one go: one flush (one system call) per burst, not
                // per event.
                let mut written = sink.feed(message).await.is_ok();
                for _ in 0..WRITE_BATCH {
                    let Ok(message) = rx.try_recv() else { break };
                    written = written && sink.feed(message).await.is_ok();
                }
                if !written || sink.flush().await.is_err() { break None; }
            }
            incoming = client_rx.recv() => {
                last_heard = tokio::time::Instant::now();
                match incoming {
                    Some(Ok(Message::Text(body))) => {
                        let reply = match handle(&state, &caller, &tx, &mut subscriptions, body.as_str()).await {
                            Ok(reply) => reply,
                            Err(ended) => {
                                let _ = sink.send(error("unauthorized", ended)).await;
                                break Some(close(CLOSE_UNAUTHORIZED, "credentials no longer valid"));
                            }
                        };
                        if sink.send(reply).await.is_err() { break None; }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        if sink.send(error("bad_message", "send JSON text messages")).await.is_err() { break None; }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                    Some(Ok(_)) => {} // ping / pong
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() >= idle {
                    break Some(close(CLOSE_POLICY, "idle timeout"));
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() { break None; }
            }
            _ = recheck.tick() => {
                if let Err(ended) = state.auth.recheck(&caller).await {
                    let _ = sink.send(error("unauthorized", ended.to_string())).await;
                    break Some(close(CLOSE_UNAUTHORIZED, "credentials no longer valid"));
                }
            }
            _ = &mut expiry => {
                let _ = sink.send(error("unauthorized", "the access token has expired")).await;
                break Some(close(CLOSE_UNAUTHORIZED, "credentials no longer valid"));
            }
            _ = &mut shutdown => break Some(close(CLOSE_GOING_AWAY, "server shutting down")),
        }
    };
    reader.abort();
    for (_, task) in subscriptions {
        task.abort();
    }
    if let Some(message) = farewell {
        let _ = sink.send(message).await;
    }
    let _ = sink.close().await;
    state.metrics.ws_connections.dec();
}

type NoticeWait = (Result<Notice, tokio::sync::broadcast::error::RecvError>, tokio::sync::broadcast::Receiver<Notice>);

/// A socket's account notices, waited for by one lasting future: a `recv()` made afresh in every
/// round of the socket's loop would register with the channel every socket shares and leave it
/// again, under its lock, each time an event wakes the loop.
struct Notices {
    waiting: tokio_util::sync::ReusableBoxFuture<'static, NoticeWait>,
}

impl Notices {
    fn new(receiver: tokio::sync::broadcast::Receiver<Notice>) -> Self {
        Self { waiting: tokio_util::sync::ReusableBoxFuture::new(Self::wait(receiver)) }
    }

    async fn wait(mut receiver: tokio::sync::broadcast::Receiver<Notice>) -> NoticeWait {
        (receiver.recv().await, receiver)
    }

    /// Returns the next notice (or why there is none); dropping the call keeps its place.
    async fn next(&mut self) -> Result<Notice, tokio::sync::broadcast::error::RecvError> {
        let (notice, receiver) = std::future::poll_fn(|context| self.waiting.poll(context)).await;
        self.waiting.set(Self::wait(receiver));
        notice
    }
}

async fn authenticate(
    state: &AppState,
    stream: &mut futures::stream::SplitStream<WebSocket>,
) -> Result<Caller, String> {
    let first = tokio::time::timeout(AUTH_TIMEOUT, async {
        loop {
            match stream.next().await {
                Some(Ok(Message::Text(body))) => return Some(body),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                _ => return None,
            }
        }
    })
    .await
    .map_err(|_| "authenticate within 10 seconds".to_owned())?
    .ok_or_else(|| "the first message must authenticate".to_owned())?;
    let token = match serde_json::from_str::<ClientMessage>(first.as_str()) {
        Ok(ClientMessage::Auth { token }) => token,
        _ => return Err(r#"the first message must be {"type":"auth","token":"…"}"#.to_owned()),
    };
    state.auth.authenticate(&token).await.map_err(|error| error.to_string())
}

/// Acts on one client message; returns the answer to send back, or why the credentials no
/// longer hold (the socket is then closed).
async fn handle(
    state: &AppState,
    caller: &Caller,
    tx: &mpsc::Sender<Message>,
    subscriptions: &mut HashMap<String, JoinHandle<()>>,
    body: &str,
) -> Result<Message, String> {
    subscriptions.retain(|_, task| !task.is_finished());
    let message = match serde_json::from_str::<ClientMessage>(body) {
        Ok(message) => message,
        Err(problem) => return Ok(error("bad_message", problem.to_string())),
    };
    if matches!(message, ClientMessage::Subscribe { .. } | ClientMessage::SubscribeAll) {
        state.auth.recheck(caller).await.map_err(|ended| ended.to_string())?;
    }
    let too_many = |key: &str| {
        let limit = state.settings.ws_max_subscriptions;
        (!subscriptions.contains_key(key) && subscriptions.len() >= limit)
            .then(|| error("too_many_subscriptions", format!("at most {limit} subscriptions per socket")))
    };
    Ok(match message {
        ClientMessage::Auth { .. } => error("bad_message", "already authenticated"),
        ClientMessage::Ping => ServerMessage::Pong.frame(),
        ClientMessage::Subscribe { execution_id, after_seq } => {
            let record = match super::routes::executions::visible_execution(state, caller, &execution_id).await {
                Ok(record) => record,
                Err(problem) => return Ok(error(problem.code.as_str(), problem.message)),
            };
            // One subscription per execution, however its id was spelled.
            let execution_id = record.id.to_string();
            if let Some(refused) = too_many(&execution_id) {
                return Ok(refused);
            }
            if let Some(old) = subscriptions.remove(&execution_id) {
                old.abort();
            }
            let after_seq = after_seq.unwrap_or(0);
            // Listen for tokens before answering `subscribed`, so none streamed after it is missed.
            let tokens = state.runtime.subscribe_execution_tokens(record.id);
            let task = tokio::spawn(forward_one(state.clone(), record.id, after_seq, tokens, tx.clone()));
            subscriptions.insert(execution_id, task);
            ServerMessage::Subscribed { execution_id: record.id.to_string(), after_seq: Some(after_seq) }.frame()
        }
        ClientMessage::SubscribeAll => {
            if let Some(refused) = too_many("*") {
                return Ok(refused);
            }
            if let Some(old) = subscriptions.remove("*") {
                old.abort();
            }
            let task = tokio::spawn(forward_all(state.clone(), caller.id(), tx.clone()));
            subscriptions.insert("*".to_owned(), task);
            ServerMessage::Subscribed { execution_id: "*".into(), after_seq: None }.frame()
        }
        ClientMessage::Unsubscribe { execution_id } => {
            let key = execution_id.parse::<ExecutionId>().map_or(execution_id.clone(), |id| id.to_string());
            if let Some(task) = subscriptions.remove(&key) {
                task.abort();
            }
            ServerMessage::Unsubscribed { execution_id }.frame()
        }
    })
}

/// Tells a client where to resume an execution's events.
fn lagged(id: ExecutionId, resume_after_seq: u64) -> Message {
    ServerMessage::Lagged { execution_id: id.to_string(), resume_after_seq: Some(resume_after_seq), missed: None }
        .frame()
}

/// Replays then streams one execution's events. When the client's queue is full, stops and
/// tells it where to resume (after the last event it was given).
async fn forward_one(
    state: AppState,
    id: ExecutionId,
    after_seq: u64,
    tokens: troupe_runtime::events::TokenSubscription,
    tx: mpsc::Sender<Message>,
) {
    /// The next chunk while the execution runs; never, once it ended.
    async fn next_token(
        tokens: &mut Option<troupe_runtime::events::TokenSubscription>,
    ) -> Result<std::sync::Arc<troupe_runtime::events::TokenChunk>, tokio::sync::broadcast::error::RecvError> {
        match tokens {
            Some(tokens) => tokens.recv().await,
            None => std::future::pending().await,
        }
    }
    let mut tokens = Some(tokens);
    let mut subscription = state.runtime.subscribe(id, after_seq);
    let mut delivered = after_seq;
    loop {
        let next = tokio::select! {
            biased;
            next = subscription.next() => next,
            chunk = next_token(&mut tokens) => {
                let chunk = match chunk {
                    Ok(chunk) => chunk,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    // The execution ended: its events (still being replayed, maybe) go on.
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        tokens = None;
                        continue;
                    }
                };
                let frame = ServerMessage::Token {
                    execution_id: id.0,
                    step: &chunk.step,
                    attempt: chunk.attempt,
                    text: &chunk.text,
                }
                .frame();
                if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(frame) {
                    return;
                }
                continue;
            }
        };
        // Everything already at hand (the events of one commit arrive together) is queued in
        // one go, so the socket's writer wakes once and writes them in one system call.
        let mut burst = Vec::new();
        let end = match next {
            Ok(Some(event)) => {
                burst.push(event);
                while burst.len() < WRITE_BATCH
                    && let Some(event) = subscription.next_ready()
                {
                    burst.push(event);
                }
                None
            }
            Ok(None) => Some(Ok(())),
            Err(problem) => Some(Err(problem)),
        };
        for event in burst {
            match tx.try_send(state.ws_frames.message(&event)) {
                Ok(()) => delivered = event.seq,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    let _ = tx.send(lagged(id, delivered)).await;
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
        match end {
            None => {}
            Some(Ok(())) => return,
            Some(Err(problem)) => {
                tracing::warn!(%problem, execution_id = %id, "event replay failed");
                let _ = tx.send(lagged(id, delivered)).await;
                return;
            }
        }
    }
}

/// Streams the live events of every execution the user owns.
async fn forward_all(state: AppState, user: UserId, tx: mpsc::Sender<Message>) {
    let mut events = state.runtime.subscribe_all();
    let mut owned: HashMap<ExecutionId, bool> = HashMap::new();
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                let message =
                    ServerMessage::Lagged { execution_id: "*".into(), resume_after_seq: None, missed: Some(missed) };
                if tx.send(message.frame()).await.is_err() {
                    return;
                }
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        let mine = match owned.get(&event.execution_id) {
            Some(mine) => *mine,
            None => {
                let record = state.runtime.store().get_execution(event.execution_id).await.ok().flatten();
                let mine = record.is_some_and(|record| record.owner == user);
                if owned.len() > 100_000 {
                    owned.clear();
                }
                owned.insert(event.execution_id, mine);
                mine
            }
        };
        if !mine {
            continue;
        }
        match tx.try_send(state.ws_frames.message(&event)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                if tx.send(lagged(event.execution_id, event.seq - 1)).await.is_err() {
                    return;
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}
