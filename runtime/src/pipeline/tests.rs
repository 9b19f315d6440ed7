//! Validation of pipeline definitions: every bad definition names its step and field.

use serde_json::{Value, json};

use super::{PipelineDef, PipelineEnv, PipelineFormat, PipelineIssue};

struct Env;

impl PipelineEnv for Env {
    fn has_agent(&self, kind: &str) -> bool {
        ["echo", "recovery"].contains(&kind)
    }

    fn has_validator(&self, name: &str) -> bool {
        name == "json_schema"
    }
}

fn issues(definition: Value) -> Vec<PipelineIssue> {
    PipelineDef::from_value(definition)
        .and_then(|def| def.validate(&Env))
        .expect_err("the definition is invalid")
        .issues
}

/// Checks that validating `steps` reports exactly one issue, on `step` and `field`, whose
/// message contains `message`.
fn check(steps: Value, step: Option<&str>, field: &str, message: &str) {
    let found = issues(json!({ "name": "p", "steps": steps }));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].step.as_deref(), step, "{found:#?}");
    assert_eq!(found[0].field, field, "{found:#?}");
    assert!(found[0].message.contains(message), "{found:#?}");
}

#[test]
fn an_unknown_agent_is_named() {
    check(json!([{ "key": "build", "agent": "buildr" }]), Some("build"), "agent", "unknown agent `buildr`");
}

#[test]
fn a_duplicate_key_is_named() {
    check(
        json!([{ "key": "a", "agent": "echo" }, { "key": "a", "agent": "echo" }]),
        Some("a"),
        "key",
        "duplicate key `a`",
    );
}

#[test]
fn a_missing_dependency_is_named() {
    check(
        json!([{ "key": "a", "agent": "echo", "depends_on": ["ghost"] }]),
        Some("a"),
        "depends_on",
        "unknown step `ghost`",
    );
}

#[test]
fn a_cycle_is_named_with_its_path() {
    check(
        json!([
            { "key": "a", "agent": "echo", "depends_on": ["c"] },
            { "key": "b", "agent": "echo", "depends_on": ["a"] },
            { "key": "c", "agent": "echo", "depends_on": ["b"] }
        ]),
        Some("a"),
        "depends_on",
        "dependency cycle: a → c → b → a",
    );
    check(json!([{ "key": "a", "agent": "echo", "depends_on": ["a"] }]), Some("a"), "depends_on", "itself");
}

#[test]
fn a_bad_condition_is_named() {
    check(
        json!([{ "key": "a", "agent": "echo", "when": "input.x ==" }]),
        Some("a"),
        "when",
        "invalid JMESPath condition",
    );
}

#[test]
fn bad_durations_are_named() {
    check(json!([{ "key": "a", "agent": "echo", "timeout": "5 parsecs" }]), Some("a"), "timeout", "invalid duration");
    check(
        json!([{ "key": "a", "agent": "echo", "retry": { "backoff": { "initial": "fast" } } }]),
        Some("a"),
        "retry.backoff.initial",
        "invalid duration `fast`",
    );
    check(
        json!([{ "key": "a", "agent": "echo", "retry": { "backoff": { "initial": "2s", "max": "1s" } } }]),
        Some("a"),
        "retry.backoff.max",
        "must not be shorter",
    );
}

#[test]
fn other_bad_fields_are_named() {
    check(
        json!([{ "key": "a", "agent": "echo", "retry": { "max_attempts": 0 } }]),
        Some("a"),
        "retry.max_attempts",
        "at least 1",
    );
    check(
        json!([{ "key": "a", "agent": "echo", "validate": ["lint"] }]),
        Some("a"),
        "validate",
        "unknown validator `lint`",
    );
    check(
        json!([{ "key": "a", "agent": "echo", "on_failure": "nope" }]),
        Some("a"),
        "on_failure",
        "unknown step `nope`",
    );
    check(json!([{ "key": "Bad Key", "agent": "echo" }]), Some("Bad Key"), "key", "lowercase");
    check(json!([]), None, "steps", "at least one step");
}

#[test]
fn every_problem_is_reported_at_once() {
    let found = issues(json!({
        "name": "p",
        "steps": [
            { "key": "a", "agent": "nope", "timeout": "never" },
            { "key": "b", "agent": "echo", "depends_on": ["zz"] }
        ]
    }));
    let fields: Vec<(Option<&str>, &str)> =
        found.iter().map(|issue| (issue.step.as_deref(), issue.field.as_str())).collect();
    assert_eq!(fields, [(Some("a"), "agent"), (Some("a"), "timeout"), (Some("b"), "depends_on")]);
}

#[test]
fn parse_errors_name_the_path_of_the_bad_field() {
    let error =
        PipelineDef::parse("name: p\nsteps:\n  - key: a\n    agent: echo\n    optional: maybe\n", PipelineFormat::Yaml)
            .unwrap_err();
    assert_eq!(error.issues[0].field, "steps[0].optional");
    let error = PipelineDef::parse(r#"{"name": "p", "steps": [{"key": "a", "agnet": "echo"}]}"#, PipelineFormat::Json)
        .unwrap_err();
    assert!(error.issues[0].message.contains("unknown field `agnet`"), "{error}");
}

#[test]
fn a_valid_definition_is_pinned_by_its_content_hash() {
    let definition = json!({
        "name": "p",
        "on_failure": "recover",
        "steps": [
            { "key": "a", "agent": "echo", "timeout": "30s", "retry": { "max_attempts": 5, "backoff": { "initial": "10ms", "max": "1s" } } },
            { "key": "b", "agent": "echo", "depends_on": ["a"], "when": "steps.a.output.ok", "validate": ["json_schema"] },
            { "key": "recover", "agent": "recovery" }
        ]
    });
    let pipeline = PipelineDef::from_value(definition.clone()).unwrap().validate(&Env).unwrap();
    assert_eq!(pipeline.steps()[0].retry.max_attempts, 5);
    assert_eq!(pipeline.steps()[0].timeout, std::time::Duration::from_secs(30));
    assert_eq!(pipeline.steps()[1].depends_on, [0]);
    assert_eq!(pipeline.steps()[0].on_failure, Some(2), "the pipeline's on_failure applies to every step");
    assert!(pipeline.steps()[2].is_handler);
    assert_eq!(pipeline.dependents(0), [1]);
    let same = PipelineDef::from_value(definition).unwrap().content_hash();
    assert_eq!(pipeline.hash(), same);
    let mut changed = pipeline.def().clone();
    changed.steps[0].timeout = Some("31s".into());
    assert_ne!(changed.content_hash(), same);
}

#[test]
fn backoff_grows_exponentially_within_its_bounds() {
    let backoff = super::BackoffPolicy {
        initial: std::time::Duration::from_millis(100),
        max: std::time::Duration::from_millis(300),
    };
    for _ in 0..100 {
        let first = backoff.delay(1);
        assert!(first >= std::time::Duration::from_millis(50) && first <= std::time::Duration::from_millis(100));
        let third = backoff.delay(3);
        assert!(third >= std::time::Duration::from_millis(150) && third <= std::time::Duration::from_millis(300));
    }
}
