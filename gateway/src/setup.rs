//! Wiring: logs, the data dir, the store and the runtime.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tracing_subscriber::EnvFilter;
use troupe_runtime::{Runtime, RuntimeConfig};

use crate::cli::{Cli, LogFormat};
use crate::memory::MemoryOptions;

/// Sends logs to standard error, filtered by `RUST_LOG` (default `warn`; qdrant-edge's own
/// start-up notices about its unset internal flags are not ours to act on, so only its errors).
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,qdrant_edge=error"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
    };
}

/// Creates the data dir (owner-only) if needed.
pub fn ensure_data_dir(data_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("failed to create the data dir `{}`", data_dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// Writes a secret file readable by its owner only (created with mode 0600, so it is never
/// readable by others, not even for a moment).
pub fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("failed to write `{}`", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("failed to restrict `{}`", path.display()))?;
    }
    file.write_all(content.as_bytes()).with_context(|| format!("failed to write `{}`", path.display()))
}

/// Returns this node's id, kept in the data dir so a restarted process holds the same leases.
pub fn node_id(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        _ => {
            let id = format!("node-{}", uuid::Uuid::now_v7());
            std::fs::write(&path, &id).with_context(|| format!("failed to write `{}`", path.display()))?;
            Ok(id)
        }
    }
}

/// Opens the configured store (PostgreSQL from `--database-url`, else SQLite in the data dir)
/// and applies migrations.
pub async fn open_stores(cli: &Cli) -> anyhow::Result<troupe_memory::Stores> {
    let url = database_url(cli);
    troupe_memory::open_stores(&url)
        .await
        .with_context(|| format!("failed to open the store at {}", troupe_memory::redact(&url)))
}

/// The memory settings of a command run locally (generated keys are fine: the CLI acts for
/// the local user); the LLM settings give the embeddings endpoint's fallbacks.
pub fn memory_options(cli: &Cli, llm: Option<&crate::config::LlmArgs>) -> anyhow::Result<MemoryOptions> {
    cli.memory.options(
        &cli.data_dir,
        crate::config::Environment::Development,
        llm.and_then(|llm| llm.llm_base_url.as_deref()),
        llm.and_then(|llm| llm.llm_api_key.as_deref()),
    )
}

/// The configured database URL: `--database-url`, else the SQLite file in the data dir.
pub fn database_url(cli: &Cli) -> String {
    match &cli.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", cli.data_dir.join("troupe.db").display()),
    }
}

/// Starts a runtime with the built-in agents on the configured store.
pub async fn start_runtime(
    cli: &Cli,
    resume: bool,
    max_live: Option<usize>,
    llm: &crate::config::LlmArgs,
) -> anyhow::Result<Runtime> {
    ensure_data_dir(&cli.data_dir)?;
    let stores = open_stores(cli).await?;
    let store = stores.executions;
    // Memories are a help, not a requirement, for a local run: if the vector store is busy
    // (a server holds it) the run goes on without recall.
    let memories = match memory_options(cli, Some(llm))?.open(stores.memories).await {
        Ok(memories) => Some(Arc::new(memories) as Arc<dyn troupe_runtime::memory::Memories>),
        Err(error) => {
            tracing::warn!(error = %format!("{error:#}"), "memories are unavailable to this run");
            None
        }
    };
    let agents = troupe_agents::AgentsConfig {
        memories,
        ..llm.agents_config(crate::config::Environment::Development, &cli.data_dir)?
    };
    let config = RuntimeConfig {
        node_id: node_id(&cli.data_dir)?,
        resume,
        max_live_executions: max_live,
        ..RuntimeConfig::default()
    };
    let builder = Runtime::builder().store(store).config(config);
    troupe_agents::register_builtins_with(builder, agents).start().await.context("failed to start the runtime")
}
