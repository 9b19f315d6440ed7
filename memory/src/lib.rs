//! troupe-memory: every store, on SQLite (the embedded default) and PostgreSQL.
//!
//! This is the only crate that speaks SQL. [`SqliteStore`] and [`PostgresStore`] implement
//! the runtime's [`ExecutionStore`](troupe_runtime::store::ExecutionStore) with the same
//! statements (written with `$n` placeholders, which both databases accept); the schema lives
//! in `migrations/sqlite` and `migrations/postgres` and is embedded in the binary.
//!
//! The research track's tables live apart: [`SqliteResearchStore`] in a file of its own beside
//! the core one, [`PostgresResearchStore`] in the `research` schema.
//!
//! Memory ([`MemoryService`]): records sealed with AES-256-GCM ([`crypto`]) in the `memories`
//! table, their vectors in Qdrant ([`vector`]: the in-process engine by default, a server in
//! production), and the offline hashing embedder ([`embed`]). It does not call LLM or
//! embedding APIs itself: a remote embedder comes in through the runtime's `Embedder` port.

#![warn(missing_docs)]

pub mod crypto;
pub mod embed;
pub mod local;
pub mod scratch;
pub mod service;
mod sql;
#[cfg(any(test, feature = "testsuite"))]
pub mod testing;
pub mod vector;

use std::path::Path;
use std::sync::Arc;

pub use service::MemoryService;
pub use sql::{PgSignals, PostgresResearchStore, PostgresStore, SqliteResearchStore, SqliteStore};
use troupe_runtime::accounts::AccountStore;
use troupe_runtime::memory::MemoryStore;
use troupe_runtime::research::ResearchStore;
use troupe_runtime::store::{ExecutionStore, StoreError};

/// The stores of one database, each as the port the runtime and gateway use.
#[derive(Clone)]
pub struct Stores {
    /// Executions, steps, events, artifacts, pipelines.
    pub executions: Arc<dyn ExecutionStore>,
    /// Users, sessions, API keys, projects, the audit log.
    pub accounts: Arc<dyn AccountStore>,
    /// Memory records (content sealed).
    pub memories: Arc<dyn MemoryStore>,
    /// The research track: experiments, consent, flags, plugins, the bus and its ledger (kept
    /// apart: a separate SQLite file, or the `research` schema of PostgreSQL).
    pub research: Arc<dyn ResearchStore>,
    /// Files users upload.
    pub files: Arc<dyn troupe_runtime::files::FileStore>,
}

/// Opens the database a URL names: `postgres://…` / `postgresql://…` or `sqlite://path`;
/// applies migrations.
pub async fn open_stores(database_url: &str) -> Result<Stores, StoreError> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        let store = Arc::new(PostgresStore::connect(database_url, 8).await?);
        let research = Arc::new(PostgresResearchStore::connect(database_url, 2).await?);
        Ok(Stores {
            executions: store.clone(),
            accounts: store.clone(),
            memories: store.clone(),
            files: store,
            research,
        })
    } else if let Some(path) = database_url.strip_prefix("sqlite://").or_else(|| database_url.strip_prefix("sqlite:")) {
        let path = Path::new(path);
        let store = Arc::new(SqliteStore::open(path).await?);
        let research = Arc::new(SqliteResearchStore::open(&research_path(path)).await?);
        Ok(Stores {
            executions: store.clone(),
            accounts: store.clone(),
            memories: store.clone(),
            files: store,
            research,
        })
    } else {
        Err(StoreError::Unavailable(format!(
            "unsupported database URL (expected postgres:// or sqlite://): {}",
            redact(database_url)
        )))
    }
}

/// Connects the signals between the nodes sharing the database at `database_url` (PostgreSQL
/// only: a SQLite file serves one node, which needs none).
pub async fn open_signals(
    database_url: &str,
) -> Result<Option<Arc<dyn troupe_runtime::cluster::ClusterSignals>>, StoreError> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        let signals: Arc<dyn troupe_runtime::cluster::ClusterSignals> = PgSignals::connect(database_url).await?;
        return Ok(Some(signals));
    }
    Ok(None)
}

/// Where memories' vectors live.
#[derive(Clone, Debug)]
pub enum VectorBackend {
    /// The in-process engine, in this directory.
    Edge(std::path::PathBuf),
    /// A Qdrant server.
    Qdrant(vector::QdrantSettings),
}

/// Opens the vector store for vectors of `dimension` (creating the collection if needed).
pub async fn open_vectors(
    backend: &VectorBackend,
    dimension: usize,
) -> Result<Arc<dyn troupe_runtime::memory::VectorMemory>, troupe_runtime::memory::MemoryError> {
    Ok(match backend {
        VectorBackend::Edge(dir) => Arc::new(vector::EdgeVectorMemory::open(dir, dimension).await?),
        VectorBackend::Qdrant(settings) => Arc::new(vector::QdrantVectorMemory::connect(settings, dimension).await?),
    })
}

/// The research database file beside a core SQLite file: `troupe.db` → `troupe-research.db`.
pub fn research_path(core: &Path) -> std::path::PathBuf {
    let stem = core.file_stem().and_then(|stem| stem.to_str()).unwrap_or("troupe");
    core.with_file_name(format!("{stem}-research.db"))
}

/// Opens the execution store a URL names (see [`open_stores`]).
pub async fn open_store(database_url: &str) -> Result<Arc<dyn ExecutionStore>, StoreError> {
    Ok(open_stores(database_url).await?.executions)
}

/// Returns the URL with any password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme_end + 3], &credentials[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(super::redact("postgres://bob:secret@db/x"), "postgres://bob:***@db/x");
        assert_eq!(super::redact("postgres://bob@db/x"), "postgres://bob@db/x");
        assert_eq!(super::redact("sqlite://data/troupe.db"), "sqlite://data/troupe.db");
    }
}
