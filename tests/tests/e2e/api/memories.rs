//! `/api/v1/memories`: isolation between users on every path, recall quality of the offline
//! embedder, bad input by field, and recall reaching an agent's prompt (on a fake model).

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use troupe_agents::software::DesignKind;

use super::{Api, Backend, on_both_stores};

on_both_stores!(memories_are_isolated_per_user_on_every_path, isolation);
on_both_stores!(bad_memory_requests_name_the_field, bad_input);
on_both_stores!(a_paraphrase_ranks_in_the_top_three, recall_quality);

async fn store(api: &Api, token: &str, body: Value) -> Value {
    let (status, stored) = api.post("/api/v1/memories", token, body).await;
    assert_eq!(status, 201, "{stored}");
    stored
}

async fn search(api: &Api, token: &str, body: Value) -> Vec<Value> {
    let (status, found) = api.post("/api/v1/memories/search", token, body).await;
    assert_eq!(status, 200, "{found}");
    found["results"].as_array().unwrap().clone()
}

fn texts(results: &[Value]) -> Vec<&str> {
    results.iter().map(|hit| hit["text"].as_str().unwrap()).collect()
}

async fn isolation(api: &Api) {
    let alice = api.user("alice@example.com").await;
    let bob = api.user("bob@example.com").await;
    let (alice, bob) = (alice["access_token"].as_str().unwrap(), bob["access_token"].as_str().unwrap());
    // Overlapping content: both store the same sentence, each adds one of their own.
    let shared = "The spare key is under the blue flowerpot by the door";
    let mine = store(api, alice, json!({"text": shared, "kind": "fact", "metadata": {"room": "hall"}})).await;
    store(api, alice, json!({"text": "Alice's bike lock code is 4711"})).await;
    let theirs = store(api, bob, json!({"text": shared, "kind": "fact"})).await;
    store(api, bob, json!({"text": "Bob waters the tomatoes on Sundays"})).await;
    assert_eq!(mine["kind"], "fact");
    assert_eq!(mine["metadata"]["room"], "hall");

    // Search: only the caller's, whatever the filters.
    let found = search(api, bob, json!({"query": "where is the spare key", "k": 10})).await;
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().all(|hit| hit["id"] != mine["id"]), "bob never sees alice's memory");
    assert_eq!(found[0]["id"], theirs["id"]);
    assert!(found[0]["score"].as_f64().unwrap() > found[1]["score"].as_f64().unwrap());
    let found = search(api, bob, json!({"query": "bike lock code", "k": 10, "filters": {"kind": "note"}})).await;
    assert_eq!(texts(&found), ["Bob waters the tomatoes on Sundays"], "alice's bike note is not bob's to find");

    // Get and delete by id: someone else's id answers 404 and deletes nothing.
    let mine_path = format!("/api/v1/memories/{}", mine["id"].as_str().unwrap());
    let (status, body) = api.get(&mine_path, bob).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    let (status, _) = api.call("DELETE", &mine_path, Some(bob), None).await;
    assert_eq!(status, 404);
    let (status, body) = api.get(&mine_path, alice).await;
    assert_eq!((status, body["text"].as_str()), (200, Some(shared)));

    // Export: all of the caller's, decrypted, nobody else's.
    let response = api.http.get(api.url("/api/v1/memories/export")).bearer_auth(alice).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-disposition"].to_str().unwrap().contains("attachment"));
    let export: Value = response.json().await.unwrap();
    let (_, me) = api.get("/api/v1/auth/me", alice).await;
    assert_eq!(export["user_id"], me["id"]);
    let exported = export["memories"].as_array().unwrap();
    assert_eq!(texts(exported), [shared, "Alice's bike lock code is 4711"], "oldest first");

    // Delete one, then all: only the caller's go.
    let (status, _) = api.call("DELETE", &mine_path, Some(alice), None).await;
    assert_eq!(status, 204);
    let (status, _) = api.get(&mine_path, alice).await;
    assert_eq!(status, 404);
    let (status, body) = api.call("DELETE", "/api/v1/memories", Some(bob), None).await;
    assert_eq!((status, body["error"]["details"]["fields"][0]["field"].as_str()), (400, Some("confirm")));
    let (status, body) = api.call("DELETE", "/api/v1/memories?confirm=true", Some(bob), None).await;
    assert_eq!((status, body["deleted"].as_u64()), (200, Some(2)));
    assert!(search(api, bob, json!({"query": "spare key"})).await.is_empty());
    let left = search(api, alice, json!({"query": "bike lock"})).await;
    assert_eq!(texts(&left), ["Alice's bike lock code is 4711"], "bob's delete-all left alice's");

    // No credentials, no memories.
    let (status, _) = api.call("POST", "/api/v1/memories/search", None, Some(json!({"query": "key"}))).await;
    assert_eq!(status, 401);
}

async fn bad_input(api: &Api) {
    let user = api.user("carol@example.com").await;
    let token = user["access_token"].as_str().unwrap();
    let field_of = |body: &Value| body["error"]["details"]["fields"][0]["field"].as_str().unwrap_or("").to_owned();
    let cases = [
        ("/api/v1/memories", json!({"text": "   "}), "text", "empty"),
        ("/api/v1/memories", json!({"text": "x ".repeat(20_000)}), "text", "at most 32768 characters"),
        ("/api/v1/memories", json!({"text": "ok", "kind": "Not A Kind"}), "kind", "a-z"),
        ("/api/v1/memories", json!({"text": "ok", "metadata": [1, 2]}), "metadata", "object"),
        ("/api/v1/memories", json!({"text": "ok", "colour": "red"}), "colour", "unknown field"),
        ("/api/v1/memories", json!({"kind": "note"}), "text", "missing field `text`"),
        ("/api/v1/memories/search", json!({"query": ""}), "query", "empty"),
        ("/api/v1/memories/search", json!({"query": "x", "k": 0}), "k", "at least 1"),
        ("/api/v1/memories/search", json!({"query": "x", "k": 1000}), "k", "at most 100"),
        (
            "/api/v1/memories/search",
            json!({"query": "x", "filters": {"colour": "red"}}),
            "filters",
            "unknown field `colour`",
        ),
        (
            "/api/v1/memories/search",
            json!({"query": "x", "filters": {"kind": ["ok", "BAD"]}}),
            "filters.kind[1]",
            "a-z",
        ),
    ];
    for (path, body, field, message) in cases {
        let (status, answer) = api.post(path, token, body.clone()).await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
        assert_eq!(answer["error"]["code"], "validation_failed", "{answer}");
        assert!(field_of(&answer).starts_with(field), "{path} {body}: expected field {field}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(message), "{path}: {answer}");
    }
    let (status, answer) = api.get("/api/v1/memories/not-a-uuid", token).await;
    assert_eq!((status, field_of(&answer).as_str()), (400, "id"));
    // Nothing was stored by the refused requests.
    let (_, export) = api.get("/api/v1/memories/export", token).await;
    assert_eq!(export["memories"], json!([]));
}

async fn recall_quality(api: &Api) {
    let user = api.user("dave@example.com").await;
    let token = user["access_token"].as_str().unwrap();
    let corpus = [
        "To reset your account password, open Settings, choose Security and click Reset password.",
        "Quarterly revenue in the northern region grew by twelve percent.",
        "Tomato plants need six hours of sun and regular watering in summer.",
        "The office is closed on public holidays and on the first Monday of August.",
        "Invoices are sent on the first business day of each month by email.",
        "Our API rate limit is one hundred requests per second per user.",
        "The cat is fed twice a day, at seven in the morning and six in the evening.",
        "Backups of the production database run every night at two o'clock.",
    ];
    for text in corpus {
        store(api, token, json!({"text": text})).await;
    }
    let paraphrases = [
        ("how do I change my forgotten account password", 0),
        ("when are the nightly database backups taken", 7),
        ("how many requests per second does the API allow", 5),
        ("watering and sunlight for tomato plants", 2),
        ("at what times is the cat fed", 6),
    ];
    for (query, expected) in paraphrases {
        let found = search(api, token, json!({"query": query, "k": 3})).await;
        assert!(
            texts(&found).contains(&corpus[expected]),
            "`{query}` should find `{}` in {found:#?}",
            corpus[expected]
        );
    }
}

/// A fake OpenAI-compatible server that records every request and answers `answer`, streamed.
async fn recording_llm(answer: String) -> (String, Arc<Mutex<Vec<Value>>>) {
    async fn completions(
        State((answer, requests)): State<(String, Arc<Mutex<Vec<Value>>>)>,
        Json(request): Json<Value>,
    ) -> axum::response::Response {
        requests.lock().unwrap().push(request);
        let chunk = json!({"model": "fake-model", "choices": [{"delta": {"content": answer}}]});
        let usage = json!({"choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 10}});
        let events = format!("data: {chunk}\n\ndata: {usage}\n\ndata: [DONE]\n\n");
        ([("content-type", "text/event-stream")], events).into_response()
    }
    let requests = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(completions))
        .with_state((answer, Arc::clone(&requests)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1"), requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_receives_its_owners_memories_in_its_prompt() {
    let answer = json!({
        "title": "Family Todo", "summary": "Shared tasks.",
        "user_stories": [{"role": "parent", "goal": "assign a task", "benefit": "share the load"}],
        "functional": ["Assign a task"], "non_functional": ["Fast"], "acceptance_criteria": ["A task has an owner"]
    })
    .to_string();
    let (base_url, requests) = recording_llm(answer).await;
    let provider = troupe_agents::llm::OpenAiCompatible::new(
        "openai",
        &base_url,
        None,
        "fake-model",
        troupe_agents::llm::policy::HttpPolicy::default(),
    )
    .unwrap();
    let api = Api::start_configured(Backend::Sqlite, "recall", |config| troupe::Config {
        llm_provider: Some(Arc::new(provider)),
        ..config
    })
    .await
    .unwrap();
    let erin = api.user("erin@example.com").await;
    let frank = api.user("frank@example.com").await;
    let (erin, frank) = (erin["access_token"].as_str().unwrap(), frank["access_token"].as_str().unwrap());
    store(&api, erin, json!({"text": "For family todo lists, every task needs an owner and a Norwegian translation.", "kind": "preference"})).await;
    store(&api, erin, json!({"text": "The quarterly tax report is due in April."})).await;
    store(&api, frank, json!({"text": "Family todo lists must be printed in purple ink."})).await;
    let kind = DesignKind::Requirements;
    let pipeline = json!({"name": "requirements-only", "steps": [{
        "key": "requirements", "agent": "requirements", "validate": kind.validators(), "output_schema": kind.schema()
    }]});
    let id = api.execute(erin, pipeline, json!({"idea": "a todo list for families"})).await;
    let mut ws = api.ws(erin).await;
    ws.send(json!({"type": "subscribe", "execution_id": id, "after_seq": 0})).await;
    let events = ws.events_until_terminal().await;
    ws.close().await;
    assert_eq!(events.last().unwrap()["status"], "completed", "{events:#?}");
    // The prompt quoted the owner's memory about the input, and nobody else's.
    let prompt = requests.lock().unwrap()[0]["messages"].to_string();
    assert!(prompt.contains("Norwegian translation"), "{prompt}");
    assert!(!prompt.contains("purple ink"), "another user's memory reached the prompt: {prompt}");
    api.stop().await;
}
