//! The OpenAI-compatible provider against a fake server on loopback (real HTTP): success and
//! JSON mode, 429 with `Retry-After`, 5xx retries, the circuit breaker, timeouts, refusals and
//! an unreachable server.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use troupe_agents::llm::policy::HttpPolicy;
use troupe_agents::llm::{ChatMessage, ChatRequest, LlmError, LlmProvider, OpenAiCompatible, ResponseFormat};

/// What the fake server answers, in order; after the script runs out, `then` forever.
#[derive(Clone)]
enum Answer {
    Ok(&'static str),
    Status(u16, Option<&'static str>),
    /// Never answers (the client must give up on its own).
    Silent,
}

#[derive(Clone)]
struct Fake {
    script: Arc<Mutex<VecDeque<Answer>>>,
    then: Answer,
    requests: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
}

impl Fake {
    fn requests(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

async fn completions(State(fake): State<Fake>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    fake.requests.lock().unwrap().push((headers, body.clone()));
    let answer = fake.script.lock().unwrap().pop_front().unwrap_or_else(|| fake.then.clone());
    match answer {
        Answer::Ok(content) if body["stream"] == true => {
            let mut events = String::new();
            for piece in content.split_inclusive(' ') {
                let chunk = json!({"model": body["model"], "choices": [{"delta": {"content": piece}}]});
                events.push_str(&format!("data: {chunk}\n\n"));
            }
            let usage = json!({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3}});
            events.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
            ([("content-type", "text/event-stream")], events).into_response()
        }
        Answer::Ok(content) => Json(json!({
            "model": body["model"],
            "choices": [{"message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 5},
        }))
        .into_response(),
        Answer::Status(code, retry_after) => {
            let mut response =
                (StatusCode::from_u16(code).unwrap(), Json(json!({"error": {"message": "nope"}}))).into_response();
            if let Some(seconds) = retry_after {
                response.headers_mut().insert("retry-after", seconds.parse().unwrap());
            }
            response
        }
        Answer::Silent => std::future::pending().await,
    }
}

async fn serve(script: Vec<Answer>, then: Answer) -> (String, Fake) {
    let fake = Fake { script: Arc::new(Mutex::new(script.into())), then, requests: Arc::new(Mutex::new(Vec::new())) };
    let app =
        axum::Router::new().route("/v1/chat/completions", axum::routing::post(completions)).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1"), fake)
}

fn quick() -> HttpPolicy {
    HttpPolicy {
        timeout: Duration::from_secs(10),
        max_retries: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_secs(2),
        breaker_threshold: 100,
        breaker_cooldown: Duration::from_millis(200),
        concurrency: 4,
    }
}

fn request(format: ResponseFormat) -> ChatRequest {
    ChatRequest {
        messages: vec![ChatMessage::system("be brief"), ChatMessage::user("hello")],
        response_format: format,
        ..ChatRequest::default()
    }
}

#[tokio::test]
async fn answers_with_content_usage_and_json_mode() {
    let (base, fake) = serve(vec![], Answer::Ok(r#"{"greeting": "hi"}"#)).await;
    let provider = OpenAiCompatible::new("fake", &base, Some("sk-secret".into()), "model-a", quick()).unwrap();
    let response = provider.chat(request(ResponseFormat::Json)).await.unwrap();
    assert_eq!(response.content, r#"{"greeting": "hi"}"#);
    assert_eq!(response.model, "model-a");
    assert_eq!((response.usage.prompt_tokens, response.usage.completion_tokens), (12, 5));
    let (headers, body) = fake.requests.lock().unwrap()[0].clone();
    assert_eq!(headers["authorization"], "Bearer sk-secret");
    assert_eq!(body["response_format"]["type"], "json_object");
    assert_eq!(body["messages"][1], json!({"role": "user", "content": "hello"}));
    assert!(!format!("{provider:?}").contains("sk-secret"), "the key is never shown");

    let schema = json!({"type": "object", "required": ["greeting"]});
    provider
        .chat(request(ResponseFormat::JsonSchema { name: "greeting".into(), schema: schema.clone() }))
        .await
        .unwrap();
    let (_, body) = fake.requests.lock().unwrap()[1].clone();
    assert_eq!(body["response_format"]["json_schema"]["schema"], schema);
}

#[tokio::test]
async fn rate_limits_are_retried_after_the_time_the_provider_asks() {
    let (base, fake) = serve(vec![Answer::Status(429, Some("1"))], Answer::Ok("done")).await;
    let provider = OpenAiCompatible::new("fake", &base, None, "m", quick()).unwrap();
    let started = Instant::now();
    let response = provider.chat(request(ResponseFormat::Text)).await.unwrap();
    assert_eq!(response.content, "done");
    assert_eq!(fake.requests(), 2);
    assert!(started.elapsed() >= Duration::from_secs(1), "waited for Retry-After: {:?}", started.elapsed());
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    let (base, fake) = serve(vec![Answer::Status(502, None), Answer::Status(503, None)], Answer::Ok("ok")).await;
    let provider = OpenAiCompatible::new("fake", &base, None, "m", quick()).unwrap();
    assert_eq!(provider.chat(request(ResponseFormat::Text)).await.unwrap().content, "ok");
    assert_eq!(fake.requests(), 3);

    let (base, fake) = serve(vec![], Answer::Status(500, None)).await;
    let provider = OpenAiCompatible::new("fake", &base, None, "m", quick()).unwrap();
    match provider.chat(request(ResponseFormat::Text)).await {
        Err(LlmError::Server { status: 500, attempts: 4, .. }) => {}
        other => panic!("expected a server error after 4 attempts, got {other:?}"),
    }
    assert_eq!(fake.requests(), 4);
}

#[tokio::test]
async fn refusals_are_not_retried() {
    let (base, fake) = serve(vec![], Answer::Status(400, None)).await;
    let provider = OpenAiCompatible::new("fake", &base, None, "m", quick()).unwrap();
    let error = provider.chat(request(ResponseFormat::Text)).await.unwrap_err();
    assert!(matches!(error, LlmError::Refused { status: 400, .. }), "{error:?}");
    assert!(!error.is_transient());
    assert_eq!(fake.requests(), 1);
}

#[tokio::test]
async fn the_circuit_breaker_opens_fails_fast_and_closes_after_a_good_probe() {
    // A long cooldown: once open, calls fail fast without reaching the provider.
    let (base, fake) = serve(vec![], Answer::Status(500, None)).await;
    let policy =
        HttpPolicy { max_retries: 0, breaker_threshold: 2, breaker_cooldown: Duration::from_secs(600), ..quick() };
    let provider = OpenAiCompatible::new("fake", &base, None, "m", policy.clone()).unwrap();
    for _ in 0..2 {
        assert!(matches!(provider.chat(request(ResponseFormat::Text)).await, Err(LlmError::Server { .. })));
    }
    let error = provider.chat(request(ResponseFormat::Text)).await.unwrap_err();
    assert!(matches!(error, LlmError::CircuitOpen { .. }), "{error:?}");
    assert_eq!(fake.requests(), 2, "an open breaker does not call the provider");

    // A cooldown of zero: the call after opening is the probe; its success closes the breaker.
    let (base, fake) = serve(vec![Answer::Status(500, None), Answer::Status(500, None)], Answer::Ok("back")).await;
    let policy = HttpPolicy { breaker_cooldown: Duration::ZERO, ..policy };
    let provider = OpenAiCompatible::new("fake", &base, None, "m", policy).unwrap();
    for _ in 0..2 {
        assert!(matches!(provider.chat(request(ResponseFormat::Text)).await, Err(LlmError::Server { .. })));
    }
    assert_eq!(provider.chat(request(ResponseFormat::Text)).await.unwrap().content, "back", "the probe");
    assert_eq!(provider.chat(request(ResponseFormat::Text)).await.unwrap().content, "back", "closed again");
    assert_eq!(fake.requests(), 4);
}

#[tokio::test]
async fn slow_providers_time_out() {
    let (base, _fake) = serve(vec![], Answer::Silent).await;
    let policy = HttpPolicy { timeout: Duration::from_millis(200), max_retries: 0, ..quick() };
    let provider = OpenAiCompatible::new("fake", &base, None, "m", policy).unwrap();
    let error = provider.chat(request(ResponseFormat::Text)).await.unwrap_err();
    assert!(matches!(error, LlmError::Timeout(_)), "{error:?}");
    assert!(error.is_transient());
}

#[tokio::test]
async fn unreachable_or_malformed_base_urls_are_clear_errors() {
    let error = OpenAiCompatible::new("fake", "localhost:1", None, "m", quick()).unwrap_err();
    assert!(error.to_string().contains("http://"), "{error}");
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let policy = HttpPolicy { max_retries: 1, ..quick() };
    let provider = OpenAiCompatible::new("fake", &format!("http://127.0.0.1:{port}/v1"), None, "m", policy).unwrap();
    let error = provider.chat(request(ResponseFormat::Text)).await.unwrap_err();
    assert!(matches!(error, LlmError::Unreachable(_)), "{error:?}");
}

#[tokio::test]
async fn streamed_tokens_arrive_in_order_and_add_up_to_the_answer() {
    let (base, fake) = serve(vec![Answer::Status(503, None)], Answer::Ok("three little tokens")).await;
    let provider = OpenAiCompatible::new("fake", &base, None, "m", quick()).unwrap();
    let (sender, mut receiver) = tokio::sync::mpsc::channel(16);
    let response = provider.chat_stream(request(ResponseFormat::Text), sender).await.unwrap();
    let mut pieces = Vec::new();
    while let Some(piece) = receiver.recv().await {
        pieces.push(piece);
    }
    assert_eq!(pieces, ["three ", "little ", "tokens"]);
    assert_eq!(response.content, "three little tokens");
    assert_eq!((response.usage.prompt_tokens, response.usage.completion_tokens), (9, 3));
    assert_eq!(response.model, "m");
    let requests = fake.requests.lock().unwrap();
    assert_eq!(requests.len(), 2, "the 503 before any token was retried");
    assert_eq!(requests[1].1["stream"], true);
}
