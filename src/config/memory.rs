//! Memory settings: where vectors live and how texts become vectors.
//!
//! With nothing configured: the in-process Qdrant engine in `<data dir>/vectors` and the
//! offline hashing embedder. `QDRANT_URL` moves the vectors to a server; `TROUPE_EMBEDDINGS_*`
//! the embeddings to an OpenAI-compatible API (its base URL and key default to the LLM's).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use troupe_memory::VectorBackend;
use troupe_memory::vector::{DEFAULT_COLLECTION, QdrantSettings};
use troupe_runtime::embed::Embedder;

use super::Settings;

/// Which embedder memories use.
#[derive(Clone, PartialEq, Eq)]
pub enum EmbedderSettings {
    /// Feature hashing: no network, no model.
    Offline {
        /// The vectors' dimension.
        dimension: usize,
    },
    /// An OpenAI-compatible `/embeddings` endpoint.
    OpenAi {
        /// Its base URL.
        base_url: String,
        /// Its key (never logged).
        api_key: Option<String>,
        /// The model.
        model: String,
        /// The model's vector size.
        dimension: usize,
    },
}

impl Default for EmbedderSettings {
    fn default() -> Self {
        EmbedderSettings::Offline { dimension: troupe_memory::embed::DEFAULT_DIMENSION }
    }
}

impl std::fmt::Debug for EmbedderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmbedderSettings::Offline { dimension } => f.debug_struct("Offline").field("dimension", dimension).finish(),
            EmbedderSettings::OpenAi { base_url, model, dimension, .. } => f
                .debug_struct("OpenAi")
                .field("base_url", base_url)
                .field("model", model)
                .field("dimension", dimension)
                .finish_non_exhaustive(),
        }
    }
}

impl EmbedderSettings {
    /// Builds the embedder.
    pub fn build(&self) -> anyhow::Result<Arc<dyn Embedder>> {
        Ok(match self {
            EmbedderSettings::Offline { dimension } => Arc::new(troupe_memory::embed::HashingEmbedder::new(*dimension)),
            EmbedderSettings::OpenAi { base_url, api_key, model, dimension } => Arc::new(
                troupe_agents::llm::OpenAiEmbedder::new(
                    base_url,
                    api_key.clone(),
                    model.clone(),
                    *dimension,
                    64,
                    troupe_agents::llm::policy::HttpPolicy::default(),
                )
                .context("TROUPE_EMBEDDINGS_*")?,
            ),
        })
    }
}

/// Where vectors live.
pub(super) fn vectors(settings: &Settings, data_dir: &Path) -> VectorBackend {
    match &settings.qdrant_url {
        Some(url) => VectorBackend::Qdrant(QdrantSettings {
            url: url.clone(),
            api_key: settings.qdrant_api_key.clone().filter(|key| !key.is_empty()),
            collection: settings.qdrant_collection.clone().unwrap_or_else(|| DEFAULT_COLLECTION.to_owned()),
        }),
        None => VectorBackend::Edge(data_dir.join("vectors")),
    }
}

/// Which embedder, checked.
pub(super) fn embedder(settings: &Settings) -> anyhow::Result<EmbedderSettings> {
    match settings.embeddings_provider.as_deref().unwrap_or("offline") {
        "offline" => {
            let dimension = settings.embeddings_dimension.unwrap_or(troupe_memory::embed::DEFAULT_DIMENSION);
            if dimension < 16 {
                bail!("TROUPE_EMBEDDINGS_DIMENSION must be at least 16 for the offline embedder, got {dimension}");
            }
            Ok(EmbedderSettings::Offline { dimension })
        }
        "openai" => {
            let model = settings
                .embeddings_model
                .clone()
                .context("TROUPE_EMBEDDINGS_PROVIDER=openai needs TROUPE_EMBEDDINGS_MODEL")?;
            let dimension = settings.embeddings_dimension.context(
                "TROUPE_EMBEDDINGS_PROVIDER=openai needs TROUPE_EMBEDDINGS_DIMENSION (the model's vector size)",
            )?;
            let base_url = settings
                .embeddings_base_url
                .clone()
                .or(settings.llm_base_url.clone())
                .unwrap_or_else(|| troupe_agents::llm::config::OPENAI_BASE_URL.to_owned());
            let api_key = settings.embeddings_api_key.clone().or(settings.llm_api_key.clone());
            let embedder = EmbedderSettings::OpenAi { base_url, api_key, model, dimension };
            embedder.build()?;
            Ok(embedder)
        }
        other => bail!("unknown TROUPE_EMBEDDINGS_PROVIDER `{other}` (expected `offline` or `openai`)"),
    }
}
