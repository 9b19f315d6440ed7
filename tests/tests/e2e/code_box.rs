//! The code box as users and attackers meet it: a model writing a hostile project for the
//! software pipeline under a real `troupe serve`, the server killed mid-build, pipelines trying
//! to feed the box or reach demo agents, and conditions written to hurt the orchestrator.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use troupe_agents::sandbox::SandboxPolicy;
use troupe_agents::software::DesignKind;
use troupe_gateway::http::HttpSettings;

use crate::api::{Api, Backend};
use crate::contract::checked;
use crate::fake_model::{Patch, model_server};
use crate::serve::serve_with;

const ESCAPE: &str = include_str!("../../../agents/tests/fixtures/escape.py");
const DEADLINE: Duration = Duration::from_secs(180);

/// Whether the box can be built here (skips loudly outside CI, fails in CI).
async fn box_available(test: &str) -> bool {
    troupe_agents::sandbox::testing::confined_box(SandboxPolicy::default(), test).await.is_some()
}

/// Host processes (not zombies) whose command line holds `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if !entry.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let running = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|stat| stat.rsplit(')').next().map(|rest| !rest.trim_start().starts_with(['Z', 'X'])))
            .unwrap_or(false);
        if running && cmdline.contains(marker) {
            found.push(cmdline);
        }
    }
    found
}

async fn assert_none_left(marker: &str) {
    crate::poll(Duration::from_secs(10), "no process outlives its box", || async {
        processes_with(marker).is_empty().then_some(())
    })
    .await;
}

/// A client of a `troupe serve` process, signed in as its first user.
struct Client {
    base: String,
    http: reqwest::Client,
    token: String,
}

impl Client {
    async fn sign_up(addr: &str) -> Self {
        let http = reqwest::Client::new();
        let base = format!("http://{addr}");
        let credentials = json!({"email": "ada@example.com", "password": "password-1"});
        let url = format!("{base}/api/v1/auth/register");
        let response = http.post(&url).json(&credentials).send().await.unwrap();
        assert_eq!(checked("POST", &url, response).await.0, 201);
        let url = format!("{base}/api/v1/auth/login");
        let response = http.post(&url).json(&credentials).send().await.unwrap();
        let body: Value = serde_json::from_slice(&checked("POST", &url, response).await.1).unwrap();
        let token = body["access_token"].as_str().unwrap().to_owned();
        Self { base, http, token }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let url = format!("{}{path}", self.base);
        let response = self.http.get(&url).bearer_auth(&self.token).send().await.unwrap();
        let (status, body) = checked("GET", &url, response).await;
        (status, String::from_utf8(body).unwrap())
    }

    async fn execute(&self, pipeline: &str, input: Value) -> String {
        let url = format!("{}/api/v1/executions", self.base);
        let response = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .json(&json!({"pipeline": pipeline, "input": input}))
            .send()
            .await
            .unwrap();
        let (status, body) = checked("POST", &url, response).await;
        assert_eq!(status, 201);
        let body: Value = serde_json::from_slice(&body).unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    async fn wait_terminal(&self, id: &str) -> Value {
        crate::poll(DEADLINE, "the execution finishes", || async {
            let (_, body) = self.get(&format!("/api/v1/executions/{id}")).await;
            let execution: Value = serde_json::from_str(&body).unwrap();
            is_finished(&execution).then_some(execution)
        })
        .await
    }
}

/// `troupe serve` configured with the fake model and small box limits.
fn model_env(base_url: &str) -> Vec<(&'static str, String)> {
    [
        ("TROUPE_LLM_PROVIDER", "openai"),
        ("TROUPE_LLM_BASE_URL", base_url),
        ("TROUPE_LLM_MODEL", "good-model"),
        ("TROUPE_LLM_API_KEY", "test-key"),
        ("TROUPE_INSECURE_FAST_HASHING", "true"),
        ("TROUPE_SANDBOX_WORKSPACE_MIB", "16"),
        ("TROUPE_SANDBOX_MEMORY_MIB", "256"),
        ("TROUPE_SANDBOX_PROCESSES", "64"),
    ]
    .map(|(name, value)| (name, value.to_owned()))
    .to_vec()
}

fn borrowed<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(name, value)| (*name, value.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_generated_project_is_contained_while_the_server_keeps_serving() {
    if !box_available("a_hostile_generated_project_is_contained_while_the_server_keeps_serving").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let marker = format!("marker-{}", uuid::Uuid::now_v7().simple());
    // What the model knows of the host when it writes the project (filled once the server runs).
    let params = Arc::new(Mutex::new(Value::Null));
    let patch: Patch = {
        let params = Arc::clone(&params);
        Arc::new(move |kind, answer: &mut Value| match kind {
            DesignKind::Backend => {
                let file = json!({"path": "backend/escape.py", "content": ESCAPE});
                answer["files"].as_array_mut().unwrap().push(file);
            }
            DesignKind::Infra => {
                let argv = json!(["python3", "backend/escape.py", params.lock().unwrap().to_string()]);
                answer["commands"]["build"].as_array_mut().unwrap().push(argv);
            }
            _ => {}
        })
    };
    let env = model_env(&model_server(Some(patch)).await);
    let server = serve_with(&data_dir, &borrowed(&env));
    let port: u16 = server.addr.rsplit(':').next().unwrap().parse().unwrap();
    let outside = data_dir.join("escaped");
    *params.lock().unwrap() = json!({
        "secret_files": [
            data_dir.join("jwt-secret"), data_dir.join("memory-keys"), data_dir.join("research-key"),
            data_dir.join("troupe.db"),
        ],
        "server_pid": server.pid(),
        "tcp_ports": [5432, port],
        "unix_sockets": ["/var/run/postgresql/.s.PGSQL.5432", "/run/postgresql/.s.PGSQL.5432"],
        "host_paths": [outside],
        "marker": marker,
        "workspace_limit": 16 << 20,
        "memory_limit": 256 << 20,
        "process_limit": 64,
    });
    assert!(data_dir.join("jwt-secret").is_file() && data_dir.join("troupe.db").is_file());

    let client = Client::sign_up(&server.addr).await;
    let id = client.execute("software", json!({"idea": "a plant watering reminder"})).await;
    let execution = client.wait_terminal(&id).await;
    assert_eq!(execution["status"], "completed", "{execution:#}");
    let (status, transcript) = client.get(&format!("/api/v1/executions/{id}/artifacts/build/build.log")).await;
    assert_eq!(status, 200, "{transcript}");
    let attempts: Vec<Value> = transcript.lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    let escaped: Vec<&Value> = attempts.iter().filter(|attempt| attempt["escaped"] == true).collect();
    assert!(escaped.is_empty(), "the box leaked: {escaped:#?}\n{transcript}");
    for expected in [
        "jwt-secret",
        "troupe.db",
        "read /proc/1/environ",
        "read the server's /proc/<pid>/environ",
        "list the server's processes",
        "connect to 127.0.0.1:5432",
        &format!("connect to 127.0.0.1:{port}"),
        "connect to /var/run/postgresql/.s.PGSQL.5432",
        "write through a symlink",
        "fork bomb",
        "allocate 4x the memory limit",
        "fill the workspace",
        "done",
    ] {
        assert!(
            attempts.iter().any(|attempt| attempt["attempt"].as_str().unwrap_or_default().contains(expected)),
            "no attempt `{expected}` in the build log:\n{transcript}"
        );
    }
    assert!(!outside.exists(), "a file was written outside the box");
    assert_none_left(&marker).await;
    // The server kept serving, and the qa step ran the project's tests as usual.
    let (status, _) = client.get("/healthz").await;
    assert_eq!(status, 200);
    let (_, steps) = client.get(&format!("/api/v1/executions/{id}/steps")).await;
    let steps: Value = serde_json::from_str(&steps).unwrap();
    let qa = steps.as_array().unwrap().iter().find(|step| step["key"] == "qa").unwrap();
    assert_eq!(qa["output"]["failed"], 0, "{qa:#}");
    assert_eq!(qa["output"]["confined"], true, "{qa:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_build_leaves_no_process_behind() {
    if !box_available("a_server_killed_mid_build_leaves_no_process_behind").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("marker-{}", uuid::Uuid::now_v7().simple());
    let sleeper = "import subprocess, sys, time\n\
        subprocess.Popen(['setsid', 'python3', '-c', 'import time; time.sleep(300) # ' + sys.argv[1]])\n\
        time.sleep(300)\n";
    let patch: Patch = {
        let marker = marker.clone();
        Arc::new(move |kind, answer: &mut Value| match kind {
            DesignKind::Backend => {
                answer["files"].as_array_mut().unwrap().push(json!({"path": "backend/sleeper.py", "content": sleeper}));
            }
            DesignKind::Infra => answer["commands"]["build"] = json!([["python3", "backend/sleeper.py", marker]]),
            _ => {}
        })
    };
    let env = model_env(&model_server(Some(patch)).await);
    let mut server = serve_with(&dir.path().join("data"), &borrowed(&env));
    let client = Client::sign_up(&server.addr).await;
    client.execute("software", json!({"idea": "a plant watering reminder"})).await;
    // Both the command and the daemon it started are running in the box.
    crate::poll(DEADLINE, "the build and its daemon run", || async {
        (processes_with(&marker).len() >= 2).then_some(())
    })
    .await;
    server.kill();
    assert_none_left(&marker).await;
}

/// A pipeline step that echoes a project and its commands into `build`.
fn feeding_pipeline(key: &str) -> Value {
    json!({"name": "feed", "steps": [
        {"key": key, "agent": "echo", "params": {"set": {
            "files": [{"path": "own.py", "content": "print('chosen by the user')"}],
            "commands": {"build": [["python3", "own.py"]]}
        }}},
        {"key": "build", "agent": "build", "depends_on": [key]}
    ]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordinary_user_cannot_reach_demo_agents_in_production_nor_choose_builds_commands() {
    let production = HttpSettings { rate_limit: None, restrict_demo_agents: true, ..HttpSettings::default() };
    let Some(api) = Api::start_with(Backend::Sqlite, "demo_agents", production).await else { return };
    let admin = api.admin("admin@example.com").await;
    let admin = admin["access_token"].as_str().unwrap();
    let user = api.user("user@example.com").await;
    let user = user["access_token"].as_str().unwrap();
    let sleepy = json!({"name": "mine", "steps": [{"key": "nap", "agent": "sleep", "params": {"ms": 1}}]});
    for (path, body) in [
        ("/api/v1/executions", json!({"pipeline": feeding_pipeline("infra")})),
        ("/api/v1/executions", json!({"pipeline": sleepy})),
        ("/api/v1/pipelines", sleepy.clone()),
    ] {
        let (status, answer) = api.post(path, user, body).await;
        assert_eq!(status, 422, "{path}: {answer}");
        let text = answer.to_string();
        assert!(text.contains("demo agent") && text.contains("agent"), "{answer}");
    }
    // The built-in templates stay runnable, and an admin may use the demo agents.
    let id = api.execute(user, json!("hello"), json!({"name": "Ada"})).await;
    let (_, execution) = wait(&api, user, &id).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    api.execute(admin, sleepy, json!({})).await;
    api.stop().await;

    // Where demo agents are allowed (development), they still cannot feed the box: `build`
    // takes files and commands only from the software pipeline's code writers, whatever the
    // key of the step that echoes them.
    let Some(api) = Api::start(Backend::Sqlite, "feeding_build").await else { return };
    let user = api.user("dev@example.com").await;
    let user = user["access_token"].as_str().unwrap();
    for key in ["infra", "backend"] {
        let id = api.execute(user, feeding_pipeline(key), json!({})).await;
        let (_, execution) = wait(&api, user, &id).await;
        assert_eq!(execution["status"], "failed", "{execution}");
        let (_, steps) = api.get(&format!("/api/v1/executions/{id}/steps"), user).await;
        let build = steps.as_array().unwrap().iter().find(|step| step["key"] == "build").unwrap();
        let message = build["error"]["message"].as_str().unwrap();
        assert!(message.contains("no `infra` step among the dependencies"), "{build:#}");
        let (_, artifacts) = api.get(&format!("/api/v1/executions/{id}/artifacts"), user).await;
        assert!(artifacts.as_array().unwrap().iter().all(|artifact| artifact["step"] != "build"), "{artifacts}");
    }
    api.stop().await;
}

async fn wait(api: &Api, token: &str, id: &str) -> (u16, Value) {
    crate::poll(DEADLINE, "the execution finishes", || async {
        let (status, execution) = api.get(&format!("/api/v1/executions/{id}"), token).await;
        is_finished(&execution).then_some((status, execution))
    })
    .await
}

/// Whether an execution (as the API shows it) reached a terminal status.
fn is_finished(execution: &Value) -> bool {
    ["completed", "failed", "cancelled"].contains(&execution["status"].as_str().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditions_written_to_hurt_are_refused_or_bounded_and_others_keep_their_pace() {
    let Some(api) = Api::start(Backend::Sqlite, "hostile_conditions").await else { return };
    let user = api.user("cond@example.com").await;
    let user = user["access_token"].as_str().unwrap();
    let pipeline = |when: String| json!({"name": "c", "steps": [{"key": "s", "agent": "echo", "when": when}]});
    let refused = [
        format!("{}input", "!".repeat(20_000)),
        format!("{}input{}", "(".repeat(500), ")".repeat(500)),
        format!("[input]{}", " | [@,@][]".repeat(30)),
    ];
    for when in refused {
        let (status, answer) = api.post("/api/v1/executions", user, json!({"pipeline": pipeline(when)})).await;
        assert_eq!(status, 422, "{answer}");
        assert!(answer.to_string().contains("when"), "{answer}");
    }
    // Accepted, but too much work on this input: stopped by its budget, with a clear error,
    // while an execution submitted right after it completes.
    let big: Vec<u8> = vec![0; 200_000];
    let (status, answer) = api
        .post(
            "/api/v1/executions",
            user,
            json!({"pipeline": pipeline("length(input.xs[*].a) > `0`".into()), "input": {"xs": big}}),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    let heavy = answer["id"].as_str().unwrap().to_owned();
    let light = api.execute(user, json!("hello"), json!({"name": "Ada"})).await;
    let (_, execution) = wait(&api, user, &light).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    let (_, execution) = wait(&api, user, &heavy).await;
    assert_eq!(execution["status"], "failed", "{execution}");
    let (_, steps) = api.get(&format!("/api/v1/executions/{heavy}/steps"), user).await;
    let error = &steps[0]["error"];
    assert_eq!(error["code"], "condition_error", "{steps:#}");
    assert!(error["message"].as_str().unwrap().contains("more work"), "{error}");
    api.stop().await;
}
