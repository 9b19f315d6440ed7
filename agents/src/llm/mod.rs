//! LLM providers: one [`LlmProvider`] trait (chat messages, JSON mode or a response schema,
//! token usage) and its implementations — an OpenAI-compatible HTTP client
//! ([`OpenAiCompatible`]: OpenAI, vLLM, Ollama, llama.cpp's server) and Gemini's
//! `generateContent` ([`Gemini`]) — and the deterministic [`Offline`] provider, the default.
//!
//! The HTTP clients share a [`policy::HttpPolicy`]: a request timeout, retries of 429 and 5xx
//! answers with exponential backoff that honours `Retry-After`, a circuit breaker per provider
//! and a concurrency limit. API keys are never logged or shown in `Debug` output.

pub mod config;
mod embeddings;
mod gemini;
mod offline;
mod openai;
pub mod policy;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use embeddings::OpenAiEmbedder;
pub use gemini::{GEMINI_BASE_URL, Gemini};
pub use offline::{OFFLINE_LABEL, Offline};
pub use openai::OpenAiCompatible;

/// Who said a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    /// Instructions.
    System,
    /// The request.
    User,
    /// The model's earlier answers.
    Assistant,
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who said it.
    pub role: ChatRole,
    /// What was said.
    pub content: String,
}

impl ChatMessage {
    /// An assistant message (an earlier answer).
    pub fn assistant(content: impl Into<String>) -> Self {
        Self { role: ChatRole::Assistant, content: content.into() }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self { role: ChatRole::System, content: content.into() }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self { role: ChatRole::User, content: content.into() }
    }
}

/// What shape the answer must have.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum ResponseFormat {
    /// Free text.
    #[default]
    Text,
    /// Any JSON object.
    Json,
    /// JSON matching a schema.
    JsonSchema {
        /// A name for the schema (providers require one).
        name: String,
        /// The JSON Schema.
        schema: Value,
    },
}

/// A chat completion request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatRequest {
    /// The model (the provider's default when `None`).
    pub model: Option<String>,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// The answer's shape.
    pub response_format: ResponseFormat,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Longest answer, in tokens.
    pub max_tokens: Option<u32>,
}

/// Tokens a request used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens of the prompt.
    pub prompt_tokens: u64,
    /// Tokens of the answer.
    pub completion_tokens: u64,
}

/// A chat completion.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatResponse {
    /// The answer.
    pub content: String,
    /// The model that answered.
    pub model: String,
    /// Tokens used.
    pub usage: Usage,
}

/// Returned by providers.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// No answer within the request timeout.
    #[error("the provider did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// Still rate limited after the retries.
    #[error("rate limited by the provider (HTTP 429) after {attempts} attempts")]
    RateLimited {
        /// Attempts made.
        attempts: u32,
    },
    /// The provider failed (5xx) after the retries.
    #[error("the provider failed with HTTP {status} after {attempts} attempts: {message}")]
    Server {
        /// The last status.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// The provider's message.
        message: String,
    },
    /// The request was refused (4xx other than 429): not retried.
    #[error("the provider refused the request with HTTP {status}: {message}")]
    Refused {
        /// The status.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// The circuit breaker is open: the provider failed repeatedly; calls fail fast until it
    /// is probed again.
    #[error("the provider's circuit breaker is open (too many failures); retry in {retry_in:?}")]
    CircuitOpen {
        /// When a probe will be let through.
        retry_in: std::time::Duration,
    },
    /// The provider could not be reached.
    #[error("cannot reach the provider: {0}")]
    Unreachable(String),
    /// The answer could not be understood.
    #[error("malformed answer from the provider: {0}")]
    Malformed(String),
    /// The provider's configuration is wrong or incomplete.
    #[error("LLM configuration: {0}")]
    Config(String),
}

impl LlmError {
    /// Whether trying the step again later may help.
    pub fn is_transient(&self) -> bool {
        !matches!(self, LlmError::Refused { .. } | LlmError::Malformed(_) | LlmError::Config(_))
    }
}

/// A chat model behind some API.
#[async_trait]
pub trait LlmProvider: Send + Sync + 'static {
    /// The provider's name, for logs and accounting.
    fn name(&self) -> &str;

    /// Whether this is the deterministic offline provider (built-in agents then produce their
    /// content from their own templates).
    fn is_offline(&self) -> bool {
        false
    }

    /// Sends one chat completion request.
    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, LlmError>;

    /// Like [`chat`](Self::chat), sending the answer's tokens to `tokens` as they arrive
    /// (providers that cannot stream send the whole answer as one piece). A dropped receiver
    /// does not stop the request.
    async fn chat_stream(
        &self,
        request: ChatRequest,
        tokens: tokio::sync::mpsc::Sender<String>,
    ) -> Result<ChatResponse, LlmError> {
        let response = self.chat(request).await?;
        let _ = tokens.send(response.content.clone()).await;
        Ok(response)
    }
}
