//! `troupe plugin add <dir>`, `troupe plugin list` and `troupe plugin schema`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;
use troupe_plugins::registry::RegistryError;

use crate::cli::PluginCommand;
use crate::config::Config;
use crate::config::secrets::Secrets;
use crate::system;

pub async fn run(config: Config, command: &PluginCommand) -> anyhow::Result<ExitCode> {
    match command {
        PluginCommand::Schema => {
            println!("{}", serde_json::to_string_pretty(&troupe_plugins::manifest::json_schema())?);
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Add { dir } => add(&config, dir).await,
        PluginCommand::List => {
            let registry = registry(&config).await?;
            for (record, _) in registry.list().await? {
                let manifest = &record.manifest;
                println!(
                    "{} {} ({}, {}){}",
                    record.name,
                    manifest["version"].as_str().unwrap_or("?"),
                    manifest["kind"].as_str().unwrap_or("?"),
                    manifest["track"].as_str().unwrap_or("?"),
                    if record.enabled {
                        String::new()
                    } else {
                        format!(" disabled: {}", record.disabled_reason.unwrap_or_default())
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn registry(config: &Config) -> anyhow::Result<troupe_plugins::PluginRegistry> {
    let stores = system::open_stores(config).await?;
    system::open_plugins(config, &stores, &Secrets::load(config)?).await
}

/// Reads `plugin.toml` (or `plugin.json`) and its module from `dir`, checks and registers it; a
/// running server loads it within seconds.
async fn add(config: &Config, dir: &Path) -> anyhow::Result<ExitCode> {
    let (manifest, text) = if dir.join("plugin.toml").exists() {
        let path = dir.join("plugin.toml");
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read `{}`", path.display()))?;
        (troupe_plugins::manifest::ManifestFormat::Toml, text)
    } else {
        let path = dir.join("plugin.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("`{}` holds neither plugin.toml nor plugin.json", dir.display()))?;
        (troupe_plugins::manifest::ManifestFormat::Json, text)
    };
    let checked = match troupe_plugins::manifest::Manifest::parse(&text, manifest) {
        Ok(checked) => checked,
        Err(error) => return Ok(report(dir, &error.issues)),
    };
    let module = match checked.manifest.kind {
        troupe_plugins::manifest::PluginKind::Wasm => {
            let path = dir.join(&checked.manifest.entry);
            Some(std::fs::read(&path).with_context(|| format!("cannot read the module `{}`", path.display()))?)
        }
        troupe_plugins::manifest::PluginKind::Http => None,
    };
    let value: Value = serde_json::to_value(&checked.manifest)?;
    let reserved: Vec<String> = troupe_agents::BUILTIN_AGENTS.iter().map(|kind| (*kind).to_owned()).collect();
    let registry = registry(config).await?;
    match registry.register(value, module, troupe_runtime::ids::UserId::LOCAL, &reserved).await {
        Ok((record, checked)) => {
            println!(
                "registered plugin `{}` {} ({} track): pipeline steps name it as agent `{}`",
                record.name,
                checked.manifest.version,
                if checked.manifest.research.is_some() { "research" } else { "custom" },
                checked.agent_kind()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(RegistryError::Invalid(error)) => Ok(report(dir, &error.issues)),
        Err(error) => Err(error.into()),
    }
}

fn report(dir: &Path, issues: &[troupe_plugins::manifest::ManifestIssue]) -> ExitCode {
    eprintln!("{}: invalid plugin", dir.display());
    for issue in issues {
        eprintln!("  {}: {}", issue.field, issue.message);
    }
    ExitCode::from(2)
}
