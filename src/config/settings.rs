//! Every setting, as the command line, `TROUPE_*` variables and the TOML file give it.
//!
//! One type, [`Settings`], is both the flags (clap, each with its environment variable) and
//! the file's keys (serde: the long flag names with underscores), so a setting is declared
//! once. [`Settings::layered`] puts the flags and variables over the file in one generic step
//! (no field-by-field merge); [`super::Config::resolve`] turns the result into the typed
//! configuration, defaults included. Every field is optional here: `None` means "not given".

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde::{Deserialize, Serialize};

use super::{Environment, LogFormat, ProviderArg};

/// Every setting of troupe (flags are global: any command reads the ones it needs).
#[derive(Clone, Debug, Default, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    // ----- where things are ------------------------------------------------------------------
    /// Where troupe keeps its state (SQLite database, vectors, generated secrets, node id);
    /// default `./troupe-data`.
    #[arg(long, global = true, env = "TROUPE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The database to use instead of the SQLite file in the data dir (`postgres://…` or
    /// `sqlite://path`).
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Log format on standard error (`text` or `json`).
    #[arg(long, global = true, env = "TROUPE_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,

    // ----- the server --------------------------------------------------------------------------
    /// Address to listen on (default 127.0.0.1:8080; port 0 picks a free one).
    #[arg(long, global = true, env = "TROUPE_ADDR", help_heading = "Server")]
    pub addr: Option<SocketAddr>,
    /// `development` (default) or `production`.
    #[arg(long, global = true, env = "TROUPE_ENV", value_enum, help_heading = "Server")]
    pub env: Option<Environment>,
    /// Secret that signs access tokens (HS256); at least 32 bytes in production.
    #[arg(long, global = true, env = "TROUPE_JWT_SECRET", hide_env_values = true, help_heading = "Server")]
    pub jwt_secret: Option<String>,
    /// The SMTP server of account mail (verification, password reset): `smtp://host:587` (with
    /// `?tls=required` for STARTTLS), `smtps://user:password@host:465` (TLS from the start).
    /// Without it, development writes mail to `<data dir>/outbox` and production sends none.
    #[arg(long, global = true, env = "TROUPE_SMTP_URL", hide_env_values = true, help_heading = "Server")]
    pub smtp_url: Option<String>,
    /// The sender of account mail (default `troupe <troupe@localhost>`).
    #[arg(long, global = true, env = "TROUPE_MAIL_FROM", help_heading = "Server")]
    pub mail_from: Option<String>,
    /// The address people reach this server at (`https://troupe.example.com`), for links in mail.
    #[arg(long, global = true, env = "TROUPE_PUBLIC_URL", help_heading = "Server")]
    pub public_url: Option<String>,
    /// Whether accounts must verify their email address before they run executions (default false).
    #[arg(long, global = true, env = "TROUPE_REQUIRE_VERIFIED_EMAIL", help_heading = "Server")]
    pub require_verified_email: Option<bool>,
    /// Whether anyone may register an account (the first account always may).
    #[arg(long, global = true, env = "TROUPE_ALLOW_REGISTRATION", help_heading = "Server")]
    pub allow_registration: Option<bool>,
    /// Origins allowed to call the API from a browser (comma-separated; none by default).
    #[arg(long, global = true, env = "TROUPE_CORS_ORIGINS", value_delimiter = ',', help_heading = "Server")]
    pub cors_origins: Option<Vec<String>>,
    /// Requests per second per client address (burst: twice as many); 0 turns rate limits off.
    #[arg(long, global = true, env = "TROUPE_RATE_LIMIT_PER_IP", help_heading = "Server")]
    pub rate_limit_per_ip: Option<u32>,
    /// Requests per second per user or API key (burst: twice as many).
    #[arg(long, global = true, env = "TROUPE_RATE_LIMIT_PER_USER", help_heading = "Server")]
    pub rate_limit_per_user: Option<u32>,
    /// Largest request body in bytes (default 1 MiB).
    #[arg(long, global = true, env = "TROUPE_BODY_LIMIT", help_heading = "Server")]
    pub body_limit: Option<usize>,
    /// Largest uploaded file in bytes (default 25 MiB).
    #[arg(long, global = true, env = "TROUPE_UPLOAD_MAX_BYTES", help_heading = "Server")]
    pub upload_max_bytes: Option<usize>,
    /// Bytes one user's uploaded files may take in all (default 250 MiB).
    #[arg(long, global = true, env = "TROUPE_UPLOAD_QUOTA_BYTES", help_heading = "Server")]
    pub upload_quota_bytes: Option<u64>,
    /// Longest a request may take, e.g. `30s`.
    #[arg(long, global = true, env = "TROUPE_REQUEST_TIMEOUT", value_parser = humantime::parse_duration, help_heading = "Server")]
    #[serde(default, with = "humantime_opt")]
    pub request_timeout: Option<Duration>,
    /// Default token cap of an execution whose request and pipeline set no budget.
    #[arg(long, global = true, env = "TROUPE_BUDGET_MAX_TOKENS", help_heading = "Server")]
    pub budget_max_tokens: Option<u64>,
    /// Default cost cap (US dollars) of an execution whose request and pipeline set no budget.
    #[arg(long, global = true, env = "TROUPE_BUDGET_MAX_COST_USD", help_heading = "Server")]
    pub budget_max_cost_usd: Option<f64>,
    /// This node's name in a cluster (unique among live nodes); default: generated once into
    /// the data dir.
    #[arg(long, global = true, env = "TROUPE_NODE_ID", help_heading = "Cluster")]
    pub node_id: Option<String>,
    /// How long a node holds an execution without renewing it, e.g. `30s` (default 30s): a dead
    /// node's executions run again elsewhere within two of these.
    #[arg(long, global = true, env = "TROUPE_LEASE_TTL", value_parser = humantime::parse_duration, help_heading = "Cluster")]
    #[serde(default, with = "humantime_opt")]
    pub lease_ttl: Option<Duration>,
    /// How long an access token lives, e.g. `15m` (default 15m).
    #[arg(long, global = true, env = "TROUPE_ACCESS_TOKEN_TTL", value_parser = humantime::parse_duration, help_heading = "Server")]
    #[serde(default, with = "humantime_opt")]
    pub access_token_ttl: Option<Duration>,
    /// How often an open WebSocket's credentials are checked again, e.g. `60s` (default 60s).
    #[arg(long, global = true, env = "TROUPE_WS_RECHECK_INTERVAL", value_parser = humantime::parse_duration, help_heading = "Server")]
    #[serde(default, with = "humantime_opt")]
    pub ws_recheck_interval: Option<Duration>,
    /// Subscriptions one WebSocket may hold (default 100).
    #[arg(long, global = true, env = "TROUPE_WS_MAX_SUBSCRIPTIONS", help_heading = "Server")]
    pub ws_max_subscriptions: Option<usize>,
    /// WebSockets one user may hold open (default 20).
    #[arg(long, global = true, env = "TROUPE_WS_MAX_CONNECTIONS_PER_USER", help_heading = "Server")]
    pub ws_max_connections_per_user: Option<usize>,
    /// Reverse proxies (CIDRs or addresses, comma-separated) whose `X-Forwarded-For` is
    /// believed for rate limits and the audit log (none by default).
    #[arg(long, global = true, env = "TROUPE_TRUSTED_PROXIES", value_delimiter = ',', help_heading = "Server")]
    pub trusted_proxies: Option<Vec<String>>,
    /// Cheap password hashing for tests and benchmarks; refused in production.
    #[arg(long, global = true, env = "TROUPE_INSECURE_FAST_HASHING", hide = true)]
    pub insecure_fast_hashing: Option<bool>,

    // ----- models and agents -------------------------------------------------------------------
    /// LLM provider: `offline` (default), `openai` (any OpenAI-compatible API; also `vllm`,
    /// `ollama`, `llamacpp`, `llama.cpp`) or `gemini`.
    #[arg(long, global = true, env = "TROUPE_LLM_PROVIDER", help_heading = "Models")]
    pub llm_provider: Option<ProviderArg>,
    /// The provider's base URL (OpenAI's or Gemini's public endpoint by default).
    #[arg(long, global = true, env = "TROUPE_LLM_BASE_URL", help_heading = "Models")]
    pub llm_base_url: Option<String>,
    /// The provider's API key.
    #[arg(long, global = true, env = "TROUPE_LLM_API_KEY", hide_env_values = true, help_heading = "Models")]
    pub llm_api_key: Option<String>,
    /// The default model.
    #[arg(long, global = true, env = "TROUPE_LLM_MODEL", help_heading = "Models")]
    pub llm_model: Option<String>,
    /// Models per agent kind, e.g. `architect=gpt-4o,backend=qwen2.5-coder`.
    #[arg(long, global = true, env = "TROUPE_LLM_MODELS", value_parser = parse_models, help_heading = "Models")]
    pub llm_models: Option<ModelMap>,
    /// US dollars per million prompt and completion tokens, e.g. `0.15,0.60` (cost accounting
    /// and cost budgets; without it cost is 0).
    #[arg(long, global = true, env = "TROUPE_LLM_PRICE", value_parser = parse_price, help_heading = "Models")]
    pub llm_price: Option<Price>,
    /// Hosts and networks (CIDR) outbound fetches may reach although they are not public, e.g.
    /// `127.0.0.1,10.0.0.0/8,intranet.local` (SSRF protection refuses them otherwise).
    #[arg(long, global = true, env = "TROUPE_FETCH_ALLOW", value_delimiter = ',', help_heading = "Models")]
    pub fetch_allow: Option<Vec<String>>,
    /// A proxy for the research agents' outbound fetches (`http://host:port`); `HTTP_PROXY`
    /// and friends are ignored, since a proxy resolves names past troupe's address checks.
    #[arg(long, global = true, env = "TROUPE_FETCH_PROXY", help_heading = "Models")]
    pub fetch_proxy: Option<String>,
    /// Directories the research ingesters may read local files from (none by default).
    #[arg(long, global = true, env = "TROUPE_INGEST_ROOTS", value_delimiter = ',', help_heading = "Models")]
    pub ingest_roots: Option<Vec<PathBuf>>,
    /// The YouTube timedtext service's base URL.
    #[arg(long, global = true, env = "TROUPE_YOUTUBE_BASE_URL", help_heading = "Models")]
    pub youtube_base_url: Option<String>,

    // ----- the code box ------------------------------------------------------------------------
    /// `bwrap` (default: every generated program runs confined, and refuses to run where the
    /// box cannot be built) or `unconfined-development` (development only: programs run as
    /// troupe's own user; refused in production).
    #[arg(long = "sandbox", global = true, env = "TROUPE_SANDBOX", help_heading = "Code box")]
    #[serde(rename = "sandbox")]
    pub sandbox_mode: Option<String>,
    /// The bubblewrap program (default: /usr/bin/bwrap).
    #[arg(long, global = true, env = "TROUPE_SANDBOX_BWRAP", help_heading = "Code box")]
    pub sandbox_bwrap: Option<PathBuf>,
    /// The first host uid of the boxes (slot n runs as uid_base + n) when troupe runs as root.
    #[arg(long, global = true, env = "TROUPE_SANDBOX_UID_BASE", help_heading = "Code box")]
    pub sandbox_uid_base: Option<u32>,
    /// Boxes running at once, over all users (default: the number of cores, at least 2).
    #[arg(long, global = true, env = "TROUPE_SANDBOX_SLOTS", help_heading = "Code box")]
    pub sandbox_slots: Option<usize>,
    /// Boxes running at once per user (default 2).
    #[arg(long, global = true, env = "TROUPE_SANDBOX_PER_USER", help_heading = "Code box")]
    pub sandbox_per_user: Option<usize>,
    /// Memory of one box in MiB (default 1024).
    #[arg(long, global = true, env = "TROUPE_SANDBOX_MEMORY_MIB", help_heading = "Code box")]
    pub sandbox_memory_mib: Option<u64>,
    /// Size of a box's workspace in MiB (default 256).
    #[arg(long, global = true, env = "TROUPE_SANDBOX_WORKSPACE_MIB", help_heading = "Code box")]
    pub sandbox_workspace_mib: Option<u64>,
    /// Processes one box may run at once (default 256).
    #[arg(long, global = true, env = "TROUPE_SANDBOX_PROCESSES", help_heading = "Code box")]
    pub sandbox_processes: Option<u64>,
    /// Wall-clock limit per command, e.g. `2m` (default 2m).
    #[arg(long, global = true, env = "TROUPE_SANDBOX_TIMEOUT", value_parser = humantime::parse_duration, help_heading = "Code box")]
    #[serde(default, with = "humantime_opt")]
    pub sandbox_timeout: Option<Duration>,
    /// CPU seconds per process (default 60).
    #[arg(long, global = true, env = "TROUPE_SANDBOX_CPU_SECONDS", help_heading = "Code box")]
    pub sandbox_cpu_seconds: Option<u64>,

    // ----- memory ------------------------------------------------------------------------------
    /// Keys sealing memory content: `id:base64(32 bytes)[,id:key…]`, the first one active (new
    /// records), the others still readable. Default: a key generated into the data dir.
    #[arg(long, global = true, env = "TROUPE_MEMORY_KEYS", hide_env_values = true, help_heading = "Memory")]
    pub memory_keys: Option<String>,
    /// A Qdrant server for memory vectors (gRPC URL, e.g. `http://qdrant:6334`); default: the
    /// in-process engine in the data dir.
    #[arg(long, global = true, env = "QDRANT_URL", help_heading = "Memory")]
    pub qdrant_url: Option<String>,
    /// The Qdrant server's API key.
    #[arg(long, global = true, env = "QDRANT_API_KEY", hide_env_values = true, help_heading = "Memory")]
    pub qdrant_api_key: Option<String>,
    /// The Qdrant collection (default `troupe_memories`).
    #[arg(long, global = true, env = "TROUPE_QDRANT_COLLECTION", help_heading = "Memory")]
    pub qdrant_collection: Option<String>,
    /// `local` (the all-MiniLM-L6-v2 model run in process), `offline` (feature hashing: no
    /// model, no network) or `openai` (any OpenAI-compatible `/embeddings` endpoint: OpenAI,
    /// vLLM, Ollama, llama.cpp). Default: `local` when its files are at hand (`serve` fetches
    /// them once from the hub), else `offline`; `offline` with a Qdrant server.
    #[arg(long, global = true, env = "TROUPE_EMBEDDINGS_PROVIDER", help_heading = "Memory")]
    pub embeddings_provider: Option<String>,
    /// The local model's directory (`config.json`, `tokenizer.json`, `model.safetensors`);
    /// default `<data dir>/models/all-MiniLM-L6-v2`, fetched there when missing.
    #[arg(long, global = true, env = "TROUPE_EMBEDDINGS_MODEL_DIR", help_heading = "Memory")]
    pub embeddings_model_dir: Option<PathBuf>,
    /// Where the local model is fetched from (default `https://huggingface.co`; a mirror).
    #[arg(long, global = true, env = "TROUPE_EMBEDDINGS_HUB_URL", help_heading = "Memory")]
    pub embeddings_hub_url: Option<String>,
    /// The embeddings endpoint's base URL (default: `TROUPE_LLM_BASE_URL`, then OpenAI's).
    #[arg(long, global = true, env = "TROUPE_EMBEDDINGS_BASE_URL", help_heading = "Memory")]
    pub embeddings_base_url: Option<String>,
    /// The embeddings endpoint's API key (default: `TROUPE_LLM_API_KEY`).
    #[arg(long, global = true, env = "TROUPE_EMBEDDINGS_API_KEY", hide_env_values = true, help_heading = "Memory")]
    pub embeddings_api_key: Option<String>,
    /// The embedding model (required with `openai`).
    #[arg(long, global = true, env = "TROUPE_EMBEDDINGS_MODEL", help_heading = "Memory")]
    pub embeddings_model: Option<String>,
    /// The vectors' dimension (required with `openai`; 384 for `offline`). Must match the
    /// collection's: a mismatch stops the start with a clear error.
    #[arg(long, global = true, env = "TROUPE_EMBEDDINGS_DIMENSION", help_heading = "Memory")]
    pub embeddings_dimension: Option<usize>,

    // ----- the research track ------------------------------------------------------------------
    /// The research bus's pseudonymisation key: 32 bytes, base64 (default: generated into the
    /// data dir in development; required in production).
    #[arg(long, global = true, env = "TROUPE_RESEARCH_KEY", hide_env_values = true, help_heading = "Research")]
    pub research_key: Option<String>,
    /// The most ε a researcher may give one release of an experiment (default 1.0).
    #[arg(long, global = true, env = "TROUPE_RESEARCH_MAX_EPSILON_RELEASE", help_heading = "Research")]
    pub research_max_epsilon_release: Option<f64>,
    /// The most ε a researcher may give an experiment in all (default 10.0).
    #[arg(long, global = true, env = "TROUPE_RESEARCH_MAX_EPSILON_TOTAL", help_heading = "Research")]
    pub research_max_epsilon_total: Option<f64>,
    /// Hosts and networks (CIDR) HTTP plugins may be reached at although they are not public,
    /// e.g. `10.0.0.0/8,plugins.internal` (refused otherwise).
    #[arg(long, global = true, env = "TROUPE_PLUGIN_NETWORK_ALLOW", value_delimiter = ',', help_heading = "Research")]
    pub plugin_network_allow: Option<Vec<String>>,
    /// Threads that run WebAssembly plugins (default 1: plugins never hold more than one core).
    #[arg(long, global = true, env = "TROUPE_PLUGIN_WORKERS", help_heading = "Research")]
    pub plugin_workers: Option<usize>,

    // ----- retention ---------------------------------------------------------------------------
    /// Keep the logs, events and artifacts of finished executions this long, e.g. `30d`
    /// (default: forever).
    #[arg(long, global = true, env = "TROUPE_RETENTION_EXECUTIONS", value_parser = humantime::parse_duration, help_heading = "Retention")]
    #[serde(default, with = "humantime_opt")]
    pub retention_executions: Option<Duration>,
    /// Delete completed executions entirely (row, steps, attempts, events, logs, artifacts)
    /// this long after they finished, e.g. `90d` (default: never).
    #[arg(long, global = true, env = "TROUPE_RETENTION_COMPLETED", value_parser = humantime::parse_duration, help_heading = "Retention")]
    #[serde(default, with = "humantime_opt")]
    pub retention_completed: Option<Duration>,
    /// Delete failed and cancelled executions entirely this long after they finished, e.g.
    /// `180d` (default: never).
    #[arg(long, global = true, env = "TROUPE_RETENTION_FAILED", value_parser = humantime::parse_duration, help_heading = "Retention")]
    #[serde(default, with = "humantime_opt")]
    pub retention_failed: Option<Duration>,
    /// Keep the log lines of finished executions this long, e.g. `30d` (default: forever).
    #[arg(long, global = true, env = "TROUPE_RETENTION_LOGS", value_parser = humantime::parse_duration, help_heading = "Retention")]
    #[serde(default, with = "humantime_opt")]
    pub retention_logs: Option<Duration>,
    /// Keep revoked and expired sessions this long after they ended, e.g. `7d` (default: forever).
    #[arg(long, global = true, env = "TROUPE_RETENTION_SESSIONS", value_parser = humantime::parse_duration, help_heading = "Retention")]
    #[serde(default, with = "humantime_opt")]
    pub retention_sessions: Option<Duration>,
    /// Delete accounts whose email was never verified this long after they were created, with
    /// everything they own, e.g. `7d` (default: never; admins never).
    #[arg(long, global = true, env = "TROUPE_RETENTION_UNVERIFIED", value_parser = humantime::parse_duration, help_heading = "Retention")]
    #[serde(default, with = "humantime_opt")]
    pub retention_unverified: Option<Duration>,
    /// Keep memories this long, e.g. `365d` (default: forever).
    #[arg(long, global = true, env = "TROUPE_RETENTION_MEMORIES", value_parser = humantime::parse_duration, help_heading = "Retention")]
    #[serde(default, with = "humantime_opt")]
    pub retention_memories: Option<Duration>,
    /// How often `troupe serve` runs retention (default `1h`).
    #[arg(long, global = true, env = "TROUPE_RETENTION_INTERVAL", value_parser = humantime::parse_duration, help_heading = "Retention")]
    #[serde(default, with = "humantime_opt")]
    pub retention_interval: Option<Duration>,
}

impl Settings {
    /// Returns `self` (flags and environment) over `file` (the TOML file's settings): every
    /// setting given here wins, every other comes from the file.
    pub fn layered(&self, file: Settings) -> anyhow::Result<Settings> {
        let serde_json::Value::Object(mut merged) = serde_json::to_value(file)? else {
            unreachable!("settings serialise to an object")
        };
        let serde_json::Value::Object(given) = serde_json::to_value(self)? else {
            unreachable!("settings serialise to an object")
        };
        merged.extend(given.into_iter().filter(|(_, value)| !value.is_null()));
        Ok(serde_json::from_value(serde_json::Value::Object(merged))?)
    }

    /// Reads a TOML file of settings (the long flag names with underscores).
    pub fn from_file(path: &Path) -> anyhow::Result<Settings> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read the config file `{}`", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file `{}`", path.display()))
    }
}

/// Models per agent kind (`TROUPE_LLM_MODELS`).
pub type ModelMap = std::collections::BTreeMap<String, String>;

/// Prompt and completion prices, US dollars per million tokens (`TROUPE_LLM_PRICE`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// Per million prompt tokens.
    pub prompt: f64,
    /// Per million completion tokens.
    pub completion: f64,
}

/// Parses `architect=gpt-4o,backend=qwen2.5-coder`.
fn parse_models(text: &str) -> Result<ModelMap, String> {
    let mut models = ModelMap::new();
    for pair in text.split(',').map(str::trim).filter(|pair| !pair.is_empty()) {
        let (kind, model) = pair
            .split_once('=')
            .map(|(kind, model)| (kind.trim(), model.trim()))
            .filter(|(kind, model)| !kind.is_empty() && !model.is_empty())
            .ok_or_else(|| format!("`{pair}` is not `agent=model`"))?;
        models.entry(kind.to_owned()).or_insert_with(|| model.to_owned());
    }
    Ok(models)
}

/// Parses `0.15,0.60`.
fn parse_price(text: &str) -> Result<Price, String> {
    text.split_once(',')
        .and_then(|(prompt, completion)| {
            let price = Price { prompt: prompt.trim().parse().ok()?, completion: completion.trim().parse().ok()? };
            let valid = |value: f64| value.is_finite() && value >= 0.0;
            (valid(price.prompt) && valid(price.completion)).then_some(price)
        })
        .ok_or_else(|| format!("`{text}` is not `prompt,completion` dollars per million tokens"))
}

/// Durations as humantime strings (`"30s"`) in the file.
mod humantime_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => serializer.serialize_str(&humantime::format_duration(*duration).to_string()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| humantime::parse_duration(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_variables_win_over_the_file() {
        let file: Settings = toml::from_str(
            "addr = \"127.0.0.1:9000\"\nenv = \"production\"\nrequest_timeout = \"5s\"\nllm_models = { architect = \"a\" }\n",
        )
        .unwrap();
        let given = Settings { addr: Some("127.0.0.1:9001".parse().unwrap()), ..Settings::default() };
        let layered = given.layered(file).unwrap();
        assert_eq!(layered.addr, Some("127.0.0.1:9001".parse().unwrap()));
        assert_eq!(layered.env, Some(Environment::Production));
        assert_eq!(layered.request_timeout, Some(Duration::from_secs(5)));
        assert_eq!(layered.llm_models.unwrap()["architect"], "a");
    }

    #[test]
    fn maps_given_on_the_command_line_are_parsed_by_type() {
        assert_eq!(parse_models("architect=gpt-4o, backend = qwen").unwrap().len(), 2);
        assert!(parse_models("architect").unwrap_err().contains("not `agent=model`"));
        assert_eq!(parse_price("0.15,0.60").unwrap(), Price { prompt: 0.15, completion: 0.6 });
        assert!(parse_price("0.15").is_err() && parse_price("-1,2").is_err() && parse_price("NaN,1").is_err());
    }
}
