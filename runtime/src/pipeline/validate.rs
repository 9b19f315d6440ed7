//! Checking a [`PipelineDef`] and turning it into a runnable [`ValidatedPipeline`].
//!
//! A `ValidatedPipeline` can only be built here, so holding one proves that every agent and
//! validator exists, keys are unique, dependencies exist and form no cycle, conditions compile
//! and durations parse.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{Condition, PipelineDef, PipelineError, PipelineIssue, StepDef};

/// Attempts per step when the definition does not say (the first one included).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Corrections per step when the definition does not say.
pub const DEFAULT_MAX_CORRECTIONS: u32 = 2;
/// The longest one attempt may run when the definition does not say.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(300);
/// Steps an execution may append at run time when the definition does not say.
pub const DEFAULT_MAX_DYNAMIC_STEPS: u32 = 20;
/// Re-runs failure handlers may order per execution when the definition gives no `max_recoveries`.
pub const DEFAULT_MAX_RECOVERIES: u32 = 2;
/// The most steps a pipeline may have, steps appended at run time included.
pub const MAX_STEPS: usize = 200;
/// The largest `params` of one step, as JSON text.
pub const MAX_PARAMS_BYTES: usize = 64 << 10;
/// The largest `output_schema` of one step, as JSON text.
pub const MAX_SCHEMA_BYTES: usize = 64 << 10;
/// The deepest nesting of arrays and objects in `params` and `output_schema`.
pub const MAX_JSON_DEPTH: usize = 32;
/// The longest pipeline name and description, in bytes.
pub const MAX_NAME_BYTES: usize = 128;
const MAX_DESCRIPTION_BYTES: usize = 4096;
const DEFAULT_BACKOFF_INITIAL: Duration = Duration::from_millis(500);
const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// What a pipeline is checked against: the agent kinds and validators that exist.
pub trait PipelineEnv {
    /// Returns whether an agent kind of this name is registered.
    fn has_agent(&self, kind: &str) -> bool;
    /// Returns whether a validator of this name is registered.
    fn has_validator(&self, name: &str) -> bool;
    /// Checks what validator `name` needs of `step` (for `json_schema`, an output schema that
    /// compiles); `Err` names the field and says what is wrong.
    fn check_validator(&self, name: &str, step: &StepDef) -> Result<(), (String, String)> {
        let _ = (name, step);
        Ok(())
    }
}

/// Returns the nesting depth of arrays and objects in `value` (a scalar has depth 0).
fn json_depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(json_depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(json_depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Checks a JSON field against the size and depth limits; returns the problem, if any.
fn json_limits(value: &Value, max_bytes: usize) -> Option<String> {
    let depth = json_depth(value);
    if depth > MAX_JSON_DEPTH {
        return Some(format!("nests {depth} levels deep, at most {MAX_JSON_DEPTH}"));
    }
    let bytes = serde_json::to_vec(value).map_or(usize::MAX, |text| text.len());
    (bytes > max_bytes).then(|| format!("is {bytes} bytes of JSON, at most {max_bytes}"))
}

/// Exponential backoff with full jitter between retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// The delay bound before the first retry.
    pub initial: Duration,
    /// The largest delay bound.
    pub max: Duration,
}

impl BackoffPolicy {
    /// Returns the delay before retry number `retry` (1-based): a random point in
    /// `[bound/2, bound]` where `bound = min(initial · 2^(retry-1), max)`.
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        let bound = self.initial.saturating_mul(factor).min(self.max);
        if bound.is_zero() {
            return bound;
        }
        let half = bound / 2;
        let jitter = fastrand::u64(0..=(bound - half).as_micros() as u64);
        half + Duration::from_micros(jitter)
    }
}

/// How a step is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts including the first; at least 1.
    pub max_attempts: u32,
    /// The delay between attempts.
    pub backoff: BackoffPolicy,
}

/// One checked step, ready to run.
#[derive(Clone, Debug)]
pub struct StepPlan {
    /// Position of the step in the pipeline.
    pub index: usize,
    /// The step key (shared with every row that names the step).
    pub key: Arc<str>,
    /// The agent kind that runs it (shared with every row that names it).
    pub agent: Arc<str>,
    /// Positions of the steps it depends on.
    pub depends_on: Vec<usize>,
    /// Its compiled condition.
    pub when: Option<Condition>,
    /// Its retry policy.
    pub retry: RetryPolicy,
    /// The longest one attempt may run.
    pub timeout: Duration,
    /// Validators to run on its output.
    pub validate: Vec<String>,
    /// Corrections allowed after a rejected output.
    pub max_corrections: u32,
    /// Whether the execution may go on when it fails.
    pub optional: bool,
    /// Position of the step to run if it fails for good.
    pub on_failure: Option<usize>,
    /// Whether the step is an `on_failure` target, run only when another step fails.
    pub is_handler: bool,
    /// The JSON Schema its output must satisfy, if any.
    pub output_schema: Option<Arc<Value>>,
    /// Parameters for the agent (`null` when none were given).
    pub params: Arc<Value>,
    /// What an attempt records as its input: `{"dependencies": [<keys>]}`, made once.
    pub attempt_input: Arc<Value>,
    /// For an approval step (agent `approval`): its prompt, approvers and timeout.
    pub approval: Option<Arc<super::approval::ApprovalPlan>>,
}

/// A pipeline that passed every check; the only form the runtime runs.
#[derive(Clone, Debug)]
pub struct ValidatedPipeline {
    def: Arc<PipelineDef>,
    hash: String,
    steps: Vec<Arc<StepPlan>>,
    dependents: Vec<Vec<usize>>,
    appended: u32,
}

impl ValidatedPipeline {
    /// Returns the definition as written (the pinned snapshot stored with executions).
    pub fn def(&self) -> &PipelineDef {
        &self.def
    }

    /// Returns the definition as written, shared (an execution record pins it without a copy).
    pub fn shared_def(&self) -> Arc<PipelineDef> {
        Arc::clone(&self.def)
    }

    /// Returns the content hash of the definition.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Returns the pipeline's name.
    pub fn name(&self) -> &str {
        &self.def.name
    }

    /// Returns the steps in definition order.
    pub fn steps(&self) -> &[Arc<StepPlan>] {
        &self.steps
    }

    /// Returns the step with this key.
    pub fn step(&self, key: &str) -> Option<&Arc<StepPlan>> {
        self.steps.iter().find(|step| *step.key == *key)
    }

    /// Returns the positions of the steps that depend on step `index`.
    pub fn dependents(&self, index: usize) -> &[usize] {
        &self.dependents[index]
    }

    /// Returns how many steps were appended at run time.
    pub fn appended(&self) -> u32 {
        self.appended
    }

    /// Returns a new pipeline with `steps` appended by step `added_by`, checked as a whole and
    /// against the definition's cap on appended steps.
    pub fn append(
        &self,
        added_by: &str,
        steps: Vec<StepDef>,
        env: &dyn PipelineEnv,
    ) -> Result<ValidatedPipeline, PipelineError> {
        let cap = self.def.max_dynamic_steps.unwrap_or(DEFAULT_MAX_DYNAMIC_STEPS);
        let total = self.appended as usize + steps.len();
        if total > cap as usize {
            return Err(PipelineError::single(
                Some(added_by),
                "append_steps",
                format!("appending {} steps would exceed the cap of {cap} appended steps", steps.len()),
            ));
        }
        let mut def = (*self.def).clone();
        def.steps.extend(steps.into_iter().map(|mut step| {
            step.added_by = Some(added_by.to_owned());
            step
        }));
        def.validate(env)
    }
}

impl ValidatedPipeline {
    /// Returns how many re-runs failure handlers may order in one execution.
    pub fn max_recoveries(&self) -> u32 {
        self.def.max_recoveries.unwrap_or(DEFAULT_MAX_RECOVERIES)
    }

    /// Returns a new pipeline in which step `key`'s `params` have `params`' top-level keys merged
    /// in (a failure handler's changed parameters).
    pub fn with_params(&self, key: &str, params: &Value, env: &dyn PipelineEnv) -> Result<Self, PipelineError> {
        let mut def = (*self.def).clone();
        let Some(step) = def.steps.iter_mut().find(|step| step.key == key) else {
            return Err(PipelineError::single(Some(key), "key", format!("no step `{key}`")));
        };
        if let Some(extra) = params.as_object().filter(|extra| !extra.is_empty()) {
            let mut merged =
                step.params.clone().filter(Value::is_object).unwrap_or_else(|| Value::Object(Default::default()));
            if let Some(object) = merged.as_object_mut() {
                for (name, value) in extra {
                    object.insert(name.clone(), value.clone());
                }
            }
            step.params = Some(merged);
        }
        def.validate(env)
    }
}

impl PipelineDef {
    /// Checks the definition against the registered agents and validators and returns the
    /// runnable pipeline, or every problem found.
    pub fn validate(self, env: &dyn PipelineEnv) -> Result<ValidatedPipeline, PipelineError> {
        let mut issues = Vec::new();
        let mut issue = |step: Option<&str>, field: &str, message: String| {
            issues.push(PipelineIssue { step: step.map(str::to_owned), field: field.to_owned(), message });
        };
        if self.name.trim().is_empty() {
            issue(None, "name", "must not be empty".into());
        }
        if self.name.len() > MAX_NAME_BYTES {
            issue(None, "name", format!("may be at most {MAX_NAME_BYTES} bytes long"));
        }
        if self.description.as_ref().is_some_and(|text| text.len() > MAX_DESCRIPTION_BYTES) {
            issue(None, "description", format!("may be at most {MAX_DESCRIPTION_BYTES} bytes long"));
        }
        if self.steps.is_empty() {
            issue(None, "steps", "a pipeline needs at least one step".into());
        }
        if let Some(schema) = &self.input_schema {
            if !schema.is_object() {
                issue(None, "input_schema", "must be a JSON Schema object".into());
            } else if let Some(problem) = json_limits(schema, MAX_SCHEMA_BYTES) {
                issue(None, "input_schema", problem);
            }
        }
        if self.steps.len() > MAX_STEPS {
            issue(None, "steps", format!("a pipeline may have at most {MAX_STEPS} steps, got {}", self.steps.len()));
            // Checking thousands of steps one by one would only repeat the problem.
            return Err(PipelineError { issues });
        }
        if let Some(budget) = &self.budget {
            if budget.max_cost_usd.is_some_and(|cost| !cost.is_finite() || cost <= 0.0) {
                issue(None, "budget.max_cost_usd", "must be a positive number of dollars".into());
            }
            if budget.max_tokens == Some(0) {
                issue(None, "budget.max_tokens", "must be at least 1".into());
            }
        }

        let mut index_of: HashMap<&str, usize> = HashMap::new();
        for (position, step) in self.steps.iter().enumerate() {
            if !is_valid_key(&step.key) {
                issue(
                    Some(&step.key),
                    "key",
                    "must be 1-64 characters of lowercase letters, digits, `_` or `-`".into(),
                );
            }
            if index_of.insert(step.key.as_str(), position).is_some() {
                issue(Some(&step.key), "key", format!("duplicate key `{}`", step.key));
            }
        }

        let handler_of =
            |target: &str, step: Option<&str>, issues: &mut dyn FnMut(Option<&str>, &str, String)| match index_of
                .get(target)
            {
                Some(&position) => Some(position),
                None => {
                    issues(step, "on_failure", format!("unknown step `{target}`"));
                    None
                }
            };
        let pipeline_handler = self.on_failure.as_deref().and_then(|target| handler_of(target, None, &mut issue));

        let mut plans = Vec::with_capacity(self.steps.len());
        for (position, step) in self.steps.iter().enumerate() {
            let key = Some(step.key.as_str());
            let approval = if step.agent == super::approval::APPROVAL_AGENT {
                if !step.validate.is_empty() {
                    issue(key, "validate", "an approval step has no output to validate".into());
                }
                match super::approval::ApprovalPlan::from_params(step.params.as_ref()) {
                    Ok(plan) => Some(Arc::new(plan)),
                    Err((field, message)) => {
                        issue(key, &field, message);
                        None
                    }
                }
            } else {
                if !env.has_agent(&step.agent) {
                    issue(key, "agent", format!("unknown agent `{}`", step.agent));
                }
                None
            };
            let mut depends_on = Vec::with_capacity(step.depends_on.len());
            let mut seen = HashSet::new();
            for dependency in &step.depends_on {
                if !seen.insert(dependency.as_str()) {
                    issue(key, "depends_on", format!("`{dependency}` is listed twice"));
                } else if dependency == &step.key {
                    issue(key, "depends_on", "a step cannot depend on itself".into());
                } else if let Some(&dep_position) = index_of.get(dependency.as_str()) {
                    depends_on.push(dep_position);
                } else {
                    issue(key, "depends_on", format!("unknown step `{dependency}`"));
                }
            }
            let when = step.when.as_deref().and_then(|source| match Condition::compile(source) {
                Ok(condition) => Some(condition),
                Err(error) => {
                    issue(key, "when", format!("invalid JMESPath condition `{source}`: {error}"));
                    None
                }
            });
            let retry = step.retry.clone().unwrap_or_default();
            let max_attempts = retry.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
            if max_attempts == 0 {
                issue(key, "retry.max_attempts", "must be at least 1, got 0".into());
            }
            let backoff = retry.backoff.unwrap_or_default();
            let mut duration = |field: &str, text: Option<&str>, default: Duration| match text {
                None => default,
                Some(text) => humantime::parse_duration(text).unwrap_or_else(|error| {
                    issue(key, field, format!("invalid duration `{text}`: {error}"));
                    default
                }),
            };
            let initial = duration("retry.backoff.initial", backoff.initial.as_deref(), DEFAULT_BACKOFF_INITIAL);
            let max = duration("retry.backoff.max", backoff.max.as_deref(), DEFAULT_BACKOFF_MAX.max(initial));
            let timeout = duration("timeout", step.timeout.as_deref(), DEFAULT_STEP_TIMEOUT);
            if max < initial {
                issue(key, "retry.backoff.max", "must not be shorter than retry.backoff.initial".into());
            }
            if timeout.is_zero() {
                issue(key, "timeout", "must be longer than zero".into());
            }
            for validator in &step.validate {
                if !env.has_validator(validator) {
                    issue(key, "validate", format!("unknown validator `{validator}`"));
                } else if let Err((field, message)) = env.check_validator(validator, step) {
                    issue(key, &field, message);
                }
            }
            if let Some(problem) = step.params.as_ref().and_then(|params| json_limits(params, MAX_PARAMS_BYTES)) {
                issue(key, "params", problem);
            }
            if let Some(problem) = step.output_schema.as_ref().and_then(|schema| json_limits(schema, MAX_SCHEMA_BYTES))
            {
                issue(key, "output_schema", problem);
            }
            let on_failure = match step.on_failure.as_deref() {
                Some(target) if target == step.key => {
                    issue(key, "on_failure", "a step cannot be its own failure handler".into());
                    None
                }
                Some(target) => handler_of(target, key, &mut issue),
                None => pipeline_handler.filter(|&handler| handler != position),
            };
            plans.push(StepPlan {
                index: position,
                key: step.key.as_str().into(),
                agent: step.agent.as_str().into(),
                depends_on,
                when,
                retry: RetryPolicy { max_attempts: max_attempts.max(1), backoff: BackoffPolicy { initial, max } },
                timeout,
                validate: step.validate.clone(),
                max_corrections: step.max_corrections.unwrap_or(DEFAULT_MAX_CORRECTIONS),
                optional: step.optional,
                on_failure,
                is_handler: false,
                output_schema: step.output_schema.clone().map(Arc::new),
                params: Arc::new(step.params.clone().unwrap_or(Value::Null)),
                attempt_input: Arc::new(serde_json::json!({ "dependencies": step.depends_on })),
                approval,
            });
        }

        let handlers: HashSet<usize> = plans.iter().filter_map(|plan| plan.on_failure).collect();
        for &handler in &handlers {
            plans[handler].is_handler = true;
            if plans[handler].approval.is_some() {
                issue(Some(&plans[handler].key), "agent", "an approval step cannot be an on_failure step".into());
            }
            if !plans[handler].depends_on.is_empty() {
                issue(
                    Some(&plans[handler].key),
                    "depends_on",
                    "an on_failure step runs only when another step fails and cannot depend on steps".into(),
                );
            }
        }
        for plan in &plans {
            for &dependency in &plan.depends_on {
                if handlers.contains(&dependency) {
                    issue(
                        Some(&plan.key),
                        "depends_on",
                        format!("`{}` is an on_failure step and only runs when a step fails", plans[dependency].key),
                    );
                }
            }
        }
        if let Some(cycle) = find_cycle(&plans) {
            let path: Vec<&str> = cycle.iter().map(|&index| &*plans[index].key).collect();
            issue(Some(path[0]), "depends_on", format!("dependency cycle: {}", path.join(" → ")));
        }

        if !issues.is_empty() {
            return Err(PipelineError { issues });
        }
        let mut dependents = vec![Vec::new(); plans.len()];
        for plan in &plans {
            for &dependency in &plan.depends_on {
                dependents[dependency].push(plan.index);
            }
        }
        let appended = self.steps.iter().filter(|step| step.added_by.is_some()).count() as u32;
        let hash = self.content_hash();
        Ok(ValidatedPipeline {
            def: Arc::new(self),
            hash,
            steps: plans.into_iter().map(Arc::new).collect(),
            dependents,
            appended,
        })
    }
}

fn is_valid_key(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-')
}

/// Returns one dependency cycle as a closed path (first key repeated at the end), if any.
fn find_cycle(plans: &[StepPlan]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut marks = vec![Mark::New; plans.len()];
    for start in 0..plans.len() {
        if marks[start] != Mark::New {
            continue;
        }
        // Iterative depth-first search; `path` holds (node, next dependency to visit).
        let mut path: Vec<(usize, usize)> = vec![(start, 0)];
        marks[start] = Mark::OnPath;
        while let Some(&mut (node, ref mut next)) = path.last_mut() {
            if let Some(&dependency) = plans[node].depends_on.get(*next) {
                *next += 1;
                match marks[dependency] {
                    Mark::New => {
                        marks[dependency] = Mark::OnPath;
                        path.push((dependency, 0));
                    }
                    Mark::OnPath => {
                        let from = path.iter().position(|&(index, _)| index == dependency).expect("on the path");
                        let mut cycle: Vec<usize> = path[from..].iter().map(|&(index, _)| index).collect();
                        cycle.push(dependency);
                        return Some(cycle);
                    }
                    Mark::Done => {}
                }
            } else {
                marks[node] = Mark::Done;
                path.pop();
            }
        }
    }
    None
}
