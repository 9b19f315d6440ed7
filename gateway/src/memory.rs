//! Memory wiring: the settings (keys, vector store, embedder) every command that opens the
//! store shares, and how they become a [`MemoryService`].
//!
//! With nothing configured: a key generated into the data dir (owner-only), the in-process
//! Qdrant engine in `<data dir>/vectors` and the offline hashing embedder. `QDRANT_URL` moves
//! the vectors to a server; `TROUPE_EMBEDDINGS_*` to an OpenAI-compatible embeddings API.
//! Production refuses generated keys: `TROUPE_MEMORY_KEYS` must be given.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use troupe_memory::crypto::MemoryKeys;
use troupe_memory::vector::{DEFAULT_COLLECTION, QdrantSettings};
use troupe_memory::{MemoryService, VectorBackend};
use troupe_runtime::embed::Embedder;
use troupe_runtime::memory::MemoryStore;

use crate::config::Environment;

/// Memory settings (global flags: every command that opens the store reads them).
#[derive(Clone, Debug, Default, Args)]
pub struct MemoryArgs {
    /// Keys sealing memory content: `id:base64(32 bytes)[,id:key…]`, the first one active (new
    /// records), the others still readable. Default: a key generated into the data dir.
    #[arg(long, global = true, env = "TROUPE_MEMORY_KEYS", hide_env_values = true)]
    pub memory_keys: Option<String>,
    /// A Qdrant server for memory vectors (gRPC URL, e.g. `http://qdrant:6334`); default: the
    /// in-process engine in the data dir.
    #[arg(long, global = true, env = "QDRANT_URL")]
    pub qdrant_url: Option<String>,
    /// The Qdrant server's API key.
    #[arg(long, global = true, env = "QDRANT_API_KEY", hide_env_values = true)]
    pub qdrant_api_key: Option<String>,
    /// The Qdrant collection (default `troupe_memories`).
    #[arg(long, global = true, env = "TROUPE_QDRANT_COLLECTION")]
    pub qdrant_collection: Option<String>,
    /// `offline` (default: feature hashing, no network) or `openai` (any OpenAI-compatible
    /// `/embeddings` endpoint: OpenAI, vLLM, Ollama, llama.cpp).
    #[arg(long, global = true, env = "TROUPE_EMBEDDINGS_PROVIDER")]
    pub embeddings_provider: Option<String>,
    /// The embeddings endpoint's base URL (default: `TROUPE_LLM_BASE_URL`, then OpenAI's).
    #[arg(long, global = true, env = "TROUPE_EMBEDDINGS_BASE_URL")]
    pub embeddings_base_url: Option<String>,
    /// The embeddings endpoint's API key (default: `TROUPE_LLM_API_KEY`).
    #[arg(long, global = true, env = "TROUPE_EMBEDDINGS_API_KEY", hide_env_values = true)]
    pub embeddings_api_key: Option<String>,
    /// The embedding model (required with `openai`).
    #[arg(long, global = true, env = "TROUPE_EMBEDDINGS_MODEL")]
    pub embeddings_model: Option<String>,
    /// The vectors' dimension (required with `openai`; 384 for `offline`). Must match the
    /// collection's: a mismatch stops the start with a clear error.
    #[arg(long, global = true, env = "TROUPE_EMBEDDINGS_DIMENSION")]
    pub embeddings_dimension: Option<usize>,
}

/// How memories are kept: resolved from [`MemoryArgs`].
#[derive(Clone)]
pub struct MemoryOptions {
    /// The sealing keys.
    pub keys: Arc<MemoryKeys>,
    /// Where vectors live.
    pub vectors: VectorBackend,
    /// How texts become vectors.
    pub embedder: Arc<dyn Embedder>,
}

impl std::fmt::Debug for MemoryOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryOptions")
            .field("keys", &self.keys)
            .field("vectors", &self.vectors)
            .field("embedder", &self.embedder.name())
            .finish()
    }
}

impl MemoryOptions {
    /// The embedded default: a generated key and the in-process engine in `data_dir`, the
    /// offline embedder.
    pub fn embedded(data_dir: &Path) -> anyhow::Result<Self> {
        MemoryArgs::default().options(data_dir, Environment::Development, None, None)
    }

    /// Opens the service on `store` (creating the vector collection if needed; an embedder of
    /// another dimension than the collection's is refused).
    pub async fn open(&self, store: Arc<dyn MemoryStore>) -> anyhow::Result<MemoryService> {
        let vectors = troupe_memory::open_vectors(&self.vectors, self.embedder.dimension())
            .await
            .context("failed to open the memory vector store")?;
        MemoryService::new(store, vectors, Arc::clone(&self.embedder), Arc::clone(&self.keys))
            .context("the embedder does not fit the memory vector store")
    }
}

impl MemoryArgs {
    /// Resolves the settings; `llm_base_url` and `llm_api_key` are the fallbacks of the
    /// embeddings endpoint's.
    pub fn options(
        &self,
        data_dir: &Path,
        environment: Environment,
        llm_base_url: Option<&str>,
        llm_api_key: Option<&str>,
    ) -> anyhow::Result<MemoryOptions> {
        let keys = match &self.memory_keys {
            Some(spec) => MemoryKeys::parse(spec).context("TROUPE_MEMORY_KEYS")?,
            None if environment == Environment::Production => {
                bail!("TROUPE_ENV=production needs TROUPE_MEMORY_KEYS (id:base64 of 32 random bytes); none was given")
            }
            None => MemoryKeys::load_or_create(data_dir).context("the generated memory key")?,
        };
        let vectors = match &self.qdrant_url {
            Some(url) => VectorBackend::Qdrant(QdrantSettings {
                url: url.clone(),
                api_key: self.qdrant_api_key.clone().filter(|key| !key.is_empty()),
                collection: self.qdrant_collection.clone().unwrap_or_else(|| DEFAULT_COLLECTION.to_owned()),
            }),
            None => VectorBackend::Edge(data_dir.join("vectors")),
        };
        let embedder: Arc<dyn Embedder> = match self.embeddings_provider.as_deref().unwrap_or("offline") {
            "offline" => {
                let dimension = self.embeddings_dimension.unwrap_or(troupe_memory::embed::DEFAULT_DIMENSION);
                if dimension < 16 {
                    bail!("TROUPE_EMBEDDINGS_DIMENSION must be at least 16 for the offline embedder, got {dimension}");
                }
                Arc::new(troupe_memory::embed::HashingEmbedder::new(dimension))
            }
            "openai" => {
                let model = self
                    .embeddings_model
                    .clone()
                    .context("TROUPE_EMBEDDINGS_PROVIDER=openai needs TROUPE_EMBEDDINGS_MODEL")?;
                let dimension = self.embeddings_dimension.context(
                    "TROUPE_EMBEDDINGS_PROVIDER=openai needs TROUPE_EMBEDDINGS_DIMENSION (the model's vector size)",
                )?;
                let base_url = self
                    .embeddings_base_url
                    .as_deref()
                    .or(llm_base_url)
                    .unwrap_or(troupe_agents::llm::config::OPENAI_BASE_URL);
                let api_key = self.embeddings_api_key.as_deref().or(llm_api_key).map(str::to_owned);
                Arc::new(
                    troupe_agents::llm::OpenAiEmbedder::new(
                        base_url,
                        api_key,
                        model,
                        dimension,
                        64,
                        troupe_agents::llm::policy::HttpPolicy::default(),
                    )
                    .context("TROUPE_EMBEDDINGS_*")?,
                )
            }
            other => bail!("unknown TROUPE_EMBEDDINGS_PROVIDER `{other}` (expected `offline` or `openai`)"),
        };
        Ok(MemoryOptions { keys: Arc::new(keys), vectors, embedder })
    }
}
