//! The offline provider: deterministic answers with no network, the default.
//!
//! It answers a JSON-schema request with the smallest document the schema accepts (every
//! required property, the first enum value, `minItems` items, strings that say they are
//! offline output), a JSON request with `{"offline": true, …}`, and a text request with a
//! labelled summary of the last user message. The same request always gets the same answer.
//! Built-in agents that need real content (code, DDL, OpenAPI) produce it themselves when
//! the provider is offline; this provider keeps every other path working without a key.

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::{ChatRequest, ChatResponse, ChatRole, LlmError, LlmProvider, ResponseFormat, Usage};

/// The label every offline answer carries.
pub const OFFLINE_LABEL: &str = "offline output";

/// The offline provider.
#[derive(Clone, Copy, Debug, Default)]
pub struct Offline;

#[async_trait]
impl LlmProvider for Offline {
    fn name(&self) -> &str {
        "offline"
    }

    fn is_offline(&self) -> bool {
        true
    }

    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let prompt = request
            .messages
            .iter()
            .rev()
            .find(|message| message.role == ChatRole::User)
            .map_or("", |message| message.content.as_str());
        let content = match &request.response_format {
            ResponseFormat::Text => {
                let excerpt: String = prompt.split_whitespace().take(24).collect::<Vec<_>>().join(" ");
                format!("[{OFFLINE_LABEL}] {excerpt}")
            }
            ResponseFormat::Json => json!({ "offline": true, "summary": OFFLINE_LABEL }).to_string(),
            ResponseFormat::JsonSchema { schema, .. } => instance(schema, schema, 0).to_string(),
        };
        let prompt_tokens = request.messages.iter().map(|m| m.content.split_whitespace().count() as u64).sum();
        let completion_tokens = content.split_whitespace().count() as u64;
        Ok(ChatResponse { content, model: "offline".into(), usage: Usage { prompt_tokens, completion_tokens } })
    }
}

/// The smallest document `schema` accepts (for the common keywords); `root` resolves `$ref`s.
fn instance(schema: &Value, root: &Value, depth: usize) -> Value {
    if depth > 16 {
        return Value::Null;
    }
    if let Some(reference) = schema["$ref"].as_str() {
        let target = reference.strip_prefix('#').and_then(|pointer| root.pointer(pointer));
        return target.map_or(Value::Null, |target| instance(target, root, depth + 1));
    }
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(first) = schema["enum"].as_array().and_then(|values| values.first()) {
        return first.clone();
    }
    if let Some(value) = schema.get("default") {
        return value.clone();
    }
    for combinator in ["allOf", "anyOf", "oneOf"] {
        if let Some(first) = schema[combinator].as_array().and_then(|options| options.first()) {
            return instance(first, root, depth + 1);
        }
    }
    let kind = match &schema["type"] {
        Value::String(kind) => kind.as_str(),
        Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).find(|kind| *kind != "null").unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "null",
    };
    match kind {
        "object" => {
            let mut object = Map::new();
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|names| names.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for name in required {
                object.insert(name.to_owned(), instance(&schema["properties"][name], root, depth + 1));
            }
            Value::Object(object)
        }
        "array" => {
            let count = schema["minItems"].as_u64().unwrap_or(0);
            (0..count).map(|_| instance(&schema["items"], root, depth + 1)).collect()
        }
        "string" => {
            let text = OFFLINE_LABEL.to_owned();
            let min = schema["minLength"].as_u64().unwrap_or(0) as usize;
            Value::String(if text.len() < min { format!("{text}{}", ".".repeat(min - text.len())) } else { text })
        }
        "integer" => json!(schema["minimum"].as_i64().unwrap_or(0)),
        "number" => json!(schema["minimum"].as_f64().unwrap_or(0.0)),
        "boolean" => Value::Bool(false),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ChatMessage;

    fn ask(format: ResponseFormat) -> ChatRequest {
        ChatRequest {
            messages: vec![ChatMessage::user("design a todo app")],
            response_format: format,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn schema_answers_validate_against_their_schema() {
        let schema = json!({
            "type": "object",
            "required": ["title", "steps", "kind", "priority", "owner"],
            "properties": {
                "title": {"type": "string", "minLength": 20},
                "steps": {"type": "array", "minItems": 2, "items": {"$ref": "#/$defs/step"}},
                "kind": {"enum": ["plan", "report"]},
                "priority": {"type": "integer", "minimum": 1},
                "owner": {"type": ["string", "null"]},
                "optional": {"type": "boolean"},
            },
            "$defs": {"step": {"type": "object", "required": ["agent"], "properties": {"agent": {"const": "architect"}}}},
        });
        let format = ResponseFormat::JsonSchema { name: "plan".into(), schema: schema.clone() };
        let first = Offline.chat(ask(format.clone())).await.unwrap();
        let second = Offline.chat(ask(format)).await.unwrap();
        assert_eq!(first, second, "deterministic");
        let answer: Value = serde_json::from_str(&first.content).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        assert!(validator.is_valid(&answer), "{answer}");
        assert_eq!(answer["steps"][1]["agent"], "architect");
        assert!(answer["title"].as_str().unwrap().starts_with(OFFLINE_LABEL));
    }

    #[tokio::test]
    async fn text_and_json_answers_are_labelled() {
        let text = Offline.chat(ask(ResponseFormat::Text)).await.unwrap();
        assert!(text.content.starts_with("[offline output]") && text.content.contains("todo app"));
        assert!(text.usage.prompt_tokens > 0);
        let json: Value =
            serde_json::from_str(&Offline.chat(ask(ResponseFormat::Json)).await.unwrap().content).unwrap();
        assert_eq!(json["offline"], true);
    }
}
