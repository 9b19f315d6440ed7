//! Memory settings: where vectors live and how texts become vectors.
//!
//! With nothing configured: the in-process Qdrant engine in `<data dir>/vectors` and the local
//! embedding model (all-MiniLM-L6-v2, fetched once into `<data dir>/models`; the offline
//! hashing embedder where it cannot be had). `QDRANT_URL` moves the vectors to a server (whose
//! default embedder stays the offline one: a server's collection is not switched between
//! embedders — see the `embeddings` module); `TROUPE_EMBEDDINGS_*` choose the embedder, among them
//! an OpenAI-compatible API (its base URL and key default to the LLM's).

use std::path::{Path, PathBuf};
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
    /// The local model (run in process).
    Local {
        /// Its files.
        model_dir: PathBuf,
        /// The hub to fetch them from when they are missing (`serve` only); `None` when the
        /// directory was given.
        hub_url: Option<String>,
        /// Whether a model that cannot be had leaves the offline embedder in its place (no
        /// provider chosen) rather than stopping the start (`local` chosen).
        fallback: bool,
    },
}

/// Where the local model's files live unless a directory is given.
pub fn default_model_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("models").join(troupe_memory::local::MODEL_NAME)
}

/// Where the local model is fetched from.
pub const DEFAULT_HUB_URL: &str = "https://huggingface.co";

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
            EmbedderSettings::Local { model_dir, hub_url, fallback } => f
                .debug_struct("Local")
                .field("model_dir", model_dir)
                .field("hub_url", hub_url)
                .field("fallback", fallback)
                .finish(),
        }
    }
}

impl EmbedderSettings {
    /// Builds an embedder that needs no files: the offline one and a remote API (the local
    /// model is loaded by the `embeddings` module).
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
            EmbedderSettings::Local { .. } => {
                bail!("the local embedding model is loaded by the embeddings module")
            }
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
pub(super) fn embedder(settings: &Settings, data_dir: &Path) -> anyhow::Result<EmbedderSettings> {
    let local = |fallback: bool| {
        let hub_url = settings.embeddings_hub_url.clone().unwrap_or_else(|| DEFAULT_HUB_URL.to_owned());
        match &settings.embeddings_model_dir {
            Some(dir) => EmbedderSettings::Local { model_dir: dir.clone(), hub_url: None, fallback },
            None => {
                EmbedderSettings::Local { model_dir: default_model_dir(data_dir), hub_url: Some(hub_url), fallback }
            }
        }
    };
    let chosen = match settings.embeddings_provider.as_deref() {
        Some(provider) => provider,
        // A Qdrant server's collection keeps the embedder it was built with: choosing one
        // there is the operator's decision.
        None if settings.qdrant_url.is_some() && settings.embeddings_model_dir.is_none() => "offline",
        None if settings.embeddings_dimension.is_some() => "offline",
        None => return Ok(local(true)),
    };
    match chosen {
        "local" => {
            if settings.embeddings_dimension.is_some() {
                bail!(
                    "TROUPE_EMBEDDINGS_DIMENSION is the local model's own (384 for all-MiniLM-L6-v2): leave it unset"
                );
            }
            Ok(local(false))
        }
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
        other => bail!("unknown TROUPE_EMBEDDINGS_PROVIDER `{other}` (expected `local`, `offline` or `openai`)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_model_is_the_default_except_beside_a_qdrant_server() {
        let data = Path::new("/data");
        let settings = Settings::default();
        let EmbedderSettings::Local { model_dir, hub_url, fallback } = embedder(&settings, data).unwrap() else {
            panic!("the local model is the default")
        };
        assert_eq!(model_dir, Path::new("/data/models/all-MiniLM-L6-v2"));
        assert_eq!(hub_url.as_deref(), Some(DEFAULT_HUB_URL));
        assert!(fallback, "with no choice made, a missing model leaves the offline embedder");

        let chosen = Settings {
            embeddings_provider: Some("local".into()),
            embeddings_model_dir: Some("/models/minilm".into()),
            ..Settings::default()
        };
        assert_eq!(
            embedder(&chosen, data).unwrap(),
            EmbedderSettings::Local { model_dir: "/models/minilm".into(), hub_url: None, fallback: false }
        );
        let server = Settings { qdrant_url: Some("http://qdrant:6334".into()), ..Settings::default() };
        assert_eq!(embedder(&server, data).unwrap(), EmbedderSettings::Offline { dimension: 384 });
        let sized = Settings { embeddings_dimension: Some(256), ..Settings::default() };
        assert_eq!(embedder(&sized, data).unwrap(), EmbedderSettings::Offline { dimension: 256 });
    }

    #[test]
    fn contradictory_embedder_settings_are_refused_by_name() {
        let data = Path::new("/data");
        let local_sized = Settings {
            embeddings_provider: Some("local".into()),
            embeddings_dimension: Some(512),
            ..Settings::default()
        };
        assert!(embedder(&local_sized, data).unwrap_err().to_string().contains("TROUPE_EMBEDDINGS_DIMENSION"));
        let unknown = Settings { embeddings_provider: Some("onnx".into()), ..Settings::default() };
        assert!(embedder(&unknown, data).unwrap_err().to_string().contains("`local`, `offline` or `openai`"));
    }
}
