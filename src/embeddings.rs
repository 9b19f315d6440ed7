//! The embedder of memories and the switch between embedders.
//!
//! [`build`] makes the configured embedder; for the local model it loads the files, and for
//! `serve` fetches them once from the hub (pinned revision, every file checked against its
//! SHA-256) when they are missing — where that fails and no provider was chosen, the offline
//! embedder takes its place and the start says so.
//!
//! [`open`] opens the vectors for it. With the in-process store, each embedder's vectors are a
//! generation of their own ([`EdgeGenerations`]): when the configured embedder is not the one
//! that made the answering vectors, a new generation is opened beside them and [`Switch::run`]
//! fills it from the sealed records in the background; searches answer from the old vectors
//! (with the old embedder) until the new ones hold every memory, then from the new ones only —
//! never a mix. A Qdrant server's collection is not switched: a collection built for another
//! dimension is refused at start as before (choose a new `TROUPE_QDRANT_COLLECTION`, which the
//! start's reconciliation fills).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use troupe_memory::local::{self, LocalEmbedder};
use troupe_memory::service::Generation;
use troupe_memory::vector::{ActiveGeneration, EdgeGenerations, EdgeVectorMemory, embedder_id};
use troupe_memory::{MemoryService, Stores, VectorBackend};
use troupe_runtime::embed::Embedder;

pub use crate::config::memory::default_model_dir;
use crate::config::secrets::Secrets;
use crate::config::{Config, EmbedderSettings};

/// The largest file a fetch accepts (the weights are 91 MB).
const MAX_MODEL_FILE: u64 = 512 * 1024 * 1024;

/// Builds the configured embedder; `fetch`: the local model's files may be fetched (`serve`).
pub async fn build(settings: &EmbedderSettings, fetch: bool) -> anyhow::Result<Arc<dyn Embedder>> {
    let EmbedderSettings::Local { model_dir, hub_url, fallback } = settings else { return settings.build() };
    let loaded = async {
        if !local::model_present(model_dir) {
            match hub_url {
                Some(hub) if fetch => fetch_model(hub, model_dir).await?,
                Some(_) => {
                    bail!("the local embedding model is not in `{}` (`troupe serve` fetches it)", model_dir.display())
                }
                None => bail!(
                    "TROUPE_EMBEDDINGS_MODEL_DIR `{}` does not hold a model (config.json, tokenizer.json, model.safetensors)",
                    model_dir.display()
                ),
            }
        }
        load(model_dir).await
    };
    match loaded.await {
        Ok(embedder) => Ok(embedder),
        Err(error) if *fallback => {
            tracing::warn!(
                error = %format!("{error:#}"),
                "the local embedding model is unavailable: memories use the offline hashing embedder, which matches \
                 words, not meaning (set TROUPE_EMBEDDINGS_MODEL_DIR, or let `troupe serve` reach the hub)"
            );
            EmbedderSettings::Offline { dimension: troupe_memory::embed::DEFAULT_DIMENSION }.build()
        }
        Err(error) => Err(error),
    }
}

/// Loads the local model in `dir` (on the blocking pool: it reads the weights).
async fn load(dir: &Path) -> anyhow::Result<Arc<dyn Embedder>> {
    let dir = dir.to_owned();
    let embedder = tokio::task::spawn_blocking(move || LocalEmbedder::load(&dir)).await??;
    Ok(Arc::new(embedder))
}

/// Fetches the reference model's files from `hub` at the pinned revision into `dir`, each
/// checked against its SHA-256 before it is moved into place.
pub async fn fetch_model(hub: &str, dir: &Path) -> anyhow::Result<()> {
    tracing::info!(hub, repository = local::HUB_REPOSITORY, revision = local::HUB_REVISION, dir = %dir.display(),
        "fetching the local embedding model (once)");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .build()?;
    for (file, sha256) in local::MODEL_FILES {
        let target = dir.join(file);
        if target.is_file() {
            continue;
        }
        let url =
            format!("{}/{}/resolve/{}/{file}", hub.trim_end_matches('/'), local::HUB_REPOSITORY, local::HUB_REVISION);
        let response = client.get(&url).send().await.with_context(|| format!("cannot fetch {url}"))?;
        if !response.status().is_success() {
            bail!("{url} answered {}", response.status());
        }
        let partial = dir.join(format!("{file}.partial"));
        let mut out = tokio::fs::File::create(&partial).await?;
        let mut digest = Sha256::new();
        let mut size = 0u64;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.with_context(|| format!("fetching {url}"))?;
            size += chunk.len() as u64;
            if size > MAX_MODEL_FILE {
                bail!("{url} is larger than {MAX_MODEL_FILE} bytes");
            }
            digest.update(&chunk);
            tokio::io::AsyncWriteExt::write_all(&mut out, &chunk).await?;
        }
        out.sync_all().await?;
        let got = hex::encode(digest.finalize());
        if got != sha256 {
            let _ = std::fs::remove_file(&partial);
            bail!("{url} has SHA-256 {got}, not the pinned {sha256}: refused");
        }
        std::fs::rename(&partial, &target)?;
    }
    Ok(())
}

/// A move of memories' vectors to another embedder, in progress.
pub struct Switch {
    generations: EdgeGenerations,
    from: ActiveGeneration,
    to: ActiveGeneration,
}

/// Opens the memory service: the configured embedder, the vectors it made (or is making), and
/// the switch to run when they are being made.
pub async fn open(
    config: &Config,
    stores: &Stores,
    secrets: &Secrets,
    fetch: bool,
) -> anyhow::Result<(MemoryService, Option<Switch>)> {
    let embedder = build(&config.embedder, fetch).await?;
    let keys = Arc::clone(&secrets.memory_keys);
    let memories = Arc::clone(&stores.memories);
    let root = match &config.vectors {
        VectorBackend::Edge(root) => root.clone(),
        VectorBackend::Qdrant(_) => {
            let vectors = troupe_memory::open_vectors(&config.vectors, embedder.dimension())
                .await
                .context("failed to open the memory vector store")?;
            let service = MemoryService::new(memories, vectors, embedder, keys)
                .context("the embedder does not fit the memory vector store")?;
            return Ok((service, None));
        }
    };
    let wanted = embedder_id(embedder.as_ref());
    let generations = EdgeGenerations::new(&root);
    let active = generations.active(|| legacy_embedder(&config.embedder, &root))?;
    let open_edge = |generation: &ActiveGeneration, dimension: usize| {
        let path = generations.path(generation);
        async move {
            let vectors = EdgeVectorMemory::open(&path, dimension)
                .await
                .with_context(|| format!("failed to open the memory vector store in `{}`", path.display()))?;
            anyhow::Ok(Arc::new(vectors) as Arc<dyn troupe_runtime::memory::VectorMemory>)
        }
    };
    let active = match active {
        Some(active) if active.embedder == wanted => {
            let vectors = open_edge(&active, embedder.dimension()).await?;
            return Ok((MemoryService::new(memories, vectors, embedder, keys)?, None));
        }
        Some(active) => active,
        None => {
            let first = generations.generation_for(&wanted, true);
            let vectors = open_edge(&first, embedder.dimension()).await?;
            generations.activate(&first)?;
            return Ok((MemoryService::new(memories, vectors, embedder, keys)?, None));
        }
    };
    let target = generations.generation_for(&wanted, false);
    let building = Generation { vectors: open_edge(&target, embedder.dimension()).await?, embedder };
    let Some(old_embedder) = rebuild_embedder(config, &active.embedder).await else {
        // The vectors' own embedder cannot be had: the new one answers at once, and the
        // start's reconciliation fills it.
        tracing::warn!(from = %active.embedder, to = %wanted,
            "the embedder that made the memories' vectors is not available; searches answer from the new embedder's vectors as they are made");
        generations.activate(&target)?;
        let service = MemoryService::new(memories, building.vectors, building.embedder, keys)?;
        if let Err(error) = generations.remove(&active) {
            tracing::warn!(%error, "cannot remove the old vectors");
        }
        return Ok((service, None));
    };
    let serving = Generation { vectors: open_edge(&active, old_embedder.dimension()).await?, embedder: old_embedder };
    tracing::warn!(from = %active.embedder, to = %wanted,
        "the embedder changed: every memory is embedded again in the background; searches answer from the old vectors until then");
    let service = MemoryService::switching(memories, serving, building, keys)?;
    Ok((service, Some(Switch { generations, from: active, to: target })))
}

/// Who made a store older than the generation record: the offline embedder of the shard's
/// dimension — the only default there was — unless a remote API is configured now.
fn legacy_embedder(configured: &EmbedderSettings, root: &Path) -> String {
    if let EmbedderSettings::OpenAi { .. } = configured
        && let Ok(embedder) = configured.build()
    {
        return embedder_id(embedder.as_ref());
    }
    let dimension = EdgeVectorMemory::stored_dimension(root).unwrap_or(troupe_memory::embed::DEFAULT_DIMENSION);
    embedder_id(&troupe_memory::embed::HashingEmbedder::new(dimension))
}

/// The embedder named `id`, to keep answering from its vectors during a switch: the offline
/// one, the local model in the configured or the default directory, or the configured API.
async fn rebuild_embedder(config: &Config, id: &str) -> Option<Arc<dyn Embedder>> {
    if let Some(dimension) = id.strip_prefix("offline-hashing/").and_then(|dimension| dimension.parse().ok()) {
        return Some(Arc::new(troupe_memory::embed::HashingEmbedder::new(dimension)));
    }
    if id.starts_with("local:") {
        let mut dirs = vec![default_model_dir(&config.data_dir)];
        if let EmbedderSettings::Local { model_dir, .. } = &config.embedder {
            dirs.insert(0, model_dir.clone());
        }
        for dir in dirs.into_iter().filter(|dir| local::model_present(dir)) {
            if let Ok(embedder) = load(&dir).await
                && embedder_id(embedder.as_ref()) == id
            {
                return Some(embedder);
            }
        }
        return None;
    }
    let embedder = config.embedder.build().ok()?;
    (embedder_id(embedder.as_ref()) == id).then_some(embedder)
}

impl Switch {
    /// Fills the new generation, makes it the answering one, and removes the old vectors.
    pub async fn run(&self, memories: &MemoryService) -> anyhow::Result<()> {
        let Some((old, report)) = memories.rebuild(|| self.generations.activate(&self.to)).await? else {
            return Ok(());
        };
        tracing::warn!(from = %self.from.embedder, to = %self.to.embedder, memories = report.checked,
            embedded = report.reindexed, "memories now answer from the new embedder's vectors");
        // The old shard closes when the last search that took it ends; then its files go.
        let vectors = old.vectors;
        drop(old.embedder);
        let mut every = tokio::time::interval(Duration::from_millis(50));
        while Arc::strong_count(&vectors) > 1 {
            every.tick().await;
        }
        drop(vectors);
        let generations = self.generations.clone();
        let from = self.from.clone();
        tokio::task::spawn_blocking(move || generations.remove(&from)).await??;
        Ok(())
    }
}
