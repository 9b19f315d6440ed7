//! The OpenAI-compatible chat completions client (`POST {base_url}/chat/completions`): OpenAI,
//! vLLM, Ollama and llama.cpp's server speak it.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::policy::{AttemptError, Guarded, HttpPolicy, exchange, http_client};
use super::{ChatRequest, ChatResponse, LlmError, LlmProvider, ResponseFormat, Usage};

/// An OpenAI-compatible provider.
pub struct OpenAiCompatible {
    name: String,
    base_url: String,
    api_key: Option<String>,
    default_model: String,
    client: reqwest::Client,
    guard: Guarded,
}

impl std::fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiCompatible")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("default_model", &self.default_model)
            .finish()
    }
}

impl OpenAiCompatible {
    /// A client for `base_url` (e.g. `https://api.openai.com/v1`), with an optional key and the
    /// model used when a request names none.
    pub fn new(
        name: impl Into<String>,
        base_url: &str,
        api_key: Option<String>,
        default_model: impl Into<String>,
        policy: HttpPolicy,
    ) -> Result<Self, LlmError> {
        let (base_url, client) = http_client(base_url, &policy)?;
        Ok(Self {
            name: name.into(),
            base_url,
            api_key: api_key.filter(|key| !key.is_empty()),
            default_model: default_model.into(),
            client,
            guard: Guarded::new(policy),
        })
    }

    fn body(&self, request: &ChatRequest) -> Value {
        let mut body = json!({
            "model": request.model.as_deref().unwrap_or(&self.default_model),
            "messages": request.messages,
        });
        if let Some(temperature) = request.temperature {
            body["temperature"] = json!(temperature);
        }
        if let Some(max_tokens) = request.max_tokens {
            body["max_tokens"] = json!(max_tokens);
        }
        match &request.response_format {
            ResponseFormat::Text => {}
            ResponseFormat::Json => body["response_format"] = json!({ "type": "json_object" }),
            ResponseFormat::JsonSchema { name, schema } => {
                body["response_format"] =
                    json!({ "type": "json_schema", "json_schema": { "name": name, "schema": schema, "strict": true } })
            }
        }
        body
    }

    async fn attempt(&self, body: &Value) -> Result<ChatResponse, AttemptError> {
        let mut request = self.client.post(format!("{}/chat/completions", self.base_url)).json(body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let text = exchange(request, self.guard.policy().timeout).await?;
        parse_completion(&text).map_err(|error| (error, None))
    }
}

fn parse_completion(text: &str) -> Result<ChatResponse, LlmError> {
    let value: Value = serde_json::from_str(text).map_err(|error| LlmError::Malformed(error.to_string()))?;
    let content = value["choices"][0]["message"]["content"]
        .as_str()
        .ok_or_else(|| LlmError::Malformed("no `choices[0].message.content`".into()))?;
    let usage = Usage {
        prompt_tokens: value["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
        completion_tokens: value["usage"]["completion_tokens"].as_u64().unwrap_or(0),
    };
    Ok(ChatResponse {
        content: content.to_owned(),
        model: value["model"].as_str().unwrap_or_default().to_owned(),
        usage,
    })
}

impl OpenAiCompatible {
    /// One streamed attempt: server-sent events of `choices[0].delta.content`, usage in the
    /// last chunk. Once a token has been passed on, a failure is final (a retry would repeat
    /// the tokens already sent).
    async fn stream_attempt(
        &self,
        body: &Value,
        tokens: &tokio::sync::mpsc::Sender<String>,
    ) -> Result<ChatResponse, AttemptError> {
        use futures::StreamExt;
        let mut request = self.client.post(format!("{}/chat/completions", self.base_url)).json(body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let timeout = self.guard.policy().timeout;
        let response = request.send().await.map_err(|error| super::policy::transport(error, timeout))?;
        if !response.status().is_success() {
            return Err(super::policy::status_error(response).await);
        }
        let mut content = String::new();
        let mut model = String::new();
        let mut usage = Usage::default();
        let mut pending = String::new();
        let mut chunks = response.bytes_stream();
        let broken = |error: LlmError, sent: bool| {
            if sent {
                (LlmError::Malformed(format!("the stream broke after the first tokens: {error}")), None)
            } else {
                (error, None)
            }
        };
        while let Some(chunk) = chunks.next().await {
            let chunk =
                chunk.map_err(|error| broken(super::policy::transport(error, timeout).0, !content.is_empty()))?;
            pending.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = pending.find('\n') {
                let line: String = pending.drain(..=end).collect();
                let Some(data) = line.trim().strip_prefix("data:").map(str::trim) else { continue };
                if data == "[DONE]" {
                    return Ok(ChatResponse { content, model, usage });
                }
                let event: Value = serde_json::from_str(data)
                    .map_err(|error| broken(LlmError::Malformed(error.to_string()), !content.is_empty()))?;
                if let Some(piece) = event["choices"][0]["delta"]["content"].as_str().filter(|piece| !piece.is_empty())
                {
                    content.push_str(piece);
                    let _ = tokens.send(piece.to_owned()).await;
                }
                if let Some(name) = event["model"].as_str() {
                    model = name.to_owned();
                }
                if event["usage"].is_object() {
                    usage = Usage {
                        prompt_tokens: event["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
                        completion_tokens: event["usage"]["completion_tokens"].as_u64().unwrap_or(0),
                    };
                }
            }
        }
        Err(broken(LlmError::Malformed("the stream ended without [DONE]".into()), !content.is_empty()))
    }
}

#[async_trait]
impl LlmProvider for OpenAiCompatible {
    fn name(&self) -> &str {
        &self.name
    }

    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let body = self.body(&request);
        self.guard.call(&self.name, || self.attempt(&body)).await
    }

    async fn chat_stream(
        &self,
        request: ChatRequest,
        tokens: tokio::sync::mpsc::Sender<String>,
    ) -> Result<ChatResponse, LlmError> {
        let mut body = self.body(&request);
        body["stream"] = json!(true);
        body["stream_options"] = json!({ "include_usage": true });
        self.guard.call(&self.name, || self.stream_attempt(&body, &tokens)).await
    }
}
