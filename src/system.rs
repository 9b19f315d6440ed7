//! The composition root: the one place that opens stores, memory, the plugin host, agents, the
//! runtime, background jobs and the server, from a [`Config`].
//!
//! Every command assembles what it needs here and nowhere else, so `troupe serve`, `troupe
//! run` and `troupe resume` run the same system: the same stores, memory service, plugin track
//! (a plugin step that `serve` started is finished by `resume`), agents and runtime. Adding a
//! component is a field in [`Config`] and a line in [`System::open`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use troupe_gateway::auth::{Auth, Jwt, Passwords};
use troupe_gateway::http::{AppState, router};
use troupe_gateway::services::own_models::OwnModels;
use troupe_memory::{MemoryService, Stores};
use troupe_plugins::PluginRegistry;
use troupe_runtime::{Runtime, RuntimeConfig};

use crate::config::secrets::{self, Secrets};
use crate::config::{Config, REFRESH_TOKEN_TTL};
use crate::jobs::Job;

/// What the system is assembled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `troupe serve`: resumes this node's unfinished executions, needs memories, runs the
    /// background jobs and the HTTP server.
    Serve,
    /// `troupe run`: starts nothing left over; goes on without memories if the vector store is
    /// busy (a server holds it).
    Run {
        /// The most executions running at once.
        max_live: Option<usize>,
    },
    /// `troupe resume`: finishes what a stopped or killed process left.
    Resume,
}

/// How often plugin registrations are brought in line (a `troupe plugin add` elsewhere).
const PLUGIN_SYNC_INTERVAL: Duration = Duration::from_secs(2);
/// How often the vector index is brought up to date (in the background).
const INDEX_UPKEEP_INTERVAL: Duration = Duration::from_secs(60);
/// How often buffered vector writes are made durable.
const VECTOR_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// An assembled troupe.
pub struct System {
    /// The configuration it was assembled from.
    pub config: Config,
    /// The runtime (and through it the execution store).
    pub runtime: Arc<Runtime>,
    /// Accounts and tokens.
    pub auth: Auth,
    /// Users' memories (`None` only for a local run whose vector store is busy).
    pub memories: Option<Arc<MemoryService>>,
    /// The plugin track.
    pub plugins: Arc<PluginRegistry>,
    code_box: Arc<troupe_agents::sandbox::CodeBox>,
    own_models: Arc<OwnModels>,
    stores: Stores,
    /// Signals to and from the other nodes sharing the database (`serve` on PostgreSQL).
    signals: Option<Arc<dyn troupe_runtime::cluster::ClusterSignals>>,
    /// A move of the memories' vectors to another embedder, run by `serve` in the background.
    embedder_switch: Option<Arc<crate::embeddings::Switch>>,
}

/// Opens the store named by the configuration (creating the data dir) and migrates it.
pub async fn open_stores(config: &Config) -> anyhow::Result<Stores> {
    secrets::ensure_data_dir(&config.data_dir)?;
    troupe_memory::open_stores(&config.database_url)
        .await
        .with_context(|| format!("failed to open the store at {}", troupe_memory::redact(&config.database_url)))
}

/// Opens the memory service on `stores` (for a command that runs no background work: a move
/// to another embedder goes on only under `serve`).
pub async fn open_memories(config: &Config, stores: &Stores, secrets: &Secrets) -> anyhow::Result<MemoryService> {
    Ok(crate::embeddings::open(config, stores, secrets, false).await?.0)
}

/// Joins the cluster of nodes sharing the store: refuses when a live node already runs under
/// this id, or when this node's secrets differ from the cluster's. A node of this id on this
/// host whose process is gone (killed) is its own predecessor, not a live node.
pub async fn join_cluster(config: &Config, stores: &Stores, secrets: &Secrets, node: &str) -> anyhow::Result<()> {
    let store = &stores.executions;
    let ttl = config.lease_ttl.as_millis() as i64;
    let here = troupe_runtime::cluster::this_process();
    let nodes = store.list_nodes(ttl).await.context("cannot read the cluster's nodes")?;
    if let Some(previous) = nodes.iter().find(|previous| previous.id == node && previous.live) {
        let same_host = previous.status.get("host").is_some() && previous.status.get("host") == here.get("host");
        let gone = previous.status.get("pid").and_then(serde_json::Value::as_u64).is_some_and(|pid| {
            Some(pid) != here.get("pid").and_then(serde_json::Value::as_u64)
                && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        });
        if same_host && gone {
            store.leave_cluster(node).await.context("cannot replace this node's dead predecessor")?;
        }
    }
    store
        .register_node(node, &secrets.fingerprints(), ttl)
        .await
        .map_err(|error| anyhow::anyhow!("cannot join the cluster as `{node}`: {error}"))?;
    store.heartbeat_node(node, &here).await.context("cannot record this node's heartbeat")?;
    tracing::info!(node, "joined the cluster");
    Ok(())
}

/// Starts the plugin host (its own supervision tree and worker pool) over the research store.
pub async fn open_plugins(config: &Config, stores: &Stores, secrets: &Secrets) -> anyhow::Result<PluginRegistry> {
    let bus = troupe_plugins::ResearchBus::new(Arc::clone(&stores.research), secrets.research.clone());
    let host = troupe_plugins::PluginHost::start(config.plugins.clone(), bus)
        .await
        .context("failed to start the plugin track")?;
    Ok(PluginRegistry::new(host, Arc::clone(&stores.research)))
}

/// Builds the account service.
pub fn auth(config: &Config, stores: &Stores, secrets: &Secrets) -> anyhow::Result<Auth> {
    let auth = Auth::new(
        Arc::clone(&stores.accounts),
        Passwords::new(config.hash_cost),
        Jwt::new(&secrets.jwt, config.access_token_ttl),
        REFRESH_TOKEN_TTL,
    );
    Ok(auth.with_mail(troupe_gateway::auth::mailed::AccountMail::new(mailer(config)?, config.mail.public_url.clone())))
}

/// Where account mail goes: the SMTP server; else, in development, the data dir's outbox;
/// else nowhere (production without SMTP says so at start).
fn mailer(config: &Config) -> anyhow::Result<troupe_gateway::mail::Mailer> {
    use troupe_gateway::mail::Mailer;
    let from = config.mail.from.as_deref().unwrap_or("troupe <troupe@localhost>");
    Ok(match &config.mail.smtp_url {
        Some(url) => Mailer::smtp(url, from)?,
        None if config.environment == crate::config::Environment::Development => {
            Mailer::outbox(&config.data_dir.join("outbox"), from)?
        }
        None => {
            tracing::warn!(
                "no TROUPE_SMTP_URL: this server sends no mail, so email verification and password reset are off"
            );
            Mailer::off()
        }
    })
}

/// The built-in agents' configuration.
pub fn agents_config(
    config: &Config,
    memories: Option<Arc<MemoryService>>,
    files: Arc<dyn troupe_runtime::files::FileStore>,
    own_models: Arc<OwnModels>,
) -> anyhow::Result<troupe_agents::AgentsConfig> {
    let llm = match &config.llm_provider {
        Some(provider) => Arc::clone(provider),
        None => config.llm.build()?,
    };
    let agents = &config.agents;
    let fetcher = troupe_agents::fetch::Fetcher::new(troupe_agents::fetch::FetchPolicy {
        allow: agents.fetch_allow.clone(),
        proxy: agents.fetch_proxy.clone(),
        ..troupe_agents::fetch::FetchPolicy::default()
    });
    Ok(troupe_agents::AgentsConfig {
        llm,
        models: agents.models.clone(),
        sandbox: Arc::new(troupe_agents::sandbox::CodeBox::new(agents.sandbox.clone())),
        workspaces: config.data_dir.join("workspaces"),
        price_per_million: agents.price.map(|price| (price.prompt, price.completion)),
        memories: memories.map(|memories| memories as Arc<dyn troupe_runtime::memory::Memories>),
        fetcher: Arc::new(fetcher),
        ingest_roots: agents.ingest_roots.clone(),
        youtube_base_url: agents.youtube_base_url.clone(),
        files: Some(files),
        owner_models: Some(own_models),
    })
}

impl System {
    /// Assembles everything `mode` needs: stores, secrets, memories, the plugin track and its
    /// registered plugins, the built-in agents and the runtime.
    pub async fn open(config: Config, mode: Mode) -> anyhow::Result<Self> {
        let stores = open_stores(&config).await?;
        let secrets = Secrets::load(&config)?;
        let (memories, embedder_switch) =
            match crate::embeddings::open(&config, &stores, &secrets, mode == Mode::Serve).await {
                Ok((memories, switch)) => (Some(Arc::new(memories)), switch.map(Arc::new)),
                // Memories are a help, not a requirement, for a local run.
                Err(error) if mode != Mode::Serve => {
                    tracing::warn!(error = %format!("{error:#}"), "memories are unavailable to this run");
                    (None, None)
                }
                Err(error) => return Err(error),
            };
        let plugins = Arc::new(open_plugins(&config, &stores, &secrets).await?);
        let node_id = secrets::node_id(&config)?;
        let signals = if mode == Mode::Serve {
            join_cluster(&config, &stores, &secrets, &node_id).await?;
            troupe_memory::open_signals(&config.database_url).await.context("cannot listen to the other nodes")?
        } else {
            None
        };
        let runtime_config = RuntimeConfig {
            node_id,
            lease_ttl: config.lease_ttl,
            claims: mode == Mode::Serve,
            resume: !matches!(mode, Mode::Run { .. }),
            max_live_executions: match mode {
                Mode::Run { max_live } => max_live,
                _ => None,
            },
            ..RuntimeConfig::default()
        };
        let mut builder = Runtime::builder().store(Arc::clone(&stores.executions)).config(runtime_config);
        if let Some(signals) = &signals {
            builder = builder.signals(Arc::clone(signals));
        }
        // The plugins' kinds are known before the runtime resumes anything that names them.
        for (kind, factory) in plugins.preload().await.context("failed to load the registered plugins")? {
            builder = builder.agent_factory(kind, move || factory());
        }
        let own_models = Arc::new(OwnModels::new(
            Arc::clone(&stores.accounts),
            Arc::clone(&secrets.memory_keys),
            config.llm.clone(),
        ));
        let agents = agents_config(&config, memories.clone(), Arc::clone(&stores.files), Arc::clone(&own_models))?;
        let code_box = Arc::clone(&agents.sandbox);
        let runtime = Arc::new(
            troupe_agents::register_builtins_with(builder, agents)
                .start()
                .await
                .context("failed to start the runtime")?,
        );
        let report = plugins.sync(&runtime).await.context("failed to load the registered plugins")?;
        for (name, error) in &report.failed {
            tracing::warn!(plugin = %name, %error, "a registered plugin did not load");
        }
        let auth = auth(&config, &stores, &secrets)?;
        Ok(Self { config, runtime, auth, memories, plugins, code_box, own_models, stores, signals, embedder_switch })
    }

    /// Account deletion over this system's stores (it needs the memory service: with the
    /// embedded vector store, no server may hold it).
    pub fn deletion(&self) -> anyhow::Result<troupe_gateway::services::deletion::Deletion> {
        let memories = self.memories.clone().context(
            "the memory store is busy (a server holds the embedded vector store): stop it, or delete the user through \
             the API",
        )?;
        Ok(troupe_gateway::services::deletion::Deletion {
            auth: self.auth.clone(),
            runtime: Arc::clone(&self.runtime),
            memories,
            plugins: Arc::clone(&self.plugins),
            workspaces: Some(self.config.data_dir.join("workspaces")),
        })
    }

    /// Returns what the code box looks like here (probing it on first use).
    pub async fn code_box_status(&self) -> troupe_agents::sandbox::BoxStatus {
        self.code_box.status().await.clone()
    }

    /// Returns the gateway's state over this system (for `serve`, and for tests driving the
    /// router with `oneshot`).
    pub fn app_state(&self) -> anyhow::Result<AppState> {
        let memories = self.memories.clone().context("the server needs the memory service")?;
        let mut settings = self.config.http.clone();
        settings.workspaces = Some(self.config.data_dir.join("workspaces"));
        Ok(AppState::new(
            Arc::clone(&self.runtime),
            self.auth.clone(),
            settings,
            memories,
            Arc::clone(&self.plugins),
            Arc::clone(&self.stores.files),
            Arc::clone(&self.own_models),
        ))
    }

    /// Starts the background jobs and the HTTP server on the configured address.
    pub async fn serve(self) -> anyhow::Result<Server> {
        let state = self.app_state()?;
        let observer = state.metrics.observe(&state.runtime);
        let memories = Arc::clone(&state.memories);
        if let Some(signals) = &self.signals {
            memories.announce_to(Arc::clone(signals), state.runtime.node_id().to_owned());
            follow_memory_changes(&state.runtime, Arc::clone(&memories), state.shutdown.clone());
        }
        let mut jobs =
            background_jobs(&state, Arc::clone(&self.stores.executions), Arc::clone(&memories), self.config.retention);
        if let Some(switch) = self.embedder_switch.clone() {
            jobs.push(crate::jobs::spawn(
                "memory-embedder-switch",
                Duration::ZERO,
                INDEX_UPKEEP_INTERVAL,
                state.shutdown.clone(),
                move || {
                    let switch = Arc::clone(&switch);
                    let memories = Arc::clone(&memories);
                    async move { switch.run(&memories).await }
                },
            ));
        }
        let listener = tokio::net::TcpListener::bind(self.config.addr)
            .await
            .with_context(|| format!("failed to listen on {}", self.config.addr))?;
        let addr = listener.local_addr()?;
        // Small writes go out at once (live events, WebSocket frames): with Nagle's algorithm a
        // frame written while the last is unacknowledged waits for the peer's delayed ACK.
        let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY on an accepted connection");
            }
        });
        let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let shutdown = state.shutdown.clone();
        let serving = tokio::spawn(async move {
            axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await }).await
        });
        Ok(Server { addr, state, system: self, serving, observer, jobs })
    }

    /// Stops the plugin track and the runtime once its pending writes are durable.
    pub async fn shutdown(self) {
        self.plugins.host().stop();
        let System { runtime, .. } = self;
        stop_runtime(runtime).await;
    }
}

/// Stops a shared runtime, waiting (briefly) for the last other handle to go.
async fn stop_runtime(mut runtime: Arc<Runtime>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match Arc::try_unwrap(runtime) {
            Ok(runtime) => {
                runtime.shutdown().await;
                return;
            }
            Err(shared) if tokio::time::Instant::now() < deadline => {
                runtime = shared;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(_) => {
                tracing::warn!("the runtime is still referenced; stopping without waiting for it");
                return;
            }
        }
    }
}

/// A running server.
pub struct Server {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The handlers' state (runtime, auth, metrics).
    pub state: AppState,
    system: System,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
    observer: tokio::task::JoinHandle<()>,
    jobs: Vec<Job>,
}

impl Server {
    /// Returns the system it serves.
    pub fn system(&self) -> &System {
        &self.system
    }

    /// Stops accepting, closes WebSockets with a close frame, lets requests in flight finish,
    /// then stops the system.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let Server { state, system, serving, observer, jobs, .. } = self;
        state.shutdown.cancel();
        let served = tokio::time::timeout(Duration::from_secs(30), serving).await;
        observer.abort();
        for job in &jobs {
            job.abort();
        }
        // WebSocket tasks drop their handles as they close.
        drop(state);
        system.shutdown().await;
        match served {
            Ok(Ok(result)) => result.context("the server failed"),
            Ok(Err(join)) => Err(anyhow::anyhow!("the server task failed: {join}")),
            Err(_) => Err(anyhow::anyhow!("connections did not close within 30 s")),
        }
    }
}

/// Keeps this node's memory index in line with the records other nodes change (the embedded
/// vector engine is per node; the records are shared), until `stop`.
fn follow_memory_changes(runtime: &Runtime, memories: Arc<MemoryService>, stop: CancellationToken) {
    use troupe_runtime::cluster::Signal;
    let Some(mut signals) = runtime.cluster_signals() else { return };
    let node = runtime.node_id().to_owned();
    tokio::spawn(async move {
        loop {
            let signaled = tokio::select! {
                _ = stop.cancelled() => return,
                signaled = signals.recv() => signaled,
            };
            let result = match signaled {
                Ok(signaled) if signaled.from == node => continue,
                Ok(signaled) => match &signaled.signal {
                    Signal::Memory { owner, id } => memories.sync_from_store(*owner, *id).await.map_err(Into::into),
                    Signal::Resync => memories.reconcile().await.map(drop).map_err(Into::into),
                    _ => continue,
                },
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    memories.reconcile().await.map(drop).map_err(Into::into)
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            if let Err(error) = result {
                let error: anyhow::Error = error;
                tracing::warn!(error = %format!("{error:#}"), "cannot bring the memory index in line with another node's change");
            }
        }
    });
}

/// Starts the server's background work: one reconciliation of memory records and vectors
/// (re-indexing what a killed process left unindexed), the vector index upkeep and flushes,
/// plugin registration sync, and retention when a policy is configured.
fn background_jobs(
    state: &AppState,
    executions: Arc<dyn troupe_runtime::store::ExecutionStore>,
    memories: Arc<MemoryService>,
    retention: crate::retention::RetentionPolicy,
) -> Vec<Job> {
    let stop: CancellationToken = state.shutdown.clone();
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
                for vectors in memories.vector_stores() {
                    vectors.optimize().await?;
                }
                Ok(())
            }
        }
    })];
    jobs.push(crate::jobs::spawn("memory-flush", VECTOR_FLUSH_INTERVAL, VECTOR_FLUSH_INTERVAL, stop.clone(), {
        let memories = Arc::clone(&memories);
        move || {
            let memories = Arc::clone(&memories);
            async move {
                for vectors in memories.vector_stores() {
                    vectors.flush().await?;
                }
                Ok(())
            }
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
        let deletion = state.deletion();
        let accounts = Arc::clone(state.auth.store());
        jobs.push(crate::jobs::spawn("retention", Duration::from_secs(5), retention.interval, stop, move || {
            let executions = Arc::clone(&executions);
            let memories = Arc::clone(&memories);
            let accounts = Arc::clone(&accounts);
            let deletion = deletion.clone();
            async move {
                let stores = crate::retention::Stores {
                    executions: executions.as_ref(),
                    accounts: accounts.as_ref(),
                    memories: Some(&memories),
                    workspaces: deletion.workspaces.as_deref(),
                    deletion: Some(&deletion),
                };
                crate::retention::run(retention, stores).await.map(|_| ())
            }
        }));
    }
    jobs
}

/// Raises this process's soft limit on open descriptors to its hard limit: a server holds one
/// per connection, and a soft limit of 1,024 (a common default) would refuse the 1,025th client
/// while the hard limit allows far more. Best effort: logged when it cannot.
pub fn raise_descriptor_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current == limit.maximum {
        return;
    }
    let raised = rustix::process::Rlimit { current: limit.maximum, maximum: limit.maximum };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => tracing::debug!(from = ?limit.current, to = ?limit.maximum, "raised the open-descriptor limit"),
        Err(error) => tracing::warn!(%error, current = ?limit.current, "cannot raise the open-descriptor limit"),
    }
}
