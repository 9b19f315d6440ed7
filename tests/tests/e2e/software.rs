//! The built-in `software` pipeline end to end on the offline provider: it completes, every
//! artifact passes its validator, and build and qa really ran the generated project.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use troupe_agents::AgentsConfig;
use troupe_agents::llm::OFFLINE_LABEL;
use troupe_agents::validators::{check_ddl, check_file, check_openapi};
use troupe_runtime::status::{ExecutionStatus, StepStatus};
use troupe_runtime::store::{ExecutionStore, InMemoryStore};
use troupe_runtime::{Runtime, RuntimeConfig, SubmitRequest};

const DEADLINE: Duration = Duration::from_secs(120);

/// An in-memory runtime with the built-in agents on the offline provider, workspaces in `dir`.
async fn offline(dir: &std::path::Path) -> (Arc<dyn ExecutionStore>, Runtime) {
    let store: Arc<dyn ExecutionStore> = Arc::new(InMemoryStore::default());
    let config = AgentsConfig { workspaces: dir.to_path_buf(), ..AgentsConfig::default() };
    let builder = Runtime::builder().store(Arc::clone(&store)).config(RuntimeConfig::default());
    (store, troupe_agents::register_builtins_with(builder, config).start().await.unwrap())
}

async fn submit_software(runtime: &Runtime, input: serde_json::Value) -> troupe_runtime::ids::ExecutionId {
    let def = troupe_agents::builtin_pipelines().into_iter().find(|def| def.name == "software").unwrap();
    let pipeline = runtime.validate(def).unwrap();
    runtime.submit(SubmitRequest::new(pipeline, input)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_software_pipeline_builds_and_tests_a_project_offline() {
    let dir = tempfile::tempdir().unwrap();
    let (store, runtime) = offline(dir.path()).await;
    let id = submit_software(&runtime, json!({"idea": "a recipe box for a family kitchen"})).await;
    let record = tokio::time::timeout(DEADLINE, runtime.wait(id)).await.unwrap().unwrap();

    let steps = store.list_steps(id).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed, "{:#?}", record.error);
    for step in &steps {
        // Nobody asked for the architecture to be approved, nor did anything fail.
        let skipped = ["recovery", troupe_agents::software::APPROVE_ARCHITECTURE].contains(&&*step.key);
        let expected = if skipped { StepStatus::Skipped } else { StepStatus::Completed };
        assert_eq!(step.status, expected, "{step:#?}");
        assert_eq!(step.corrections, 0, "step `{}` needed corrections", step.key);
    }
    let output = |key: &str| -> Value { steps.iter().find(|step| &*step.key == key).unwrap().output.clone().unwrap() };
    assert_eq!(output("requirements")["title"], "Recipe Box Family Kitchen");
    assert_eq!(output("backend")["generated_by"]["offline"], true);

    // build and qa ran the project's own commands in its workspace.
    let build = output("build");
    assert_eq!(build["passed"], true);
    assert_eq!(build["commands"].as_array().unwrap().len(), 3);
    let qa = output("qa");
    assert!(qa["tests"].as_u64().unwrap() >= 8, "{qa:#}");
    assert_eq!(qa["failed"], 0);
    let project = dir.path().join(id.to_string()).join("project");
    for file in ["backend/app.py", "backend/schema.sql", "backend/test_app.py", "frontend/app.js"] {
        assert!(project.join(file).is_file(), "{file} was not written");
    }

    // Every artifact passes the check of its kind, and says it is offline output.
    let artifacts = store.list_artifacts(id).await.unwrap();
    assert!(artifacts.len() >= 18, "{} artifacts", artifacts.len());
    for meta in &artifacts {
        let text = String::from_utf8(meta.content.clone()).unwrap();
        match meta.name.as_str() {
            "openapi.json" => {
                let document: Value = serde_json::from_str(&text).unwrap();
                let issues = check_openapi(&document);
                assert!(issues.is_empty(), "{issues:?}");
                assert_eq!(document["x-troupe-offline"], true);
            }
            "schema.sql" => assert_eq!(check_ddl(&text, "sqlite"), Vec::<String>::new()),
            "build.log" | "qa.log" => assert!(text.contains("exit code 0"), "{text}"),
            "qa-report.json" => assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["passed"], true),
            name => {
                assert_eq!(check_file(name, &text), Ok(()), "{name}");
                if !name.ends_with(".json") {
                    assert!(text.contains(OFFLINE_LABEL), "{name} is not labelled");
                }
            }
        }
    }
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asked_to_the_software_pipeline_waits_for_its_architecture_to_be_approved() {
    use troupe_agents::software::APPROVE_ARCHITECTURE;
    use troupe_runtime::pipeline::approval::Decision;
    let dir = tempfile::tempdir().unwrap();
    let (store, runtime) = offline(dir.path()).await;
    let input = json!({"idea": "a recipe box for a family kitchen", "approve_architecture": true});
    let id = submit_software(&runtime, input).await;
    let store_ref = &store;
    crate::poll(DEADLINE, "the execution waits for the architecture's approval", || async move {
        let record = store_ref.get_execution(id).await.unwrap().unwrap();
        (record.status == ExecutionStatus::Waiting).then_some(())
    })
    .await;
    let status = |steps: &[troupe_runtime::model::StepRecord], key: &str| {
        steps.iter().find(|step| &*step.key == key).map(|step| step.status).unwrap()
    };
    let steps = store.list_steps(id).await.unwrap();
    assert_eq!(status(&steps, "architect"), StepStatus::Completed);
    assert_eq!(status(&steps, APPROVE_ARCHITECTURE), StepStatus::Waiting);
    assert_eq!(status(&steps, "api_design"), StepStatus::Pending);
    let approvals = runtime.approvals(id).await.unwrap();
    assert!(approvals[0].prompt.contains("Components:"), "{}", approvals[0].prompt);
    assert!(!approvals[0].prompt.contains("{{"), "the prompt quotes the architecture: {}", approvals[0].prompt);

    let owner = troupe_runtime::ids::UserId::LOCAL;
    let comment = Some("keep it to one service".to_owned());
    let decided = runtime.decide(id, APPROVE_ARCHITECTURE, Decision::Approved, owner, comment).await.unwrap();
    assert!(decided.recorded);
    let record = tokio::time::timeout(DEADLINE, runtime.wait(id)).await.unwrap().unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed, "{:#?}", record.error);
    runtime.shutdown().await;
}

/// Always answers `{"draft": true}` (which its schema rejects) and remembers the `params` of
/// every attempt.
#[derive(Clone, Default)]
struct Stubborn {
    seen: Arc<std::sync::Mutex<Vec<Value>>>,
}

#[async_trait::async_trait]
impl troupe_runtime::agent::Agent for Stubborn {
    async fn run(
        &self,
        ctx: troupe_runtime::agent::StepContext,
    ) -> Result<troupe_runtime::agent::StepOutput, troupe_runtime::agent::AgentError> {
        self.seen.lock().unwrap().push(ctx.params.as_ref().clone());
        Ok(troupe_runtime::agent::StepOutput::new(json!({"draft": true})))
    }
}

async fn start_with_stubborn(store: &Arc<dyn ExecutionStore>, stubborn: &Stubborn) -> Runtime {
    let builder = Runtime::builder().store(Arc::clone(store)).agent("stubborn", stubborn.clone());
    troupe_agents::register_builtins(builder).start().await.unwrap()
}

#[tokio::test]
async fn a_step_that_keeps_failing_validation_goes_to_recovery_which_reruns_it_then_reports() {
    let store: Arc<dyn ExecutionStore> = Arc::new(InMemoryStore::default());
    let stubborn = Stubborn::default();
    let runtime = start_with_stubborn(&store, &stubborn).await;
    let def = troupe_runtime::pipeline::PipelineDef::from_value(json!({
        "name": "stubborn",
        "on_failure": "recovery",
        "steps": [
            {"key": "write", "agent": "stubborn", "validate": ["json_schema"], "max_corrections": 2,
             "output_schema": {"type": "object", "required": ["text"]}, "params": {"style": "terse"}},
            {"key": "after", "agent": "echo", "depends_on": ["write"]},
            {"key": "recovery", "agent": "recovery"}
        ]
    }))
    .unwrap();
    let id = runtime.submit(SubmitRequest::new(runtime.validate(def).unwrap(), json!({}))).await.unwrap();
    let record = tokio::time::timeout(DEADLINE, runtime.wait(id)).await.unwrap().unwrap();
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(record.error.as_ref().unwrap().code, "step_failed");

    // Three rejected outputs, a re-run ordered by recovery with changed parameters (three more),
    // then the report.
    let seen = stubborn.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 6, "{seen:#?}");
    assert_eq!(seen[0], json!({"style": "terse"}));
    assert_eq!(seen[3]["style"], "terse", "the step's own params are kept");
    assert_eq!(seen[3]["temperature"], 0.0);
    assert_eq!(seen[3]["recovery"]["failed_step"], "write");
    let steps = store.list_steps(id).await.unwrap();
    let step = |key: &str| steps.iter().find(|step| &*step.key == key).unwrap().clone();
    assert_eq!(step("write").status, StepStatus::Failed);
    assert_eq!(step("write").attempt, 6);
    assert_eq!(step("after").status, StepStatus::Skipped);
    assert_eq!(step("recovery").status, StepStatus::Completed);
    let recovery = step("recovery").output.unwrap();
    assert_eq!(recovery["decision"], "fail");
    assert_eq!(recovery["reruns"], 1);
    let report = store.get_artifact(id, "recovery", "recovery-report.md").await.unwrap().expect("a report");
    let report = String::from_utf8(report.content).unwrap();
    assert!(report.contains("Failed step: `write`") && report.contains("validation_failed"), "{report}");
    assert!(report.contains("/text") || report.contains("\"text\""), "the evidence names the field: {report}");
    runtime.shutdown().await;
}

#[tokio::test]
async fn recovery_skips_a_failed_optional_step_and_the_execution_completes() {
    let store: Arc<dyn ExecutionStore> = Arc::new(InMemoryStore::default());
    let stubborn = Stubborn::default();
    let runtime = start_with_stubborn(&store, &stubborn).await;
    let def = troupe_runtime::pipeline::PipelineDef::from_value(json!({
        "name": "optional",
        "on_failure": "recovery",
        "steps": [
            {"key": "extra", "agent": "stubborn", "optional": true, "validate": ["json_schema"],
             "max_corrections": 0, "output_schema": {"type": "object", "required": ["text"]}},
            {"key": "main", "agent": "echo"},
            {"key": "recovery", "agent": "recovery"}
        ]
    }))
    .unwrap();
    let id = runtime.submit(SubmitRequest::new(runtime.validate(def).unwrap(), json!({}))).await.unwrap();
    let record = tokio::time::timeout(DEADLINE, runtime.wait(id)).await.unwrap().unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
    let steps = store.list_steps(id).await.unwrap();
    let extra = steps.iter().find(|step| &*step.key == "extra").unwrap();
    assert_eq!(extra.status, StepStatus::Skipped);
    assert_eq!(extra.error.as_ref().unwrap().code, "skipped_by_recovery");
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_software_pipeline_runs_through_an_openai_compatible_model() {
    let dir = tempfile::tempdir().unwrap();
    let base_url = crate::fake_model::model_server(None).await;
    let provider = troupe_agents::llm::OpenAiCompatible::new(
        "openai",
        &base_url,
        None,
        "good-model",
        troupe_agents::llm::policy::HttpPolicy::default(),
    )
    .unwrap();
    let store: Arc<dyn ExecutionStore> = Arc::new(InMemoryStore::default());
    let config =
        AgentsConfig { llm: Arc::new(provider), workspaces: dir.path().to_path_buf(), ..AgentsConfig::default() };
    let runtime = troupe_agents::register_builtins_with(Runtime::builder().store(Arc::clone(&store)), config)
        .start()
        .await
        .unwrap();
    let def = troupe_agents::builtin_pipelines().into_iter().find(|def| def.name == "software").unwrap();
    let input = json!({"idea": "a book club planner"});
    let id = runtime.submit(SubmitRequest::new(runtime.validate(def).unwrap(), input)).await.unwrap();
    let record = tokio::time::timeout(DEADLINE, runtime.wait(id)).await.unwrap().unwrap();
    let steps = store.list_steps(id).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed, "{:#?}", record.error);
    let output = |key: &str| steps.iter().find(|step| &*step.key == key).unwrap().output.clone().unwrap();
    assert_eq!(output("backend")["generated_by"], json!({"provider": "openai", "offline": false}));
    assert_eq!(output("requirements")["title"], "Book Club Planner");
    assert_eq!(output("qa")["failed"], 0);
    assert!(output("qa")["tests"].as_u64().unwrap() >= 8);
    // Every design step called the model once and was accounted.
    let usage = store.execution_usage(id).await.unwrap();
    assert_eq!(usage.len(), 8, "{usage:#?}");
    assert!(usage.iter().all(|row| row.model == "good-model" && row.usage.tokens() == 150));
    let app = store.get_artifact(id, "backend", "backend/app.py").await.unwrap().unwrap();
    assert!(!String::from_utf8(app.content).unwrap().contains(OFFLINE_LABEL), "model output is not labelled offline");
    runtime.shutdown().await;
}
