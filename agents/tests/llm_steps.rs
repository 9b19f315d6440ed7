//! Built-in agents on a real (fake, loopback) OpenAI-compatible server, through the runtime:
//! a malformed answer fails validation and the corrector fixes it on the next attempt (and a
//! later run learns from that correction), usage is accounted per attempt, streamed tokens reach
//! live subscribers, and a budget stops an execution that spends past it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use troupe_agents::AgentsConfig;
use troupe_agents::llm::OpenAiCompatible;
use troupe_agents::llm::policy::HttpPolicy;
use troupe_agents::software::DesignKind;
use troupe_runtime::model::EventKind;
use troupe_runtime::pipeline::PipelineDef;
use troupe_runtime::status::ExecutionStatus;
use troupe_runtime::store::{ExecutionStore, InMemoryStore};
use troupe_runtime::{Runtime, RuntimeConfig, SubmitRequest};

const DEADLINE: Duration = Duration::from_secs(30);

#[derive(Clone, Default)]
struct Fake {
    script: Arc<Mutex<VecDeque<String>>>,
    requests: Arc<Mutex<Vec<Value>>>,
}

/// Streams each scripted answer word by word, with usage 40 prompt + 10 completion tokens.
async fn completions(State(fake): State<Fake>, Json(body): Json<Value>) -> Response {
    fake.requests.lock().unwrap().push(body.clone());
    let content = fake.script.lock().unwrap().pop_front().unwrap_or_else(|| "out of script".into());
    let mut events = String::new();
    for piece in content.split_inclusive(' ') {
        let chunk = json!({"model": "fake-model", "choices": [{"delta": {"content": piece}}]});
        events.push_str(&format!("data: {chunk}\n\n"));
    }
    let usage = json!({"choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 10}});
    events.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
    ([("content-type", "text/event-stream")], events).into_response()
}

async fn fake_server(fake: &Fake) -> String {
    let app =
        axum::Router::new().route("/v1/chat/completions", axum::routing::post(completions)).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

fn requirements_answer() -> String {
    json!({
        "title": "Plant Diary",
        "summary": "Track when each plant was watered.",
        "user_stories": [{"role": "gardener", "goal": "log a watering", "benefit": "no plant dries out"}],
        "functional": ["Log a watering with a date"],
        "non_functional": ["Answers within 200 ms"],
        "acceptance_criteria": ["A logged watering is listed"]
    })
    .to_string()
}

fn pipeline(budget: Option<Value>) -> PipelineDef {
    let kind = DesignKind::Requirements;
    let mut def = json!({
        "name": "requirements-only",
        "steps": [{
            "key": "requirements", "agent": "requirements", "validate": kind.validators(),
            "output_schema": kind.schema(), "retry": {"max_attempts": 1}
        }]
    });
    if let Some(budget) = budget {
        def["budget"] = budget;
    }
    PipelineDef::from_value(def).unwrap()
}

async fn runtime(fake: &Fake, store: &Arc<dyn ExecutionStore>) -> Runtime {
    let base_url = fake_server(fake).await;
    let provider = OpenAiCompatible::new("openai", &base_url, None, "fake-model", HttpPolicy::default()).unwrap();
    let config = AgentsConfig {
        llm: Arc::new(provider),
        price_per_million: Some((1.0, 2.0)),
        memories: Some(Arc::new(troupe_runtime::memory::InMemoryMemories::default())),
        ..AgentsConfig::default()
    };
    let builder = Runtime::builder().store(Arc::clone(store)).config(RuntimeConfig::default());
    troupe_agents::register_builtins_with(builder, config).start().await.unwrap()
}

#[tokio::test]
async fn a_malformed_answer_is_corrected_and_later_corrections_learn_from_it() {
    let fake = Fake::default();
    let store: Arc<dyn ExecutionStore> = Arc::new(InMemoryStore::default());
    let runtime = runtime(&fake, &store).await;
    let pipeline = runtime.validate(pipeline(None)).unwrap();
    fake.script.lock().unwrap().extend(["Sure! Here are the requirements.".to_owned(), requirements_answer()]);
    let mut tokens = runtime.subscribe_tokens();

    let id = runtime.submit(SubmitRequest::new(pipeline.clone(), json!({"idea": "a plant diary"}))).await.unwrap();
    let record = tokio::time::timeout(DEADLINE, runtime.wait(id)).await.unwrap().unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
    let steps = store.list_steps(id).await.unwrap();
    assert_eq!(steps[0].corrections, 1);
    assert_eq!(steps[0].output.as_ref().unwrap()["title"], "Plant Diary");

    // The corrector's request carried the rejected answer and the validators' reasons.
    let requests = fake.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    let correction = requests[1]["messages"].to_string();
    assert!(correction.contains("Sure! Here are the requirements."), "{correction}");
    assert!(correction.contains("rejected by the validators"), "{correction}");
    assert!(requests[1]["temperature"].as_f64().unwrap() < requests[0]["temperature"].as_f64().unwrap());

    // Streamed tokens went out live, tagged with their step and attempt.
    let first = tokio::time::timeout(DEADLINE, tokens.recv()).await.unwrap().unwrap();
    assert_eq!((first.execution_id, first.step.as_str(), first.attempt), (id, "requirements", 1));
    assert_eq!(first.text, "Sure! ");

    // Both attempts were accounted: tokens and cost per attempt, and a usage event each.
    let usage = store.execution_usage(id).await.unwrap();
    assert_eq!(usage.len(), 2, "{usage:#?}");
    assert_eq!((usage[0].attempt, usage[0].usage.prompt_tokens, usage[0].usage.completion_tokens), (1, 40, 10));
    assert!((usage[1].usage.cost_usd - (40.0 + 20.0) / 1e6).abs() < 1e-12);
    assert_eq!(store.owner_usage(record.owner).await.unwrap().tokens(), 100);
    let events = store.list_events(id, 0, 1000).await.unwrap();
    assert_eq!(events.iter().filter(|event| matches!(event.kind, EventKind::Usage { .. })).count(), 2);

    // Each attempt's exchange with the model is in the execution's logs, for debugging.
    let logs = store.list_logs(id).await.unwrap();
    let exchanges: Vec<&str> =
        logs.iter().map(|log| log.message.as_str()).filter(|message| message.contains("LLM exchange")).collect();
    assert_eq!(exchanges.len(), 2, "{logs:#?}");
    assert!(exchanges[0].starts_with("attempt 1") && exchanges[0].contains("Sure! Here are the requirements."));
    assert!(exchanges[1].contains("rejected by the validators"));

    // The correction is recorded as passed, under the agent and the issues' signature.
    let issues = store.list_attempts(id).await.unwrap()[0].error.clone().unwrap().details["issues"].clone();
    let issues: Vec<troupe_runtime::validator::ValidationIssue> = serde_json::from_value(issues).unwrap();
    let signature = troupe_runtime::validator::signature(&issues);
    let recorded = store.list_corrections(id).await.unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!((recorded[0].agent.as_str(), recorded[0].signature.as_str()), ("requirements", signature.as_str()));
    assert!(recorded[0].passed);
    assert!(recorded[0].strategy["accepted"].as_array().is_some_and(|accepted| !accepted.is_empty()));

    // The next time the same mistake is corrected, the fix that worked is quoted.
    fake.script.lock().unwrap().extend(["I cannot answer in JSON.".to_owned(), requirements_answer()]);
    let id = runtime.submit(SubmitRequest::new(pipeline, json!({"idea": "a plant diary"}))).await.unwrap();
    let record = tokio::time::timeout(DEADLINE, runtime.wait(id)).await.unwrap().unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed);
    let correction = fake.requests.lock().unwrap()[3]["messages"].to_string();
    assert!(correction.contains("In earlier runs these values fixed the same problems"), "{correction}");
    assert!(correction.contains("Plant Diary"), "{correction}");
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_budget_stops_the_execution_instead_of_spending_on() {
    let fake = Fake::default();
    let store: Arc<dyn ExecutionStore> = Arc::new(InMemoryStore::default());
    let runtime = runtime(&fake, &store).await;
    // Each call uses 50 tokens: the malformed first answer already crosses a 30-token cap, so
    // no correction is asked for.
    let pipeline = runtime.validate(pipeline(Some(json!({"max_tokens": 30})))).unwrap();
    fake.script.lock().unwrap().extend(["not json".to_owned(), requirements_answer()]);
    let id = runtime.submit(SubmitRequest::new(pipeline, json!({"idea": "x"}))).await.unwrap();
    let record = tokio::time::timeout(DEADLINE, runtime.wait(id)).await.unwrap().unwrap();
    assert_eq!(record.status, ExecutionStatus::Failed);
    let error = record.error.unwrap();
    assert_eq!(error.code, "budget_exceeded", "{error:?}");
    assert!(error.message.contains("50 tokens"), "{}", error.message);
    assert_eq!(fake.requests.lock().unwrap().len(), 1, "nothing was spent after the cap");
    runtime.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_provider_fails_the_step_with_a_clear_error_and_a_report() {
    // Port 9 (discard) on loopback: nothing listens there.
    let policy = HttpPolicy { max_retries: 0, timeout: Duration::from_secs(5), ..HttpPolicy::default() };
    let provider = OpenAiCompatible::new("openai", "http://127.0.0.1:9/v1", None, "fake-model", policy).unwrap();
    let store: Arc<dyn ExecutionStore> = Arc::new(InMemoryStore::default());
    let config = AgentsConfig { llm: Arc::new(provider), ..AgentsConfig::default() };
    let builder = Runtime::builder().store(Arc::clone(&store)).config(RuntimeConfig::default());
    let runtime = troupe_agents::register_builtins_with(builder, config).start().await.unwrap();
    let mut def = pipeline(None);
    def.on_failure = Some("recovery".into());
    def.steps.push(troupe_runtime::pipeline::StepDef {
        key: "recovery".into(),
        agent: "recovery".into(),
        ..def.steps[0].clone()
    });
    let recovery = def.steps.last_mut().unwrap();
    recovery.validate.clear();
    recovery.output_schema = None;
    let id = runtime.submit(SubmitRequest::new(runtime.validate(def).unwrap(), json!({"idea": "x"}))).await.unwrap();
    let record = tokio::time::timeout(DEADLINE, runtime.wait(id)).await.unwrap().unwrap();
    assert_eq!(record.status, ExecutionStatus::Failed);
    let message = record.error.unwrap().message;
    assert!(message.contains("cannot reach the provider"), "{message}");
    let report = store.get_artifact(id, "recovery", "recovery-report.md").await.unwrap().expect("a report");
    let report = String::from_utf8(report.content).unwrap();
    assert!(report.contains("provider unavailable") && report.contains("TROUPE_LLM_"), "{report}");
    runtime.shutdown().await;
}
