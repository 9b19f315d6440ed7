//! The vector stores of memories: the in-process Qdrant engine ([`EdgeVectorMemory`], the
//! embedded default) and a Qdrant server over gRPC ([`QdrantVectorMemory`]).
//!
//! Both keep one collection of points with a single unnamed cosine vector and the payload
//! `user_id`, `kind`, `source`, `created_at` (epoch milliseconds) — never the text, which lives
//! only encrypted in the relational store. `user_id` and `kind` are indexed. Every search,
//! count and delete filters on the caller's user id; [`VectorMemory::existing`] is the one
//! operation across users (reconciliation), and it returns ids only.

mod edge;
pub mod generations;
mod qdrant;

pub use edge::EdgeVectorMemory;
pub use generations::{ActiveGeneration, EdgeGenerations, embedder_id};
pub use qdrant::{DEFAULT_COLLECTION, QdrantSettings, QdrantVectorMemory};
use troupe_runtime::memory::{MemoryError, MemoryPoint, MemoryQuery, VectorMemory};

/// The payload field holding the owner's id.
pub const USER_ID: &str = "user_id";
/// The payload field holding the memory's kind.
pub const KIND: &str = "kind";
/// The payload field holding the memory's source.
pub const SOURCE: &str = "source";
/// The payload field holding when the memory was stored (epoch milliseconds).
pub const CREATED_AT: &str = "created_at";

/// The most hits one search returns.
pub const MAX_SEARCH_LIMIT: usize = 100;

/// Checks every point's vector against the collection's dimension (and for NaN or infinity).
pub(crate) fn check_points(dimension: usize, points: &[MemoryPoint]) -> Result<(), MemoryError> {
    for (index, point) in points.iter().enumerate() {
        check_vector(dimension, &point.vector)
            .map_err(|message| MemoryError::invalid(format!("points[{index}].vector"), message))?;
    }
    Ok(())
}

/// Checks a query: its vector's dimension and its limit.
pub(crate) fn check_query(dimension: usize, query: &MemoryQuery) -> Result<(), MemoryError> {
    check_vector(dimension, &query.vector).map_err(|message| MemoryError::invalid("vector", message))?;
    if query.limit == 0 || query.limit > MAX_SEARCH_LIMIT {
        return Err(MemoryError::invalid("limit", format!("must be 1 to {MAX_SEARCH_LIMIT}, got {}", query.limit)));
    }
    Ok(())
}

fn check_vector(dimension: usize, vector: &[f32]) -> Result<(), String> {
    if vector.len() != dimension {
        return Err(format!("has {} dimensions; the collection has {dimension}", vector.len()));
    }
    if vector.iter().any(|value| !value.is_finite()) {
        return Err("holds a value that is not a finite number".into());
    }
    if vector.iter().all(|value| *value == 0.0) {
        return Err("is all zeros (no direction to compare by cosine)".into());
    }
    Ok(())
}

/// Checks that the embedder and the collection agree on the dimension: a mismatch is refused at
/// start, before any vector is written.
pub fn check_dimension(
    vectors: &dyn VectorMemory,
    embedder_dimension: usize,
    embedder: &str,
) -> Result<(), MemoryError> {
    if vectors.dimension() != embedder_dimension {
        return Err(MemoryError::invalid(
            "dimension",
            format!(
                "the {} collection holds vectors of {} dimensions but the embedder `{embedder}` makes {embedder_dimension}; \
                 use the embedder the collection was built with, or a new collection",
                vectors.name(),
                vectors.dimension()
            ),
        ));
    }
    Ok(())
}
