//! Input checked against the schemas the OpenAPI document publishes, so what the document says
//! (types, objects only, required and unknown fields, lengths, formats, ranges, enums) is what
//! the server enforces: both come from the same `ToSchema` / `IntoParams` derives.
//!
//! A body is parsed as JSON, validated against its type's schema (every problem reported, each
//! naming its field as `steps[0].agent`), then deserialised. Query strings are deserialised,
//! then their values validated against their parameters' schemas. Validators are compiled once
//! per type.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use dashmap::DashMap;
use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde_json::{Map, Value, json};
use utoipa::openapi::path::ParameterIn;
use utoipa::{IntoParams, ToSchema};

use super::ApiError;

static VALIDATORS: LazyLock<DashMap<TypeId, Arc<Validator>>> = LazyLock::new(DashMap::new);

fn cached(id: TypeId, build: impl FnOnce() -> Value) -> Arc<Validator> {
    if let Some(validator) = VALIDATORS.get(&id) {
        return Arc::clone(&validator);
    }
    let schema = build();
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|error| panic!("the generated schema compiles: {error}\n{schema}"));
    Arc::clone(&VALIDATORS.entry(id).or_insert_with(|| Arc::new(validator)))
}

/// The JSON Schema of a body type: its own schema at the root, the schemas it refers to under
/// `components/schemas` (where the document's `$ref`s point).
pub fn body_schema<T: ToSchema>() -> Value {
    let mut referenced = Vec::new();
    T::schemas(&mut referenced);
    let components: Map<String, Value> = referenced
        .into_iter()
        .map(|(name, schema)| (name, serde_json::to_value(schema).expect("a schema serialises")))
        .collect();
    let mut root = serde_json::to_value(T::schema()).expect("a schema serialises");
    if let Value::Object(root) = &mut root {
        root.insert("components".into(), json!({ "schemas": components }));
    }
    root
}

/// Checks a body against its type's schema; every problem is listed.
pub fn check_body<T: ToSchema + 'static>(body: &Value) -> Result<(), ApiError> {
    let validator = cached(TypeId::of::<T>(), body_schema::<T>);
    let problems: Vec<(String, String)> = validator.iter_errors(body).flat_map(|error| problems(&error)).collect();
    if problems.is_empty() { Ok(()) } else { Err(ApiError::invalid_fields(dedup(problems))) }
}

/// A document format another crate publishes a JSON Schema for.
#[derive(Clone, Copy)]
pub enum Format {
    /// The pipeline format (`troupe pipeline schema`).
    Pipeline,
    /// The plugin manifest (docs/plugin.schema.json).
    Manifest,
}

/// Checks a document against its format's published schema (compiled once): the shapes serde
/// would also accept positionally (arrays for objects) are refused here. Returns every
/// problem by field (`steps[0].retry`); the caller answers in its format's error.
pub fn check_format(format: Format, document: &Value) -> Vec<(String, String)> {
    struct PipelineFormat;
    struct ManifestFormat;
    let validator = match format {
        Format::Pipeline => cached(TypeId::of::<PipelineFormat>(), troupe_runtime::pipeline::json_schema),
        Format::Manifest => cached(TypeId::of::<ManifestFormat>(), troupe_plugins::manifest::json_schema),
    };
    dedup(validator.iter_errors(document).flat_map(|error| problems(&error)).collect())
}

/// The schema of a query string: an object whose properties are its parameters.
pub fn query_schema<T: IntoParams>() -> Value {
    let mut properties = Map::new();
    for parameter in T::into_params(|| Some(ParameterIn::Query)) {
        let parameter = serde_json::to_value(parameter).expect("a parameter serialises");
        let name = parameter["name"].as_str().expect("a named parameter").to_owned();
        properties.insert(name, parameter.get("schema").cloned().unwrap_or(json!({})));
    }
    json!({ "type": "object", "properties": properties })
}

/// Checks the values of a parsed query string against its parameters' schemas (absent ones
/// are not checked).
pub fn check_query<T: IntoParams + serde::Serialize + 'static>(query: &T) -> Result<(), ApiError> {
    let validator = cached(TypeId::of::<T>(), query_schema::<T>);
    let mut values = serde_json::to_value(query).expect("a query serialises");
    if let Value::Object(values) = &mut values {
        values.retain(|_, value| !value.is_null());
    }
    let problems: Vec<(String, String)> = validator.iter_errors(&values).flat_map(|error| problems(&error)).collect();
    if problems.is_empty() { Ok(()) } else { Err(ApiError::invalid_fields(dedup(problems))) }
}

/// `/steps/0/agent` → `steps[0].agent`; the root is `body`.
pub fn field_path(pointer: &str) -> String {
    let mut field = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if segment.parse::<usize>().is_ok() {
            field.push_str(&format!("[{segment}]"));
        } else {
            if !field.is_empty() {
                field.push('.');
            }
            field.push_str(&segment);
        }
    }
    if field.is_empty() { "body".to_owned() } else { field }
}

fn child(parent: &str, name: &str) -> String {
    if parent == "body" { name.to_owned() } else { format!("{parent}.{name}") }
}

/// The fields one validation error is about, with a message for each.
fn problems(error: &ValidationError<'_>) -> Vec<(String, String)> {
    let at = field_path(error.instance_path().as_str());
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().map_or_else(|| property.to_string(), str::to_owned);
            vec![(child(&at, &name), format!("missing field `{name}`"))]
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            unexpected.iter().map(|name| (child(&at, name), format!("unknown field `{name}`"))).collect()
        }
        ValidationErrorKind::Type { .. } if at == "body" => {
            vec![(at, format!("must be a JSON object, not {}", kind_of(error.instance())))]
        }
        // A nullable field (`oneOf: [null, X]`) that is not null: X's own problems say more.
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            let informative: Vec<&Vec<ValidationError<'static>>> =
                context.iter().filter(|branch| !branch.iter().all(|error| is_not_null(error, &at))).collect();
            match informative.as_slice() {
                [branch] => branch.iter().flat_map(|error| problems(error)).collect(),
                _ => vec![(at, "matches none of the forms this field may take".to_owned())],
            }
        }
        _ => vec![(at, message(error.kind()))],
    }
}

/// A message that says what is expected without repeating the value (which may be long, or
/// a secret).
fn message(kind: &ValidationErrorKind) -> String {
    match kind {
        ValidationErrorKind::Type { kind } => match kind {
            jsonschema::error::TypeKind::Single(ty) => format!("must be of type {ty}"),
            jsonschema::error::TypeKind::Multiple(types) => {
                let names: Vec<String> = types.iter().map(|ty| ty.to_string()).collect();
                format!("must be of type {}", names.join(" or "))
            }
        },
        ValidationErrorKind::MaxLength { limit } => format!("must have at most {limit} characters"),
        ValidationErrorKind::MinLength { limit } => format!("must have at least {limit} characters"),
        ValidationErrorKind::Pattern { pattern } => format!("must match `{pattern}`"),
        ValidationErrorKind::Format { format } => format!("must be a valid {format}"),
        ValidationErrorKind::Enum { options } => format!("must be one of {options}"),
        ValidationErrorKind::Constant { expected_value } => format!("must be {expected_value}"),
        ValidationErrorKind::Minimum { limit } => format!("must be at least {limit}"),
        ValidationErrorKind::Maximum { limit } => format!("must be at most {limit}"),
        ValidationErrorKind::ExclusiveMinimum { limit } => format!("must be more than {limit}"),
        ValidationErrorKind::ExclusiveMaximum { limit } => format!("must be less than {limit}"),
        ValidationErrorKind::MaxItems { limit } => format!("must have at most {limit} items"),
        ValidationErrorKind::MinItems { limit } => format!("must have at least {limit} items"),
        ValidationErrorKind::UniqueItems => "must not repeat an item".to_owned(),
        _ => "is not valid here".to_owned(),
    }
}

/// Whether an error only says "this is not null" (the null branch of a nullable field).
fn is_not_null(error: &ValidationError<'_>, at: &str) -> bool {
    matches!(error.kind(), ValidationErrorKind::Type { kind: jsonschema::error::TypeKind::Single(ty) }
        if *ty == jsonschema::JsonType::Null)
        && field_path(error.instance_path().as_str()) == at
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One problem per field (the first), in the order found.
fn dedup(problems: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut seen = HashMap::new();
    problems.into_iter().filter(|(field, _)| seen.insert(field.clone(), ()).is_none()).collect()
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only the schema is used")]
    struct Inner {
        count: u32,
    }

    #[derive(Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only the schema is used")]
    struct Body {
        #[schema(min_length = 1, max_length = 8)]
        name: String,
        items: Vec<Inner>,
        inner: Option<Inner>,
    }

    fn fields(error: ApiError) -> Vec<String> {
        error.details["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn positional_arrays_are_refused_at_every_level() {
        let error = check_body::<Body>(&json!(["x", []])).unwrap_err();
        assert_eq!(fields(error), ["body"]);
        let error = check_body::<Body>(&json!({"name": "x", "items": [[3]], "inner": [4]})).unwrap_err();
        assert_eq!(fields(error), ["items[0]", "inner"]);
        assert!(check_body::<Body>(&json!({"name": "x", "items": [{"count": 3}], "inner": null})).is_ok());
    }

    #[test]
    fn every_problem_names_its_field() {
        let error = check_body::<Body>(&json!({"name": "far too long", "extra": 1, "items": [{}]})).unwrap_err();
        let mut fields = fields(error);
        fields.sort();
        assert_eq!(fields, ["extra", "items[0].count", "name"]);
    }

    #[derive(Deserialize, Serialize, IntoParams)]
    struct Query {
        /// 1–200.
        #[param(minimum = 1, maximum = 200)]
        limit: Option<u32>,
    }

    #[test]
    fn out_of_range_query_values_are_refused() {
        assert!(check_query(&Query { limit: None }).is_ok());
        assert!(check_query(&Query { limit: Some(200) }).is_ok());
        assert_eq!(fields(check_query(&Query { limit: Some(0) }).unwrap_err()), ["limit"]);
        assert_eq!(fields(check_query(&Query { limit: Some(201) }).unwrap_err()), ["limit"]);
    }

    #[test]
    fn pointers_become_field_paths() {
        assert_eq!(field_path(""), "body");
        assert_eq!(field_path("/steps/0/agent"), "steps[0].agent");
        assert_eq!(field_path("/a~1b"), "a/b");
    }
}
