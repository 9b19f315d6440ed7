//! `troupe gc` (one retention pass) and `troupe memory rekey`.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{Cli, GcArgs};
use crate::setup;

pub async fn gc(cli: &Cli, args: &GcArgs) -> anyhow::Result<ExitCode> {
    let policy = args.retention.policy();
    if !policy.is_active() {
        println!("nothing to do: give --retention-executions and/or --retention-memories (e.g. 30d)");
        return Ok(ExitCode::SUCCESS);
    }
    setup::ensure_data_dir(&cli.data_dir)?;
    let stores = setup::open_stores(cli).await?;
    let memories = match policy.memories {
        Some(_) => Some(setup::memory_options(cli, None)?.open(stores.memories).await?),
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

pub async fn rekey(cli: &Cli) -> anyhow::Result<ExitCode> {
    setup::ensure_data_dir(&cli.data_dir)?;
    let stores = setup::open_stores(cli).await?;
    let options = setup::memory_options(cli, None)?;
    let moved = troupe_memory::service::rekey(stores.memories.as_ref(), &options.keys)
        .await
        .context("re-encryption stopped")?;
    println!("re-encrypted {moved} memories with key `{}`", options.keys.active());
    Ok(ExitCode::SUCCESS)
}
