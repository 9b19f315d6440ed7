//! The OpenAI-compatible embeddings client against a fake server on loopback: batching, order,
//! a 429 retried after `Retry-After`, and dimension and input checks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use troupe_agents::llm::OpenAiEmbedder;
use troupe_agents::llm::policy::HttpPolicy;
use troupe_runtime::embed::{EmbedError, Embedder};

#[derive(Clone, Default)]
struct Fake {
    batches: Arc<Mutex<Vec<usize>>>,
    refused_once: Arc<Mutex<bool>>,
}

/// Embeds text `t` as `[len(t), 1.0, 2.0]`, listing rows in reverse order with their index;
/// the first request is answered 429.
async fn embeddings(State(fake): State<Fake>, Json(body): Json<Value>) -> Response {
    {
        let mut refused = fake.refused_once.lock().unwrap();
        if !*refused {
            *refused = true;
            return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "0")], "slow down").into_response();
        }
    }
    let inputs: Vec<String> = serde_json::from_value(body["input"].clone()).unwrap();
    fake.batches.lock().unwrap().push(inputs.len());
    let rows: Vec<Value> = inputs
        .iter()
        .enumerate()
        .rev()
        .map(|(index, text)| json!({"index": index, "embedding": [text.len() as f64, 1.0, 2.0]}))
        .collect();
    Json(json!({"data": rows, "model": body["model"]})).into_response()
}

async fn fake_server() -> (String, Fake) {
    let fake = Fake::default();
    let app = axum::Router::new().route("/v1/embeddings", axum::routing::post(embeddings)).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1"), fake)
}

fn policy() -> HttpPolicy {
    HttpPolicy { initial_backoff: Duration::from_millis(1), ..HttpPolicy::default() }
}

#[tokio::test]
async fn texts_are_embedded_in_batches_in_order_with_retries() {
    let (base, fake) = fake_server().await;
    let embedder = OpenAiEmbedder::new(&base, Some("sk-key".into()), "embed-small", 3, 2, policy()).unwrap();
    assert_eq!(embedder.dimension(), 3);
    let texts: Vec<String> = ["a", "bb", "ccc", "dddd", "eeeee"].map(String::from).to_vec();
    let vectors = embedder.embed(&texts).await.unwrap();
    let lengths: Vec<f32> = vectors.iter().map(|vector| vector[0]).collect();
    assert_eq!(lengths, [1.0, 2.0, 3.0, 4.0, 5.0], "one vector per text, in order");
    assert_eq!(*fake.batches.lock().unwrap(), [2, 2, 1], "batches of 2, the refused one retried");
}

#[tokio::test]
async fn a_dimension_mismatch_and_empty_text_are_clear_errors() {
    let (base, _fake) = fake_server().await;
    let embedder = OpenAiEmbedder::new(&base, None, "embed-small", 384, 16, policy()).unwrap();
    let error = embedder.embed(&["hello".to_owned()]).await.unwrap_err();
    assert!(matches!(error, EmbedError::Dimension { expected: 384, got: 3 }), "{error}");
    let error = embedder.embed(&["hello".to_owned(), "  ".to_owned()]).await.unwrap_err();
    assert!(matches!(error, EmbedError::Input(_)) && error.to_string().contains("text 1"), "{error}");
    assert!(OpenAiEmbedder::new(&base, None, "m", 0, 16, policy()).is_err());
}
