//! `troupe serve` configuration: flags, then `TROUPE_*` environment variables, then an optional
//! TOML file (`--config` / `TROUPE_CONFIG`), then defaults.
//!
//! `TROUPE_ENV=production` refuses to start without a strong JWT secret given explicitly;
//! `development` (the default) generates one into the data dir, readable by its owner only.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use serde::Deserialize;

use troupe_agents::llm::config::LlmSettings;
use troupe_agents::sandbox::{CodeBox, SandboxMode, SandboxPolicy};

use crate::auth::HashCost;
use crate::http::HttpSettings;
use crate::http::limits::RateLimit;

/// The shortest JWT secret accepted in production, in bytes.
pub const MIN_SECRET_LEN: usize = 32;
const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// How strict the server is about its configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Generates missing secrets into the data dir.
    #[default]
    Development,
    /// Refuses to start with generated, missing or weak secrets.
    Production,
}

/// Flags of `troupe serve` (each also read from its environment variable).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080; port 0 picks a free one).
    #[arg(long, env = "TROUPE_ADDR")]
    pub addr: Option<SocketAddr>,
    /// `development` or `production`.
    #[arg(long = "env", env = "TROUPE_ENV", value_enum)]
    pub environment: Option<Environment>,
    /// Secret that signs access tokens (HS256); at least 32 bytes in production.
    #[arg(long, env = "TROUPE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Whether anyone may register an account (the first account always may).
    #[arg(long, env = "TROUPE_ALLOW_REGISTRATION")]
    pub allow_registration: Option<bool>,
    /// Origins allowed to call the API from a browser (comma-separated; none by default).
    #[arg(long, env = "TROUPE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Option<Vec<String>>,
    /// Requests per second per client address (burst: twice as many); 0 turns rate limits off.
    #[arg(long, env = "TROUPE_RATE_LIMIT_PER_IP")]
    pub rate_limit_per_ip: Option<u32>,
    /// Requests per second per user or API key (burst: twice as many).
    #[arg(long, env = "TROUPE_RATE_LIMIT_PER_USER")]
    pub rate_limit_per_user: Option<u32>,
    /// Largest request body in bytes (default 1 MiB).
    #[arg(long, env = "TROUPE_BODY_LIMIT")]
    pub body_limit: Option<usize>,
    /// Longest a request may take, e.g. `30s`.
    #[arg(long, env = "TROUPE_REQUEST_TIMEOUT", value_parser = humantime::parse_duration)]
    pub request_timeout: Option<Duration>,
    /// LLM settings.
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Default token cap of an execution whose request and pipeline set no budget.
    #[arg(long, env = "TROUPE_BUDGET_MAX_TOKENS")]
    pub budget_max_tokens: Option<u64>,
    /// Default cost cap (US dollars) of an execution whose request and pipeline set no budget.
    #[arg(long, env = "TROUPE_BUDGET_MAX_COST_USD")]
    pub budget_max_cost_usd: Option<f64>,
    /// Cheap password hashing for tests and benchmarks; refused in production.
    #[arg(long, env = "TROUPE_INSECURE_FAST_HASHING", hide = true)]
    pub insecure_fast_hashing: bool,
    /// Retention of finished executions' logs, events and artifacts, and of memories.
    #[command(flatten)]
    pub retention: crate::retention::RetentionArgs,
    /// The research track (plugin pool, pseudonymisation key).
    #[command(flatten)]
    pub research: crate::research::ResearchArgs,
    /// A TOML file with any of the settings above, by their long names with underscores.
    #[arg(long, env = "TROUPE_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The LLM settings every command that runs agents takes.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct LlmArgs {
    /// LLM provider: `offline` (default), `openai` (any OpenAI-compatible API: also vllm,
    /// ollama, llamacpp) or `gemini`.
    #[arg(long, env = "TROUPE_LLM_PROVIDER")]
    pub llm_provider: Option<String>,
    /// The provider's base URL (OpenAI's or Gemini's public endpoint by default).
    #[arg(long, env = "TROUPE_LLM_BASE_URL")]
    pub llm_base_url: Option<String>,
    /// The provider's API key.
    #[arg(long, env = "TROUPE_LLM_API_KEY", hide_env_values = true)]
    pub llm_api_key: Option<String>,
    /// The default model.
    #[arg(long, env = "TROUPE_LLM_MODEL")]
    pub llm_model: Option<String>,
    /// Models per agent kind, e.g. `architect=gpt-4o,backend=qwen2.5-coder`.
    #[arg(long, env = "TROUPE_LLM_MODELS")]
    pub llm_models: Option<String>,
    /// US dollars per million prompt and completion tokens, e.g. `0.15,0.60` (cost accounting
    /// and cost budgets; without it cost is 0).
    #[arg(long, env = "TROUPE_LLM_PRICE")]
    pub llm_price: Option<String>,
    /// Hosts and networks (CIDR) outbound fetches may reach although they are not public, e.g.
    /// `127.0.0.1,10.0.0.0/8,intranet.local` (SSRF protection refuses them otherwise).
    #[arg(long, env = "TROUPE_FETCH_ALLOW", value_delimiter = ',')]
    pub fetch_allow: Vec<String>,
    /// Directories the research ingesters may read local files from (none by default).
    #[arg(long, env = "TROUPE_INGEST_ROOTS", value_delimiter = ',')]
    pub ingest_roots: Vec<PathBuf>,
    /// The YouTube timedtext service's base URL.
    #[arg(long, env = "TROUPE_YOUTUBE_BASE_URL")]
    pub youtube_base_url: Option<String>,
    /// The code box that build and test commands run in.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// Settings of the code box (`TROUPE_SANDBOX_*`); defaults in `troupe_agents::sandbox`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct SandboxArgs {
    /// `bwrap` (default: every generated program runs confined, and refuses to run where the
    /// box cannot be built) or `unconfined-development` (development only: programs run as
    /// troupe's own user; refused in production).
    #[arg(long = "sandbox", env = "TROUPE_SANDBOX")]
    pub sandbox_mode: Option<String>,
    /// The bubblewrap program (default: /usr/bin/bwrap).
    #[arg(long, env = "TROUPE_SANDBOX_BWRAP")]
    pub sandbox_bwrap: Option<PathBuf>,
    /// The first host uid of the boxes (slot n runs as uid_base + n) when troupe runs as root.
    #[arg(long, env = "TROUPE_SANDBOX_UID_BASE")]
    pub sandbox_uid_base: Option<u32>,
    /// Boxes running at once, over all users (default: the number of cores, at least 2).
    #[arg(long, env = "TROUPE_SANDBOX_SLOTS")]
    pub sandbox_slots: Option<usize>,
    /// Boxes running at once per user (default 2).
    #[arg(long, env = "TROUPE_SANDBOX_PER_USER")]
    pub sandbox_per_user: Option<usize>,
    /// Memory of one box in MiB (default 1024).
    #[arg(long, env = "TROUPE_SANDBOX_MEMORY_MIB")]
    pub sandbox_memory_mib: Option<u64>,
    /// Size of a box's workspace in MiB (default 256).
    #[arg(long, env = "TROUPE_SANDBOX_WORKSPACE_MIB")]
    pub sandbox_workspace_mib: Option<u64>,
    /// Processes one box may run at once (default 256).
    #[arg(long, env = "TROUPE_SANDBOX_PROCESSES")]
    pub sandbox_processes: Option<u64>,
    /// Wall-clock limit per command, e.g. `2m` (default 2m).
    #[arg(long, env = "TROUPE_SANDBOX_TIMEOUT", value_parser = humantime::parse_duration)]
    pub sandbox_timeout: Option<Duration>,
    /// CPU seconds per process (default 60).
    #[arg(long, env = "TROUPE_SANDBOX_CPU_SECONDS")]
    pub sandbox_cpu_seconds: Option<u64>,
}

impl SandboxArgs {
    /// The box's policy; the unconfined mode is refused in production.
    pub fn policy(&self, environment: Environment) -> anyhow::Result<SandboxPolicy> {
        let defaults = SandboxPolicy::default();
        let mode: SandboxMode = match &self.sandbox_mode {
            Some(text) => text.parse().map_err(|error: String| anyhow::anyhow!("TROUPE_SANDBOX: {error}"))?,
            None => SandboxMode::default(),
        };
        if mode == SandboxMode::UnconfinedDevelopment && environment == Environment::Production {
            bail!(
                "TROUPE_SANDBOX=unconfined-development runs generated code as troupe's own user; production refuses it"
            );
        }
        let positive = |name: &str, value: Option<u64>, default: u64| match value {
            Some(0) => Err(anyhow::anyhow!("{name} must be at least 1")),
            Some(value) => Ok(value),
            None => Ok(default),
        };
        Ok(SandboxPolicy {
            mode,
            bwrap: self.sandbox_bwrap.clone().unwrap_or(defaults.bwrap),
            uid_base: self.sandbox_uid_base.unwrap_or(defaults.uid_base),
            slots: positive("TROUPE_SANDBOX_SLOTS", self.sandbox_slots.map(|n| n as u64), defaults.slots as u64)?
                as usize,
            per_user: positive(
                "TROUPE_SANDBOX_PER_USER",
                self.sandbox_per_user.map(|n| n as u64),
                defaults.per_user as u64,
            )? as usize,
            memory_bytes: positive("TROUPE_SANDBOX_MEMORY_MIB", self.sandbox_memory_mib, defaults.memory_bytes >> 20)?
                << 20,
            workspace_bytes: positive(
                "TROUPE_SANDBOX_WORKSPACE_MIB",
                self.sandbox_workspace_mib,
                defaults.workspace_bytes >> 20,
            )? << 20,
            max_processes: positive("TROUPE_SANDBOX_PROCESSES", self.sandbox_processes, defaults.max_processes)?,
            timeout: self.sandbox_timeout.unwrap_or(defaults.timeout),
            cpu_seconds: positive("TROUPE_SANDBOX_CPU_SECONDS", self.sandbox_cpu_seconds, defaults.cpu_seconds)?,
            ..defaults
        })
    }
}

impl LlmArgs {
    /// The provider settings (falling back to `file`'s), checked: a wrong provider name or a
    /// missing model or key is an error here, at start.
    fn settings(&self, file: &FileConfig) -> anyhow::Result<LlmSettings> {
        let provider = self.llm_provider.clone().or(file.llm_provider.clone()).unwrap_or_default();
        let llm = LlmSettings {
            provider: provider.parse()?,
            base_url: self.llm_base_url.clone().or(file.llm_base_url.clone()),
            api_key: self.llm_api_key.clone().or(file.llm_api_key.clone()),
            model: self.llm_model.clone().or(file.llm_model.clone()),
            ..LlmSettings::default()
        };
        llm.build()?;
        Ok(llm)
    }

    /// The agents' configuration: the provider, models per agent kind, the code box, workspaces
    /// in the data dir.
    pub fn agents_config(
        &self,
        environment: Environment,
        data_dir: &Path,
    ) -> anyhow::Result<troupe_agents::AgentsConfig> {
        self.agents_config_with(&FileConfig::default(), environment, data_dir)
    }

    fn agents_config_with(
        &self,
        file: &FileConfig,
        environment: Environment,
        data_dir: &Path,
    ) -> anyhow::Result<troupe_agents::AgentsConfig> {
        let llm = self.settings(file)?.build()?;
        let mut models = std::collections::HashMap::new();
        for pair in self.llm_models.iter().chain(&file.llm_models).flat_map(|list| list.split(',')) {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let (kind, model) = pair
                .split_once('=')
                .filter(|(kind, model)| !kind.trim().is_empty() && !model.trim().is_empty())
                .ok_or_else(|| anyhow::anyhow!("TROUPE_LLM_MODELS: `{pair}` is not `agent=model`"))?;
            models.entry(kind.trim().to_owned()).or_insert_with(|| model.trim().to_owned());
        }
        let price = match self.llm_price.as_deref().or(file.llm_price.as_deref()) {
            None => None,
            Some(text) => {
                let parsed = text.split_once(',').and_then(|(prompt, completion)| {
                    let prompt: f64 = prompt.trim().parse().ok()?;
                    let completion: f64 = completion.trim().parse().ok()?;
                    (prompt.is_finite() && completion.is_finite() && prompt >= 0.0 && completion >= 0.0)
                        .then_some((prompt, completion))
                });
                Some(parsed.ok_or_else(|| {
                    anyhow::anyhow!("TROUPE_LLM_PRICE: `{text}` is not `prompt,completion` dollars per million tokens")
                })?)
            }
        };
        let fetch_allow: Vec<String> =
            self.fetch_allow.iter().chain(file.fetch_allow.iter().flatten()).cloned().collect();
        let fetcher = troupe_agents::fetch::Fetcher::new(troupe_agents::fetch::FetchPolicy {
            allow: fetch_allow,
            ..troupe_agents::fetch::FetchPolicy::default()
        });
        let mut ingest_roots: Vec<PathBuf> = self.ingest_roots.clone();
        ingest_roots.extend(file.ingest_roots.iter().flatten().cloned());
        for root in &ingest_roots {
            if !root.is_dir() {
                bail!("TROUPE_INGEST_ROOTS: `{}` is not a directory", root.display());
            }
        }
        Ok(troupe_agents::AgentsConfig {
            llm,
            models,
            fetcher: std::sync::Arc::new(fetcher),
            ingest_roots,
            youtube_base_url: self
                .youtube_base_url
                .clone()
                .or(file.youtube_base_url.clone())
                .unwrap_or_else(|| troupe_agents::ask::YOUTUBE_BASE_URL.to_owned()),
            price_per_million: price,
            sandbox: std::sync::Arc::new(CodeBox::new(self.sandbox.policy(environment)?)),
            workspaces: data_dir.join("workspaces"),
            ..troupe_agents::AgentsConfig::default()
        })
    }
}

/// The optional TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    addr: Option<SocketAddr>,
    env: Option<Environment>,
    jwt_secret: Option<String>,
    allow_registration: Option<bool>,
    cors_origins: Option<Vec<String>>,
    rate_limit_per_ip: Option<u32>,
    rate_limit_per_user: Option<u32>,
    body_limit: Option<usize>,
    #[serde(default, with = "humantime_serde_opt")]
    request_timeout: Option<Duration>,
    llm_provider: Option<String>,
    llm_base_url: Option<String>,
    llm_api_key: Option<String>,
    llm_model: Option<String>,
    llm_models: Option<String>,
    llm_price: Option<String>,
    fetch_allow: Option<Vec<String>>,
    ingest_roots: Option<Vec<PathBuf>>,
    youtube_base_url: Option<String>,
    budget_max_tokens: Option<u64>,
    budget_max_cost_usd: Option<f64>,
}

/// `request_timeout = "30s"` in the TOML file.
mod humantime_serde_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| humantime::parse_duration(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// The resolved configuration of the server.
pub struct ServeConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Development or production.
    pub environment: Environment,
    /// The token-signing secret (never logged).
    pub jwt_secret: String,
    /// The HTTP layer's settings.
    pub http: HttpSettings,
    /// Password hashing cost.
    pub hash_cost: HashCost,
    /// The agents' configuration (its LLM provider is built, so its settings were checked).
    pub agents: troupe_agents::AgentsConfig,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("addr", &self.addr)
            .field("environment", &self.environment)
            .field("jwt_secret", &"<redacted>")
            .field("http", &self.http)
            .field("hash_cost", &self.hash_cost)
            .field("agents", &self.agents)
            .finish()
    }
}

impl ServeConfig {
    /// Resolves flags, environment, file and defaults; creates the development secret.
    pub fn resolve(args: &ServeArgs, data_dir: &Path) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("failed to read the config file `{}`", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("invalid config file `{}`", path.display()))?
            }
            None => FileConfig::default(),
        };
        let environment = args.environment.or(file.env).unwrap_or_default();
        let agents = args.llm.agents_config_with(&file, environment, data_dir)?;
        let addr = args.addr.or(file.addr).unwrap_or_else(|| DEFAULT_ADDR.parse().expect("a valid default address"));
        let given = args.jwt_secret.clone().or(file.jwt_secret);
        let jwt_secret = match (environment, given) {
            (Environment::Production, None) => {
                bail!("TROUPE_ENV=production needs TROUPE_JWT_SECRET (at least {MIN_SECRET_LEN} bytes); none was given")
            }
            (Environment::Production, Some(secret)) if secret.len() < MIN_SECRET_LEN => {
                bail!(
                    "TROUPE_JWT_SECRET is too short for production: {} bytes, at least {MIN_SECRET_LEN}",
                    secret.len()
                )
            }
            (_, Some(secret)) => secret,
            (Environment::Development, None) => development_secret(data_dir)?,
        };
        if args.insecure_fast_hashing && environment == Environment::Production {
            bail!("TROUPE_INSECURE_FAST_HASHING is for tests and benchmarks; production refuses it");
        }
        let defaults = HttpSettings::default();
        let default_limit = RateLimit::default();
        let per_ip = args.rate_limit_per_ip.or(file.rate_limit_per_ip).unwrap_or(default_limit.per_ip_per_second);
        let per_user =
            args.rate_limit_per_user.or(file.rate_limit_per_user).unwrap_or(default_limit.per_user_per_second);
        let http = HttpSettings {
            allow_registration: args
                .allow_registration
                .or(file.allow_registration)
                .unwrap_or(defaults.allow_registration),
            body_limit: args.body_limit.or(file.body_limit).unwrap_or(defaults.body_limit),
            request_timeout: args.request_timeout.or(file.request_timeout).unwrap_or(defaults.request_timeout),
            cors_origins: args.cors_origins.clone().or(file.cors_origins).unwrap_or_default(),
            rate_limit: (per_ip > 0).then_some(RateLimit {
                per_ip_per_second: per_ip,
                per_ip_burst: per_ip.saturating_mul(2),
                per_user_per_second: per_user.max(1),
                per_user_burst: per_user.max(1).saturating_mul(2),
            }),
            default_budget: {
                let max_tokens = args.budget_max_tokens.or(file.budget_max_tokens);
                let max_cost_usd = args.budget_max_cost_usd.or(file.budget_max_cost_usd);
                if max_tokens == Some(0) || max_cost_usd.is_some_and(|cost| !cost.is_finite() || cost <= 0.0) {
                    bail!("TROUPE_BUDGET_MAX_TOKENS and TROUPE_BUDGET_MAX_COST_USD must be positive");
                }
                (max_tokens.is_some() || max_cost_usd.is_some())
                    .then_some(troupe_runtime::pipeline::BudgetDef { max_tokens, max_cost_usd })
            },
            restrict_demo_agents: environment == Environment::Production,
            ..defaults
        };
        let hash_cost = if args.insecure_fast_hashing { HashCost::Fast } else { HashCost::Standard };
        Ok(Self { addr, environment, jwt_secret, http, hash_cost, agents })
    }
}

/// Reads the generated secret from the data dir, creating it (owner-only) on first use.
fn development_secret(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("jwt-secret");
    if let Ok(secret) = std::fs::read_to_string(&path)
        && secret.trim().len() >= MIN_SECRET_LEN
    {
        return Ok(secret.trim().to_owned());
    }
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    crate::setup::write_private(&path, &secret)?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ServeArgs {
        ServeArgs {
            addr: None,
            environment: None,
            jwt_secret: None,
            allow_registration: None,
            cors_origins: None,
            rate_limit_per_ip: None,
            rate_limit_per_user: None,
            body_limit: None,
            request_timeout: None,
            llm: LlmArgs::default(),
            budget_max_tokens: None,
            budget_max_cost_usd: None,
            insecure_fast_hashing: false,
            retention: Default::default(),
            research: Default::default(),
            config: None,
        }
    }

    #[test]
    fn development_generates_a_private_secret_once() {
        let dir = std::env::temp_dir().join(format!("troupe-config-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = ServeConfig::resolve(&args(), &dir).unwrap();
        let second = ServeConfig::resolve(&args(), &dir).unwrap();
        assert_eq!(first.jwt_secret, second.jwt_secret);
        assert!(first.jwt_secret.len() >= MIN_SECRET_LEN);
        assert_eq!(first.addr, DEFAULT_ADDR.parse().unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("jwt-secret")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!format!("{first:?}").contains(&first.jwt_secret), "the secret is never printed");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn production_refuses_missing_or_weak_secrets() {
        let dir = std::env::temp_dir();
        let mut production = args();
        production.environment = Some(Environment::Production);
        let error = ServeConfig::resolve(&production, &dir).unwrap_err().to_string();
        assert!(error.contains("needs TROUPE_JWT_SECRET"), "{error}");
        production.jwt_secret = Some("short".into());
        let error = ServeConfig::resolve(&production, &dir).unwrap_err().to_string();
        assert!(error.contains("too short"), "{error}");
        production.jwt_secret = Some("x".repeat(40));
        assert!(ServeConfig::resolve(&production, &dir).is_ok());
    }

    #[test]
    fn llm_settings_are_checked_at_start() {
        let dir = std::env::temp_dir();
        let mut llm = args();
        llm.llm.llm_provider = Some("gpt".into());
        let error = ServeConfig::resolve(&llm, &dir).unwrap_err().to_string();
        assert!(error.contains("unknown LLM provider `gpt`"), "{error}");
        llm.llm.llm_provider = Some("ollama".into());
        let error = ServeConfig::resolve(&llm, &dir).unwrap_err().to_string();
        assert!(error.contains("TROUPE_LLM_MODEL"), "{error}");
        llm.llm.llm_model = Some("llama3.1".into());
        llm.llm.llm_base_url = Some("http://127.0.0.1:11434/v1".into());
        llm.llm.llm_api_key = Some("secret-key".into());
        let config = ServeConfig::resolve(&llm, &dir).unwrap();
        assert!(!format!("{config:?}").contains("secret-key"));
    }

    #[test]
    fn flags_override_the_file() {
        let dir = std::env::temp_dir().join(format!("troupe-config-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("troupe.toml");
        std::fs::write(
            &file,
            "addr = \"127.0.0.1:9000\"\nenv = \"production\"\njwt_secret = \"0123456789abcdef0123456789abcdef\"\n",
        )
        .unwrap();
        let mut from_file = args();
        from_file.config = Some(file.clone());
        let config = ServeConfig::resolve(&from_file, &dir).unwrap();
        assert_eq!(config.addr, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(config.environment, Environment::Production);
        from_file.addr = Some("127.0.0.1:9001".parse().unwrap());
        assert_eq!(ServeConfig::resolve(&from_file, &dir).unwrap().addr, "127.0.0.1:9001".parse().unwrap());
        std::fs::write(&file, "adress = \"x\"\n").unwrap();
        let error = format!("{:#}", ServeConfig::resolve(&from_file, &dir).unwrap_err());
        assert!(error.contains("unknown field `adress`"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
