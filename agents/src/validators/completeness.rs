//! The `completeness` validator.

use std::sync::LazyLock;

use regex::RegexSet;
use serde_json::Value;
use troupe_runtime::pipeline::StepPlan;
use troupe_runtime::validator::{ValidationIssue, Validator};

use super::issue;

const NAME: &str = "completeness";

/// Text that marks unfinished work.
static PLACEHOLDERS: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new([
        r"\bTODO\b",
        r"\bFIXME\b",
        r"\bTBD\b",
        r"(?i)lorem ipsum",
        r"(?i)\byour (code|text|content|logic|implementation) (goes )?here\b",
        r"(?i)<\s*(placeholder|insert[^>]*)\s*>",
        r"(?i)\bimplement (this|me)\b",
        r"\braise NotImplementedError\b",
        r"^\s*(\.\.\.|…)\s*$",
    ])
    .expect("the placeholder patterns compile")
});

/// Checks that the required sections are present and non-empty — `params.required_sections`
/// (JSON pointers), else the `required` properties of the step's `output_schema` — and that no
/// string anywhere in the output (file contents included) holds placeholder text such as
/// `TODO`, `FIXME`, `lorem ipsum` or "your code here".
#[derive(Clone, Copy, Debug, Default)]
pub struct CompletenessValidator;

impl Validator for CompletenessValidator {
    fn validate(&self, step: &StepPlan, output: &Value) -> Vec<ValidationIssue> {
        let mut issues = Vec::new();
        let sections: Vec<String> = match step.params["required_sections"].as_array() {
            Some(pointers) => pointers.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            None => step
                .output_schema
                .as_ref()
                .and_then(|schema| schema["required"].as_array())
                .map(|names| names.iter().filter_map(Value::as_str).map(|name| format!("/{name}")).collect())
                .unwrap_or_default(),
        };
        for pointer in sections {
            let empty = match output.pointer(&pointer) {
                None | Some(Value::Null) => true,
                Some(Value::String(text)) => text.trim().is_empty(),
                Some(Value::Array(items)) => items.is_empty(),
                Some(Value::Object(map)) => map.is_empty(),
                Some(_) => false,
            };
            if empty {
                issues.push(issue(NAME, pointer, "required section is missing or empty"));
            }
        }
        scan(output, String::new(), &mut issues);
        issues
    }
}

fn scan(value: &Value, at: String, issues: &mut Vec<ValidationIssue>) {
    match value {
        Value::String(text) => {
            for (number, line) in text.lines().enumerate() {
                if PLACEHOLDERS.is_match(line) {
                    let excerpt: String = line.trim().chars().take(80).collect();
                    let message = if text.contains('\n') {
                        format!("placeholder text at line {}: `{excerpt}`", number + 1)
                    } else {
                        format!("placeholder text: `{excerpt}`")
                    };
                    issues.push(issue(NAME, at.clone(), message));
                    return;
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                scan(item, format!("{at}/{index}"), issues);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                scan(item, format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")), issues);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use troupe_runtime::pipeline::PipelineDef;

    use super::*;

    fn plan(schema: Value) -> std::sync::Arc<StepPlan> {
        struct Env;
        impl troupe_runtime::pipeline::PipelineEnv for Env {
            fn has_agent(&self, _: &str) -> bool {
                true
            }
            fn has_validator(&self, _: &str) -> bool {
                true
            }
        }
        let def = PipelineDef::from_value(json!({"name": "p", "steps": [
            {"key": "s", "agent": "a", "validate": ["completeness"], "output_schema": schema}
        ]}))
        .unwrap();
        def.validate(&Env).unwrap().steps()[0].clone()
    }

    #[test]
    fn missing_sections_and_placeholders_are_found_where_they_are() {
        let step = plan(json!({"type": "object", "required": ["summary", "stories"]}));
        let good = json!({"summary": "A todo app", "stories": ["add an item"]});
        assert_eq!(CompletenessValidator.validate(&step, &good), vec![]);

        let bad = json!({
            "summary": "  ",
            "stories": ["add an item", "TBD"],
            "files": [{"path": "a.py", "content": "def f():\n    # TODO: write it\n    pass\n"}]
        });
        let issues = CompletenessValidator.validate(&step, &bad);
        let paths: Vec<&str> = issues.iter().map(|issue| issue.path.as_str()).collect();
        // In document order.
        assert_eq!(paths, ["/summary", "/stories/1", "/files/0/content"], "{issues:#?}");
        assert!(issues[2].message.contains("line 2"));
    }
}
