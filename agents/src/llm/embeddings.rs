//! The OpenAI-compatible embeddings client (`POST {base_url}/embeddings`): OpenAI, vLLM,
//! Ollama and llama.cpp's server. Texts go in batches; each batch is retried under the same
//! [`HttpPolicy`] as chat (timeout, 429/5xx retries honouring `Retry-After`, circuit breaker,
//! concurrency limit), and every vector's length is checked against the configured dimension.

use async_trait::async_trait;
use serde_json::{Value, json};
use troupe_runtime::embed::{EmbedError, Embedder};

use super::LlmError;
use super::policy::{Guarded, HttpPolicy, exchange, http_client};

/// An OpenAI-compatible embedder.
pub struct OpenAiEmbedder {
    label: String,
    base_url: String,
    api_key: Option<String>,
    model: String,
    dimension: usize,
    batch_size: usize,
    client: reqwest::Client,
    guard: Guarded,
}

impl std::fmt::Debug for OpenAiEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiEmbedder")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("dimension", &self.dimension)
            .finish()
    }
}

impl OpenAiEmbedder {
    /// A client of `model` at `base_url` producing vectors of `dimension`, `batch_size` texts
    /// per request.
    pub fn new(
        base_url: &str,
        api_key: Option<String>,
        model: impl Into<String>,
        dimension: usize,
        batch_size: usize,
        policy: HttpPolicy,
    ) -> Result<Self, LlmError> {
        if dimension == 0 {
            return Err(LlmError::Config("the embedding dimension must be at least 1".into()));
        }
        let (base_url, client) = http_client(base_url, &policy)?;
        let model = model.into();
        Ok(Self {
            label: format!("openai-embeddings/{model}"),
            base_url,
            api_key: api_key.filter(|key| !key.is_empty()),
            model,
            dimension,
            batch_size: batch_size.max(1),
            client,
            guard: Guarded::new(policy),
        })
    }

    async fn batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let body = json!({ "model": self.model, "input": texts });
        let text = self
            .guard
            .call(&self.label, || async {
                let mut request = self.client.post(format!("{}/embeddings", self.base_url)).json(&body);
                if let Some(key) = &self.api_key {
                    request = request.bearer_auth(key);
                }
                exchange(request, self.guard.policy().timeout).await
            })
            .await
            .map_err(|error| EmbedError::Provider(error.to_string()))?;
        let value: Value =
            serde_json::from_str(&text).map_err(|error| EmbedError::Provider(format!("malformed answer: {error}")))?;
        let mut rows: Vec<(usize, Vec<f32>)> = value["data"]
            .as_array()
            .ok_or_else(|| EmbedError::Provider("malformed answer: no `data` list".into()))?
            .iter()
            .enumerate()
            .map(|(position, row)| {
                let index = row["index"].as_u64().map_or(position, |index| index as usize);
                let vector: Option<Vec<f32>> = row["embedding"]
                    .as_array()
                    .map(|values| values.iter().filter_map(|v| v.as_f64().map(|v| v as f32)).collect());
                vector
                    .map(|vector| (index, vector))
                    .ok_or_else(|| EmbedError::Provider("malformed answer: a row has no `embedding`".into()))
            })
            .collect::<Result<_, _>>()?;
        if rows.len() != texts.len() {
            return Err(EmbedError::Provider(format!("asked for {} embeddings, got {}", texts.len(), rows.len())));
        }
        rows.sort_by_key(|(index, _)| *index);
        for (_, vector) in &rows {
            if vector.len() != self.dimension {
                return Err(EmbedError::Dimension { expected: self.dimension, got: vector.len() });
            }
        }
        Ok(rows.into_iter().map(|(_, vector)| vector).collect())
    }
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn name(&self) -> &str {
        &self.label
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if let Some(index) = texts.iter().position(|text| text.trim().is_empty()) {
            return Err(EmbedError::Input(format!("text {index} is empty")));
        }
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.batch_size) {
            vectors.extend(self.batch(batch).await?);
        }
        Ok(vectors)
    }
}
