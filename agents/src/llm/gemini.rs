//! Google Gemini's `generateContent` API
//! (`POST {base_url}/models/{model}:generateContent`, key in `x-goog-api-key`), and its
//! streaming form (`:streamGenerateContent?alt=sse`: server-sent events, one response chunk
//! each, usage in the chunks' `usageMetadata`).

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

impl Gemini {
    /// One streamed attempt. Once a token has been passed on, a failure is final (a retry would
    /// repeat the tokens already sent).
    async fn stream_attempt(
        &self,
        model: &str,
        body: &Value,
        tokens: &tokio::sync::mpsc::Sender<String>,
    ) -> Result<ChatResponse, AttemptError> {
        use futures::StreamExt;
        let request = self
            .client
            .post(format!("{}/models/{model}:streamGenerateContent?alt=sse", self.base_url))
            .header("x-goog-api-key", &self.api_key)
            .json(body);
        let timeout = self.guard.policy().timeout;
        let response = request.send().await.map_err(|error| super::policy::transport(error, timeout))?;
        if !response.status().is_success() {
            return Err(super::policy::status_error(response).await);
        }
        let mut content = String::new();
        let mut model_version = model.to_owned();
        let mut usage = Usage::default();
        let mut chunks_seen = 0usize;
        let mut pending = String::new();
        let mut stream = response.bytes_stream();
        let broken = |error: LlmError, sent: bool| {
            if sent {
                (LlmError::Malformed(format!("the stream broke after the first tokens: {error}")), None)
            } else {
                (error, None)
            }
        };
        loop {
            let chunk = match stream.next().await {
                Some(chunk) => {
                    chunk.map_err(|error| broken(super::policy::transport(error, timeout).0, !content.is_empty()))?
                }
                None => break,
            };
            pending.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = pending.find('\n') {
                let line: String = pending.drain(..=end).collect();
                let Some(data) = line.trim().strip_prefix("data:").map(str::trim) else { continue };
                let event: Value = serde_json::from_str(data)
                    .map_err(|error| broken(LlmError::Malformed(error.to_string()), !content.is_empty()))?;
                chunks_seen += 1;
                for part in event["candidates"][0]["content"]["parts"].as_array().into_iter().flatten() {
                    if let Some(piece) = part["text"].as_str().filter(|piece| !piece.is_empty()) {
                        content.push_str(piece);
                        let _ = tokens.send(piece.to_owned()).await;
                    }
                }
                if let Some(version) = event["modelVersion"].as_str() {
                    model_version = version.to_owned();
                }
                if event["usageMetadata"].is_object() {
                    usage = Usage {
                        prompt_tokens: event["usageMetadata"]["promptTokenCount"].as_u64().unwrap_or(0),
                        completion_tokens: event["usageMetadata"]["candidatesTokenCount"].as_u64().unwrap_or(0),
                    };
                }
            }
        }
        if chunks_seen == 0 {
            return Err((LlmError::Malformed("the stream ended without a response".into()), None));
        }
        Ok(ChatResponse { content, model: model_version, usage })
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

    async fn chat_stream(
        &self,
        request: ChatRequest,
        tokens: tokio::sync::mpsc::Sender<String>,
    ) -> Result<ChatResponse, LlmError> {
        let model = request.model.clone().unwrap_or_else(|| self.default_model.clone());
        let body = Self::body(&request);
        self.guard.call("gemini", || self.stream_attempt(&model, &body, &tokens)).await
    }
}
