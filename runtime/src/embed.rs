//! The `Embedder` port: text in, vectors out (the memory service searches by them).
//!
//! Implementations: an OpenAI-compatible `/embeddings` client in the agents crate, and an
//! offline one in the memory crate.

use async_trait::async_trait;

/// Why texts could not be embedded.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The input is not acceptable (empty text, too many texts).
    #[error("invalid input: {0}")]
    Input(String),
    /// The provider failed or could not be reached.
    #[error("embedding provider: {0}")]
    Provider(String),
    /// The provider returned vectors of another size than configured.
    #[error("the embeddings have {got} dimensions, but {expected} are configured")]
    Dimension {
        /// The configured dimension.
        expected: usize,
        /// What came back.
        got: usize,
    },
}

/// Turns texts into vectors of a fixed dimension.
#[async_trait]
pub trait Embedder: Send + Sync + 'static {
    /// A name for logs (provider and model).
    fn name(&self) -> &str;

    /// The length of every vector.
    fn dimension(&self) -> usize;

    /// One vector per text, in order.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
}
