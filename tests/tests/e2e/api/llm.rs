//! Agents over the API: the `software` pipeline offline, budgets in requests, and an LLM step on
//! a fake OpenAI-compatible server whose streamed tokens reach a WebSocket subscriber and whose
//! usage shows in the execution, the user's total and the metrics.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use troupe_agents::software::DesignKind;

use super::{Api, Backend, on_both_stores};

on_both_stores!(the_software_pipeline_runs_over_the_api, software_over_the_api);

async fn software_over_the_api(api: &Api) {
    let user = api.user("sam@example.com").await;
    let token = user["access_token"].as_str().unwrap();
    // A bad budget names its field.
    let (status, body) =
        api.post("/api/v1/executions", token, json!({"pipeline": "software", "budget": {"max_tokens": "many"}})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"]["fields"][0]["field"], "budget.max_tokens", "{body}");
    let (status, body) =
        api.post("/api/v1/executions", token, json!({"pipeline": "software", "budget": {"max_tokens": 0}})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"]["fields"][0]["field"], "budget.max_tokens", "{body}");

    let id = api.execute(token, json!("software"), json!({"idea": "a reading list"})).await;
    let mut ws = api.ws(token).await;
    ws.send(json!({"type": "subscribe", "execution_id": id, "after_seq": 0})).await;
    let events = ws.events_until_terminal().await;
    ws.close().await;
    assert_eq!(events.last().unwrap()["status"], "completed", "{events:#?}");
    let (_, execution) = api.get(&format!("/api/v1/executions/{id}"), token).await;
    assert_eq!(execution["usage"]["total_tokens"], 0, "the offline provider calls no LLM: {execution}");
    let (_, artifacts) = api.get(&format!("/api/v1/executions/{id}/artifacts"), token).await;
    let names: Vec<&str> = artifacts.as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    for name in ["openapi.json", "schema.sql", "backend/app.py", "qa.log", "Dockerfile"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
}

/// A fake OpenAI-compatible server: answers each request with `answer`, streamed word by word
/// (40 prompt + 10 completion tokens), once the test hands it a permit.
async fn fake_llm(answer: String, permits: Arc<Semaphore>) -> String {
    async fn completions(
        State((answer, permits)): State<(String, Arc<Semaphore>)>,
        Json(_): Json<Value>,
    ) -> axum::response::Response {
        permits.acquire().await.unwrap().forget();
        let mut events = String::new();
        for piece in answer.split_inclusive(' ') {
            let chunk = json!({"model": "fake-model", "choices": [{"delta": {"content": piece}}]});
            events.push_str(&format!("data: {chunk}\n\n"));
        }
        let usage = json!({"choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 10}});
        events.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
        ([("content-type", "text/event-stream")], events).into_response()
    }
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(completions))
        .with_state((answer, permits));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_tokens_reach_subscribers_and_usage_is_accounted() {
    let answer = json!({
        "title": "Reading List", "summary": "Keep books to read.",
        "user_stories": [{"role": "reader", "goal": "add a book", "benefit": "remember it"}],
        "functional": ["Add a book"], "non_functional": ["Fast"], "acceptance_criteria": ["A book is listed"]
    })
    .to_string();
    let permits = Arc::new(Semaphore::new(0));
    let base_url = fake_llm(answer, Arc::clone(&permits)).await;
    let provider = troupe_agents::llm::OpenAiCompatible::new(
        "openai",
        &base_url,
        Some("sk-test-secret".into()),
        "fake-model",
        troupe_agents::llm::policy::HttpPolicy::default(),
    )
    .unwrap();
    let api = Api::start_configured(Backend::Sqlite, "tokens", |config| {
        let mut config = troupe::Config { llm_provider: Some(Arc::new(provider)), ..config };
        config.agents.price = Some(troupe::config::Price { prompt: 1.0, completion: 2.0 });
        config
    })
    .await
    .unwrap();
    let user = api.user("tess@example.com").await;
    let token = user["access_token"].as_str().unwrap();
    let kind = DesignKind::Requirements;
    let pipeline = json!({"name": "requirements-only", "steps": [{
        "key": "requirements", "agent": "requirements", "validate": kind.validators(), "output_schema": kind.schema()
    }]});
    let id = api.execute(token, pipeline, json!({"idea": "a reading list"})).await;
    let mut ws = api.ws(token).await;
    ws.send(json!({"type": "subscribe", "execution_id": id, "after_seq": 0})).await;
    // Let the fake answer only once the subscription is in place.
    loop {
        let message = ws.next_message().await.expect("subscribed");
        if message["type"] == "subscribed" {
            break;
        }
    }
    permits.add_permits(1);
    let mut streamed = String::new();
    let mut terminal = None;
    while let Some(message) = ws.next_message().await {
        match message["type"].as_str() {
            Some("token") => {
                assert_eq!((message["step"].as_str(), message["attempt"].as_u64()), (Some("requirements"), Some(1)));
                streamed.push_str(message["text"].as_str().unwrap());
            }
            Some("event") if super::is_terminal(&message["event"]) => {
                terminal = Some(message["event"].clone());
                break;
            }
            _ => {}
        }
    }
    ws.close().await;
    assert_eq!(terminal.unwrap()["status"], "completed");
    assert!(streamed.contains("\"title\":\"Reading List\""), "{streamed}");

    let (_, execution) = api.get(&format!("/api/v1/executions/{id}"), token).await;
    let usage = &execution["usage"];
    assert_eq!((usage["prompt_tokens"].as_u64(), usage["completion_tokens"].as_u64()), (Some(40), Some(10)));
    assert!((usage["cost_usd"].as_f64().unwrap() - 60.0 / 1e6).abs() < 1e-12, "{usage}");
    assert_eq!(usage["calls"][0]["model"], "fake-model");
    let (_, mine) = api.get("/api/v1/usage", token).await;
    assert_eq!(mine["total_tokens"], 50);
    let metrics = api.http.get(api.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#",provider="openai",model="fake-model",kind="prompt"} 40"#), "{metrics}");
    assert!(!metrics.contains("sk-test-secret"));

    // A user's default budget (set by an admin) applies to executions that set none: 50
    // tokens cross 30.
    let user_id = user["user"]["id"].as_str().unwrap();
    let admin = api.admin("root@example.com").await;
    let admin = admin["access_token"].as_str().unwrap();
    let (status, view) = api
        .call("PATCH", &format!("/api/v1/users/{user_id}"), Some(admin), Some(json!({"budget": {"max_tokens": 30}})))
        .await;
    assert_eq!((status, &view["budget"]), (200, &json!({"max_tokens": 30})), "{view}");
    let (status, body) = api
        .call("PATCH", &format!("/api/v1/users/{user_id}"), Some(admin), Some(json!({"budget": {"max_tokens": -1}})))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"]["fields"][0]["field"], "budget.max_tokens", "{body}");
    permits.add_permits(1);
    let pipeline = json!({"name": "requirements-only", "steps": [{
        "key": "requirements", "agent": "requirements", "validate": kind.validators(), "output_schema": kind.schema()
    }]});
    let id = api.execute(token, pipeline, json!({"idea": "a reading list"})).await;
    let mut ws = api.ws(token).await;
    ws.send(json!({"type": "subscribe", "execution_id": id, "after_seq": 0})).await;
    let events = ws.events_until_terminal().await;
    ws.close().await;
    let last = events.last().unwrap();
    assert_eq!((last["status"].as_str(), last["error"]["code"].as_str()), (Some("failed"), Some("budget_exceeded")));
    let (_, view) =
        api.call("PATCH", &format!("/api/v1/users/{user_id}"), Some(admin), Some(json!({"budget": null}))).await;
    assert!(view["budget"].is_null(), "{view}");
    api.stop().await;
}
