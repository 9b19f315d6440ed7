//! A fake OpenAI-compatible server that answers each design agent (known by the response
//! schema's name) with a correct document for the run's input — what a good model would say —
//! streamed in pieces; a test may rewrite any answer first (what a hostile model would say).

use std::sync::Arc;

use serde_json::{Value, json};
use troupe_agents::software::DesignKind;

/// Rewrites the answer a design agent of this kind is about to receive.
pub type Patch = Arc<dyn Fn(DesignKind, &mut Value) + Send + Sync>;

/// Starts the server on loopback; returns its base URL (`http://…/v1`).
pub async fn model_server(patch: Option<Patch>) -> String {
    model_server_seeing_keys(patch).await.0
}

/// The `Authorization` header of every request the server received, in order.
pub type SeenKeys = Arc<std::sync::Mutex<Vec<String>>>;

/// Like [`model_server`], also returning the keys (`Authorization` headers) it was sent.
pub async fn model_server_seeing_keys(patch: Option<Patch>) -> (String, SeenKeys) {
    use axum::response::IntoResponse;
    let seen = SeenKeys::default();
    let recorder = Arc::clone(&seen);
    let completions = move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
        let patch = patch.clone();
        let authorization = headers.get("authorization").and_then(|value| value.to_str().ok()).unwrap_or("");
        recorder.lock().unwrap().push(authorization.to_owned());
        async move {
            let name = body["response_format"]["json_schema"]["name"].as_str().unwrap_or_default();
            let kind = DesignKind::from_name(name).expect("a design agent");
            let prompt = body["messages"][1]["content"].as_str().unwrap_or_default().to_owned();
            let json_after = |marker: &str| -> Option<Value> {
                let rest = &prompt[prompt.find(marker)? + marker.len()..];
                serde_json::Deserializer::from_str(rest).into_iter::<Value>().next()?.ok()
            };
            let input = json_after("Input of the run:\n").unwrap_or(Value::Null);
            let design = json_after("Output of step `db_design`:\n");
            let ddl = design.as_ref().and_then(|design| design["ddl"].as_str());
            let mut answer = troupe_agents::software::offline::generate_from(kind, &input, ddl);
            if let Some(patch) = &patch {
                patch(kind, &mut answer);
            }
            let answer = answer.to_string();
            let mut events = String::new();
            for piece in answer.as_bytes().chunks(512) {
                let piece = String::from_utf8_lossy(piece);
                let chunk = json!({"model": "good-model", "choices": [{"delta": {"content": piece}}]});
                events.push_str(&format!("data: {chunk}\n\n"));
            }
            let usage = json!({"choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 50}});
            events.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
            ([("content-type", "text/event-stream")], events).into_response()
        }
    };
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(completions));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1"), seen)
}
