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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_software_pipeline_builds_and_tests_a_project_offline() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ExecutionStore> = Arc::new(InMemoryStore::default());
    let config = AgentsConfig { workspaces: dir.path().to_path_buf(), ..AgentsConfig::default() };
    let builder = Runtime::builder().store(Arc::clone(&store)).config(RuntimeConfig::default());
    let runtime = troupe_agents::register_builtins_with(builder, config).start().await.unwrap();
    let def = troupe_agents::builtin_pipelines().into_iter().find(|def| def.name == "software").unwrap();
    let pipeline = runtime.validate(def).unwrap();
    let input = json!({"idea": "a recipe box for a family kitchen"});
    let id = runtime.submit(SubmitRequest::new(pipeline, input)).await.unwrap();
    let record = tokio::time::timeout(DEADLINE, runtime.wait(id)).await.unwrap().unwrap();

    let steps = store.list_steps(id).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed, "{:#?}", record.error);
    for step in &steps {
        let expected = if step.key == "recovery" { StepStatus::Skipped } else { StepStatus::Completed };
        assert_eq!(step.status, expected, "{step:#?}");
        assert_eq!(step.corrections, 0, "step `{}` needed corrections", step.key);
    }
    let output = |key: &str| -> Value { steps.iter().find(|step| step.key == key).unwrap().output.clone().unwrap() };
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
