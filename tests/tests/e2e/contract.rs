//! The conformance gate: every answer the end-to-end tests receive is checked against the
//! OpenAPI document the server publishes, and every WebSocket message against the AsyncAPI
//! one. A mismatch fails the test that received it, naming the operation and the JSON path.
//!
//! - a path and method the document has: the status must be one it lists for the operation,
//!   the content type the listed one, and a JSON body valid against the listed schema;
//! - a path the document does not have: 404, in the error format; a path it has with a method
//!   it does not: 405, in the error format.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use jsonschema::Validator;
use serde_json::{Value, json};

/// The documents and the validators compiled from them so far.
pub struct Contract {
    openapi: Value,
    asyncapi: Value,
    /// Each path template with the regex that matches it, most specific first.
    templates: Vec<(String, regex::Regex)>,
    validators: Mutex<HashMap<String, Arc<Validator>>>,
}

static CONTRACT: LazyLock<Contract> = LazyLock::new(|| {
    let openapi = troupe_gateway::http::openapi::document();
    let asyncapi = troupe_gateway::http::asyncapi::document();
    let mut templates: Vec<(String, regex::Regex)> = openapi["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .map(|template| {
            let pattern: Vec<String> = template
                .split('/')
                .map(|segment| if segment.starts_with('{') { "[^/]+".to_owned() } else { regex::escape(segment) })
                .collect();
            (template.clone(), regex::Regex::new(&format!("^{}$", pattern.join("/"))).unwrap())
        })
        .collect();
    // A literal segment beats a placeholder: `/memories/export` before `/memories/{id}`.
    templates.sort_by_key(|(template, _)| template.matches('{').count());
    Contract { openapi, asyncapi, templates, validators: Mutex::default() }
});

/// Escapes a JSON pointer segment.
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

impl Contract {
    fn validator(&self, key: &str, document: &Value, pointer: &str) -> Arc<Validator> {
        if let Some(validator) = self.validators.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(key) {
            return Arc::clone(validator);
        }
        // The schema at the root, beside the document's components, where its `$ref`s point.
        let mut root = document.pointer(pointer).unwrap_or_else(|| panic!("{pointer} is in the document")).clone();
        match &mut root {
            Value::Object(object) => {
                object.insert("components".into(), document["components"].clone());
            }
            _ => root = json!({"allOf": [root], "components": document["components"].clone()}),
        }
        let validator = Arc::new(
            jsonschema::draft202012::options()
                .should_validate_formats(true)
                .build(&root)
                .unwrap_or_else(|error| panic!("the schema at {pointer} compiles: {error}")),
        );
        let mut validators = self.validators.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(validators.entry(key.to_owned()).or_insert(validator))
    }

    /// Follows a `$ref` into `components` (responses may be references).
    fn resolve<'a>(&'a self, value: &'a Value) -> (&'a Value, Option<String>) {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let pointer = reference.trim_start_matches('#').to_owned();
                (self.openapi.pointer(&pointer).unwrap_or_else(|| panic!("{reference} resolves")), Some(pointer))
            }
            None => (value, None),
        }
    }
}

/// Checks one HTTP answer; panics, naming the operation and the problem, when it does not
/// conform.
pub fn check_response(method: &str, target: &str, status: u16, content_type: Option<&str>, body: &[u8]) {
    let contract = &*CONTRACT;
    let path = target.split('?').next().unwrap_or(target);
    let path = path.split_once("://").map_or(path, |(_, rest)| rest.find('/').map_or("/", |slash| &rest[slash..]));
    let method = method.to_ascii_lowercase();
    let template = contract.templates.iter().find(|(_, pattern)| pattern.is_match(path)).map(|(t, _)| t.clone());
    let Some(template) = template else {
        assert_error(status, 404, content_type, body, &format!("{method} {path} (not in the document)"));
        return;
    };
    let item = &contract.openapi["paths"][&template];
    let Some(operation) = item.get(&method) else {
        if method == "head" || method == "options" {
            return;
        }
        assert_error(status, 405, content_type, body, &format!("{method} {path} (method not in the document)"));
        return;
    };
    let name = format!("{} {template}", method.to_uppercase());
    let responses = &operation["responses"];
    let Some(declared) = responses.get(status.to_string()).or_else(|| responses.get("default")) else {
        let listed: Vec<&String> = responses.as_object().map(|r| r.keys().collect()).unwrap_or_default();
        panic!(
            "contract: {name} answered {status}, which the document does not list ({listed:?}); body: {}",
            String::from_utf8_lossy(body)
        );
    };
    let (declared, reference) = contract.resolve(declared);
    let Some(content) = declared.get("content").and_then(Value::as_object) else {
        // No content declared: nothing (204) or bytes of any type (artifact downloads).
        if status == 204 {
            assert!(body.is_empty(), "contract: {name} answered 204 with a body");
        }
        return;
    };
    let actual = content_type.and_then(|value| value.split(';').next()).map(str::trim).unwrap_or("");
    let Some((media, media_type)) = content.iter().find(|(media, _)| media.as_str() == actual) else {
        let listed: Vec<&String> = content.keys().collect();
        panic!("contract: {name} {status} answered content type `{actual}`, the document lists {listed:?}");
    };
    if media != "application/json" {
        return;
    }
    let value: Value = serde_json::from_slice(body)
        .unwrap_or_else(|error| panic!("contract: {name} {status}: the body is not JSON ({error})"));
    let Some(_) = media_type.get("schema") else { return };
    let base = reference.unwrap_or_else(|| format!("/paths/{}/{method}/responses/{status}", escape(&template)));
    let pointer = format!("{base}/content/{}/schema", escape(media));
    let validator = contract.validator(&pointer, &contract.openapi, &pointer);
    let problems: Vec<String> =
        validator.iter_errors(&value).map(|error| format!("at `{}`: {error}", error.instance_path())).collect();
    assert!(
        problems.is_empty(),
        "contract: {name} {status}: the body does not match the document:\n{}\nbody: {value}",
        problems.join("\n")
    );
}

/// A refused request outside the document: the given status (or 429, as anywhere: limits
/// come before routing), in the error format.
fn assert_error(status: u16, expected: u16, content_type: Option<&str>, body: &[u8], what: &str) {
    assert!(status == expected || status == 429, "contract: {what} must answer {expected}, answered {status}");
    assert!(content_type.is_some_and(|value| value.starts_with("application/json")), "contract: {what}: error format");
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let contract = &*CONTRACT;
    let validator = contract.validator("ErrorBody", &contract.openapi, "/components/schemas/ErrorBody");
    assert!(validator.is_valid(&value), "contract: {what}: not the error format: {value}");
}

/// Checks one message the server sent over the WebSocket against the AsyncAPI document.
pub fn check_server_message(message: &Value) {
    let contract = &*CONTRACT;
    let kind =
        message["type"].as_str().unwrap_or_else(|| panic!("contract: a WebSocket message without type: {message}"));
    let key = format!("server.{kind}");
    assert!(
        contract.asyncapi["channels"]["live"]["messages"].get(&key).is_some(),
        "contract: the server sent `{kind}`, which the AsyncAPI document does not describe: {message}"
    );
    let pointer = format!("/channels/live/messages/{}/payload", escape(&key));
    let validator = contract.validator(&format!("asyncapi{pointer}"), &contract.asyncapi, &pointer);
    let problems: Vec<String> =
        validator.iter_errors(message).map(|error| format!("at `{}`: {error}", error.instance_path())).collect();
    assert!(
        problems.is_empty(),
        "contract: WebSocket `{kind}`: does not match the AsyncAPI document:\n{}\nmessage: {message}",
        problems.join("\n")
    );
}

/// Checks a reqwest answer (tests of the real binary) and returns its status and body.
pub async fn checked(method: &str, url: &str, response: reqwest::Response) -> (u16, Vec<u8>) {
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = response.bytes().await.unwrap().to_vec();
    check_response(method, url, status, content_type.as_deref(), &body);
    (status, body)
}

#[test]
fn the_gate_refuses_what_the_document_does_not_say() {
    let ok = |status, body: &str| {
        std::panic::catch_unwind(|| {
            check_response(
                "GET",
                "/api/v1/executions/018f0000-0000-7000-8000-000000000000",
                status,
                Some("application/json"),
                body.as_bytes(),
            )
        })
        .is_ok()
    };
    let error = r#"{"error":{"code":"not_found","message":"x","details":null,"timestamp":"2026-12-02T10:00:00.000Z"}}"#;
    assert!(ok(404, error));
    assert!(!ok(418, error), "an unlisted status");
    assert!(!ok(404, r#"{"error":{"code":"not_found"}}"#), "a body missing required fields");
    assert!(!ok(200, r#"{"id": 7}"#), "a body of the wrong shape");
    let unknown =
        std::panic::catch_unwind(|| check_response("GET", "/api/v1/nowhere", 200, Some("application/json"), b"{}"));
    assert!(unknown.is_err(), "a path outside the document must answer 404");
    assert!(std::panic::catch_unwind(|| check_server_message(&json!({"type": "teleport"}))).is_err());
    assert!(std::panic::catch_unwind(|| check_server_message(&json!({"type": "pong"}))).is_ok());
}
