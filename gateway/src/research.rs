//! Research-track wiring: the pseudonymisation key of the research bus and the plugin pool.
//!
//! Production refuses to start without `TROUPE_RESEARCH_KEY`; development generates one into
//! the data dir (owner-only). Losing the key unlinks past pseudonyms from new ones (nothing is
//! lost that could identify anyone).

use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;
use clap::Args;
use troupe_plugins::{HostConfig, PseudonymKey};

use crate::config::Environment;

/// Research-track settings of `troupe serve`.
#[derive(Clone, Debug, Default, Args)]
pub struct ResearchArgs {
    /// The research bus's pseudonymisation key: 32 bytes, base64 (default: generated into the
    /// data dir in development; required in production).
    #[arg(long, env = "TROUPE_RESEARCH_KEY", hide_env_values = true)]
    pub research_key: Option<String>,
    /// Threads that run WebAssembly plugins (default 1: plugins never hold more than one core).
    #[arg(long, env = "TROUPE_PLUGIN_WORKERS")]
    pub plugin_workers: Option<usize>,
}

/// What the plugin track needs.
#[derive(Clone, Debug)]
pub struct ResearchOptions {
    /// The pseudonymisation key.
    pub key: PseudonymKey,
    /// The plugin pool and restart policy.
    pub host: HostConfig,
}

impl ResearchOptions {
    /// The development default: a key generated into `data_dir`.
    pub fn generated(data_dir: &Path) -> anyhow::Result<Self> {
        ResearchArgs::default().options(data_dir, Environment::Development)
    }
}

fn decode(text: &str) -> anyhow::Result<PseudonymKey> {
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(text.trim()).context("TROUPE_RESEARCH_KEY is not base64")?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|bytes: Vec<u8>| anyhow::anyhow!("TROUPE_RESEARCH_KEY has {} bytes; it needs 32", bytes.len()))?;
    Ok(PseudonymKey::new(bytes))
}

impl ResearchArgs {
    /// Resolves the settings.
    pub fn options(&self, data_dir: &Path, environment: Environment) -> anyhow::Result<ResearchOptions> {
        let key = match &self.research_key {
            Some(text) => decode(text)?,
            None if environment == Environment::Production => {
                bail!("TROUPE_ENV=production needs TROUPE_RESEARCH_KEY (base64 of 32 random bytes); none was given")
            }
            None => {
                let path = data_dir.join("research-key");
                match std::fs::read_to_string(&path) {
                    Ok(text) => decode(&text).with_context(|| format!("`{}`", path.display()))?,
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                        let mut bytes = [0u8; 32];
                        getrandom::fill(&mut bytes).context("the OS random source")?;
                        crate::setup::write_private(&path, &base64::engine::general_purpose::STANDARD.encode(bytes))?;
                        PseudonymKey::new(bytes)
                    }
                    Err(error) => return Err(error).with_context(|| format!("cannot read `{}`", path.display())),
                }
            }
        };
        let mut host = HostConfig::default();
        if let Some(workers) = self.plugin_workers {
            if workers == 0 {
                bail!("TROUPE_PLUGIN_WORKERS must be at least 1");
            }
            host.workers = workers;
        }
        Ok(ResearchOptions { key, host })
    }
}
