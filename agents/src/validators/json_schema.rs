//! The `json_schema` validator.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use troupe_runtime::pipeline::{StepDef, StepPlan};
use troupe_runtime::validator::{ValidationIssue, Validator};

pub(crate) const NAME: &str = "json_schema";
const CACHE_LIMIT: usize = 256;

/// The largest compiled `pattern` regex of a user's schema, in bytes (the `regex` crate's
/// size limit: a pattern like `(a{100}){100}` is refused instead of taking memory and time).
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// Compiles a JSON Schema written by a user: its `pattern`s and `patternProperties` use the
/// `regex` crate, whose matching time is linear in the input (no catastrophic backtracking; no
/// look-around or back-references either), with a size limit.
pub fn compile_untrusted(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::options()
        .with_pattern_options(jsonschema::PatternOptions::regex().size_limit(PATTERN_SIZE_LIMIT))
        .build(schema)
        .map_err(|error| error.to_string())
}

/// Checks the output against the step's `output_schema` (JSON Schema, any draft the
/// `jsonschema` crate supports). Each issue names the JSON pointer of the bad value.
#[derive(Default)]
pub struct JsonSchemaValidator {
    compiled: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl JsonSchemaValidator {
    fn compile(&self, schema: &Value) -> Result<Arc<jsonschema::Validator>, String> {
        let key = schema.to_string();
        let mut cache = self.compiled.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(validator) = cache.get(&key) {
            return Ok(Arc::clone(validator));
        }
        let validator = Arc::new(compile_untrusted(schema)?);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&validator));
        Ok(validator)
    }
}

impl Validator for JsonSchemaValidator {
    fn check(&self, step: &StepDef) -> Result<(), (String, String)> {
        // A missing schema is reported when the step's output is checked, as before.
        match &step.output_schema {
            None => Ok(()),
            Some(schema) => compile_untrusted(schema)
                .map(drop)
                .map_err(|error| ("output_schema".into(), format!("not a valid JSON Schema: {error}"))),
        }
    }

    fn validate(&self, step: &StepPlan, output: &Value) -> Vec<ValidationIssue> {
        let issue = |path: String, message: String| ValidationIssue { validator: NAME.to_owned(), path, message };
        let Some(schema) = &step.output_schema else {
            return vec![issue(String::new(), format!("step `{}` has no output_schema to validate against", step.key))];
        };
        match self.compile(schema) {
            Err(error) => {
                vec![issue(String::new(), format!("the step's output_schema is not a valid JSON Schema: {error}"))]
            }
            Ok(validator) => validator
                .iter_errors(output)
                .map(|error| issue(error.instance_path().to_string(), error.to_string()))
                .collect(),
        }
    }
}
