//! `troupe gc` (one retention pass) and `troupe memory rekey`.

use std::process::ExitCode;

use anyhow::Context;

use crate::config::Config;
use crate::config::secrets::Secrets;
use crate::system;

pub async fn gc(config: Config) -> anyhow::Result<ExitCode> {
    let policy = config.retention;
    if !policy.is_active() {
        println!("nothing to do: give a retention window (e.g. --retention-executions 30d; see `troupe gc --help`)");
        return Ok(ExitCode::SUCCESS);
    }
    let workspaces = config.data_dir.join("workspaces");
    // Deleting unverified accounts deletes what they own: that takes the whole system.
    let system = match policy.unverified {
        Some(_) => Some(system::System::open(config.clone(), system::Mode::Run { max_live: None }).await?),
        None => None,
    };
    let deletion = system.as_ref().map(system::System::deletion).transpose()?;
    let stores = system::open_stores(&config).await?;
    let memories = match policy.memories {
        Some(_) => Some(system::open_memories(&config, &stores, &Secrets::load(&config)?).await?),
        None => None,
    };
    let report = crate::retention::run(
        policy,
        crate::retention::Stores {
            executions: stores.executions.as_ref(),
            accounts: stores.accounts.as_ref(),
            memories: memories.as_ref().or(deletion.as_ref().map(|deletion| deletion.memories.as_ref())),
            deletion: deletion.as_ref(),
            workspaces: Some(&workspaces),
        },
    )
    .await;
    drop(deletion);
    if let Some(system) = system {
        system.shutdown().await;
    }
    let report = report?;
    println!(
        "purged {} finished executions ({} log lines, {} events, {} artifacts), deleted {} executions, {} log \
         lines, {} sessions, {} unverified accounts and {} memories",
        report.executions.executions,
        report.executions.logs,
        report.executions.events,
        report.executions.artifacts,
        report.deleted,
        report.logs,
        report.sessions,
        report.accounts,
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
