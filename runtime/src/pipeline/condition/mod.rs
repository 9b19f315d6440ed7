//! Step conditions (`when`), written in JMESPath.
//!
//! JMESPath is a specified, widely implemented query language for JSON, so a condition means the
//! same here as in any other tool. A condition is evaluated against
//! `{"input": <execution input>, "steps": {"<key>": {"output": <output>}}}` holding the outputs
//! of the steps completed so far, and is true when the result is truthy in JMESPath's sense
//! (not `false`, `null`, or an empty string, array or object).
//!
//! A condition is written by a user and evaluated on an orchestrator shard, next to other
//! users' executions, so it is bounded before it runs and while it runs:
//!
//! - **before compiling**: at most [`MAX_CONDITION_BYTES`] bytes and [`MAX_NESTING`] nesting
//!   tokens (brackets, parentheses, braces, `!`, `&`), so parsing never recurses deeply;
//! - **once compiled**: its *growth* — how many times larger than the data any intermediate
//!   result can be (multi-selects add up their parts, and what is applied to the result of
//!   another expression multiplies) — is at most [`MAX_GROWTH`], so `[@,@][]` repeated thirty
//!   times is refused instead of allocating 2³⁰ copies;
//! - **while running**: the [`bounded`] interpreter charges every node it evaluates and every
//!   element it creates to a budget of [`EVALUATION_BUDGET`] units and stops with an error when
//!   it runs out, so a projection over a large output cannot hold the shard either.

mod bounded;
mod growth;

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

/// The longest condition accepted, in bytes.
pub const MAX_CONDITION_BYTES: usize = 1024;
/// The most nesting tokens (`(`, `[`, `{`, `!`, `&`) a condition may hold.
pub const MAX_NESTING: usize = 64;
/// The most an intermediate result may outgrow the data it came from.
pub const MAX_GROWTH: u64 = 16;
/// Units of work (nodes evaluated plus elements created) one evaluation may spend.
pub const EVALUATION_BUDGET: u64 = 200_000;

/// A compiled `when` condition.
#[derive(Clone)]
pub struct Condition {
    source: Arc<str>,
    expression: Arc<jmespath::Expression<'static>>,
}

impl Condition {
    /// Compiles a condition; the error describes what is wrong with the expression.
    pub fn compile(source: &str) -> Result<Self, String> {
        if source.len() > MAX_CONDITION_BYTES {
            return Err(format!("a condition may be at most {MAX_CONDITION_BYTES} bytes long, got {}", source.len()));
        }
        let nesting = nesting_tokens(source);
        if nesting > MAX_NESTING {
            return Err(format!("a condition may nest at most {MAX_NESTING} times, got {nesting}"));
        }
        let expression = jmespath::compile(source)
            .map_err(|error| error.to_string().lines().next().unwrap_or_default().trim().to_owned())?;
        let growth = growth::peak(expression.as_ast());
        if growth > MAX_GROWTH {
            return Err(format!(
                "the condition's intermediate results could grow to {} times its data (at most {MAX_GROWTH}): \
                 use fewer multi-selects",
                if growth == u64::MAX { "unboundedly many".to_owned() } else { growth.to_string() }
            ));
        }
        Ok(Self { source: source.into(), expression: Arc::new(expression) })
    }

    /// Returns the expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the condition against `data`; an evaluation error (including running out of
    /// budget) is returned as text.
    pub fn evaluate(&self, data: &Value) -> Result<bool, String> {
        let variable = jmespath::Variable::try_from(data).map_err(|error| error.to_string())?;
        let result = bounded::evaluate(&self.source, self.expression.as_ast(), variable, EVALUATION_BUDGET)?;
        Ok(result.is_truthy())
    }

    /// Evaluates the expression against `data` and returns its result as JSON (under the same
    /// bounds as a condition).
    pub fn value(&self, data: &Value) -> Result<Value, String> {
        let variable = jmespath::Variable::try_from(data).map_err(|error| error.to_string())?;
        let result = bounded::evaluate(&self.source, self.expression.as_ast(), variable, EVALUATION_BUDGET)?;
        serde_json::to_value(&*result).map_err(|error| error.to_string())
    }
}

/// Counts the tokens that make the parser recurse, outside string literals.
fn nesting_tokens(source: &str) -> usize {
    let mut count = 0;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(open) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == open {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' | '`' => quote = Some(c),
            '(' | '[' | '{' => count += 1,
            '!' if chars.peek() != Some(&'=') => count += 1,
            '&' if chars.peek() == Some(&'&') => {
                chars.next();
            }
            '&' => count += 1,
            _ => {}
        }
    }
    count
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Condition").field(&self.source).finish()
    }
}

#[cfg(test)]
mod tests;
