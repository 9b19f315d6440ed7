//! The plugin track's own supervision tree and the agent that fronts each plugin.
//!
//! ```text
//! PluginSupervisor            its own ractor root: nothing links it to the core tree
//! └── PluginActor × plugin    runs its plugin's steps (sandbox or HTTP), checks the output
//! ```
//!
//! A run that traps, runs out of fuel or time, answers too much or something that is not the
//! declared output, or panics the host, makes the plugin's actor fail. Its supervisor restarts
//! it after a backoff, under the plugin's own restart intensity; past it the plugin is
//! **disabled** (persisted, with the reason) until an admin enables it again. The core tree
//! never sees any of it: the runtime hosts a [`PluginAgent`] for each plugin, which never
//! panics and turns every plugin failure into an ordinary step error, a refusal (consent, flag,
//! disabled) or a retry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::time::Instant;
use troupe_runtime::agent::{Agent, AgentError, AgentFactory, StepContext, StepOutput};
use troupe_runtime::ids::UserId;
use troupe_runtime::model::LogLevel;
use troupe_runtime::research::{ExperimentStatus, PluginRecord, ResearchStore};
use troupe_runtime::supervision::{Children, Exit, RestartDecision, RestartPolicy, RestartTracker};

use crate::bus::ResearchBus;
use crate::manifest::{CheckedManifest, Manifest, PluginKind, Track};
use crate::sandbox::{CompiledModule, RunLimits, Sandbox, SandboxError};

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The manifest does not check.
    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),
    /// The module does not compile or does not fit the sandbox.
    #[error("plugin module: {0}")]
    Module(SandboxError),
    /// A WASM plugin came without its module.
    #[error("a wasm plugin needs its module")]
    MissingModule,
    /// The plugin tree is not running.
    #[error("the plugin tree is unavailable: {0}")]
    Unavailable(String),
}

/// Settings of the plugin track.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Sandbox worker threads (default 1: plugins never hold more than one core).
    pub workers: usize,
    /// Runs waiting for a worker before new ones are refused as busy.
    pub queue: usize,
    /// Each plugin's restart intensity and backoff.
    pub restart: RestartPolicy,
    /// Hosts and networks HTTP plugins may be reached at although they are not public (the
    /// operator's list; a manifest cannot widen it).
    pub network_allow: Vec<String>,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            queue: 64,
            restart: RestartPolicy {
                max_restarts: 3,
                period: Duration::from_secs(60),
                backoff_initial: Duration::from_millis(100),
                backoff_max: Duration::from_secs(5),
            },
            network_allow: Vec::new(),
        }
    }
}

/// Resolves HTTP plugins' host names and drops every address the runtime's outbound policy
/// refuses, so a plugin entry cannot reach the host's or the cluster's private services.
struct SafeResolver {
    allow: troupe_runtime::net::AllowList,
}

impl reqwest::dns::Resolve for SafeResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let allow = self.allow.clone();
        Box::pin(async move {
            let addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if allow.allows_host(&host) {
                return Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs);
            }
            let reachable: Vec<std::net::SocketAddr> =
                addresses.into_iter().filter(|address| allow.refuses(address.ip()).is_none()).collect();
            if reachable.is_empty() {
                return Err(format!("refused: `{host}` does not resolve to a public address").into());
            }
            Ok(Box::new(reachable.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Checks an HTTP plugin's URL whose host is a literal address (no resolver sees those).
fn check_plugin_url(url: &reqwest::Url, allow: &troupe_runtime::net::AllowList) -> Result<(), String> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => std::net::IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => std::net::IpAddr::V6(ip),
        _ => return Ok(()),
    };
    match allow.refuses(ip) {
        Some(reason) => Err(format!("the plugin endpoint {ip} is {reason} (allow it in TROUPE_PLUGIN_NETWORK_ALLOW)")),
        None => Ok(()),
    }
}

/// Where a plugin stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginHealth {
    /// Its actor is up.
    Running,
    /// Its actor failed and waits for its restart.
    Restarting,
    /// Past its restart intensity, or switched off by an admin.
    Disabled {
        /// Why.
        reason: String,
    },
}

/// What the API shows about a loaded plugin.
#[derive(Clone, Debug)]
pub struct PluginStatus {
    /// The checked manifest.
    pub manifest: CheckedManifest,
    /// Its health.
    pub health: PluginHealth,
    /// Restarts of its actor.
    pub restarts: u64,
    /// Failed runs.
    pub failures: u64,
}

enum Runner {
    Wasm(CompiledModule),
    Http(reqwest::Url),
}

struct Loaded {
    manifest: CheckedManifest,
    runner: Runner,
    input_schema: Option<jsonschema::Validator>,
    output_schema: Option<jsonschema::Validator>,
    actor: RwLock<Option<ActorRef<PluginMsg>>>,
    state: Mutex<LoadedState>,
}

struct LoadedState {
    health: PluginHealth,
    tracker: RestartTracker,
    restarts: u64,
    failures: u64,
    /// Recent input failures (whose input, when), within the restart period.
    input_failures: std::collections::VecDeque<(UserId, Instant)>,
}

impl Loaded {
    fn state(&self) -> std::sync::MutexGuard<'_, LoadedState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn actor(&self) -> Option<ActorRef<PluginMsg>> {
        self.actor.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn set_actor(&self, actor: Option<ActorRef<PluginMsg>>) {
        *self.actor.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = actor;
    }

    fn limits(&self) -> RunLimits {
        let limits = &self.manifest.manifest.limits;
        RunLimits {
            fuel: limits.fuel,
            memory_bytes: usize::try_from(limits.memory_mb << 20).unwrap_or(usize::MAX),
            timeout: self.manifest.timeout,
            max_output_bytes: limits.max_output_bytes,
        }
    }
}

/// What a plugin answered: its output, and the metrics for the research bus.
struct Answer {
    output: Value,
    metrics: serde_json::Map<String, Value>,
}

/// A failed run, and whose fault it is.
#[derive(Debug)]
struct RunFailure {
    cause: Cause,
    message: String,
}

/// Who a failure can be blamed on, which decides whether it counts toward disabling the
/// plugin for everyone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    /// The run's input: out of fuel or time, a trap, an answer too large, not JSON or off its
    /// schema, an HTTP 4xx. It fails the step; it counts against the plugin only once inputs of
    /// [`SPANNING_USERS`] different users failed within the restart period.
    Input,
    /// The plugin or its host: an invalid module, a host panic, an HTTP endpoint that is down or
    /// answers 5xx. It counts against the plugin's restart intensity at once.
    Plugin,
    /// Not a failure of the plugin at all (the pool's queue is full): retried, never counted.
    Busy,
}

/// How many different users' inputs must fail within the restart period before input
/// failures count against a plugin: one user alone can never take a plugin from the others.
pub const SPANNING_USERS: usize = 3;

impl RunFailure {
    fn input(message: impl Into<String>) -> Self {
        Self { cause: Cause::Input, message: message.into() }
    }

    fn plugin(message: impl Into<String>) -> Self {
        Self { cause: Cause::Plugin, message: message.into() }
    }

    fn sandbox(error: SandboxError) -> Self {
        let cause = match error {
            SandboxError::OutOfFuel
            | SandboxError::TimedOut(_)
            | SandboxError::Trapped(_)
            | SandboxError::OutputTooLarge { .. } => Cause::Input,
            SandboxError::Busy => Cause::Busy,
            SandboxError::Invalid(_) | SandboxError::Import(_) | SandboxError::HostPanicked(_) => Cause::Plugin,
        };
        Self { cause, message: error.to_string() }
    }
}

enum PluginMsg {
    Run { input: Vec<u8>, owner: UserId, reply: oneshot::Sender<Result<Answer, RunFailure>> },
}

struct Shared {
    sandbox: Arc<Sandbox>,
    bus: ResearchBus,
    http: reqwest::Client,
    allow: troupe_runtime::net::AllowList,
    plugins: RwLock<HashMap<String, Arc<Loaded>>>,
    restart: RestartPolicy,
}

impl Shared {
    fn plugin(&self, name: &str) -> Option<Arc<Loaded>> {
        self.plugins.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(name).cloned()
    }
}

/// The plugin track: the sandbox, the research bus and the plugin supervision tree.
#[derive(Clone)]
pub struct PluginHost {
    shared: Arc<Shared>,
    supervisor: ActorRef<SupervisorMsg>,
}

impl PluginHost {
    /// Starts the sandbox pool and the plugin supervisor (a root of its own).
    pub async fn start(config: HostConfig, bus: ResearchBus) -> Result<Self, PluginError> {
        let sandbox = Sandbox::new(config.workers, config.queue).map_err(PluginError::Module)?;
        let allow = troupe_runtime::net::AllowList::parse(&config.network_allow);
        // No proxy from the environment: a proxy would resolve names past the resolver.
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(SafeResolver { allow: allow.clone() }))
            .build()
            .map_err(|error| PluginError::Unavailable(error.to_string()))?;
        let shared =
            Arc::new(Shared { sandbox, bus, http, allow, plugins: RwLock::default(), restart: config.restart });
        let (supervisor, _) = Actor::spawn(None, PluginSupervisor, Arc::clone(&shared))
            .await
            .map_err(|error| PluginError::Unavailable(error.to_string()))?;
        Ok(Self { shared, supervisor })
    }

    /// The research bus.
    pub fn bus(&self) -> &ResearchBus {
        &self.shared.bus
    }

    /// Checks a manifest and its module without loading it (registration does this first).
    pub async fn check(&self, manifest: Value, module: Option<&[u8]>) -> Result<CheckedManifest, PluginError> {
        let checked = Manifest::from_value(manifest)?;
        if checked.manifest.kind == PluginKind::Wasm {
            let module = module.ok_or(PluginError::MissingModule)?.to_vec();
            let sandbox = Arc::clone(&self.shared.sandbox);
            tokio::task::spawn_blocking(move || sandbox.compile(&module))
                .await
                .map_err(|error| PluginError::Unavailable(error.to_string()))?
                .map_err(PluginError::Module)?;
        }
        Ok(checked)
    }

    /// Loads (or reloads) a registered plugin and starts its actor; a disabled registration is
    /// loaded disabled.
    pub async fn load(&self, record: &PluginRecord) -> Result<(), PluginError> {
        let manifest = Manifest::from_value(record.manifest.clone())?;
        let runner = match manifest.manifest.kind {
            PluginKind::Wasm => {
                let module = record.module.clone().ok_or(PluginError::MissingModule)?;
                let sandbox = Arc::clone(&self.shared.sandbox);
                let compiled = tokio::task::spawn_blocking(move || sandbox.compile(&module))
                    .await
                    .map_err(|error| PluginError::Unavailable(error.to_string()))?
                    .map_err(PluginError::Module)?;
                Runner::Wasm(compiled)
            }
            PluginKind::Http => Runner::Http(
                reqwest::Url::parse(&manifest.manifest.entry)
                    .map_err(|error| PluginError::Unavailable(format!("entry: {error}")))?,
            ),
        };
        let schema =
            |schema: &Option<Value>| schema.as_ref().and_then(|schema| crate::manifest::compile_schema(schema).ok());
        let health = if record.enabled {
            PluginHealth::Restarting
        } else {
            PluginHealth::Disabled {
                reason: record.disabled_reason.clone().unwrap_or_else(|| "disabled by an admin".into()),
            }
        };
        let loaded = Arc::new(Loaded {
            input_schema: schema(&manifest.manifest.input_schema),
            output_schema: schema(&manifest.manifest.output_schema),
            manifest,
            runner,
            actor: RwLock::new(None),
            state: Mutex::new(LoadedState {
                health,
                tracker: RestartTracker::new(self.shared.restart),
                input_failures: Default::default(),
                restarts: 0,
                failures: 0,
            }),
        });
        let name = record.name.clone();
        let previous =
            self.shared.plugins.write().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(name.clone(), loaded);
        if let Some(actor) = previous.and_then(|previous| previous.actor()) {
            actor.stop(Some("plugin reloaded".into()));
        }
        if record.enabled {
            self.spawn(&name).await?;
        }
        Ok(())
    }

    async fn spawn(&self, name: &str) -> Result<(), PluginError> {
        let (reply, done) = oneshot::channel();
        self.supervisor
            .send_message(SupervisorMsg::Start { name: name.to_owned(), reply: Some(reply) })
            .map_err(|error| PluginError::Unavailable(error.to_string()))?;
        done.await.map_err(|_| PluginError::Unavailable("the plugin supervisor stopped".into()))
    }

    /// Stops and forgets a plugin.
    pub fn unload(&self, name: &str) {
        let removed = self.shared.plugins.write().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(name);
        if let Some(actor) = removed.and_then(|removed| removed.actor()) {
            actor.stop(Some("plugin removed".into()));
        }
    }

    /// Disables a plugin (its steps are refused) until [`PluginHost::enable`].
    pub fn disable(&self, name: &str, reason: &str) -> bool {
        let Some(plugin) = self.shared.plugin(name) else { return false };
        plugin.state().health = PluginHealth::Disabled { reason: reason.to_owned() };
        if let Some(actor) = plugin.actor() {
            plugin.set_actor(None);
            actor.stop(Some("plugin disabled".into()));
        }
        true
    }

    /// Enables a disabled plugin again with a fresh restart intensity.
    pub async fn enable(&self, name: &str) -> Result<bool, PluginError> {
        let Some(plugin) = self.shared.plugin(name) else { return Ok(false) };
        {
            let mut state = plugin.state();
            if !matches!(state.health, PluginHealth::Disabled { .. }) {
                return Ok(true);
            }
            state.health = PluginHealth::Restarting;
            state.tracker.reset();
        }
        self.spawn(name).await?;
        Ok(true)
    }

    /// The status of a loaded plugin.
    pub fn status(&self, name: &str) -> Option<PluginStatus> {
        let plugin = self.shared.plugin(name)?;
        let state = plugin.state();
        Some(PluginStatus {
            manifest: plugin.manifest.clone(),
            health: state.health.clone(),
            restarts: state.restarts,
            failures: state.failures,
        })
    }

    /// The names of the loaded plugins.
    pub fn loaded(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.shared.plugins.read().unwrap_or_else(|poisoned| poisoned.into_inner()).keys().cloned().collect();
        names.sort();
        names
    }

    /// The agent the runtime hosts for plugin `name` (a fresh front each time: it holds no
    /// state of its own).
    pub fn agent_factory(&self, name: &str) -> AgentFactory {
        let agent = PluginAgent { name: name.to_owned(), shared: Arc::clone(&self.shared) };
        Arc::new(move || Arc::new(agent.clone()) as Arc<dyn Agent>)
    }

    /// Stops the plugin tree.
    pub fn stop(&self) {
        self.supervisor.stop(Some("stopping".into()));
    }
}

/// Whether a research plugin may run for this user now: its experiment is active, its flag is
/// on for the user, and the user's latest consent change is a grant. `Err` says why not.
pub async fn permitted(
    store: &dyn ResearchStore,
    manifest: &Manifest,
    user: troupe_runtime::ids::UserId,
) -> Result<Result<(), String>, troupe_runtime::store::StoreError> {
    let Some(research) = manifest.research.as_ref().filter(|_| manifest.track == Track::Research) else {
        return Ok(Ok(()));
    };
    match store.get_experiment(&research.experiment).await? {
        None => return Ok(Err(format!("experiment `{}` does not exist", research.experiment))),
        Some(experiment) if experiment.status == ExperimentStatus::Closed => {
            return Ok(Err(format!("experiment `{}` is closed", research.experiment)));
        }
        Some(_) => {}
    }
    let flag_on = store.get_flag(&research.flag).await?.is_some_and(|flag| flag.is_on_for(user));
    if !flag_on {
        return Ok(Err(format!("feature flag `{}` is off for this user", research.flag)));
    }
    if !store.has_consent(user, &research.experiment).await? {
        return Ok(Err(format!("the user has not consented to experiment `{}`", research.experiment)));
    }
    Ok(Ok(()))
}

/// The agent the runtime hosts for one plugin: gate, then a run through the plugin's actor.
#[derive(Clone)]
pub struct PluginAgent {
    name: String,
    shared: Arc<Shared>,
}

/// Slack beyond a plugin's own time limit for its queueing and the actor hop.
const RUN_SLACK: Duration = Duration::from_secs(5);

#[async_trait]
impl Agent for PluginAgent {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, AgentError> {
        let Some(plugin) = self.shared.plugin(&self.name) else {
            return Err(AgentError::refused(format!("plugin `{}` is not loaded", self.name)));
        };
        if let PluginHealth::Disabled { reason } = plugin.state().health.clone() {
            return Err(AgentError::refused(format!("plugin `{}` is disabled: {reason}", self.name)));
        }
        let manifest = &plugin.manifest.manifest;
        let store = self.shared.bus.store();
        match permitted(store.as_ref(), manifest, ctx.owner).await {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => return Err(AgentError::refused(reason)),
            Err(error) => return Err(AgentError::retryable(format!("cannot check consent: {error}"))),
        }
        let dependencies: serde_json::Map<String, Value> = ctx
            .dependencies
            .iter()
            .map(|dependency| (String::from(&*dependency.key), dependency.output.as_ref().clone()))
            .collect();
        let input = json!({
            "step": ctx.step_key,
            "attempt": ctx.attempt,
            "input": ctx.input.as_ref(),
            "params": ctx.params.as_ref(),
            "dependencies": dependencies,
        });
        if let Some(schema) = &plugin.input_schema
            && let Some(error) = schema.iter_errors(&input["input"]).next()
        {
            return Err(AgentError::fatal(format!(
                "the input does not match plugin `{}`'s input schema at `{}`: {error}",
                self.name,
                error.instance_path()
            )));
        }
        let Some(actor) = plugin.actor() else {
            return Err(AgentError::retryable(format!("plugin `{}` is restarting", self.name)));
        };
        let (reply, answer) = oneshot::channel();
        let input = serde_json::to_vec(&input).map_err(|error| AgentError::fatal(error.to_string()))?;
        if actor.send_message(PluginMsg::Run { input, owner: ctx.owner, reply }).is_err() {
            return Err(AgentError::retryable(format!("plugin `{}` is restarting", self.name)));
        }
        let answer = tokio::select! {
            answer = tokio::time::timeout(plugin.manifest.timeout + RUN_SLACK, answer) => answer,
            _ = ctx.cancelled() => return Err(AgentError::Cancelled),
        };
        let Answer { output, metrics } = match answer {
            Ok(Ok(Ok(answer))) => answer,
            Ok(Ok(Err(RunFailure { cause, message }))) => {
                let message = format!("plugin `{}` failed: {message}", self.name);
                // The same input would fail the same way: only the plugin's own trouble is retried.
                return Err(match cause {
                    Cause::Input => AgentError::fatal(message),
                    Cause::Plugin | Cause::Busy => AgentError::retryable(message),
                });
            }
            Ok(Err(_)) => {
                return Err(AgentError::retryable(format!("plugin `{}` restarted during the run", self.name)));
            }
            Err(_) => return Err(AgentError::retryable(format!("plugin `{}` did not answer in time", self.name))),
        };
        let mut step =
            StepOutput::new(output).log(LogLevel::Info, format!("plugin {} {} ran", manifest.name, manifest.version));
        if let Some(research) = &manifest.research
            && !metrics.is_empty()
        {
            // Consent is read again here: a revocation during the run stops this delivery.
            match self.shared.bus.observe(&research.experiment, ctx.owner, &metrics, &research.metrics).await {
                Ok(kept) => step = step.log(LogLevel::Debug, format!("{kept} metric(s) sent to the research bus")),
                Err(error) => tracing::warn!(plugin = %self.name, %error, "the research bus refused the metrics"),
            }
        }
        Ok(step)
    }
}

/// Runs one input through a plugin and checks the answer.
async fn run_plugin(shared: &Shared, plugin: &Loaded, input: Vec<u8>) -> Result<Answer, RunFailure> {
    let limits = plugin.limits();
    let bytes = match &plugin.runner {
        Runner::Wasm(module) => shared.sandbox.run(module, input, limits).await.map_err(RunFailure::sandbox)?,
        Runner::Http(url) => {
            check_plugin_url(url, &shared.allow).map_err(RunFailure::plugin)?;
            call_http(&shared.http, url, input, limits).await?
        }
    };
    let answer: Value = serde_json::from_slice(&bytes)
        .map_err(|error| RunFailure::input(format!("the answer is not JSON: {error}")))?;
    let Value::Object(mut answer) = answer else {
        return Err(RunFailure::input("the answer is not a JSON object"));
    };
    let output = answer.remove("output").ok_or_else(|| RunFailure::input("the answer has no `output`"))?;
    let metrics = match answer.remove("metrics") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(metrics)) => metrics,
        Some(_) => return Err(RunFailure::input("`metrics` must be an object")),
    };
    if let Some(schema) = &plugin.output_schema
        && let Some(error) = schema.iter_errors(&output).next()
    {
        return Err(RunFailure::input(format!(
            "the output does not match the declared schema at `{}`: {error}",
            error.instance_path()
        )));
    }
    Ok(Answer { output, metrics })
}

async fn call_http(
    client: &reqwest::Client,
    url: &reqwest::Url,
    input: Vec<u8>,
    limits: RunLimits,
) -> Result<Vec<u8>, RunFailure> {
    let response = client
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .timeout(limits.timeout)
        .body(input)
        .send()
        .await
        .map_err(|error| RunFailure::plugin(format!("the plugin endpoint did not answer: {}", error.without_url())))?;
    let status = response.status();
    if status.is_client_error() {
        return Err(RunFailure::input(format!("the plugin endpoint answered {status}")));
    }
    if !status.is_success() {
        return Err(RunFailure::plugin(format!("the plugin endpoint answered {status}")));
    }
    let mut response = response;
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| RunFailure::plugin(format!("reading the answer: {}", error.without_url())))?
    {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > limits.max_output_bytes {
            return Err(RunFailure::input(
                SandboxError::OutputTooLarge { size: body.len() as u64, limit: limits.max_output_bytes }.to_string(),
            ));
        }
    }
    Ok(body)
}

enum SupervisorMsg {
    Start { name: String, reply: Option<oneshot::Sender<()>> },
}

struct PluginSupervisor;

struct SupervisorState {
    shared: Arc<Shared>,
    children: Children<(String, Arc<Loaded>)>,
}

impl Actor for PluginSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = Arc<Shared>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        shared: Arc<Shared>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(SupervisorState { shared, children: Children::default() })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let SupervisorMsg::Start { name, reply } = message;
        if let Some(plugin) = state.shared.plugin(&name)
            && !matches!(plugin.state().health, PluginHealth::Disabled { .. })
            && plugin.actor().is_none()
        {
            let args = (Arc::clone(&state.shared), Arc::clone(&plugin));
            match Actor::spawn_linked(None, PluginActor, args, myself.get_cell()).await {
                Ok((actor, _)) => {
                    state.children.insert(actor.get_id(), (name.clone(), Arc::clone(&plugin)));
                    plugin.set_actor(Some(actor));
                    plugin.state().health = PluginHealth::Running;
                }
                Err(error) => tracing::error!(plugin = %name, %error, "the plugin actor failed to start"),
            }
        }
        if let Some(reply) = reply {
            let _ = reply.send(());
        }
        Ok(())
    }

    // Every child exit is handled here, normal stops included (ractor's default would stop the
    // supervisor when any child exits).
    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let Some(Exit { actor: exited, child: (name, plugin), reason, failed }) = state.children.exited(event) else {
            return Ok(());
        };
        if plugin.actor().is_some_and(|actor| actor.get_id() == exited) {
            plugin.set_actor(None);
        }
        if !failed {
            return Ok(());
        }
        let decision = {
            let mut plugin_state = plugin.state();
            plugin_state.restarts += 1;
            let decision = plugin_state.tracker.record_crash(Instant::now());
            plugin_state.health = match &decision {
                RestartDecision::Restart(_) => PluginHealth::Restarting,
                RestartDecision::Escalate => PluginHealth::Disabled {
                    reason: format!("it failed more than its restart intensity allows (last: {reason})"),
                },
            };
            decision
        };
        match decision {
            RestartDecision::Restart(delay) => {
                tracing::warn!(plugin = %name, %reason, ?delay, "plugin failed; restarting it");
                myself.send_after(delay, move || SupervisorMsg::Start { name, reply: None });
            }
            RestartDecision::Escalate => {
                tracing::error!(plugin = %name, %reason, "plugin failed past its restart intensity; disabled");
                // Only the plugin that owns this entry is persisted as disabled (a reload may
                // have replaced it meanwhile).
                let current = state.shared.plugin(&name).is_some_and(|current| Arc::ptr_eq(&current, &plugin));
                if current {
                    let disabled = format!("disabled after repeated failures (last: {reason})");
                    if let Err(error) = state.shared.bus.store().set_plugin_enabled(&name, false, Some(&disabled)).await
                    {
                        tracing::warn!(plugin = %name, %error, "cannot record that the plugin is disabled");
                    }
                }
            }
        }
        Ok(())
    }
}

struct PluginActor;

/// Records an input failure of `owner`; returns whether recent input failures now span
/// [`SPANNING_USERS`] users (then they count as one crash of the plugin, and start over).
fn spans_users(state: &mut LoadedState, owner: UserId, period: Duration) -> bool {
    let now = Instant::now();
    state.input_failures.retain(|(_, at)| now.duration_since(*at) <= period);
    state.input_failures.push_back((owner, now));
    let mut users: Vec<UserId> = state.input_failures.iter().map(|(user, _)| *user).collect();
    users.sort_unstable_by_key(|user| user.0);
    users.dedup();
    if users.len() >= SPANNING_USERS {
        state.input_failures.clear();
        return true;
    }
    false
}

impl Actor for PluginActor {
    type Msg = PluginMsg;
    type State = (Arc<Shared>, Arc<Loaded>);
    type Arguments = (Arc<Shared>, Arc<Loaded>);

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        (shared, plugin): &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let PluginMsg::Run { input, owner, reply } = message;
        match run_plugin(shared, plugin, input).await {
            Ok(answer) => {
                let _ = reply.send(Ok(answer));
                Ok(())
            }
            Err(failure) => {
                let crash = {
                    let mut state = plugin.state();
                    state.failures += 1;
                    match failure.cause {
                        Cause::Plugin => true,
                        Cause::Busy => false,
                        Cause::Input => spans_users(&mut state, owner, shared.restart.period),
                    }
                };
                let message = failure.message.clone();
                let _ = reply.send(Err(failure));
                if crash {
                    // A crash of this plugin: its supervisor decides what follows.
                    Err(message.into())
                } else {
                    Ok(())
                }
            }
        }
    }
}
