//! `troupe serve`, `run` and `resume` assemble the same system: a plugin step that a killed
//! server left is finished by `troupe resume`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Semaphore;
use troupe_runtime::status::{ExecutionStatus, StepStatus};
use troupe_runtime::store::ExecutionStore;

use crate::serve::serve_with;
use crate::troupe;

const DEADLINE: Duration = Duration::from_secs(120);

/// A remote plugin that holds its first requests (until `answer` is set) and then answers.
async fn remote_plugin(arrived: Arc<Semaphore>, answer: Arc<AtomicBool>) -> String {
    let run = move |axum::Json(request): axum::Json<Value>| {
        let (arrived, answer) = (Arc::clone(&arrived), Arc::clone(&answer));
        async move {
            arrived.add_permits(1);
            if !answer.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            axum::Json(json!({"output": {"echoed": request["input"]}}))
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        async move { axum::serve(listener, axum::Router::new().route("/run", axum::routing::post(run))).await },
    );
    format!("http://{addr}/run")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_finishes_a_plugin_step_that_a_killed_server_left() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let (arrived, answer) = (Arc::new(Semaphore::new(0)), Arc::new(AtomicBool::new(false)));
    let url = remote_plugin(Arc::clone(&arrived), Arc::clone(&answer)).await;
    let plugin_dir = dir.path().join("waiter");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    let manifest = json!({
        "name": "waiter", "version": "1.0.0", "kind": "http", "track": "custom", "entry": url,
        "capabilities": {"network": ["127.0.0.1"]}, "limits": {"timeout": "60s"}
    });
    std::fs::write(plugin_dir.join("plugin.json"), manifest.to_string()).unwrap();
    let added = troupe(&data_dir).args(["plugin", "add"]).arg(&plugin_dir).output().unwrap();
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));

    // The plugin listens on loopback, which HTTP plugins may reach only when the operator says so.
    let mut server = serve_with(
        &data_dir,
        &[("TROUPE_INSECURE_FAST_HASHING", "true"), ("TROUPE_PLUGIN_NETWORK_ALLOW", "127.0.0.1")],
    );
    let http = reqwest::Client::new();
    let base = format!("http://{}", server.addr);
    let credentials = json!({"email": "ada@example.com", "password": "password-1"});
    let post = |path: &str, token: Option<&str>, body: Value| {
        let url = format!("{base}{path}");
        let mut request = http.post(&url).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let (status, body) = crate::contract::checked("POST", &url, request.send().await.unwrap()).await;
            (status, serde_json::from_slice::<Value>(&body).unwrap())
        }
    };
    assert_eq!(post("/api/v1/auth/register", None, credentials.clone()).await.0, 201);
    let (_, login) = post("/api/v1/auth/login", None, credentials).await;
    let token = login["access_token"].as_str().unwrap();
    let pipeline = json!({"name": "waits", "steps": [{"key": "wait", "agent": "waiter"}]});
    let (_, created) = post("/api/v1/executions", Some(token), json!({"pipeline": pipeline, "input": {"n": 7}})).await;
    let id: troupe_runtime::ids::ExecutionId = created["id"].as_str().unwrap().parse().unwrap();

    // The plugin step is running (its request reached the plugin) when the server dies.
    tokio::time::timeout(DEADLINE, arrived.acquire()).await.expect("the plugin step started").unwrap().forget();
    server.kill();
    answer.store(true, Ordering::SeqCst);

    let resumed =
        troupe(&data_dir).args(["resume", "--json"]).env("TROUPE_PLUGIN_NETWORK_ALLOW", "127.0.0.1").output().unwrap();
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let store = troupe_memory::SqliteStore::open(&data_dir.join("troupe.db")).await.unwrap();
    let record = store.get_execution(id).await.unwrap().unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
    let steps = store.list_steps(id).await.unwrap();
    assert_eq!(steps[0].status, StepStatus::Completed);
    assert_eq!(steps[0].output.clone().unwrap(), json!({"echoed": {"n": 7}}));
}
