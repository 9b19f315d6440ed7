//! The server: the runtime, the account store and the HTTP gateway, started and stopped as one.
//! `troupe serve` and the end-to-end tests start it the same way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use troupe_memory::Stores;
use troupe_runtime::{Runtime, RuntimeConfig};

use crate::auth::{Auth, HashCost, Jwt, Passwords};
use crate::http::{AppState, HttpSettings, router};

/// How long an access token lives.
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
/// How long a refresh token lives (each use rotates it).
pub const REFRESH_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// What a server needs.
pub struct ServerOptions {
    /// The database (`sqlite://…` or `postgres://…`).
    pub database_url: String,
    /// Where to listen (port 0: any free port).
    pub addr: SocketAddr,
    /// The access-token secret.
    pub jwt_secret: String,
    /// This node's lease name.
    pub node_id: String,
    /// Password hashing cost.
    pub hash_cost: HashCost,
    /// The agents' configuration (LLM provider, models, sandbox, workspaces).
    pub agents: troupe_agents::AgentsConfig,
    /// HTTP tunables.
    pub http: HttpSettings,
    /// Memory keys, vector store and embedder.
    pub memory: crate::memory::MemoryOptions,
    /// What retention removes, and how often it runs.
    pub retention: crate::retention::RetentionPolicy,
    /// The plugin track's key and pool.
    pub research: crate::research::ResearchOptions,
}

/// How often plugin registrations are brought in line (a `troupe plugin add` elsewhere).
const PLUGIN_SYNC_INTERVAL: Duration = Duration::from_secs(2);

/// How often the vector index is brought up to date (in the background).
const INDEX_UPKEEP_INTERVAL: Duration = Duration::from_secs(60);
/// How often buffered vector writes are made durable.
const VECTOR_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// A running server.
pub struct Server {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The handlers' state (runtime, auth, metrics).
    pub state: AppState,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
    observer: tokio::task::JoinHandle<()>,
    jobs: Vec<crate::jobs::Job>,
}

/// Starts the server's background work: one reconciliation of memory records and vectors
/// (re-indexing what a killed process left unindexed), the vector index upkeep, and retention
/// when a policy is configured.
fn background_jobs(
    state: &AppState,
    executions: Arc<dyn troupe_runtime::store::ExecutionStore>,
    memories: Arc<troupe_memory::MemoryService>,
    retention: crate::retention::RetentionPolicy,
) -> Vec<crate::jobs::Job> {
    let stop = state.shutdown.clone();
    let reconciled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut jobs = vec![crate::jobs::spawn("memory-index", Duration::ZERO, INDEX_UPKEEP_INTERVAL, stop.clone(), {
        let memories = Arc::clone(&memories);
        move || {
            let memories = Arc::clone(&memories);
            let reconciled = Arc::clone(&reconciled);
            async move {
                if !reconciled.load(std::sync::atomic::Ordering::Acquire) {
                    let report = memories.reconcile().await?;
                    if report.reindexed > 0 {
                        tracing::warn!(checked = report.checked, reindexed = report.reindexed, "memories re-indexed");
                    }
                    reconciled.store(true, std::sync::atomic::Ordering::Release);
                }
                memories.vectors().optimize().await?;
                Ok(())
            }
        }
    })];
    jobs.push(crate::jobs::spawn("memory-flush", VECTOR_FLUSH_INTERVAL, VECTOR_FLUSH_INTERVAL, stop.clone(), {
        let memories = Arc::clone(&memories);
        move || {
            let memories = Arc::clone(&memories);
            async move { Ok(memories.vectors().flush().await?) }
        }
    }));
    jobs.push(crate::jobs::spawn("plugins-sync", PLUGIN_SYNC_INTERVAL, PLUGIN_SYNC_INTERVAL, stop.clone(), {
        let plugins = Arc::clone(&state.plugins);
        let runtime = Arc::downgrade(&state.runtime);
        move || {
            let plugins = Arc::clone(&plugins);
            let runtime = runtime.clone();
            async move {
                // A weak handle: this job must not keep the runtime alive past shutdown.
                let Some(runtime) = runtime.upgrade() else { return Ok(()) };
                plugins.sync(&runtime).await?;
                Ok(())
            }
        }
    }));
    if retention.is_active() {
        jobs.push(crate::jobs::spawn("retention", Duration::from_secs(5), retention.interval, stop, move || {
            let executions = Arc::clone(&executions);
            let memories = Arc::clone(&memories);
            async move { crate::retention::run(retention, executions.as_ref(), Some(&memories)).await.map(|_| ()) }
        }));
    }
    jobs
}

impl Server {
    /// Opens the database (migrating it), starts the runtime (resuming this node's unfinished
    /// executions) and starts listening.
    pub async fn start(options: ServerOptions) -> anyhow::Result<Self> {
        let Stores { executions, accounts, memories: memory_store, research } =
            troupe_memory::open_stores(&options.database_url).await.with_context(|| {
                format!("failed to open the store at {}", troupe_memory::redact(&options.database_url))
            })?;
        let memories = Arc::new(options.memory.open(memory_store).await?);
        let bus = troupe_plugins::ResearchBus::new(Arc::clone(&research), options.research.key);
        let host = troupe_plugins::PluginHost::start(options.research.host, bus)
            .await
            .context("failed to start the plugin track")?;
        let plugins = Arc::new(troupe_plugins::PluginRegistry::new(host, research));
        let config = RuntimeConfig { node_id: options.node_id, resume: true, ..RuntimeConfig::default() };
        let builder = Runtime::builder().store(Arc::clone(&executions)).config(config);
        let agents = troupe_agents::AgentsConfig {
            memories: Some(Arc::clone(&memories) as Arc<dyn troupe_runtime::memory::Memories>),
            ..options.agents
        };
        let runtime = Arc::new(
            troupe_agents::register_builtins_with(builder, agents)
                .start()
                .await
                .context("failed to start the runtime")?,
        );
        let auth = Auth::new(
            accounts,
            Passwords::new(options.hash_cost),
            Jwt::new(&options.jwt_secret, ACCESS_TOKEN_TTL),
            REFRESH_TOKEN_TTL,
        );
        let report = plugins.sync(&runtime).await.context("failed to load the registered plugins")?;
        for (name, error) in &report.failed {
            tracing::warn!(plugin = %name, %error, "a registered plugin did not load");
        }
        let state = AppState::new(runtime, auth, options.http, Arc::clone(&memories), plugins);
        let observer = state.metrics.observe(&state.runtime);
        let jobs = background_jobs(&state, executions, memories, options.retention);
        let listener = tokio::net::TcpListener::bind(options.addr)
            .await
            .with_context(|| format!("failed to listen on {}", options.addr))?;
        let addr = listener.local_addr()?;
        let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let shutdown = state.shutdown.clone();
        let serving = tokio::spawn(async move {
            axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await }).await
        });
        Ok(Self { addr, state, serving, observer, jobs })
    }

    /// Stops accepting, closes WebSockets with a close frame, lets requests in flight finish,
    /// then stops the runtime once its pending writes are durable.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.state.shutdown.cancel();
        let served = tokio::time::timeout(Duration::from_secs(30), self.serving).await;
        self.observer.abort();
        for job in &self.jobs {
            job.abort();
        }
        self.state.plugins.host().stop();
        let AppState { mut runtime, .. } = self.state;
        // WebSocket tasks drop their handles as they close.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            match Arc::try_unwrap(runtime) {
                Ok(runtime) => {
                    runtime.shutdown().await;
                    break;
                }
                Err(shared) if tokio::time::Instant::now() < deadline => {
                    runtime = shared;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(_) => {
                    tracing::warn!("the runtime is still referenced; stopping without waiting for it");
                    break;
                }
            }
        }
        match served {
            Ok(Ok(result)) => result.context("the server failed"),
            Ok(Err(join)) => Err(anyhow::anyhow!("the server task failed: {join}")),
            Err(_) => Err(anyhow::anyhow!("connections did not close within 30 s")),
        }
    }
}
