//! An approval step under `troupe serve` on SQLite: the server is killed while the execution
//! waits, and the execution continues once approved after the restart.

use std::time::Duration;

use serde_json::{Value, json};

use crate::contract::checked;
use crate::poll;
use crate::serve::serve_with;

const DEADLINE: Duration = Duration::from_secs(60);

/// A signed-in user of one server.
struct Client {
    base: String,
    http: reqwest::Client,
    token: String,
}

impl Client {
    async fn sign_in(addr: &str, register: bool) -> Self {
        let http = reqwest::Client::new();
        let base = format!("http://{addr}");
        let credentials = json!({"email": "ada@example.com", "password": "password-1"});
        if register {
            let url = format!("{base}/api/v1/auth/register");
            let response = http.post(&url).json(&credentials).send().await.unwrap();
            assert_eq!(checked("POST", &url, response).await.0, 201);
        }
        let url = format!("{base}/api/v1/auth/login");
        let response = http.post(&url).json(&credentials).send().await.unwrap();
        let body: Value = serde_json::from_slice(&checked("POST", &url, response).await.1).unwrap();
        Self { base, http, token: body["access_token"].as_str().unwrap().to_owned() }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.parse().unwrap(), &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, body) = checked(method, &url, request.send().await.unwrap()).await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    async fn wait_status(&self, id: &str, status: &str) -> Value {
        poll(DEADLINE, &format!("the execution is {status}"), || async move {
            let (_, execution) = self.call("GET", &format!("/api/v1/executions/{id}"), None).await;
            (execution["status"] == status).then_some(execution)
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_waits_across_a_killed_server_and_continues_when_approved() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("TROUPE_INSECURE_FAST_HASHING", "true")];
    let mut server = serve_with(dir.path(), &env);
    let client = Client::sign_in(&server.addr, true).await;
    let pipeline = json!({"name": "reviewed", "steps": [
        {"key": "draft", "agent": "echo"},
        {"key": "review", "agent": "approval", "depends_on": ["draft"],
         "params": {"prompt": "Publish {{ input.title }}?", "timeout": "1h"}},
        {"key": "publish", "agent": "echo", "depends_on": ["review"]}
    ]});
    let (status, body) =
        client.call("POST", "/api/v1/executions", Some(json!({"pipeline": pipeline, "input": {"title": "Q3"}}))).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    client.wait_status(&id, "waiting").await;

    server.kill();
    let server = serve_with(dir.path(), &env);
    let client = Client::sign_in(&server.addr, false).await;
    let (_, execution) = client.call("GET", &format!("/api/v1/executions/{id}"), None).await;
    assert_eq!(execution["status"], "waiting", "still waiting after the restart: {execution}");
    let (status, approvals) = client.call("GET", &format!("/api/v1/executions/{id}/approvals"), None).await;
    assert_eq!((status, approvals[0]["prompt"].as_str()), (200, Some("Publish Q3?")), "{approvals}");

    let path = format!("/api/v1/executions/{id}/steps/review/approve");
    let (status, decided) = client.call("POST", &path, Some(json!({"comment": "go"}))).await;
    assert_eq!((status, decided["decision"].as_str()), (200, Some("approved")), "{decided}");
    client.wait_status(&id, "completed").await;
    let (_, steps) = client.call("GET", &format!("/api/v1/executions/{id}/steps"), None).await;
    let review = steps.as_array().unwrap().iter().find(|step| step["key"] == "review").unwrap();
    assert_eq!(review["attempts"].as_array().unwrap().len(), 1, "{review}");
    assert_eq!(review["attempts"][0]["output"]["comment"], "go");
    let (_, events) = client.call("GET", &format!("/api/v1/executions/{id}/events?after_seq=0&limit=1000"), None).await;
    let kinds: Vec<&str> = events.as_array().unwrap().iter().filter_map(|event| event["type"].as_str()).collect();
    assert_eq!(kinds.iter().filter(|kind| **kind == "approval_requested").count(), 1, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|kind| **kind == "approval_decided").count(), 1, "{kinds:?}");
}
