//! Many nodes, one system: separate `troupe serve` processes sharing one PostgreSQL database.
//!
//! Each test makes its own scratch database and starts its nodes on free loopback ports with
//! the same secrets and a short lease period, then kills (SIGKILL), pauses (SIGSTOP) or stops
//! (SIGTERM) them mid-run and checks what the store holds afterwards.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use troupe_memory::PostgresStore;
use troupe_runtime::ids::ExecutionId;
use troupe_runtime::status::{AttemptStatus, ExecutionStatus, StepStatus};
use troupe_runtime::store::{ExecutionQuery, ExecutionStore};

use crate::contract::checked;
use crate::poll;
use crate::serve::{Server, serve_with};

/// How long a test waits for anything before failing.
const DEADLINE: Duration = Duration::from_secs(120);

/// Signals a process (`STOP`, `CONT`, `TERM`).
fn signal(pid: u32, name: &str) {
    let status = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().unwrap();
    assert!(status.success(), "kill -{name} {pid}");
}

/// A cluster of `troupe serve` processes over one scratch database.
struct Cluster {
    dir: tempfile::TempDir,
    database: troupe_memory::scratch::ScratchDatabase,
    lease: Duration,
    env: Vec<(&'static str, String)>,
    nodes: Nodes,
}

/// The cluster's running nodes by id; a failing test shows what each of them logged.
#[derive(Default)]
struct Nodes(BTreeMap<String, Server>);

impl std::ops::Deref for Nodes {
    type Target = BTreeMap<String, Server>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Nodes {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for (id, server) in &self.0 {
                eprintln!("--- node {id} logged:\n{}", server.log_tail(200));
            }
        }
    }
}

impl Cluster {
    /// A scratch database and the settings every node shares; `None` where PostgreSQL tests
    /// are skipped (never in CI).
    async fn new(test: &str, lease: Duration) -> Option<Self> {
        use base64::Engine;
        let database = troupe_memory::testing::postgres_database(test).await?;
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let env = vec![
            ("DATABASE_URL", database.url.clone()),
            ("TROUPE_JWT_SECRET", "a-cluster-secret-shared-by-every-node-42".to_owned()),
            ("TROUPE_MEMORY_KEYS", format!("k1:{key}")),
            ("TROUPE_RESEARCH_KEY", key),
            ("TROUPE_INSECURE_FAST_HASHING", "true".to_owned()),
            ("TROUPE_LEASE_TTL", format!("{}ms", lease.as_millis())),
            ("TROUPE_RATE_LIMIT_PER_IP", "100000".to_owned()),
            ("TROUPE_RATE_LIMIT_PER_USER", "100000".to_owned()),
        ];
        Some(Self { dir: tempfile::tempdir().unwrap(), database, lease, env, nodes: Nodes::default() })
    }

    fn data_dir(&self, node: &str) -> PathBuf {
        self.dir.path().join(node)
    }

    fn env_with<'a>(&'a self, extra: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        self.env.iter().chain(extra).map(|(name, value)| (*name, value.as_str())).collect()
    }

    /// Starts node `id` (its own data dir, the shared database and secrets).
    fn start(&mut self, id: &str) {
        self.start_with(id, &[]);
    }

    /// Starts node `id` with settings of its own on top of the cluster's.
    fn start_with(&mut self, id: &str, extra: &[(&'static str, String)]) {
        let mut extra = extra.to_vec();
        extra.push(("TROUPE_NODE_ID", id.to_owned()));
        let server = serve_with(&self.data_dir(id), &self.env_with(&extra));
        self.nodes.insert(id.to_owned(), server);
    }

    fn addr(&self, id: &str) -> &str {
        &self.nodes[id].addr
    }

    fn pid(&self, id: &str) -> u32 {
        self.nodes[id].pid()
    }

    /// Runs `troupe` with the cluster's settings (for a node that must refuse to start, or an
    /// admin command); returns whether it succeeded and what it wrote.
    fn run(&self, id: &str, args: &[&str], extra: &[(&'static str, String)]) -> (bool, String) {
        let output = crate::troupe(&self.data_dir(id)).args(args).envs(self.env_with(extra)).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.success(), text)
    }

    /// Creates the first admin and signs in through node `id`.
    async fn admin(&self, id: &str) -> Client {
        let password = [("TROUPE_NEW_USER_PASSWORD", "cluster-password-1".to_owned())];
        let (created, output) =
            self.run("admin-cli", &["admin", "create-user", "--email", "root@example.com"], &password);
        assert!(created, "{output}");
        Client::login(self.addr(id), "root@example.com", "cluster-password-1").await
    }

    async fn store(&self) -> PostgresStore {
        PostgresStore::connect(&self.database.url, 2).await.unwrap()
    }

    async fn stop(mut self) {
        for (_, mut server) in std::mem::take(&mut self.nodes.0) {
            server.kill();
        }
        self.database.drop_database().await;
    }
}

/// A signed-in API client; its token is honoured by every node (they share the secret).
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    token: String,
}

impl Client {
    async fn login(addr: &str, email: &str, password: &str) -> Self {
        let http = reqwest::Client::new();
        let url = format!("http://{addr}/api/v1/auth/login");
        let response = http.post(&url).json(&json!({"email": email, "password": password})).send().await.unwrap();
        let (status, body) = checked("POST", &url, response).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let body: Value = serde_json::from_slice(&body).unwrap();
        Self { http, token: body["access_token"].as_str().unwrap().to_owned() }
    }

    async fn call(&self, method: &str, addr: &str, path: &str, body: Option<Value>, key: Option<&str>) -> (u16, Value) {
        let url = format!("http://{addr}{path}");
        let mut request = self.http.request(method.parse().unwrap(), &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let (status, body) = checked(method, &url, request.send().await.unwrap()).await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// Starts an execution of `steps` sleep steps of `ms` each through node `addr`. Like any
    /// careful client it sends an idempotency key and submits again after a 503 ("the
    /// execution was not stored; submit it again": a node under load may answer so), which
    /// starts the execution at most once.
    async fn submit(&self, addr: &str, steps: usize, ms: u64) -> ExecutionId {
        let key = uuid::Uuid::new_v4().to_string();
        let mut answers = Vec::new();
        for _ in 0..5 {
            let (status, body) =
                self.call("POST", addr, "/api/v1/executions", Some(execution(steps, ms)), Some(&key)).await;
            match status {
                200 | 201 => return ExecutionId(body["id"].as_str().unwrap().parse().unwrap()),
                503 => {
                    eprintln!("{addr} refused a submission, submitting it again: {body}");
                    answers.push(body);
                }
                _ => panic!("{status}: {body}"),
            }
        }
        panic!("submitted five times, refused every time: {answers:?}")
    }
}

/// A linear pipeline of `steps` sleep steps of `ms` each.
fn execution(steps: usize, ms: u64) -> Value {
    let steps: Vec<Value> = (0..steps)
        .map(|index| {
            let mut step = json!({"key": format!("s{index}"), "agent": "sleep", "params": {"ms": ms}});
            if index > 0 {
                step["depends_on"] = json!([format!("s{}", index - 1)]);
            }
            step
        })
        .collect();
    json!({"pipeline": {"name": "cluster", "steps": steps}, "input": {}})
}

/// Waits until every execution is terminal; returns them.
async fn wait_all(store: &PostgresStore, ids: &[ExecutionId]) -> Vec<troupe_runtime::model::ExecutionRecord> {
    poll(DEADLINE, "every execution finishes", || async move {
        let records = records(store, ids).await;
        records.iter().all(|record| record.status.is_terminal()).then_some(records)
    })
    .await
}

/// The stored executions.
async fn records(store: &PostgresStore, ids: &[ExecutionId]) -> Vec<troupe_runtime::model::ExecutionRecord> {
    let mut records = Vec::with_capacity(ids.len());
    for id in ids {
        records.push(store.get_execution(*id).await.unwrap().unwrap());
    }
    records
}

/// Waits until a step of execution `id` is in a status `wanted` accepts.
async fn wait_for_step(store: &PostgresStore, id: ExecutionId, what: &str, wanted: fn(StepStatus) -> bool) {
    poll(DEADLINE, what, || async move {
        store.list_steps(id).await.unwrap().iter().any(|step| wanted(step.status)).then_some(())
    })
    .await
}

/// Checks that an execution completed exactly once: one succeeded attempt and one artifact per
/// step, a dense event log. Returns its stored events.
async fn assert_completed_once(
    store: &PostgresStore,
    id: ExecutionId,
    steps: usize,
) -> Vec<troupe_runtime::model::Event> {
    let record = store.get_execution(id).await.unwrap().unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed, "execution {id}: {:?}", record.error);
    let step_rows = store.list_steps(id).await.unwrap();
    assert_eq!(step_rows.len(), steps);
    assert!(step_rows.iter().all(|step| step.status == StepStatus::Completed));
    let mut succeeded: HashMap<String, usize> = HashMap::new();
    for attempt in store.list_attempts(id).await.unwrap() {
        if attempt.status == AttemptStatus::Succeeded {
            *succeeded.entry(attempt.step_key).or_default() += 1;
        }
    }
    assert_eq!(succeeded.len(), steps, "execution {id}: {succeeded:?}");
    assert!(
        succeeded.values().all(|count| *count == 1),
        "execution {id}: one succeeded attempt per step: {succeeded:?}"
    );
    let artifacts = store.list_artifacts(id).await.unwrap();
    assert_eq!(artifacts.len(), steps, "execution {id}: one artifact per step");
    let events = store.list_events(id, 0, 10_000).await.unwrap();
    let seqs: Vec<u64> = events.iter().map(|event| event.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>(), "execution {id}: a dense event log");
    events
}

/// A WebSocket client following executions through one node: every event it receives, by
/// execution, in arrival order.
struct Follower {
    task: tokio::task::JoinHandle<HashMap<ExecutionId, Vec<Value>>>,
}

impl Follower {
    async fn start(addr: &str, token: &str, ids: Vec<ExecutionId>) -> Self {
        let (mut stream, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/ws")).await.unwrap();
        stream.send(Message::text(json!({"type": "auth", "token": token}).to_string())).await.unwrap();
        for id in &ids {
            let subscribe = json!({"type": "subscribe", "execution_id": id.0.to_string(), "after_seq": 0});
            stream.send(Message::text(subscribe.to_string())).await.unwrap();
        }
        let task = tokio::spawn(async move {
            let mut received: HashMap<ExecutionId, Vec<Value>> = HashMap::new();
            let mut open = ids.len();
            while open > 0 {
                let frame = tokio::time::timeout(DEADLINE, stream.next()).await.expect("events keep coming");
                let Some(Ok(Message::Text(text))) = frame else { continue };
                let message: Value = serde_json::from_str(&text).unwrap();
                crate::contract::check_server_message(&message);
                if message["type"] != "event" {
                    continue;
                }
                let event = message["event"].clone();
                let id = ExecutionId(event["execution_id"].as_str().unwrap().parse().unwrap());
                let terminal = event["type"] == "execution_status"
                    && ["completed", "failed", "cancelled"].contains(&event["status"].as_str().unwrap_or_default());
                received.entry(id).or_default().push(event);
                if terminal {
                    open -= 1;
                }
            }
            received
        });
        Self { task }
    }

    async fn received(self) -> HashMap<ExecutionId, Vec<Value>> {
        self.task.await.unwrap()
    }
}

/// Three nodes share 300 executions; one is killed mid-run. Every execution completes exactly
/// once, the dead node's ones run again within two lease periods, and a WebSocket client on
/// another node sees every event of executions running on the other two exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_loses_nothing_and_its_work_runs_again_elsewhere() {
    const EXECUTIONS: usize = 300;
    const STEPS: usize = 4;
    let Some(mut cluster) = Cluster::new("cluster_kill", Duration::from_secs(3)).await else { return };
    for node in ["a", "b", "c"] {
        cluster.start(node);
    }
    let client = cluster.admin("a").await;
    let (status, nodes) = client.call("GET", cluster.addr("c"), "/api/v1/nodes", None, None).await;
    assert_eq!(status, 200);
    let live: Vec<&str> = nodes
        .as_array()
        .unwrap()
        .iter()
        .filter(|node| node["live"] == true)
        .map(|node| node["id"].as_str().unwrap())
        .collect();
    assert_eq!(live, ["a", "b", "c"], "{nodes}");

    let mut by_node: BTreeMap<&str, Vec<ExecutionId>> = BTreeMap::new();
    let mut all = Vec::with_capacity(EXECUTIONS);
    for index in 0..EXECUTIONS {
        let node = ["a", "b", "c"][index % 3];
        let id = client.submit(cluster.addr(node), STEPS, 400).await;
        by_node.entry(node).or_default().push(id);
        all.push(id);
    }
    let followed: Vec<ExecutionId> =
        by_node["a"].iter().take(10).chain(by_node["b"].iter().take(10)).copied().collect();
    let follower = Follower::start(cluster.addr("c"), &client.token, followed.clone()).await;

    let store = cluster.store().await;
    // Kill node a once its executions are under way.
    let completed = |status| status == StepStatus::Completed;
    wait_for_step(&store, by_node["a"][0], "node a runs its executions", completed).await;
    let killed_at = chrono::Utc::now();
    cluster.nodes.get_mut("a").unwrap().kill();

    wait_all(&store, &all).await;
    let mut stored_events = HashMap::new();
    for id in &all {
        stored_events.insert(*id, assert_completed_once(&store, *id, STEPS).await);
    }
    // The dead node's unfinished executions were taken over within two lease periods.
    let mut taken = 0;
    for id in &by_node["a"] {
        let resumed = stored_events[id].iter().find_map(|event| match &event.kind {
            troupe_runtime::model::EventKind::Log { message, .. } if message.starts_with("resumed by node") => {
                Some(event.at)
            }
            _ => None,
        });
        if let Some(resumed) = resumed {
            taken += 1;
            let after = (resumed - killed_at).to_std().unwrap_or_default();
            assert!(after <= cluster.lease * 2, "execution {id} ran again {after:?} after the kill");
        }
    }
    assert!(taken > 0, "the kill left work for the other nodes");
    // The follower on node c saw every event of executions that ran on a and b exactly once.
    let received = follower.received().await;
    for id in &followed {
        let expected: Vec<Value> = stored_events[id].iter().map(|event| serde_json::to_value(event).unwrap()).collect();
        assert_eq!(received[id], expected, "execution {id}: the live stream equals the stored log");
    }
    store.close().await;
    cluster.stop().await;
}

/// A node paused past its lease (SIGSTOP) loses its executions to another; when it resumes
/// (SIGCONT), every write it attempts for them is refused and nothing is written twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_node_has_its_writes_refused_once_its_lease_is_taken() {
    const STEPS: usize = 6;
    let Some(mut cluster) = Cluster::new("cluster_pause", Duration::from_secs(2)).await else { return };
    cluster.start("a");
    let client = cluster.admin("a").await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(client.submit(cluster.addr("a"), STEPS, 500).await);
    }
    let store = cluster.store().await;
    wait_for_step(&store, ids[0], "node a runs its executions", StepStatus::is_active).await;
    signal(cluster.pid("a"), "STOP");
    cluster.start("b");
    // b takes every execution once a's leases run out.
    let (store_ref, ids_ref) = (&store, &ids);
    poll(DEADLINE, "node b takes the paused node's work", || async move {
        let held = store_ref.leased_by("b").await.unwrap().len();
        let records = records(store_ref, ids_ref).await;
        let finished = records.iter().filter(|record| record.status.is_terminal()).count();
        (held + finished == ids_ref.len()).then_some(())
    })
    .await;
    signal(cluster.pid("a"), "CONT");
    wait_all(&store, &ids).await;
    for id in &ids {
        let events = assert_completed_once(&store, *id, STEPS).await;
        let resumed = events.iter().any(|event| {
            matches!(&event.kind, troupe_runtime::model::EventKind::Log { message, .. } if message == "resumed by node `b`")
        });
        assert!(resumed, "execution {id} was finished by b");
    }
    // a dropped the executions taken from it, and says so on its metrics.
    let metrics = reqwest::get(format!("http://{}/metrics", cluster.addr("a"))).await.unwrap().text().await.unwrap();
    let lost: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix(r#"troupe_leases_lost_total{node="a"} "#))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no lease counter in\n{metrics}"));
    assert!(lost > 0, "a dropped what b took");
    // a is alive, serving, and holds nothing.
    let (status, _) = client.call("GET", cluster.addr("a"), "/api/v1/executions?limit=1", None, None).await;
    assert_eq!(status, 200);
    assert!(store.leased_by("a").await.unwrap().is_empty());
    store.close().await;
    cluster.stop().await;
}

/// Cancel sent to one node stops an execution another runs, carried by the cluster signal
/// (with a 30 s lease, the store fallback would take 10 s); the same idempotency key sent to
/// two nodes at once gives one execution; a memory stored through one node is found through
/// the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_keys_and_memories_reach_every_node() {
    let Some(mut cluster) = Cluster::new("cluster_commands", Duration::from_secs(30)).await else { return };
    cluster.start("a");
    cluster.start("b");
    let client = cluster.admin("a").await;
    let store = cluster.store().await;

    let id = client.submit(cluster.addr("a"), 20, 500).await;
    wait_for_step(&store, id, "node a runs the execution", StepStatus::is_active).await;
    assert_eq!(store.leased_by("a").await.unwrap(), [id]);
    let (status, body) =
        client.call("POST", cluster.addr("b"), &format!("/api/v1/executions/{}/cancel", id.0), None, None).await;
    assert_eq!(status, 200, "done, not pending: {body}");
    assert_eq!(body["status"], "cancelled");
    assert_eq!(store.get_execution(id).await.unwrap().unwrap().status, ExecutionStatus::Cancelled);

    let (one, two) = tokio::join!(
        client.call("POST", cluster.addr("a"), "/api/v1/executions", Some(execution(1, 10)), Some("same-key")),
        client.call("POST", cluster.addr("b"), "/api/v1/executions", Some(execution(1, 10)), Some("same-key")),
    );
    assert_eq!(one.1["id"], two.1["id"], "one execution for one key");
    let mut statuses = [one.0, two.0];
    statuses.sort();
    assert_eq!(statuses, [200, 201]);
    let all = store.list_executions(&ExecutionQuery { limit: Some(100), ..ExecutionQuery::default() }).await.unwrap();
    assert_eq!(all.iter().filter(|record| record.idempotency_key.as_deref() == Some("same-key")).count(), 1);

    let memory = json!({"text": "The staging database lives in Frankfurt", "kind": "note"});
    let (status, _) = client.call("POST", cluster.addr("a"), "/api/v1/memories", Some(memory), None).await;
    assert_eq!(status, 201);
    let (client, b) = (&client, cluster.addr("b"));
    poll(Duration::from_secs(2), "node b finds node a's memory", || async move {
        let search = json!({"query": "where is the staging database", "k": 3});
        let (status, found) = client.call("POST", b, "/api/v1/memories/search", Some(search), None).await;
        assert_eq!(status, 200);
        found.to_string().contains("Frankfurt").then_some(())
    })
    .await;
    store.close().await;
    cluster.stop().await;
}

/// A node refuses to start under the id of a live node, or with secrets that differ from the
/// cluster's (naming which).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_taken_id_or_other_secrets_refuses_to_join() {
    let Some(mut cluster) = Cluster::new("cluster_join", Duration::from_secs(30)).await else { return };
    cluster.start("a");
    let twin = [("TROUPE_NODE_ID", "a".to_owned())];
    let (started, output) = cluster.run("a-twin", &["serve", "--addr", "127.0.0.1:0"], &twin);
    assert!(!started);
    assert!(output.contains("a live node already runs as `a`"), "{output}");
    let other = [
        ("TROUPE_NODE_ID", "z".to_owned()),
        ("TROUPE_JWT_SECRET", "another-secret-that-is-long-enough-4242".to_owned()),
    ];
    let (started, output) = cluster.run("z", &["serve", "--addr", "127.0.0.1:0"], &other);
    assert!(!started);
    assert!(output.contains("TROUPE_JWT_SECRET") && !output.contains("TROUPE_MEMORY_KEYS"), "{output}");
    cluster.stop().await;
}

/// The three nodes are restarted one at a time (SIGTERM, then started again) while executions
/// run: nothing is lost or done twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_loses_and_duplicates_nothing() {
    const STEPS: usize = 5;
    let Some(mut cluster) = Cluster::new("cluster_rolling", Duration::from_secs(3)).await else { return };
    for node in ["a", "b", "c"] {
        cluster.start(node);
    }
    let client = cluster.admin("a").await;
    let mut ids = Vec::new();
    for index in 0..60 {
        let node = ["a", "b", "c"][index % 3];
        ids.push(client.submit(cluster.addr(node), STEPS, 300).await);
    }
    for node in ["a", "b", "c"] {
        let server = cluster.nodes.remove(node).unwrap();
        signal(server.pid(), "TERM");
        assert!(server.wait_exit(DEADLINE).success(), "node {node} stops cleanly on SIGTERM");
        cluster.start(node);
    }
    let store = cluster.store().await;
    wait_all(&store, &ids).await;
    for id in &ids {
        assert_completed_once(&store, *id, STEPS).await;
    }
    store.close().await;
    cluster.stop().await;
}

/// Every node reaches PostgreSQL through a TCP proxy the test cuts mid-run for longer than a
/// lease period (the shared server itself is never stopped): all nodes ride it out, and every
/// execution completes exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_mid_run_is_survived_by_every_node() {
    const STEPS: usize = 5;
    let Some(mut cluster) = Cluster::new("cluster_outage", Duration::from_secs(2)).await else { return };
    let url = url::Url::parse(&cluster.database.url).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = crate::api::readiness::Proxy::start(upstream.clone()).await;
    let through_proxy = cluster.database.url.replacen(&upstream, &proxy.addr.to_string(), 1);
    for node in ["a", "b", "c"] {
        cluster.start_with(node, &[("DATABASE_URL", through_proxy.clone())]);
    }
    let client = cluster.admin("a").await;
    let mut ids = Vec::new();
    for index in 0..30 {
        ids.push(client.submit(cluster.addr(["a", "b", "c"][index % 3]), STEPS, 300).await);
    }
    let store = cluster.store().await;
    let completed = |status| status == StepStatus::Completed;
    wait_for_step(&store, ids[0], "the executions run", completed).await;
    proxy.cut().await;
    let (status, _) = client.call("GET", cluster.addr("b"), "/readyz", None, None).await;
    assert_eq!(status, 503, "b sees the database gone");
    // The outage lasts until every unfinished execution's lease has run out (the test reads
    // the database directly, past the proxy).
    let (store_ref, ids_ref) = (&store, &ids);
    poll(DEADLINE, "the nodes' leases run out", || async move {
        let now = chrono::Utc::now().timestamp_millis();
        let records = records(store_ref, ids_ref).await;
        let mut open = records.iter().filter(|record| !record.status.is_terminal());
        open.all(|record| record.lease_expires_at.is_none_or(|expires| expires < now)).then_some(())
    })
    .await;
    proxy.restore();
    wait_all(&store, &ids).await;
    for id in &ids {
        assert_completed_once(&store, *id, STEPS).await;
    }
    for node in ["a", "b", "c"] {
        let (status, _) = client.call("GET", cluster.addr(node), "/readyz", None, None).await;
        assert_eq!(status, 200, "node {node} is ready again");
    }
    store.close().await;
    cluster.stop().await;
}

/// An execution waiting for an approval holds no lease: its node is killed, the decision
/// arrives at two nodes at once (one of them the restarted one), it has one effect, and the
/// execution runs to its end on whichever node takes it up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_on_any_node_wakes_a_parked_execution_once() {
    let Some(mut cluster) = Cluster::new("cluster_approvals", Duration::from_secs(30)).await else { return };
    cluster.start("a");
    cluster.start("b");
    let client = cluster.admin("a").await;
    let store = cluster.store().await;
    let pipeline = json!({"pipeline": {"name": "reviewed", "steps": [
        {"key": "draft", "agent": "sleep", "params": {"ms": 10}},
        {"key": "review", "agent": "approval", "depends_on": ["draft"], "params": {"prompt": "Go on?"}},
        {"key": "ship", "agent": "sleep", "depends_on": ["review"], "params": {"ms": 10}}
    ]}, "input": {}});
    let (status, body) = client.call("POST", cluster.addr("a"), "/api/v1/executions", Some(pipeline), None).await;
    assert_eq!(status, 201, "{body}");
    let id = ExecutionId(body["id"].as_str().unwrap().parse().unwrap());
    let store_ref = &store;
    poll(DEADLINE, "the execution parks", || async move {
        let record = store_ref.get_execution(id).await.unwrap().unwrap();
        (record.status == ExecutionStatus::Waiting).then_some(record)
    })
    .await;
    let parked = store.get_execution(id).await.unwrap().unwrap();
    assert_eq!(parked.lease_owner, None, "a parked execution holds no lease");

    // Its node dies; the lease it does not hold cannot delay anything.
    cluster.nodes.get_mut("a").unwrap().kill();
    cluster.start("a");
    let path = format!("/api/v1/executions/{}/steps/review/approve", id.0);
    let comment = json!({"comment": "ship it"});
    let (one, two) = tokio::join!(
        client.call("POST", cluster.addr("a"), &path, Some(comment.clone()), None),
        client.call("POST", cluster.addr("b"), &path, Some(comment), None),
    );
    assert_eq!((one.0, two.0), (200, 200), "{one:?} {two:?}");
    assert_eq!(one.1["decided_at"], two.1["decided_at"], "one decision");
    let records = wait_all(&store, &[id]).await;
    assert_eq!(records[0].status, ExecutionStatus::Completed, "{:?}", records[0].error);
    let events = store.list_events(id, 0, 10_000).await.unwrap();
    let seqs: Vec<u64> = events.iter().map(|event| event.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>(), "a dense event log");
    let decided = events.iter().filter(|event| event.kind.name() == "approval_decided").count();
    assert_eq!(decided, 1, "one decision acted on");
    let succeeded: Vec<String> = store
        .list_attempts(id)
        .await
        .unwrap()
        .into_iter()
        .filter(|attempt| attempt.status == AttemptStatus::Succeeded)
        .map(|attempt| attempt.step_key)
        .collect();
    assert_eq!(succeeded, ["draft", "review", "ship"], "each step once");
    store.close().await;
    cluster.stop().await;
}
