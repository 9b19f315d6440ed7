//! Configuration: resolved once, used everywhere.
//!
//! Flags win over `TROUPE_*` variables (clap reads both, [`Settings`]), which win over the
//! optional TOML file (`--config` / `TROUPE_CONFIG`), which wins over the defaults. The result
//! is one [`Config`], checked: a wrong provider name, a missing model, a weak secret in
//! production are errors here, at start. [`Config::default`] is the embedded default
//! (`./troupe-data`, SQLite, the offline provider); [`Config::for_tests`] the same in a
//! directory of the test's, with cheap password hashing and no rate limits.
//!
//! Secrets that are not given are generated into the data dir (development only) when the
//! system is assembled ([`secrets`]), not here: resolving a configuration writes nothing.

pub mod memory;
pub mod secrets;
mod settings;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use troupe_agents::llm::LlmProvider;
use troupe_agents::llm::config::{LlmSettings, ProviderKind};
use troupe_agents::sandbox::{SandboxMode, SandboxPolicy};
use troupe_gateway::auth::HashCost;
use troupe_gateway::http::HttpSettings;
use troupe_gateway::http::limits::RateLimit;
use troupe_memory::VectorBackend;
use troupe_plugins::HostConfig;

pub use memory::EmbedderSettings;
pub use settings::{ModelMap, Price, Settings};

use crate::retention::RetentionPolicy;

/// The shortest JWT secret accepted in production, in bytes.
pub const MIN_SECRET_LEN: usize = 32;
const DEFAULT_ADDR: &str = "127.0.0.1:8080";
/// Where state lives unless `--data-dir` says otherwise.
pub const DEFAULT_DATA_DIR: &str = "./troupe-data";

/// How strict troupe is about its configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Generates missing secrets into the data dir.
    #[default]
    Development,
    /// Refuses to start with generated, missing or weak secrets, or an unconfined code box.
    Production,
}

/// How logs are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// An LLM provider as the command line spells it: every spelling the provider kind accepts
/// (any case, `vllm`, `ollama`, `llamacpp`, `llama.cpp`, empty for offline).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderArg(pub ProviderKind);

impl std::str::FromStr for ProviderArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse().map(ProviderArg).map_err(|error: troupe_agents::llm::LlmError| error.to_string())
    }
}

impl TryFrom<String> for ProviderArg {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<ProviderArg> for String {
    fn from(provider: ProviderArg) -> Self {
        match provider.0 {
            ProviderKind::Offline => "offline",
            ProviderKind::OpenAi => "openai",
            ProviderKind::Gemini => "gemini",
        }
        .to_owned()
    }
}

/// A role as the command line spells it (any case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "lowercase")]
pub enum RoleArg {
    /// Everything, including other users and flags.
    Admin,
    /// Runs experiments of the research track.
    Researcher,
    /// Runs their own executions.
    User,
}

impl From<RoleArg> for troupe_runtime::accounts::Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Admin => Self::Admin,
            RoleArg::Researcher => Self::Researcher,
            RoleArg::User => Self::User,
        }
    }
}

/// What the built-in agents are configured with.
#[derive(Clone, Debug)]
pub struct AgentSettings {
    /// The model per agent kind.
    pub models: HashMap<String, String>,
    /// Prices for cost accounting.
    pub price: Option<Price>,
    /// Hosts and networks outbound fetches may reach although not public.
    pub fetch_allow: Vec<String>,
    /// An explicit proxy for outbound fetches (environment proxy variables are ignored).
    pub fetch_proxy: Option<String>,
    /// Directories local sources may be read from.
    pub ingest_roots: Vec<PathBuf>,
    /// The YouTube timedtext service.
    pub youtube_base_url: String,
    /// The code box.
    pub sandbox: SandboxPolicy,
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            models: HashMap::new(),
            price: None,
            fetch_allow: Vec::new(),
            fetch_proxy: None,
            ingest_roots: Vec::new(),
            youtube_base_url: troupe_agents::ask::YOUTUBE_BASE_URL.to_owned(),
            sandbox: SandboxPolicy::default(),
        }
    }
}

/// The resolved configuration of troupe.
#[derive(Clone)]
pub struct Config {
    /// Where troupe keeps its state.
    pub data_dir: PathBuf,
    /// The database (`sqlite://…` or `postgres://…`).
    pub database_url: String,
    /// Development or production.
    pub environment: Environment,
    /// Log format.
    pub log_format: LogFormat,
    /// Where `serve` listens.
    pub addr: SocketAddr,
    /// The token-signing secret; `None`: generated into the data dir (development).
    pub jwt_secret: Option<String>,
    /// How long access tokens live.
    pub access_token_ttl: Duration,
    /// The HTTP layer's settings.
    pub http: HttpSettings,
    /// Password hashing cost.
    pub hash_cost: HashCost,
    /// The LLM provider's settings.
    pub llm: LlmSettings,
    /// A provider to use instead of building one from `llm` (tests, programs embedding troupe).
    pub llm_provider: Option<Arc<dyn LlmProvider>>,
    /// The built-in agents' settings.
    pub agents: AgentSettings,
    /// Memory sealing keys (`id:base64,…`); `None`: generated into the data dir (development).
    pub memory_keys: Option<String>,
    /// Where memory vectors live.
    pub vectors: VectorBackend,
    /// How texts become vectors.
    pub embedder: EmbedderSettings,
    /// The research bus's key (base64 of 32 bytes); `None`: generated (development).
    pub research_key: Option<String>,
    /// The plugin pool and restart policy.
    pub plugins: HostConfig,
    /// What retention removes, and how often `serve` runs it.
    pub retention: RetentionPolicy,
    /// This node's lease name; `None`: kept in the data dir.
    pub node_id: Option<String>,
    /// How long a node holds an execution without renewing it.
    pub lease_ttl: Duration,
    /// Account mail.
    pub mail: MailSettings,
}

/// Where account mail goes.
#[derive(Clone, Debug, Default)]
pub struct MailSettings {
    /// The SMTP server (`None`: the outbox in development, no mail in production).
    pub smtp_url: Option<String>,
    /// The sender.
    pub from: Option<String>,
    /// The server's public address, for links in mail.
    pub public_url: Option<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let given = |secret: &Option<String>| if secret.is_some() { "<given>" } else { "<generated>" };
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("database_url", &troupe_memory::redact(&self.database_url))
            .field("environment", &self.environment)
            .field("addr", &self.addr)
            .field("jwt_secret", &given(&self.jwt_secret))
            .field("http", &self.http)
            .field("hash_cost", &self.hash_cost)
            .field("llm", &self.llm)
            .field("agents", &self.agents)
            .field("memory_keys", &given(&self.memory_keys))
            .field("vectors", &self.vectors)
            .field("embedder", &self.embedder)
            .field("research_key", &given(&self.research_key))
            .field("retention", &self.retention)
            .field("smtp_url", &self.mail.smtp_url.as_deref().map(troupe_memory::redact))
            .finish_non_exhaustive()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::in_dir(Path::new(DEFAULT_DATA_DIR))
    }
}

impl Config {
    /// The embedded default with its state in `data_dir`.
    pub fn in_dir(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            database_url: sqlite_url(data_dir),
            environment: Environment::Development,
            log_format: LogFormat::Text,
            addr: DEFAULT_ADDR.parse().expect("a valid default address"),
            jwt_secret: None,
            access_token_ttl: ACCESS_TOKEN_TTL,
            http: HttpSettings::default(),
            hash_cost: HashCost::Standard,
            llm: LlmSettings::default(),
            llm_provider: None,
            agents: AgentSettings::default(),
            memory_keys: None,
            vectors: VectorBackend::Edge(data_dir.join("vectors")),
            embedder: EmbedderSettings::default(),
            research_key: None,
            plugins: HostConfig::default(),
            retention: RetentionPolicy::default(),
            node_id: None,
            lease_ttl: LEASE_TTL,
            mail: MailSettings::default(),
        }
    }

    /// The embedded default for a test: state in `dir`, any free port, cheap password hashing
    /// (documented: argon2id with 64 KiB and 1 pass), no rate limits.
    pub fn for_tests(dir: &Path) -> Self {
        Self {
            addr: "127.0.0.1:0".parse().expect("a valid address"),
            hash_cost: HashCost::Fast,
            http: HttpSettings { rate_limit: None, ..HttpSettings::default() },
            node_id: Some(format!("node-test-{}", uuid::Uuid::now_v7().simple())),
            ..Self::in_dir(dir)
        }
    }

    /// Resolves settings (already layered over the file) into a configuration, checking it.
    pub fn resolve(settings: &Settings) -> anyhow::Result<Self> {
        let data_dir = settings.data_dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let defaults = Self::in_dir(&data_dir);
        let environment = settings.env.unwrap_or_default();
        let production = environment == Environment::Production;
        match (&settings.jwt_secret, production) {
            (None, true) => {
                bail!("TROUPE_ENV=production needs TROUPE_JWT_SECRET (at least {MIN_SECRET_LEN} bytes); none was given")
            }
            (Some(secret), true) if secret.len() < MIN_SECRET_LEN => {
                bail!(
                    "TROUPE_JWT_SECRET is too short for production: {} bytes, at least {MIN_SECRET_LEN}",
                    secret.len()
                )
            }
            _ => {}
        }
        if production && settings.memory_keys.is_none() {
            bail!("TROUPE_ENV=production needs TROUPE_MEMORY_KEYS (id:base64 of 32 random bytes); none was given");
        }
        if production && settings.research_key.is_none() {
            bail!("TROUPE_ENV=production needs TROUPE_RESEARCH_KEY (base64 of 32 random bytes); none was given");
        }
        let fast_hashing = settings.insecure_fast_hashing.unwrap_or(false);
        if fast_hashing && production {
            bail!("TROUPE_INSECURE_FAST_HASHING is for tests and benchmarks; production refuses it");
        }
        let llm = LlmSettings {
            provider: settings.llm_provider.map(|provider| provider.0).unwrap_or_default(),
            base_url: settings.llm_base_url.clone(),
            api_key: settings.llm_api_key.clone(),
            model: settings.llm_model.clone(),
            ..LlmSettings::default()
        };
        llm.build()?;
        let ingest_roots = settings.ingest_roots.clone().unwrap_or_default();
        for root in &ingest_roots {
            if !root.is_dir() {
                bail!("TROUPE_INGEST_ROOTS: `{}` is not a directory", root.display());
            }
        }
        let agents = AgentSettings {
            models: settings.llm_models.clone().unwrap_or_default().into_iter().collect(),
            price: settings.llm_price,
            fetch_allow: settings.fetch_allow.clone().unwrap_or_default(),
            fetch_proxy: settings.fetch_proxy.clone(),
            ingest_roots,
            youtube_base_url: settings.youtube_base_url.clone().unwrap_or(defaults.agents.youtube_base_url),
            sandbox: sandbox_policy(settings, environment)?,
        };
        let http = http_settings(settings, environment)?;
        let mut plugins = match settings.plugin_workers {
            Some(0) => bail!("TROUPE_PLUGIN_WORKERS must be at least 1"),
            Some(workers) => HostConfig { workers, ..HostConfig::default() },
            None => HostConfig::default(),
        };
        plugins.network_allow = settings.plugin_network_allow.clone().unwrap_or_default();
        if let Some(text) = &settings.research_key {
            secrets::decode_research_key(text)?;
        }
        Ok(Self {
            database_url: settings.database_url.clone().unwrap_or(defaults.database_url),
            environment,
            log_format: settings.log_format.unwrap_or_default(),
            addr: settings.addr.unwrap_or(defaults.addr),
            jwt_secret: settings.jwt_secret.clone(),
            access_token_ttl: match settings.access_token_ttl {
                Some(ttl) if ttl < Duration::from_secs(1) => bail!("TROUPE_ACCESS_TOKEN_TTL must be at least 1s"),
                Some(ttl) => ttl,
                None => ACCESS_TOKEN_TTL,
            },
            http,
            hash_cost: if fast_hashing { HashCost::Fast } else { HashCost::Standard },
            llm,
            agents,
            memory_keys: settings.memory_keys.clone(),
            vectors: memory::vectors(settings, &data_dir),
            embedder: memory::embedder(settings, &data_dir)?,
            research_key: settings.research_key.clone(),
            mail: MailSettings {
                smtp_url: settings.smtp_url.clone(),
                from: settings.mail_from.clone(),
                public_url: settings.public_url.clone(),
            },
            plugins,
            retention: RetentionPolicy {
                executions: settings.retention_executions,
                completed: settings.retention_completed,
                failed: settings.retention_failed,
                logs: settings.retention_logs,
                sessions: settings.retention_sessions,
                unverified: settings.retention_unverified,
                memories: settings.retention_memories,
                interval: settings.retention_interval.unwrap_or(crate::retention::DEFAULT_INTERVAL),
            },
            node_id: match &settings.node_id {
                Some(id)
                    if id.is_empty() || id.len() > 64 || id.chars().any(|c| c.is_whitespace() || c.is_control()) =>
                {
                    bail!("TROUPE_NODE_ID must be 1-64 characters without spaces")
                }
                Some(id) => Some(id.clone()),
                None => defaults.node_id.clone(),
            },
            lease_ttl: match settings.lease_ttl {
                Some(ttl) if ttl < Duration::from_millis(500) => bail!("TROUPE_LEASE_TTL must be at least 500ms"),
                Some(ttl) => ttl,
                None => LEASE_TTL,
            },
            data_dir,
            ..defaults
        })
    }
}

/// The SQLite file of a data dir.
fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("troupe.db").display())
}

fn http_settings(settings: &Settings, environment: Environment) -> anyhow::Result<HttpSettings> {
    let defaults = HttpSettings::default();
    let default_limit = RateLimit::default();
    let per_ip = settings.rate_limit_per_ip.unwrap_or(default_limit.per_ip_per_second);
    let per_user = settings.rate_limit_per_user.unwrap_or(default_limit.per_user_per_second).max(1);
    let (max_tokens, max_cost_usd) = (settings.budget_max_tokens, settings.budget_max_cost_usd);
    if max_tokens == Some(0) || max_cost_usd.is_some_and(|cost| !cost.is_finite() || cost <= 0.0) {
        bail!("TROUPE_BUDGET_MAX_TOKENS and TROUPE_BUDGET_MAX_COST_USD must be positive");
    }
    let trusted_proxies = settings
        .trusted_proxies
        .iter()
        .flatten()
        .map(|text| {
            let text = text.trim();
            text.parse::<ipnet::IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| anyhow::anyhow!("TROUPE_TRUSTED_PROXIES: `{text}` is not an address or a CIDR network"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let caps = troupe_gateway::http::EpsilonCaps::default();
    let epsilon_caps = troupe_gateway::http::EpsilonCaps {
        per_release: settings.research_max_epsilon_release.unwrap_or(caps.per_release),
        total: settings.research_max_epsilon_total.unwrap_or(caps.total),
    };
    if !(epsilon_caps.per_release > 0.0
        && epsilon_caps.total >= epsilon_caps.per_release
        && epsilon_caps.total.is_finite())
    {
        bail!("TROUPE_RESEARCH_MAX_EPSILON_RELEASE and _TOTAL must be positive, the total at least the release's");
    }
    let positive = |name: &str, value: Option<usize>, default: usize| match value {
        Some(0) => Err(anyhow::anyhow!("{name} must be at least 1")),
        Some(value) => Ok(value),
        None => Ok(default),
    };
    Ok(HttpSettings {
        // Open by default for a developer; closed by default in production (admins invite).
        allow_registration: settings.allow_registration.unwrap_or(environment == Environment::Development),
        ws_recheck_interval: settings.ws_recheck_interval.unwrap_or(defaults.ws_recheck_interval),
        ws_max_subscriptions: positive(
            "TROUPE_WS_MAX_SUBSCRIPTIONS",
            settings.ws_max_subscriptions,
            defaults.ws_max_subscriptions,
        )?,
        ws_max_connections_per_user: positive(
            "TROUPE_WS_MAX_CONNECTIONS_PER_USER",
            settings.ws_max_connections_per_user,
            defaults.ws_max_connections_per_user,
        )?,
        trusted_proxies,
        epsilon_caps,
        body_limit: settings.body_limit.unwrap_or(defaults.body_limit),
        upload_max_bytes: positive("TROUPE_UPLOAD_MAX_BYTES", settings.upload_max_bytes, defaults.upload_max_bytes)?,
        upload_quota_bytes: match settings.upload_quota_bytes {
            Some(0) => bail!("TROUPE_UPLOAD_QUOTA_BYTES must be at least 1"),
            quota => quota.unwrap_or(defaults.upload_quota_bytes),
        },
        request_timeout: settings.request_timeout.unwrap_or(defaults.request_timeout),
        cors_origins: settings.cors_origins.clone().unwrap_or_default(),
        rate_limit: (per_ip > 0).then_some(RateLimit {
            per_ip_per_second: per_ip,
            per_ip_burst: per_ip.saturating_mul(2),
            per_user_per_second: per_user,
            per_user_burst: per_user.saturating_mul(2),
        }),
        default_budget: (max_tokens.is_some() || max_cost_usd.is_some())
            .then_some(troupe_runtime::pipeline::BudgetDef { max_tokens, max_cost_usd }),
        restrict_demo_agents: environment == Environment::Production,
        require_verified_email: settings.require_verified_email.unwrap_or(false),
        ..defaults
    })
}

fn sandbox_policy(settings: &Settings, environment: Environment) -> anyhow::Result<SandboxPolicy> {
    let defaults = SandboxPolicy::default();
    let mode: SandboxMode = match &settings.sandbox_mode {
        Some(text) => text.parse().map_err(|error: String| anyhow::anyhow!("TROUPE_SANDBOX: {error}"))?,
        None => SandboxMode::default(),
    };
    if mode == SandboxMode::UnconfinedDevelopment && environment == Environment::Production {
        bail!("TROUPE_SANDBOX=unconfined-development runs generated code as troupe's own user; production refuses it");
    }
    let positive = |name: &str, value: Option<u64>, default: u64| match value {
        Some(0) => Err(anyhow::anyhow!("{name} must be at least 1")),
        Some(value) => Ok(value),
        None => Ok(default),
    };
    let count = |value: Option<usize>| value.map(|value| value as u64);
    Ok(SandboxPolicy {
        mode,
        bwrap: settings.sandbox_bwrap.clone().unwrap_or(defaults.bwrap),
        uid_base: settings.sandbox_uid_base.unwrap_or(defaults.uid_base),
        slots: positive("TROUPE_SANDBOX_SLOTS", count(settings.sandbox_slots), defaults.slots as u64)? as usize,
        per_user: positive("TROUPE_SANDBOX_PER_USER", count(settings.sandbox_per_user), defaults.per_user as u64)?
            as usize,
        memory_bytes: positive("TROUPE_SANDBOX_MEMORY_MIB", settings.sandbox_memory_mib, defaults.memory_bytes >> 20)?
            << 20,
        workspace_bytes: positive(
            "TROUPE_SANDBOX_WORKSPACE_MIB",
            settings.sandbox_workspace_mib,
            defaults.workspace_bytes >> 20,
        )? << 20,
        max_processes: positive("TROUPE_SANDBOX_PROCESSES", settings.sandbox_processes, defaults.max_processes)?,
        timeout: settings.sandbox_timeout.unwrap_or(defaults.timeout),
        cpu_seconds: positive("TROUPE_SANDBOX_CPU_SECONDS", settings.sandbox_cpu_seconds, defaults.cpu_seconds)?,
        ..defaults
    })
}

/// How long access tokens live.
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// How long a node holds an execution without renewing it, by default.
pub const LEASE_TTL: Duration = Duration::from_secs(30);
/// How long refresh tokens live (each use rotates it).
pub const REFRESH_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

#[cfg(test)]
mod tests;
