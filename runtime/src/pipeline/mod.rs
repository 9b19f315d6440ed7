//! Pipelines as data: the definition format, its parsing and its validation.
//!
//! A [`PipelineDef`] is what a user writes (JSON or YAML, described by a published JSON Schema,
//! see [`json_schema`]). It is never run as written: [`PipelineDef::validate`] turns it into a
//! [`ValidatedPipeline`] — durations parsed, conditions compiled, the DAG checked — or returns
//! every problem at once, each naming the step and the field.

pub mod approval;
mod condition;
mod validate;

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use condition::Condition;
pub use validate::{
    BackoffPolicy, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_CORRECTIONS, DEFAULT_MAX_DYNAMIC_STEPS, DEFAULT_MAX_RECOVERIES,
    DEFAULT_STEP_TIMEOUT, MAX_JSON_DEPTH, MAX_NAME_BYTES, MAX_PARAMS_BYTES, MAX_SCHEMA_BYTES, MAX_STEPS, PipelineEnv,
    RetryPolicy, StepPlan, ValidatedPipeline,
};

/// A pipeline definition as written: a named DAG of steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "troupe pipeline")]
pub struct PipelineDef {
    /// The pipeline's name, unique per owner (built-in templates use plain names).
    pub name: String,
    /// What the pipeline does, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The step to run when any step fails for good, unless the step names its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<String>,
    /// The most steps that may be appended while the pipeline runs (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_dynamic_steps: Option<u32>,
    /// How many times failure handlers may have steps re-run in one execution (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_recoveries: Option<u32>,
    /// Caps on LLM use per execution; crossing one stops the execution with `budget_exceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetDef>,
    /// A JSON Schema (draft 2020-12) the execution's input must satisfy: a request whose input
    /// does not is refused naming the field, and the web console builds its form from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
    /// The steps; order does not matter, `depends_on` decides it.
    pub steps: Vec<StepDef>,
}

/// One step of a pipeline: which agent runs, after what, and under which policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepDef {
    /// Unique key of the step within the pipeline: lowercase letters, digits, `_` and `-`.
    pub key: String,
    /// The agent kind that runs the step.
    pub agent: String,
    /// Keys of the steps that must finish first; their outputs reach this step's context.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// A JMESPath expression over `{"input": …, "steps": {"<key>": {"output": …}}}`; the step
    /// runs only when it is truthy, and is skipped otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// How often and how patiently to retry a failed attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryDef>,
    /// The longest one attempt may run, as a humantime duration such as `"30s"` (default 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Validators to run on the step's output, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validate: Vec<String>,
    /// How many times a rejected output is sent back for correction (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_corrections: Option<u32>,
    /// When true, the execution goes on (and can complete) if this step fails.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    /// The step to run if this one fails for good (for example `recovery`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<String>,
    /// A JSON Schema the output must satisfy, used by the `json_schema` validator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// Free-form parameters handed to the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    /// Set by the runtime on steps appended while the execution ran: the step that added it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_by: Option<String>,
}

/// Caps on an execution's LLM use.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetDef {
    /// The most prompt + completion tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// The most cost, in US dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_usd: Option<f64>,
}

impl StepDef {
    /// A step running `agent`, with no dependency and every policy at its default.
    pub fn new(key: impl Into<String>, agent: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            agent: agent.into(),
            depends_on: Vec::new(),
            when: None,
            retry: None,
            timeout: None,
            validate: Vec::new(),
            max_corrections: None,
            optional: false,
            on_failure: None,
            output_schema: None,
            params: None,
            added_by: None,
        }
    }
}

/// The retry policy of a step as written.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryDef {
    /// Total attempts including the first (default 3, at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Exponential backoff between attempts, with jitter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<BackoffDef>,
}

/// Exponential backoff bounds as humantime durations.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackoffDef {
    /// The delay before the first retry (default `"500ms"`); it doubles on each retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<String>,
    /// The longest delay (default `"30s"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<String>,
}

/// One problem found in a pipeline definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PipelineIssue {
    /// The step the problem is in, when it is in one.
    pub step: Option<String>,
    /// The field (or path of fields) that is wrong.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl std::fmt::Display for PipelineIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.step {
            Some(step) => write!(f, "step `{step}`: {}: {}", self.field, self.message),
            None => write!(f, "{}: {}", self.field, self.message),
        }
    }
}

/// Returned when a pipeline definition cannot be parsed or is not valid; lists every problem.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid pipeline: {}", .issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct PipelineError {
    /// Every problem found, in definition order.
    pub issues: Vec<PipelineIssue>,
}

impl PipelineError {
    fn single(step: Option<&str>, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            issues: vec![PipelineIssue { step: step.map(str::to_owned), field: field.into(), message: message.into() }],
        }
    }
}

/// The text formats a definition can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipelineFormat {
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

impl PipelineDef {
    /// Parses a definition from text; parse errors name the path of the bad field.
    pub fn parse(text: &str, format: PipelineFormat) -> Result<Self, PipelineError> {
        match format {
            PipelineFormat::Json => {
                let mut deserializer = serde_json::Deserializer::from_str(text);
                serde_path_to_error::deserialize(&mut deserializer)
                    .map_err(|error| path_error(error.path().to_string(), error.inner()))
            }
            PipelineFormat::Yaml => {
                let deserializer = serde_norway::Deserializer::from_str(text);
                serde_path_to_error::deserialize(deserializer)
                    .map_err(|error| path_error(error.path().to_string(), error.inner()))
            }
        }
    }

    /// Parses a definition from a JSON value (as received over an API).
    pub fn from_value(value: Value) -> Result<Self, PipelineError> {
        serde_path_to_error::deserialize(value).map_err(|error| path_error(error.path().to_string(), error.inner()))
    }

    /// Reads and parses a `.json`, `.yaml` or `.yml` file.
    pub fn from_path(path: &Path) -> Result<Self, PipelineError> {
        let format = match path.extension().and_then(|ext| ext.to_str()) {
            Some("json") => PipelineFormat::Json,
            Some("yaml" | "yml") => PipelineFormat::Yaml,
            _ => {
                return Err(PipelineError::single(
                    None,
                    "file",
                    format!("`{}` must end in .json, .yaml or .yml", path.display()),
                ));
            }
        };
        let text = std::fs::read_to_string(path).map_err(|error| {
            PipelineError::single(None, "file", format!("cannot read `{}`: {error}", path.display()))
        })?;
        Self::parse(&text, format)
    }

    /// Returns the content hash (SHA-256 of the canonical JSON: object keys sorted at every
    /// level) that pins this exact definition. Canonical, because JSON objects keep their
    /// document order in memory and a database may hand them back in another order.
    pub fn content_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let value = serde_json::to_value(self).expect("a pipeline definition always serialises");
        let bytes = serde_json::to_vec(&canonical(value)).expect("a JSON value always serialises");
        let digest = Sha256::digest(&bytes);
        digest.iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

/// The value with every object's keys in sorted order.
fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(key, value)| (key, canonical(value))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

fn path_error(path: String, error: &impl std::fmt::Display) -> PipelineError {
    let field = if path.is_empty() || path == "." { "(document)".to_owned() } else { path };
    PipelineError::single(None, field, error.to_string())
}

/// Returns the published JSON Schema of the pipeline format.
pub fn json_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(PipelineDef)).expect("the schema serialises")
}

#[cfg(test)]
mod tests;
