//! Completes the generated document where per-handler annotations would repeat themselves or
//! drift: the answers every operation can give, the two ways to authenticate, and the JSON
//! Schemas published by other crates (the pipeline format, the plugin manifest, events, log
//! lines, errors), bundled into `components` because client generators do not follow external
//! `$ref`s.
//!
//! Each rule reads the operation itself (does it take a body, parameters, a path id, a
//! credential?), so a new operation gets its answers without anyone listing them.

use serde_json::{Value, json};

use crate::http::bundle::bundle;
use crate::http::limits::UNLIMITED;

/// Operations anyone may call without a credential (the WebSocket authenticates in its first
/// message).
const PUBLIC: [&str; 11] = [
    "POST /api/v1/auth/register",
    "POST /api/v1/auth/setup",
    "POST /api/v1/auth/login",
    "POST /api/v1/auth/refresh",
    "GET /api/v1/ws",
    "GET /api/docs",
    "GET /api/docs/openapi.json",
    "GET /api/docs/asyncapi.json",
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
];

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Completes `document` in place.
pub fn complete(document: &mut Value) {
    bundle(document, "PipelineDefinition", troupe_runtime::pipeline::json_schema());
    bundle(document, "PluginManifest", troupe_plugins::manifest::json_schema());
    for (name, schema) in troupe_runtime::model::json_schemas() {
        bundle(document, name, schema);
    }
    let components = document["components"].as_object_mut().expect("the document has components");
    components.insert(
        "securitySchemes".into(),
        json!({
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT access token or API key (trk_…)"},
            "api_key": {"type": "apiKey", "in": "header", "name": "X-Api-Key", "description": "An API key (trk_…)"},
        }),
    );
    components.insert("responses".into(), common_responses());
    let paths = document["paths"].as_object_mut().expect("the document has paths");
    for (path, item) in paths.iter_mut() {
        for method in METHODS {
            if let Some(operation) = item.get_mut(method) {
                complete_operation(method, path, operation);
            }
        }
    }
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    })
}

fn with_retry_after(mut response: Value) -> Value {
    response["headers"] = json!({"Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 1},
    }});
    response
}

/// The answers shared by many operations, declared once.
fn common_responses() -> Value {
    let mut unauthorized = error_response(
        "No valid credential: missing, expired, revoked or ended (`unauthorized`, `invalid_credentials`, \
         `refresh_token_reused`)",
    );
    unauthorized["headers"] = json!({"WWW-Authenticate": {"schema": {"type": "string"}}});
    json!({
        "BadRequest": error_response(
            "The request is malformed or a field is invalid (`malformed_json`, `bad_body`, `validation_failed`: \
             each bad field in `details.fields`)"),
        "Unauthorized": unauthorized,
        "Forbidden": error_response(
            "The caller may not do this (`forbidden`, `account_disabled`, `read_only_key`)"),
        "NotFound": error_response("No such resource, or not the caller's (`not_found`)"),
        "PayloadTooLarge": error_response("The body is larger than the server's limit (`payload_too_large`)"),
        "UnsupportedMediaType": error_response("The body is not JSON (`unsupported_media_type`)"),
        "TooManyRequests": with_retry_after(error_response("A rate limit was reached (`rate_limited`)")),
        "InternalError": error_response("Something broke on the server (`internal`); its log has the cause"),
        "Unavailable": with_retry_after(error_response(
            "The server cannot answer now (`store_unavailable`, `unavailable`, `restarting`, `timeout`, …)")),
    })
}

fn complete_operation(method: &str, path: &str, operation: &mut Value) {
    let id = format!("{} {path}", method.to_uppercase());
    let secured = !PUBLIC.contains(&id.as_str());
    let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
    let has_path_id = parameters.iter().any(|parameter| parameter["in"] == "path");
    let has_body = operation.get("requestBody").is_some();
    let object = operation.as_object_mut().expect("an operation is an object");
    if secured {
        object.insert("security".into(), json!([{"bearer": []}, {"api_key": []}]));
    } else {
        object.remove("security");
    }
    let responses = object.entry("responses").or_insert_with(|| json!({})).as_object_mut().expect("responses");
    let mut add = |status: &str, name: &str| {
        responses.entry(status).or_insert_with(|| json!({"$ref": format!("#/components/responses/{name}")}));
    };
    if has_body || !parameters.is_empty() {
        add("400", "BadRequest");
    }
    if secured {
        add("401", "Unauthorized");
        add("403", "Forbidden");
    }
    if has_path_id {
        add("404", "NotFound");
    }
    if has_body {
        add("413", "PayloadTooLarge");
        add("415", "UnsupportedMediaType");
    }
    if !UNLIMITED.contains(&path) {
        add("429", "TooManyRequests");
    }
    add("500", "InternalError");
    add("503", "Unavailable");
    // In status order, as readers expect.
    let mut sorted: Vec<(String, Value)> = std::mem::take(responses).into_iter().collect();
    sorted.sort_by(|(a, _), (b, _)| a.cmp(b));
    responses.extend(sorted);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_get_the_answers_their_shape_allows() {
        let mut document = json!({"components": {"schemas": {}}, "paths": {
            "/api/v1/things/{id}": {"patch": {
                "parameters": [{"name": "id", "in": "path", "required": true}],
                "requestBody": {"content": {}},
                "responses": {"200": {"description": "ok"}, "404": {"description": "mine"}},
            }},
            "/api/v1/auth/login": {"post": {"requestBody": {"content": {}}, "responses": {}}},
        }});
        complete(&mut document);
        let patch = &document["paths"]["/api/v1/things/{id}"]["patch"];
        let statuses: Vec<&String> = patch["responses"].as_object().unwrap().keys().collect();
        assert_eq!(statuses, ["200", "400", "401", "403", "404", "413", "415", "429", "500", "503"]);
        assert_eq!(patch["responses"]["404"]["description"], "mine", "an operation's own answer wins");
        assert_eq!(patch["security"], json!([{"bearer": []}, {"api_key": []}]));
        let login = &document["paths"]["/api/v1/auth/login"]["post"];
        assert!(login.get("security").is_none());
        assert!(login["responses"].get("401").is_none(), "a public operation's 401 is its own to declare");
    }
}
