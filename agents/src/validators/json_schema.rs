//! The `json_schema` validator.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use troupe_runtime::pipeline::StepPlan;
use troupe_runtime::validator::{ValidationIssue, Validator};

pub(crate) const NAME: &str = "json_schema";
const CACHE_LIMIT: usize = 256;

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
        let validator = Arc::new(jsonschema::validator_for(schema).map_err(|error| error.to_string())?);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&validator));
        Ok(validator)
    }
}

impl Validator for JsonSchemaValidator {
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
