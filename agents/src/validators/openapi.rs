//! The `openapi` validator.

use serde_json::Value;
use troupe_runtime::pipeline::StepPlan;
use troupe_runtime::validator::{ValidationIssue, Validator};

use super::issue;

const NAME: &str = "openapi";

/// Checks that `output.openapi` is an OpenAPI 3.0 document: it must deserialize as one
/// (`openapiv3`, so every field has the right shape), have at least one path, give every
/// operation a response, and every local `$ref` must resolve.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenApiValidator;

impl Validator for OpenApiValidator {
    fn validate(&self, _step: &StepPlan, output: &Value) -> Vec<ValidationIssue> {
        let Some(document) = output.get("openapi").filter(|document| document.is_object()) else {
            return vec![issue(NAME, "/openapi", "missing: the OpenAPI document must be an object at `openapi`")];
        };
        check(document).into_iter().map(|(path, message)| issue(NAME, format!("/openapi{path}"), message)).collect()
    }
}

/// Returns `(json pointer, message)` for every problem in an OpenAPI document.
pub fn check(document: &Value) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    match document["openapi"].as_str() {
        Some(version) if version.starts_with("3.0") => {}
        Some(version) => problems.push(("/openapi".into(), format!("version `{version}` is not 3.0.x"))),
        None => problems.push(("/openapi".into(), "missing the `openapi` version field".into())),
    }
    let parsed: Result<openapiv3::OpenAPI, _> = serde_path_to_error::deserialize(document);
    match parsed {
        Err(error) => {
            let path = error.path().to_string();
            let pointer = if path == "." { String::new() } else { format!("/{}", path.replace('.', "/")) };
            problems.push((pointer, format!("not a valid OpenAPI document: {}", error.inner())));
        }
        Ok(api) => {
            if api.paths.paths.is_empty() {
                problems.push(("/paths".into(), "the API has no paths".into()));
            }
            for (path, item) in &api.paths.paths {
                let Some(item) = item.as_item() else { continue };
                for (method, operation) in item.iter() {
                    if operation.responses.responses.is_empty() && operation.responses.default.is_none() {
                        problems.push((
                            format!("/paths/{}/{method}/responses", escape(path)),
                            "the operation declares no response".into(),
                        ));
                    }
                }
            }
        }
    }
    let mut refs = Vec::new();
    collect_refs(document, String::new(), &mut refs);
    for (at, reference) in refs {
        let resolved = reference.strip_prefix('#').is_some_and(|pointer| document.pointer(pointer).is_some());
        if !resolved {
            problems.push((at, format!("`$ref` `{reference}` does not resolve inside the document")));
        }
    }
    problems
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn collect_refs(value: &Value, at: String, refs: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let path = format!("{at}/{}", escape(key));
                match (key.as_str(), child) {
                    ("$ref", Value::String(reference)) => refs.push((path, reference.clone())),
                    _ => collect_refs(child, path, refs),
                }
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                collect_refs(child, format!("{at}/{index}"), refs);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_valid_document_passes_and_broken_ones_say_where() {
        let good = json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {"/items": {"get": {"responses": {"200": {"description": "ok",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}}}}}},
            "components": {"schemas": {"Item": {"type": "object"}}}
        });
        assert_eq!(check(&good), Vec::<(String, String)>::new());

        let mut dangling = good.clone();
        dangling["components"]["schemas"] = json!({});
        let problems = check(&dangling);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].0.starts_with("/paths/~1items/get/responses/200"), "{problems:?}");

        let mut wrong_type = good.clone();
        wrong_type["info"]["title"] = json!(42);
        let problems = check(&wrong_type);
        assert!(problems.iter().any(|(path, _)| path == "/info/title"), "{problems:?}");

        let mut empty = good;
        empty["paths"] = json!({});
        assert!(check(&empty).iter().any(|(path, _)| path == "/paths"));
    }
}
