//! The Gemini provider against a fake `generateContent` server on loopback (real HTTP).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use troupe_agents::llm::policy::HttpPolicy;
use troupe_agents::llm::{ChatMessage, ChatRequest, Gemini, LlmError, LlmProvider, ResponseFormat};

type Seen = Arc<Mutex<Vec<(String, HeaderMap, Value)>>>;

#[derive(Clone)]
struct Fake {
    statuses: Arc<Mutex<VecDeque<u16>>>,
    seen: Seen,
}

async fn generate(
    State(fake): State<Fake>,
    Path(model_call): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let streaming = model_call.ends_with(":streamGenerateContent");
    fake.seen.lock().unwrap().push((model_call, headers, body));
    match fake.statuses.lock().unwrap().pop_front() {
        None if streaming => {
            let chunks = [
                json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "{\"ok\":"}]}}]}),
                json!({"candidates": [{"content": {"role": "model", "parts": [{"text": " true}"}]}}],
                       "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 3}, "modelVersion": "gemini-test-001"}),
            ];
            let events: String = chunks.iter().map(|chunk| format!("data: {chunk}\r\n\r\n")).collect();
            ([("content-type", "text/event-stream")], events).into_response()
        }
        Some(429) => {
            (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "0")], Json(json!({"error": {"message": "slow down"}})))
                .into_response()
        }
        Some(code) => {
            (StatusCode::from_u16(code).unwrap(), Json(json!({"error": {"message": "broken"}}))).into_response()
        }
        None => Json(json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": "{\"ok\":"}, {"text": " true}"}]}}],
            "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 3},
            "modelVersion": "gemini-test-001",
        }))
        .into_response(),
    }
}

async fn serve(statuses: Vec<u16>) -> (String, Fake) {
    let fake = Fake { statuses: Arc::new(Mutex::new(statuses.into())), seen: Arc::default() };
    let app = axum::Router::new()
        .route("/v1beta/models/{model_call}", axum::routing::post(generate))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1beta"), fake)
}

fn policy() -> HttpPolicy {
    HttpPolicy { initial_backoff: Duration::from_millis(10), max_retries: 2, ..HttpPolicy::default() }
}

#[tokio::test]
async fn maps_messages_json_mode_and_usage() {
    let (base, fake) = serve(vec![429]).await;
    let gemini = Gemini::new(&base, "g-key".into(), "gemini-flash", policy()).unwrap();
    let schema = json!({"type": "object"});
    let request = ChatRequest {
        messages: vec![ChatMessage::system("answer in JSON"), ChatMessage::user("ok?")],
        response_format: ResponseFormat::JsonSchema { name: "answer".into(), schema: schema.clone() },
        temperature: Some(0.2),
        ..ChatRequest::default()
    };
    let response = gemini.chat(request).await.unwrap();
    assert_eq!(response.content, r#"{"ok": true}"#, "parts are joined");
    assert_eq!(response.model, "gemini-test-001");
    assert_eq!((response.usage.prompt_tokens, response.usage.completion_tokens), (7, 3));
    let seen = fake.seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "the 429 was retried");
    let (call, headers, body) = &seen[1];
    assert_eq!(call, "gemini-flash:generateContent");
    assert_eq!(headers["x-goog-api-key"], "g-key");
    assert_eq!(body["systemInstruction"]["parts"][0]["text"], "answer in JSON");
    assert_eq!(body["contents"], json!([{"role": "user", "parts": [{"text": "ok?"}]}]));
    assert_eq!(body["generationConfig"]["responseMimeType"], "application/json");
    assert_eq!(body["generationConfig"]["responseJsonSchema"], schema);
    assert!(!format!("{gemini:?}").contains("g-key"));
}

#[tokio::test]
async fn server_errors_and_refusals_are_reported() {
    let (base, fake) = serve(vec![500, 503, 500]).await;
    let gemini = Gemini::new(&base, "k".into(), "m", policy()).unwrap();
    let error = gemini.chat(ChatRequest { messages: vec![ChatMessage::user("x")], ..ChatRequest::default() }).await;
    assert!(matches!(error, Err(LlmError::Server { attempts: 3, .. })), "{error:?}");
    assert_eq!(fake.seen.lock().unwrap().len(), 3);

    let (base, _) = serve(vec![403]).await;
    let gemini = Gemini::new(&base, "k".into(), "m", policy()).unwrap();
    let error = gemini.chat(ChatRequest { messages: vec![ChatMessage::user("x")], ..ChatRequest::default() }).await;
    match error {
        Err(LlmError::Refused { status: 403, message }) => assert_eq!(message, "broken"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn streamed_answers_arrive_token_by_token_with_usage() {
    let (base, fake) = serve(vec![503]).await;
    let gemini = Gemini::new(&base, "gem-key".into(), "gemini-x", policy()).unwrap();
    let (sender, mut receiver) = tokio::sync::mpsc::channel(16);
    let request = ChatRequest { messages: vec![ChatMessage::user("hi")], ..Default::default() };
    let response = gemini.chat_stream(request, sender).await.unwrap();
    assert_eq!(response.content, "{\"ok\": true}");
    assert_eq!((response.usage.prompt_tokens, response.usage.completion_tokens), (7, 3));
    assert_eq!(response.model, "gemini-test-001");
    let mut pieces = Vec::new();
    while let Some(piece) = receiver.recv().await {
        pieces.push(piece);
    }
    assert_eq!(pieces, ["{\"ok\":", " true}"]);
    let seen = fake.seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "the 503 before the first token was retried");
    assert_eq!(seen[1].0, "gemini-x:streamGenerateContent");
}
