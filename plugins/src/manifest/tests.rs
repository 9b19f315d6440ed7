use serde_json::json;

use super::*;

fn research() -> serde_json::Value {
    json!({
        "name": "tone", "version": "1.0.0", "kind": "wasm", "track": "research", "entry": "tone.wat",
        "research": {
            "experiment": "tone-study", "hypothesis": "Shorter prompts read friendlier.",
            "consent_required": true, "flag": "plugin.tone",
            "metrics": [{"name": "input_bytes", "sensitivity": 4096.0}]
        }
    })
}

/// Applies `change` to a valid research manifest and returns the fields it is refused for.
fn check(change: impl FnOnce(&mut serde_json::Value)) -> Vec<String> {
    let mut manifest = research();
    change(&mut manifest);
    match Manifest::from_value(manifest) {
        Ok(_) => Vec::new(),
        Err(error) => error.issues.into_iter().map(|issue| issue.field).collect(),
    }
}

#[test]
fn a_valid_research_manifest_passes_with_defaults() {
    let checked = Manifest::from_value(research()).unwrap();
    assert_eq!(checked.agent_kind(), "tone");
    assert_eq!(checked.timeout, std::time::Duration::from_secs(5));
    assert_eq!(checked.manifest.limits.memory_mb, 16);
}

#[test]
fn every_missing_or_bad_field_is_named() {
    for (field, change) in [
        (
            "research.consent_required",
            Box::new(|m: &mut serde_json::Value| m["research"]["consent_required"] = json!(false))
                as Box<dyn FnOnce(&mut serde_json::Value)>,
        ),
        ("research.hypothesis", Box::new(|m| m["research"]["hypothesis"] = json!("  "))),
        ("research.experiment", Box::new(|m| m["research"]["experiment"] = json!("Not Valid"))),
        ("research.flag", Box::new(|m| m["research"]["flag"] = json!(""))),
        ("research.metrics", Box::new(|m| m["research"]["metrics"] = json!([]))),
        ("research.metrics[0].sensitivity", Box::new(|m| m["research"]["metrics"][0]["sensitivity"] = json!(0.0))),
        (
            "research",
            Box::new(|m| {
                m.as_object_mut().unwrap().remove("research");
            }),
        ),
        ("name", Box::new(|m| m["name"] = json!("Bad Name"))),
        ("version", Box::new(|m| m["version"] = json!("one"))),
        ("limits.timeout", Box::new(|m| m["limits"] = json!({"timeout": "soon"}))),
        ("limits.memory_mb", Box::new(|m| m["limits"] = json!({"memory_mb": 0}))),
        ("limits.fuel", Box::new(|m| m["limits"] = json!({"fuel": 0}))),
        ("output_schema", Box::new(|m| m["output_schema"] = json!({"type": 12}))),
        ("capabilities.network", Box::new(|m| m["capabilities"] = json!({"network": ["example.com"]}))),
        ("entry", Box::new(|m| m["entry"] = json!("../../etc/passwd"))),
    ] {
        let fields = check(change);
        assert!(fields.iter().any(|named| named == field), "expected `{field}` among {fields:?}");
    }
}

#[test]
fn structural_errors_name_their_path() {
    let fields = check(|m| m["research"]["metrics"][0]["sensitivity"] = json!("high"));
    assert_eq!(fields, ["research.metrics[0].sensitivity"]);
    let fields = check(|m| m["research"].as_object_mut().unwrap().remove("flag").map(|_| ()).unwrap());
    assert_eq!(fields, ["research"], "a missing field is reported on its section");
    let fields = check(|m| m["colour"] = json!("red"));
    assert_eq!(fields, ["colour"], "an unknown field is named");
}

#[test]
fn a_custom_plugin_needs_no_research_section_and_may_not_have_one() {
    let custom = json!({"name": "shout", "version": "0.1.0", "kind": "wasm", "track": "custom", "entry": "shout.wat"});
    assert!(Manifest::from_value(custom.clone()).is_ok());
    let mut with_research = custom;
    with_research["research"] = research()["research"].clone();
    let error = Manifest::from_value(with_research).unwrap_err();
    assert_eq!(error.issues[0].field, "research");
}

#[test]
fn http_plugins_list_their_host_and_toml_parses_the_same() {
    let http = json!({"name": "remote", "version": "1.0.0", "kind": "http", "track": "custom",
        "entry": "http://127.0.0.1:9000/run", "capabilities": {"network": ["127.0.0.1"]}});
    assert!(Manifest::from_value(http.clone()).is_ok());
    let mut unlisted = http;
    unlisted["capabilities"]["network"] = json!([]);
    assert_eq!(Manifest::from_value(unlisted).unwrap_err().issues[0].field, "capabilities.network");

    let toml = r#"
name = "tone"
version = "1.0.0"
kind = "wasm"
track = "research"
entry = "tone.wat"
[limits]
timeout = "2s"
[research]
experiment = "tone-study"
hypothesis = "Shorter prompts read friendlier."
consent_required = false
flag = "plugin.tone"
[[research.metrics]]
name = "input_bytes"
sensitivity = 4096.0
"#;
    let error = Manifest::parse(toml, ManifestFormat::Toml).unwrap_err();
    assert_eq!(error.issues.len(), 1);
    assert_eq!(error.issues[0].field, "research.consent_required");
    let error = Manifest::parse("name = 3", ManifestFormat::Toml).unwrap_err();
    assert_eq!(error.issues[0].field, "name");
}
