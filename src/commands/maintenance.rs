//! `troupe gc` (one retention pass) and `troupe memory rekey`.

use std::process::ExitCode;

use anyhow::Context;

use crate::config::Config;
use crate::config::secrets::Secrets;
use crate::system;

pub async fn gc(config: Config) -> anyhow::Result<ExitCode> {
    let policy = config.retention;
    if !policy.is_active() {
        println!("nothing to do: give --retention-executions and/or --retention-memories (e.g. 30d)");
        return Ok(ExitCode::SUCCESS);
    }
    let stores = system::open_stores(&config).await?;
    let memories = match policy.memories {
        Some(_) => Some(system::open_memories(&config, &stores, &Secrets::load(&config)?).await?),
        None => None,
    };
    let report = crate::retention::run(policy, stores.executions.as_ref(), memories.as_ref()).await?;
    println!(
        "purged {} finished executions ({} log lines, {} events, {} artifacts) and {} memories",
        report.executions.executions,
        report.executions.logs,
        report.executions.events,
        report.executions.artifacts,
        report.memories
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn rekey(config: Config) -> anyhow::Result<ExitCode> {
    let stores = system::open_stores(&config).await?;
    let keys = Secrets::load(&config)?.memory_keys;
    let moved =
        troupe_memory::service::rekey(stores.memories.as_ref(), &keys).await.context("re-encryption stopped")?;
    println!("re-encrypted {moved} memories with key `{}`", keys.active());
    Ok(ExitCode::SUCCESS)
}
