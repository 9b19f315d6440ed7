//! Step conditions (`when`), written in JMESPath.
//!
//! JMESPath is a specified, widely implemented query language for JSON, so a condition means the
//! same here as in any other tool. A condition is evaluated against
//! `{"input": <execution input>, "steps": {"<key>": {"output": <output>}}}` holding the outputs
//! of the steps completed so far, and is true when the result is truthy in JMESPath's sense
//! (not `false`, `null`, or an empty string, array or object).

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

/// A compiled `when` condition.
#[derive(Clone)]
pub struct Condition {
    source: String,
    expression: Arc<jmespath::Expression<'static>>,
}

impl Condition {
    /// Compiles a condition; the error describes what is wrong with the expression.
    pub fn compile(source: &str) -> Result<Self, String> {
        let expression = jmespath::compile(source)
            .map_err(|error| error.to_string().lines().next().unwrap_or_default().trim().to_owned())?;
        Ok(Self { source: source.to_owned(), expression: Arc::new(expression) })
    }

    /// Returns the expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the condition against `data`; an evaluation error is returned as text.
    pub fn evaluate(&self, data: &Value) -> Result<bool, String> {
        let variable = jmespath::Variable::try_from(data).map_err(|error| error.to_string())?;
        let result = self.expression.search(variable).map_err(|error| error.to_string())?;
        Ok(result.is_truthy())
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Condition").field(&self.source).finish()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn conditions_follow_jmespath_truthiness() {
        let data = json!({"input": {"lang": "rust", "tags": []}, "steps": {"plan": {"output": {"n": 3}}}});
        let check = |source: &str| Condition::compile(source).unwrap().evaluate(&data).unwrap();
        assert!(check("input.lang == 'rust'"));
        assert!(!check("input.lang == 'go'"));
        assert!(!check("input.tags"));
        assert!(check("steps.plan.output.n > `2`"));
        assert!(!check("steps.missing.output"));
    }

    #[test]
    fn a_malformed_condition_is_rejected_at_compile_time() {
        assert!(Condition::compile("input.lang ==").is_err());
    }
}
