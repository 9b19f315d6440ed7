//! The WebSocket: authentication first, reconnect with `after_seq`, lag, shutdown.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use troupe_gateway::http::HttpSettings;

use super::{Api, Backend, is_terminal, on_both_stores};

on_both_stores!(reconnecting_with_after_seq_receives_exactly_the_missed_events, reconnect);

/// A chain of `n` sleeping steps: a run long enough to disconnect in the middle of.
fn chain(n: usize, ms: u64) -> Value {
    let steps: Vec<Value> = (0..n)
        .map(|i| {
            let mut step = json!({"key": format!("s{i}"), "agent": "sleep", "params": {"ms": ms}});
            if i > 0 {
                step["depends_on"] = json!([format!("s{}", i - 1)]);
            }
            step
        })
        .collect();
    json!({"name": "chain", "steps": steps})
}

async fn reconnect(api: &Api) {
    let login = api.user("wes@example.com").await;
    let token = login["access_token"].as_str().unwrap();
    let id = api.execute(token, chain(6, 100), json!({})).await;

    let mut ws = api.ws(token).await;
    ws.send(json!({"type": "subscribe", "execution_id": id, "after_seq": 0})).await;
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let message = ws.next_message().await.unwrap();
        if message["type"] == "event" {
            seen.push(message["event"].clone());
        }
    }
    ws.close().await;
    assert!(!is_terminal(seen.last().unwrap()), "disconnected mid-run");

    let last = seen.last().unwrap()["seq"].as_u64().unwrap();
    let mut ws = api.ws(token).await;
    ws.send(json!({"type": "subscribe", "execution_id": id, "after_seq": last})).await;
    seen.extend(ws.events_until_terminal().await);
    ws.close().await;

    let (_, stored) = api.get(&format!("/api/v1/executions/{id}/events?limit=1000"), token).await;
    assert_eq!(&seen, stored.as_array().unwrap(), "exactly the stored events: no gap, no duplicate");
    assert_eq!(seen.last().unwrap()["status"], "completed");
}

/// Subscribes from the start and follows to the terminal event, resubscribing from where the
/// server says each time it reports a lag; returns the seqs received and the number of lags.
async fn follow_resuming(ws: &mut super::Ws, id: &str) -> (Vec<u64>, usize) {
    let mut seqs: Vec<u64> = Vec::new();
    let mut lagged = 0;
    ws.send(json!({"type": "subscribe", "execution_id": id, "after_seq": 0})).await;
    loop {
        let message = ws.next_message().await.unwrap();
        match message["type"].as_str() {
            Some("event") => {
                seqs.push(message["event"]["seq"].as_u64().unwrap());
                if is_terminal(&message["event"]) {
                    break;
                }
            }
            Some("lagged") => {
                lagged += 1;
                let resume = message["resume_after_seq"].as_u64().unwrap();
                assert_eq!(resume, seqs.last().copied().unwrap_or(0), "resume where it stopped");
                ws.send(json!({"type": "subscribe", "execution_id": id, "after_seq": resume})).await;
            }
            _ => {}
        }
    }
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "every event once, in order");
    (seqs, lagged)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_falls_behind_is_told_where_to_resume() {
    let settings = HttpSettings { rate_limit: None, ws_buffer: 1, ..HttpSettings::default() };
    let api = Api::start_with(Backend::Sqlite, "lagged", settings).await.unwrap();
    let login = api.user("lag@example.com").await;
    let token = login["access_token"].as_str().unwrap();
    let steps: Vec<Value> = (0..40).map(|i| json!({"key": format!("e{i}"), "agent": "echo"})).collect();
    let id = api.execute(token, json!({"name": "wide", "steps": steps}), json!({})).await;
    let mut ws = api.ws(token).await;
    // Live, then a replay of the finished run, through a one-message queue: the client lags,
    // is told where to resume, resumes, and ends with every event exactly once.
    let (live, lagged_live) = follow_resuming(&mut ws, &id).await;
    let (replayed, lagged_replay) = follow_resuming(&mut ws, &id).await;
    assert_eq!(live, replayed);
    assert!(
        lagged_live + lagged_replay > 0,
        "a one-message queue cannot keep up with a replay of {} events",
        replayed.len()
    );
    ws.close().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_demands_authentication_first_and_closes_on_shutdown() {
    let api = Api::start(Backend::Sqlite, "ws_auth").await.unwrap();
    let login = api.user("sam@example.com").await;
    let token = login["access_token"].as_str().unwrap().to_owned();
    let url = format!("{}/api/v1/ws", api.base.replacen("http", "ws", 1));

    let (mut stream, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let id = uuid::Uuid::now_v7();
    stream.send(Message::text(json!({"type": "subscribe", "execution_id": id}).to_string())).await.unwrap();
    let mut got_error = false;
    let mut close_code = None;
    while let Some(Ok(frame)) = stream.next().await {
        match frame {
            Message::Text(text) => got_error |= text.contains("unauthorized"),
            Message::Close(frame) => {
                close_code = frame.map(|frame| u16::from(frame.code));
                break;
            }
            _ => {}
        }
    }
    assert!(got_error, "told why");
    assert_eq!(close_code, Some(4401), "closed before any data");

    let (mut stream, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    stream.send(Message::text(json!({"type": "auth", "token": "garbage"}).to_string())).await.unwrap();
    let mut refused = false;
    while let Some(Ok(frame)) = stream.next().await {
        if let Message::Close(frame) = frame {
            refused = frame.is_some_and(|frame| u16::from(frame.code) == 4401);
            break;
        }
    }
    assert!(refused, "a bad token is refused");

    let mut ws = api.ws(&token).await;
    ws.send(json!({"type": "ping"})).await;
    assert_eq!(ws.next_message().await.unwrap()["type"], "pong");
    let stopping = tokio::spawn(api.stop());
    assert!(ws.next_message().await.is_none(), "the server closes the socket on shutdown");
    stopping.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_pings_idle_connections() {
    let settings = HttpSettings {
        rate_limit: None,
        ws_ping_interval: std::time::Duration::from_millis(50),
        ..HttpSettings::default()
    };
    let api = Api::start_with(Backend::Sqlite, "ws_ping", settings).await.unwrap();
    let login = api.user("pip@example.com").await;
    let url = format!("{}/api/v1/ws", api.base.replacen("http", "ws", 1));
    let (mut stream, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    stream.send(Message::text(json!({"type": "auth", "token": login["access_token"]}).to_string())).await.unwrap();
    let pinged = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(Ok(frame)) = stream.next().await {
            if matches!(frame, Message::Ping(_)) {
                return true;
            }
        }
        false
    })
    .await
    .expect("a ping within 30 s");
    assert!(pinged);
    api.stop().await;
}
