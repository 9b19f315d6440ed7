//! Google Gemini's `generateContent` API
//! (`POST {base_url}/models/{model}:generateContent`, key in `x-goog-api-key`).

use async_trait::async_trait;
use serde_json::{Value, json};

use super::policy::{AttemptError, Guarded, HttpPolicy, exchange, http_client};
use super::{ChatRequest, ChatResponse, ChatRole, LlmError, LlmProvider, ResponseFormat, Usage};

/// The default endpoint.
pub const GEMINI_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";

/// A Gemini provider.
pub struct Gemini {
    base_url: String,
    api_key: String,
    default_model: String,
    client: reqwest::Client,
    guard: Guarded,
}

impl std::fmt::Debug for Gemini {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gemini")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("default_model", &self.default_model)
            .finish()
    }
}

impl Gemini {
    /// A client for `base_url` (usually [`GEMINI_BASE_URL`]) with its key and default model.
    pub fn new(
        base_url: &str,
        api_key: String,
        default_model: impl Into<String>,
        policy: HttpPolicy,
    ) -> Result<Self, LlmError> {
        let (base_url, client) = http_client(base_url, &policy)?;
        Ok(Self { base_url, api_key, default_model: default_model.into(), client, guard: Guarded::new(policy) })
    }

    fn body(request: &ChatRequest) -> Value {
        let system: Vec<Value> = request
            .messages
            .iter()
            .filter(|message| message.role == ChatRole::System)
            .map(|message| json!({ "text": message.content }))
            .collect();
        let contents: Vec<Value> = request
            .messages
            .iter()
            .filter(|message| message.role != ChatRole::System)
            .map(|message| {
                let role = if message.role == ChatRole::Assistant { "model" } else { "user" };
                json!({ "role": role, "parts": [{ "text": message.content }] })
            })
            .collect();
        let mut config = serde_json::Map::new();
        if let Some(temperature) = request.temperature {
            config.insert("temperature".into(), json!(temperature));
        }
        if let Some(max_tokens) = request.max_tokens {
            config.insert("maxOutputTokens".into(), json!(max_tokens));
        }
        match &request.response_format {
            ResponseFormat::Text => {}
            ResponseFormat::Json => {
                config.insert("responseMimeType".into(), json!("application/json"));
            }
            ResponseFormat::JsonSchema { schema, .. } => {
                config.insert("responseMimeType".into(), json!("application/json"));
                config.insert("responseJsonSchema".into(), schema.clone());
            }
        }
        let mut body = json!({ "contents": contents, "generationConfig": config });
        if !system.is_empty() {
            body["systemInstruction"] = json!({ "parts": system });
        }
        body
    }

    async fn attempt(&self, model: &str, body: &Value) -> Result<ChatResponse, AttemptError> {
        let request = self
            .client
            .post(format!("{}/models/{model}:generateContent", self.base_url))
            .header("x-goog-api-key", &self.api_key)
            .json(body);
        let text = exchange(request, self.guard.policy().timeout).await?;
        parse(&text, model).map_err(|error| (error, None))
    }
}

fn parse(text: &str, model: &str) -> Result<ChatResponse, LlmError> {
    let value: Value = serde_json::from_str(text).map_err(|error| LlmError::Malformed(error.to_string()))?;
    let parts = value["candidates"][0]["content"]["parts"]
        .as_array()
        .ok_or_else(|| LlmError::Malformed("no `candidates[0].content.parts`".into()))?;
    let content: String = parts.iter().filter_map(|part| part["text"].as_str()).collect();
    let usage = Usage {
        prompt_tokens: value["usageMetadata"]["promptTokenCount"].as_u64().unwrap_or(0),
        completion_tokens: value["usageMetadata"]["candidatesTokenCount"].as_u64().unwrap_or(0),
    };
    let model = value["modelVersion"].as_str().unwrap_or(model).to_owned();
    Ok(ChatResponse { content, model, usage })
}

#[async_trait]
impl LlmProvider for Gemini {
    fn name(&self) -> &str {
        "gemini"
    }

    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let model = request.model.clone().unwrap_or_else(|| self.default_model.clone());
        let body = Self::body(&request);
        self.guard.call("gemini", || self.attempt(&model, &body)).await
    }
}
