//! The offline embedder: deterministic feature hashing of words and character trigrams, so
//! near-duplicate and reworded texts land close together with no model and no network.
//!
//! Each lower-cased word adds weight 1.0 at a hashed position (with a hashed sign, so
//! collisions cancel rather than pile up), each character trigram of the word with boundary
//! markers (`^co`, `com`, …, `st$`) adds 0.5; the vector is L2-normalised, so cosine similarity is
//! a dot product. The hash is FNV-1a, fixed here, so stored vectors stay valid across releases.

use async_trait::async_trait;
use troupe_runtime::embed::{EmbedError, Embedder};

/// The offline embedder's default dimension.
pub const DEFAULT_DIMENSION: usize = 384;

/// Texts longer than this many characters are refused (say where to split).
pub const MAX_TEXT_CHARS: usize = 32_768;

/// Inputs up to this many bytes are embedded inline, larger ones on the blocking pool.
const INLINE_BYTES: usize = 4096;

/// The offline hashing embedder.
#[derive(Clone, Copy, Debug)]
pub struct HashingEmbedder {
    dimension: usize,
}

impl Default for HashingEmbedder {
    fn default() -> Self {
        Self { dimension: DEFAULT_DIMENSION }
    }
}

impl HashingEmbedder {
    /// An embedder producing vectors of `dimension` (at least 16).
    pub fn new(dimension: usize) -> Self {
        Self { dimension: dimension.max(16) }
    }

    /// The vector of one text.
    pub fn vector(&self, text: &str) -> Vec<f32> {
        let mut vector = vec![0f32; self.dimension];
        let mut add = |feature: &[u8], weight: f32| {
            let hash = fnv1a(feature);
            let index = (hash % self.dimension as u64) as usize;
            let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
            vector[index] += sign * weight;
        };
        for word in text.split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_empty()) {
            let word = word.to_lowercase();
            add(word.as_bytes(), 1.0);
            let marked: Vec<char> = std::iter::once('^').chain(word.chars()).chain(std::iter::once('$')).collect();
            for gram in marked.windows(3) {
                let gram: String = gram.iter().collect();
                add(gram.as_bytes(), 0.5);
            }
        }
        let norm = vector.iter().map(|value| value * value).sum::<f32>().sqrt();
        if norm > 0.0 {
            for value in &mut vector {
                *value /= norm;
            }
        }
        vector
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Checks texts for embedding: none empty, none longer than [`MAX_TEXT_CHARS`].
pub fn check_texts(texts: &[String]) -> Result<(), EmbedError> {
    for (index, text) in texts.iter().enumerate() {
        if text.trim().is_empty() {
            return Err(EmbedError::Input(format!("text {index} is empty")));
        }
        let chars = text.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(EmbedError::Input(format!(
                "text {index} has {chars} characters; at most {MAX_TEXT_CHARS} (split it)"
            )));
        }
    }
    Ok(())
}

#[async_trait]
impl Embedder for HashingEmbedder {
    fn name(&self) -> &str {
        "offline-hashing"
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        check_texts(texts)?;
        // Hashing takes about a microsecond per word: long inputs go to the blocking pool so
        // no async worker stalls on them.
        if texts.iter().map(String::len).sum::<usize>() <= INLINE_BYTES {
            return Ok(texts.iter().map(|text| self.vector(text)).collect());
        }
        let embedder = *self;
        let texts = texts.to_vec();
        tokio::task::spawn_blocking(move || texts.iter().map(|text| embedder.vector(text)).collect())
            .await
            .map_err(|error| EmbedError::Provider(format!("the embedding task failed: {error}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn near_duplicates_rank_above_unrelated_texts() {
        let embedder = HashingEmbedder::default();
        let query = embedder.vector("How do I reset my account password?");
        let corpus = [
            "Resetting the password of your account: open settings and choose reset password.",
            "The quarterly revenue grew by twelve percent in the northern region.",
            "Tomatoes need six hours of sun and regular watering in summer.",
            "Our office is closed on public holidays.",
        ];
        let mut ranked: Vec<(usize, f32)> =
            corpus.iter().enumerate().map(|(index, text)| (index, cosine(&query, &embedder.vector(text)))).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        assert_eq!(ranked[0].0, 0, "{ranked:?}");
        let norm: f32 = query.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        assert_eq!(embedder.vector("Same text"), embedder.vector("same   TEXT"), "deterministic and normalised");
    }

    #[tokio::test]
    async fn bad_texts_are_refused_by_index() {
        let embedder = HashingEmbedder::default();
        let error = embedder.embed(&["fine".into(), " ".into()]).await.unwrap_err();
        assert!(error.to_string().contains("text 1 is empty"), "{error}");
        let error = embedder.embed(&["x".repeat(MAX_TEXT_CHARS + 1)]).await.unwrap_err();
        assert!(error.to_string().contains("split it"), "{error}");
    }
}
