//! The OpenAI-compatible chat completions client (`POST {base_url}/chat/completions`): OpenAI,
//! vLLM, Ollama and llama.cpp's server speak it.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::policy::{CircuitBreaker, HttpPolicy, retry_after};
use super::{ChatRequest, ChatResponse, LlmError, LlmProvider, ResponseFormat, Usage};

/// An OpenAI-compatible provider.
pub struct OpenAiCompatible {
    name: String,
    base_url: String,
    api_key: Option<String>,
    default_model: String,
    policy: HttpPolicy,
    client: reqwest::Client,
    breaker: CircuitBreaker,
    slots: Arc<Semaphore>,
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
        let base_url = base_url.trim_end_matches('/').to_owned();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(LlmError::Unreachable(format!(
                "the base URL must start with http:// or https://: `{base_url}`"
            )));
        }
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .build()
            .map_err(|error| LlmError::Unreachable(error.to_string()))?;
        Ok(Self {
            name: name.into(),
            base_url,
            api_key: api_key.filter(|key| !key.is_empty()),
            default_model: default_model.into(),
            breaker: CircuitBreaker::new(policy.breaker_threshold, policy.breaker_cooldown),
            slots: Arc::new(Semaphore::new(policy.concurrency.max(1))),
            policy,
            client,
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

    /// One attempt: the answer, or the error with how long to wait before the next attempt
    /// when the provider said so.
    async fn attempt(&self, body: &Value) -> Result<ChatResponse, (LlmError, Option<std::time::Duration>)> {
        let mut request = self.client.post(format!("{}/chat/completions", self.base_url)).json(body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|error| (transport_error(error, &self.policy), None))?;
        let status = response.status();
        let wait =
            response.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(retry_after);
        let text = response.text().await.map_err(|error| (transport_error(error, &self.policy), None))?;
        if status.is_success() {
            return parse_completion(&text).map_err(|error| (error, None));
        }
        let message = error_message(&text);
        let error = match status.as_u16() {
            429 => LlmError::RateLimited { attempts: 0 },
            code @ 500..=599 => LlmError::Server { status: code, attempts: 0, message },
            code => LlmError::Refused { status: code, message },
        };
        Err((error, wait))
    }
}

fn transport_error(error: reqwest::Error, policy: &HttpPolicy) -> LlmError {
    if error.is_timeout() {
        LlmError::Timeout(policy.timeout)
    } else {
        // Without the URL: it may carry credentials in some deployments.
        LlmError::Unreachable(error.without_url().to_string())
    }
}

fn error_message(text: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let message = parsed.as_ref().and_then(|value| value["error"]["message"].as_str()).unwrap_or(text);
    message.chars().take(500).collect()
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

#[async_trait]
impl LlmProvider for OpenAiCompatible {
    fn name(&self) -> &str {
        &self.name
    }

    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let body = self.body(&request);
        let mut attempts = 0u32;
        loop {
            self.breaker.admit().map_err(|retry_in| LlmError::CircuitOpen { retry_in })?;
            let permit =
                self.slots.acquire().await.map_err(|_| LlmError::Unreachable("the client is closed".into()))?;
            attempts += 1;
            let outcome = self.attempt(&body).await;
            drop(permit);
            let (error, wait) = match outcome {
                Ok(response) => {
                    self.breaker.success();
                    return Ok(response);
                }
                Err((error @ (LlmError::Refused { .. } | LlmError::Malformed(_)), _)) => {
                    // The provider is up; the request is at fault.
                    self.breaker.success();
                    return Err(error);
                }
                Err(failure) => failure,
            };
            self.breaker.failure();
            tracing::warn!(provider = %self.name, attempt = attempts, %error, "LLM request failed");
            if attempts > self.policy.max_retries {
                return Err(match error {
                    LlmError::RateLimited { .. } => LlmError::RateLimited { attempts },
                    LlmError::Server { status, message, .. } => LlmError::Server { status, attempts, message },
                    other => other,
                });
            }
            let delay = wait.unwrap_or_else(|| self.policy.backoff(attempts)).min(self.policy.max_backoff);
            tokio::time::sleep(delay).await;
        }
    }
}
