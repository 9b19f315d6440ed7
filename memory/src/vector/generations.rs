//! Which embedder made the vectors of the in-process store, and which shard answers searches.
//!
//! Vectors of two embedders must never be compared (their spaces differ even when their
//! dimensions agree), so each embedder's vectors live in a shard of their own — a
//! *generation* — and a record beside the shards (`<root>.active`, JSON) names the shard that
//! answers and the embedder that made it. The first shard is `<root>` itself; a later one is
//! `<root>-<embedder slug>`. Starting with another embedder opens a new generation that is
//! filled from the sealed records in the background while the recorded one keeps answering
//! ([`crate::MemoryService::rebuild`]); only when it is complete does the record name it.
//!
//! A store made before the record existed (no `<root>.active` beside a shard) was made by the
//! embedder the caller assumes (see [`EdgeGenerations::active`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use troupe_runtime::embed::Embedder;
use troupe_runtime::memory::MemoryError;

/// The identity of an embedder's vectors: its name and dimension (`offline-hashing/384`,
/// `local:all-MiniLM-L6-v2/384`).
pub fn embedder_id(embedder: &dyn Embedder) -> String {
    format!("{}/{}", embedder.name(), embedder.dimension())
}

/// The record of the answering generation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveGeneration {
    /// The shard's directory name, beside the root.
    pub dir: String,
    /// The embedder that made its vectors ([`embedder_id`]).
    pub embedder: String,
}

/// The generations of the in-process store rooted at one directory.
#[derive(Clone, Debug)]
pub struct EdgeGenerations {
    root: PathBuf,
}

fn io_error(path: &Path, error: std::io::Error) -> MemoryError {
    MemoryError::Unavailable(format!("`{}`: {error}", path.display()))
}

impl EdgeGenerations {
    /// The generations rooted at `root` (`<data dir>/vectors`).
    pub fn new(root: &Path) -> Self {
        Self { root: root.to_owned() }
    }

    fn record_path(&self) -> PathBuf {
        self.root.with_extension("active")
    }

    /// The shard directory of a generation named in the record.
    pub fn path(&self, generation: &ActiveGeneration) -> PathBuf {
        self.root.with_file_name(&generation.dir)
    }

    /// The answering generation: the record's; for a store older than the record, the shard at
    /// the root, made by `legacy` (recorded now); `None` for a new store.
    pub fn active(&self, legacy: impl FnOnce() -> String) -> Result<Option<ActiveGeneration>, MemoryError> {
        let path = self.record_path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|error| {
                MemoryError::Unavailable(format!("`{}` is not a generation record: {error}", path.display()))
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if !self.root.is_dir() {
                    return Ok(None);
                }
                let generation = ActiveGeneration { dir: self.root_name(), embedder: legacy() };
                self.activate(&generation)?;
                Ok(Some(generation))
            }
            Err(error) => Err(io_error(&path, error)),
        }
    }

    fn root_name(&self) -> String {
        self.root.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_else(|| "vectors".into())
    }

    /// The generation for `embedder`'s vectors: the root for the first one, else a directory
    /// named after the embedder beside it.
    pub fn generation_for(&self, embedder: &str, first: bool) -> ActiveGeneration {
        let dir = if first {
            self.root_name()
        } else {
            let slug: String = embedder
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
                .collect();
            format!("{}-{}", self.root_name(), slug.trim_matches('-'))
        };
        ActiveGeneration { dir, embedder: embedder.to_owned() }
    }

    /// Makes `generation` the answering one (written to a temporary file, synced, renamed).
    pub fn activate(&self, generation: &ActiveGeneration) -> Result<(), MemoryError> {
        let path = self.record_path();
        let temporary = path.with_extension("active.tmp");
        let bytes = serde_json::to_vec(generation).map_err(|error| MemoryError::Unavailable(error.to_string()))?;
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&temporary, &path)
        };
        write().map_err(|error| io_error(&path, error))
    }

    /// Removes a generation's shard (after another one took over) and its lock file.
    pub fn remove(&self, generation: &ActiveGeneration) -> Result<(), MemoryError> {
        let path = self.path(generation);
        match std::fs::remove_dir_all(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(io_error(&path, error)),
        }
        let _ = std::fs::remove_file(path.with_extension("lock"));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_and_legacy_stores_are_attributed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("vectors");
        let generations = EdgeGenerations::new(&root);
        assert_eq!(generations.active(|| unreachable!("no store yet")).unwrap(), None);
        std::fs::create_dir_all(&root).unwrap();
        let legacy = generations.active(|| "offline-hashing/384".into()).unwrap().unwrap();
        assert_eq!(legacy, ActiveGeneration { dir: "vectors".into(), embedder: "offline-hashing/384".into() });
        let next = generations.generation_for("local:all-MiniLM-L6-v2/384", false);
        assert_eq!(next.dir, "vectors-local-all-minilm-l6-v2-384");
        assert_eq!(generations.path(&next), dir.path().join("vectors-local-all-minilm-l6-v2-384"));
        generations.activate(&next).unwrap();
        assert_eq!(generations.active(|| unreachable!("recorded")).unwrap(), Some(next));
    }
}
