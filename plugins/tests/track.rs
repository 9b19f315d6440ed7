//! The plugin track in a real runtime: the consent gate (no consent, grant, revoke
//! mid-execution, flag off), plugins crashing in a loop disabled while track 1 completes every
//! execution, and a custom plugin registered at run time.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use troupe_plugins::registry::PluginRegistry;
use troupe_plugins::{HostConfig, PluginHost, PseudonymKey, ResearchBus};
use troupe_runtime::ids::UserId;
use troupe_runtime::pipeline::PipelineDef;
use troupe_runtime::research::{
    ConsentChange, Experiment, ExperimentStatus, FeatureFlag, InMemoryResearchStore, ResearchStore,
};
use troupe_runtime::status::{ExecutionStatus, StepStatus};
use troupe_runtime::testing::{Echo, Gate};
use troupe_runtime::{Runtime, SubmitRequest};

const DEADLINE: Duration = Duration::from_secs(60);

struct Track {
    runtime: Runtime,
    registry: PluginRegistry,
    store: Arc<InMemoryResearchStore>,
    researcher: UserId,
}

fn tone_manifest() -> (Value, Vec<u8>) {
    let text = include_str!("../examples/tone/plugin.toml");
    let manifest: toml::Value = toml::from_str(text).unwrap();
    (serde_json::to_value(manifest).unwrap(), include_bytes!("../examples/tone/tone.wat").to_vec())
}

async fn track(gate: Option<Gate>) -> Track {
    track_with(gate, 2).await
}

async fn track_with(gate: Option<Gate>, max_restarts: u32) -> Track {
    let store = Arc::new(InMemoryResearchStore::default());
    let researcher = UserId::new();
    store
        .put_experiment(&Experiment {
            id: "tone-study".into(),
            title: "Tone".into(),
            hypothesis: "Inputs with more exclamation marks are longer.".into(),
            owner: researcher,
            status: ExperimentStatus::Active,
            epsilon_total: 2.0,
            epsilon_per_release: 0.5,
            created_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    let bus = ResearchBus::new(Arc::clone(&store) as Arc<dyn ResearchStore>, PseudonymKey::new([3; 32]));
    let config = HostConfig {
        restart: troupe_runtime::supervision::RestartPolicy {
            max_restarts,
            period: Duration::from_secs(60),
            backoff_initial: Duration::from_millis(1),
            backoff_max: Duration::from_millis(5),
        },
        // The HTTP plugins of these tests listen on loopback.
        network_allow: vec!["127.0.0.1".into()],
        ..HostConfig::default()
    };
    let host = PluginHost::start(config, bus).await.unwrap();
    let mut builder = Runtime::builder().agent("echo", Echo);
    if let Some(gate) = gate {
        builder = builder.agent("gate", gate);
    }
    let runtime = builder.start().await.unwrap();
    let registry = PluginRegistry::new(host, Arc::clone(&store) as Arc<dyn ResearchStore>);
    let (manifest, module) = tone_manifest();
    registry.register(manifest, Some(module), researcher, &["echo".into()]).await.unwrap();
    registry.sync(&runtime).await.unwrap();
    Track { runtime, registry, store, researcher }
}

async fn flag(store: &InMemoryResearchStore, enabled: bool, allow: Vec<UserId>) {
    let flag =
        FeatureFlag { name: "plugin.tone".into(), enabled, allow, rollout_percent: 0, updated_at: chrono::Utc::now() };
    store.put_flag(&flag).await.unwrap();
}

async fn consent(store: &InMemoryResearchStore, user: UserId, granted: bool) {
    let change = ConsentChange { user, experiment: "tone-study".into(), granted, at: chrono::Utc::now() };
    store.record_consent(&change).await.unwrap();
}

async fn run(runtime: &Runtime, owner: UserId, steps: Value, input: Value) -> troupe_runtime::ids::ExecutionId {
    let pipeline = runtime.validate(PipelineDef::from_value(json!({"name": "p", "steps": steps})).unwrap()).unwrap();
    let mut request = SubmitRequest::new(pipeline, input);
    request.owner = owner;
    runtime.submit(request).await.unwrap()
}

async fn finished(runtime: &Runtime, id: troupe_runtime::ids::ExecutionId) -> ExecutionStatus {
    tokio::time::timeout(DEADLINE, runtime.wait(id)).await.unwrap().unwrap().status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_research_plugin_runs_only_with_its_flag_on_and_consent_given() {
    let track = track(None).await;
    let user = UserId::new();
    let steps = json!([{"key": "tone", "agent": "tone", "optional": true}, {"key": "after", "agent": "echo", "depends_on": ["tone"]}]);
    let input = json!({"text": "Hello there!!"});

    // Flag off (it does not even exist yet): skipped, with the reason.
    let id = run(&track.runtime, user, steps.clone(), input.clone()).await;
    assert_eq!(finished(&track.runtime, id).await, ExecutionStatus::Completed);
    let tone = &track.runtime.store().list_steps(id).await.unwrap()[0];
    assert_eq!(tone.status, StepStatus::Skipped);
    assert!(tone.error.as_ref().unwrap().message.contains("feature flag `plugin.tone` is off"), "{tone:?}");

    // Flag on for the user, no consent: skipped.
    flag(&track.store, true, vec![user]).await;
    let id = run(&track.runtime, user, steps.clone(), input.clone()).await;
    finished(&track.runtime, id).await;
    let tone = &track.runtime.store().list_steps(id).await.unwrap()[0];
    assert_eq!(tone.status, StepStatus::Skipped);
    assert!(tone.error.as_ref().unwrap().message.contains("not consented"), "{tone:?}");
    assert!(track.store.pending_observations("tone-study", "exclamations").await.unwrap().is_empty());

    // Consent given: it runs; its output reaches the execution, its metrics only the bus.
    consent(&track.store, user, true).await;
    let id = run(&track.runtime, user, steps.clone(), input.clone()).await;
    assert_eq!(finished(&track.runtime, id).await, ExecutionStatus::Completed);
    let tone = &track.runtime.store().list_steps(id).await.unwrap()[0];
    assert_eq!(tone.status, StepStatus::Completed, "{tone:?}");
    let output = tone.output.clone().unwrap();
    assert!(output["bytes"].as_u64().unwrap() > 0, "{output}");
    assert!(output.get("metrics").is_none(), "metrics are not part of the step's output");
    let observed = track.store.pending_observations("tone-study", "exclamations").await.unwrap();
    assert_eq!(observed.len(), 1);
    assert_eq!(observed[0].value, 2.0);
    assert!(!format!("{observed:?}").contains(&user.0.to_string()), "pseudonymised");

    // The flag switched off for everyone wins over consent.
    flag(&track.store, false, vec![user]).await;
    let id = run(&track.runtime, user, steps.clone(), input.clone()).await;
    finished(&track.runtime, id).await;
    assert_eq!(track.runtime.store().list_steps(id).await.unwrap()[0].status, StepStatus::Skipped);

    // A non-optional plugin step that may not run fails the execution, with the reason.
    let id = run(&track.runtime, UserId::new(), json!([{"key": "tone", "agent": "tone"}]), input).await;
    assert_eq!(finished(&track.runtime, id).await, ExecutionStatus::Failed);
    let error = track.runtime.store().get_execution(id).await.unwrap().unwrap().error.unwrap();
    assert!(error.message.contains("off for this user"), "{error:?}");
    let _ = track.researcher;
    track.runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_consent_mid_execution_stops_the_next_plugin_step() {
    let gate = Gate::new(0);
    let track = track(Some(gate.clone())).await;
    let user = UserId::new();
    flag(&track.store, true, vec![user]).await;
    consent(&track.store, user, true).await;
    let steps = json!([
        {"key": "first", "agent": "tone", "optional": true},
        {"key": "wait", "agent": "gate", "depends_on": ["first"]},
        {"key": "second", "agent": "tone", "optional": true, "depends_on": ["wait"]},
    ]);
    let id = run(&track.runtime, user, steps, json!({"text": "Wow!"})).await;
    tokio::time::timeout(DEADLINE, gate.arrived.acquire()).await.unwrap().unwrap().forget();
    consent(&track.store, user, false).await;
    gate.permits.add_permits(1);
    assert_eq!(finished(&track.runtime, id).await, ExecutionStatus::Completed);
    let steps = track.runtime.store().list_steps(id).await.unwrap();
    assert_eq!(steps[0].status, StepStatus::Completed, "ran while consent was given");
    assert_eq!(steps[2].status, StepStatus::Skipped, "did not run after the revocation");
    assert!(steps[2].error.as_ref().unwrap().message.contains("not consented"));
    track.runtime.shutdown().await;
}

/// A module that traps on every run.
const TRAPS: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "troupe_abi_version") (result i32) (i32.const 1))
  (func (export "troupe_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "troupe_run") (param i32 i32) (result i64) (unreachable)))"#;

/// A plugin that fails for everyone (its runs trap whoever sends the input) is disabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_crashing_in_a_loop_is_disabled_while_track_one_completes_everything() {
    let track = track(None).await;
    let crasher =
        json!({"name": "crasher", "version": "0.1.0", "kind": "wasm", "track": "custom", "entry": "crasher.wat"});
    track.registry.register(crasher, Some(TRAPS.as_bytes().to_vec()), UserId::new(), &[]).await.unwrap();
    let report = track.registry.sync(&track.runtime).await.unwrap();
    assert_eq!(report.loaded, ["crasher"]);
    let user = UserId::new();
    let retry = json!({"max_attempts": 2, "backoff": {"initial": "1ms", "max": "1ms"}});
    let mut plugin_runs = Vec::new();
    let mut track_one = Vec::new();
    for _ in 0..20 {
        plugin_runs.push(
            run(
                &track.runtime,
                // Many users' inputs fail: the failure spans users, so it is the plugin's.
                UserId::new(),
                json!([{"key": "p", "agent": "crasher", "optional": true, "retry": retry}]),
                json!({}),
            )
            .await,
        );
        let steps: Vec<Value> = (0..5)
            .map(|index| {
                let mut step = json!({"key": format!("s{index}"), "agent": "echo"});
                if index > 0 {
                    step["depends_on"] = json!([format!("s{}", index - 1)]);
                }
                step
            })
            .collect();
        track_one.push(run(&track.runtime, user, Value::Array(steps), json!({})).await);
    }
    for id in track_one {
        assert_eq!(finished(&track.runtime, id).await, ExecutionStatus::Completed, "track 1 is not touched");
    }
    for id in plugin_runs {
        assert_eq!(finished(&track.runtime, id).await, ExecutionStatus::Completed, "the plugin steps are optional");
    }
    // Runs that arrived while the plugin was restarting never reached it; more users keep
    // feeding it until it is disabled (the supervisor handles a crash after its step ended).
    let deadline = std::time::Instant::now() + DEADLINE;
    let status = loop {
        let status = track.registry.host().status("crasher").unwrap();
        if matches!(status.health, troupe_plugins::host::PluginHealth::Disabled { .. })
            || std::time::Instant::now() > deadline
        {
            break status;
        }
        let steps = json!([{"key": "p", "agent": "crasher", "optional": true}]);
        let id = run(&track.runtime, UserId::new(), steps, json!({})).await;
        finished(&track.runtime, id).await;
    };
    assert!(
        matches!(&status.health, troupe_plugins::host::PluginHealth::Disabled { reason } if reason.contains("restart intensity")),
        "{status:?}"
    );
    let stored = track.store.list_plugins().await.unwrap().into_iter().find(|plugin| plugin.name == "crasher").unwrap();
    assert!(!stored.enabled, "the disabling is persisted");
    assert!(stored.disabled_reason.unwrap().contains("repeated failures"));
    // The core tree saw no crash: plugin failures are step errors there.
    assert!(track.runtime.agents().iter().all(|agent| agent.crashes == 0 && agent.restarts == 0));
    // A disabled plugin's steps are refused (skipped here), not run.
    let id = run(&track.runtime, user, json!([{"key": "p", "agent": "crasher", "optional": true}]), json!({})).await;
    finished(&track.runtime, id).await;
    let step = &track.runtime.store().list_steps(id).await.unwrap()[0];
    assert_eq!(step.status, StepStatus::Skipped);
    assert!(step.error.as_ref().unwrap().message.contains("disabled"));
    // An admin enables it again: it gets a fresh intensity (and traps again).
    track.registry.set_enabled("crasher", true).await.unwrap();
    assert_eq!(track.registry.host().status("crasher").unwrap().health, troupe_plugins::host::PluginHealth::Running);
    track.runtime.shutdown().await;
}

/// One user feeding a plugin input that makes it fail (an answer over its size limit) fails
/// their own steps only: the plugin keeps running for everyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_fed_failing_input_by_one_user_still_runs_for_the_others() {
    let track = track(None).await;
    let manifest: toml::Value = toml::from_str(include_str!("../examples/shout/plugin.toml")).unwrap();
    let mut manifest = serde_json::to_value(manifest).unwrap();
    manifest["limits"]["max_output_bytes"] = json!(4096);
    let module = include_bytes!("../examples/shout/shout.wat").to_vec();
    track.registry.register(manifest, Some(module), UserId::new(), &[]).await.unwrap();
    track.registry.sync(&track.runtime).await.unwrap();
    let (attacker, other) = (UserId::new(), UserId::new());
    let step = json!([{"key": "p", "agent": "shout", "retry": {"max_attempts": 3, "backoff": {"initial": "1ms"}}}]);
    let huge = json!({"text": "x".repeat(10_000)});
    for _ in 0..10 {
        let id = run(&track.runtime, attacker, step.clone(), huge.clone()).await;
        assert_eq!(finished(&track.runtime, id).await, ExecutionStatus::Failed);
        let steps = track.runtime.store().list_steps(id).await.unwrap();
        let error = steps[0].error.as_ref().unwrap();
        assert!(error.message.contains("output has"), "{error:?}");
        // The same input would fail again: it is not retried.
        assert_eq!(steps[0].attempt, 1, "{:?}", steps[0]);
    }
    let status = track.registry.host().status("shout").unwrap();
    assert_eq!(status.health, troupe_plugins::host::PluginHealth::Running, "{status:?}");
    let id = run(&track.runtime, other, step, json!({"text": "hello"})).await;
    assert_eq!(finished(&track.runtime, id).await, ExecutionStatus::Completed);
    let output = track.runtime.store().list_steps(id).await.unwrap()[0].output.clone().unwrap();
    assert_eq!(output["INPUT"]["TEXT"], "HELLO", "{output}");
    track.runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_plugin_registered_at_run_time_serves_steps_and_can_be_removed() {
    let track = track(None).await;
    let manifest: toml::Value = toml::from_str(include_str!("../examples/shout/plugin.toml")).unwrap();
    let manifest = serde_json::to_value(manifest).unwrap();
    let refused = track
        .registry
        .register(
            json!({"name": "echo", "version": "1.0.0", "kind": "wasm", "track": "custom", "entry": "x.wat"}),
            Some(include_bytes!("../examples/shout/shout.wat").to_vec()),
            UserId::new(),
            &["echo".into()],
        )
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("built-in agent kind"), "{refused}");
    track
        .registry
        .register(manifest, Some(include_bytes!("../examples/shout/shout.wat").to_vec()), UserId::new(), &[])
        .await
        .unwrap();
    track.registry.sync(&track.runtime).await.unwrap();
    let id =
        run(&track.runtime, UserId::new(), json!([{"key": "loud", "agent": "shout"}]), json!({"greeting": "hello"}))
            .await;
    assert_eq!(finished(&track.runtime, id).await, ExecutionStatus::Completed);
    let output = track.runtime.store().list_steps(id).await.unwrap()[0].output.clone().unwrap();
    assert_eq!(output["INPUT"]["GREETING"], "HELLO", "{output}");
    track.registry.delete("shout").await.unwrap();
    assert_eq!(track.registry.sync(&track.runtime).await.unwrap().removed, ["shout"]);
    let definition =
        PipelineDef::from_value(json!({"name": "p", "steps": [{"key": "loud", "agent": "shout"}]})).unwrap();
    assert!(track.runtime.validate(definition).is_err(), "the agent kind went with it");
    track.runtime.shutdown().await;
}

/// A fake remote plugin: answers by the input's `mode`.
async fn remote_plugin() -> String {
    async fn run(axum::Json(request): axum::Json<Value>) -> axum::response::Response {
        use axum::response::IntoResponse;
        match request["input"]["mode"].as_str() {
            Some("huge") => "x".repeat(1 << 20).into_response(),
            Some("wrong") => axum::Json(json!({"output": {"count": "many"}})).into_response(),
            Some("slow") => {
                // A remote agent that never answers: the host gives up at the plugin's 3 s limit.
                std::future::pending::<axum::response::Response>().await
            }
            _ => axum::Json(json!({"output": {"count": request["input"]["items"].as_array().map_or(0, Vec::len)}}))
                .into_response(),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        async move { axum::serve(listener, axum::Router::new().route("/run", axum::routing::post(run))).await },
    );
    format!("http://{addr}/run")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_plugin_is_called_with_a_timeout_a_size_limit_and_its_schema() {
    let track = track_with(None, 10).await;
    let url = remote_plugin().await;
    let manifest = json!({
        "name": "counter", "version": "1.0.0", "kind": "http", "track": "custom", "entry": url,
        "capabilities": {"network": ["127.0.0.1"]},
        "limits": {"timeout": "3s", "max_output_bytes": 4096},
        "output_schema": {"type": "object", "required": ["count"], "properties": {"count": {"type": "integer"}}}
    });
    track.registry.register(manifest, None, UserId::new(), &[]).await.unwrap();
    track.registry.sync(&track.runtime).await.unwrap();
    let once = json!([{"key": "count", "agent": "counter", "retry": {"max_attempts": 1}}]);
    let id = run(&track.runtime, UserId::new(), once.clone(), json!({"items": [1, 2, 3]})).await;
    assert_eq!(finished(&track.runtime, id).await, ExecutionStatus::Completed);
    assert_eq!(track.runtime.store().list_steps(id).await.unwrap()[0].output.clone().unwrap(), json!({"count": 3}));
    for (mode, expected) in [("huge", "at most 4096"), ("wrong", "declared schema"), ("slow", "did not answer")] {
        // Each failure restarts the plugin's actor (after a backoff of a few ms): wait for it.
        tokio::time::timeout(DEADLINE, async {
            while track.registry.host().status("counter").unwrap().health != troupe_plugins::host::PluginHealth::Running
            {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the plugin is running again");
        let id = run(&track.runtime, UserId::new(), once.clone(), json!({"mode": mode})).await;
        assert_eq!(finished(&track.runtime, id).await, ExecutionStatus::Failed, "{mode}");
        let error = track.runtime.store().get_execution(id).await.unwrap().unwrap().error.unwrap();
        assert!(error.message.contains(expected), "{mode}: {}", error.message);
    }
    track.runtime.shutdown().await;
}

/// Without the operator's allow list, an HTTP plugin cannot reach a private or translated
/// address, whatever its manifest says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_plugin_cannot_reach_addresses_that_are_not_public() {
    let store = Arc::new(InMemoryResearchStore::default());
    let bus = ResearchBus::new(Arc::clone(&store) as Arc<dyn ResearchStore>, PseudonymKey::new([3; 32]));
    let host = PluginHost::start(HostConfig::default(), bus).await.unwrap();
    let runtime = Runtime::builder().agent("echo", Echo).start().await.unwrap();
    let registry = PluginRegistry::new(host, Arc::clone(&store) as Arc<dyn ResearchStore>);
    let local = remote_plugin().await;
    for (name, entry) in [
        ("loopback", local.as_str()),
        ("nat64", "http://[64:ff9b::7f00:1]:9/run"),
        ("sixtofour", "http://[2002:7f00:1::1]:9/run"),
        ("benchmark", "http://198.18.0.1:9/run"),
    ] {
        let manifest = json!({"name": name, "version": "1.0.0", "kind": "http", "track": "custom", "entry": entry,
            "capabilities": {"network": [url_host(entry)]}, "limits": {"timeout": "3s"}});
        registry.register(manifest, None, UserId::new(), &[]).await.unwrap();
    }
    registry.sync(&runtime).await.unwrap();
    for name in ["loopback", "nat64", "sixtofour", "benchmark"] {
        let steps = json!([{"key": "call", "agent": name, "retry": {"max_attempts": 1}}]);
        let id = run(&runtime, UserId::new(), steps, json!({"items": [1]})).await;
        assert_eq!(finished(&runtime, id).await, ExecutionStatus::Failed, "{name}");
        let error = runtime.store().get_execution(id).await.unwrap().unwrap().error.unwrap();
        assert!(
            error.message.contains("public") || error.message.contains("TROUPE_PLUGIN_NETWORK_ALLOW"),
            "{name}: {}",
            error.message
        );
    }
    runtime.shutdown().await;
}

fn url_host(entry: &str) -> String {
    url::Url::parse(entry).unwrap().host_str().unwrap().to_owned()
}
