//! The `Validator` port: pure checks run on a step's output.
//!
//! Validators are not agents: they do no I/O and hold no state between calls. A rejected output
//! sends the step to `correcting` with the issues in its context, up to `max_corrections`.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::pipeline::{StepDef, StepPlan};

/// One problem a validator found, saying where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationIssue {
    /// The validator that found it.
    pub validator: String,
    /// Where in the output (a JSON pointer, a file and line…); empty for the whole output.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// A stable signature of a set of issues: the sorted distinct `validator:path` pairs, with
/// array indexes and numbers replaced by `#`, so the same kind of failure in another run (or at
/// another index) has the same signature.
pub fn signature(issues: &[ValidationIssue]) -> String {
    let mut parts: Vec<String> = issues
        .iter()
        .map(|issue| {
            let path: String = issue
                .path
                .split('/')
                .map(
                    |segment| {
                        if !segment.is_empty() && segment.chars().all(|c| c.is_ascii_digit()) { "#" } else { segment }
                    },
                )
                .collect::<Vec<_>>()
                .join("/");
            format!("{}:{path}", issue.validator)
        })
        .collect();
    parts.sort();
    parts.dedup();
    parts.join(";")
}

/// A pure check of a step's output.
pub trait Validator: Send + Sync + 'static {
    /// Returns every problem found in `output`; empty when it passes.
    fn validate(&self, step: &StepPlan, output: &Value) -> Vec<ValidationIssue>;

    /// Checks, when a pipeline is validated, what this validator needs of `step` (e.g. an
    /// output schema that compiles); `Err((field, message))` names the step's bad field.
    fn check(&self, step: &StepDef) -> Result<(), (String, String)> {
        let _ = step;
        Ok(())
    }
}

/// The validators a runtime knows, by name.
#[derive(Clone, Default)]
pub struct Validators {
    by_name: HashMap<String, Arc<dyn Validator>>,
}

impl Validators {
    /// Registers a validator under `name`, replacing any earlier one.
    pub fn insert(&mut self, name: impl Into<String>, validator: Arc<dyn Validator>) {
        self.by_name.insert(name.into(), validator);
    }

    /// Returns whether a validator of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Checks what validator `name` needs of `step` (see [`Validator::check`]).
    pub fn check(&self, name: &str, step: &StepDef) -> Result<(), (String, String)> {
        self.by_name.get(name).map_or(Ok(()), |validator| validator.check(step))
    }

    /// Returns the registered names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// Runs the step's validators on `output` and returns all their issues.
    pub fn run(&self, step: &StepPlan, output: &Value) -> Vec<ValidationIssue> {
        let mut issues = Vec::new();
        for name in &step.validate {
            match self.by_name.get(name) {
                Some(validator) => issues.extend(validator.validate(step, output)),
                None => issues.push(ValidationIssue {
                    validator: name.clone(),
                    path: String::new(),
                    message: format!("validator `{name}` is not registered"),
                }),
            }
        }
        issues
    }
}
