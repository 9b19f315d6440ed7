//! The commands.

mod maintenance;
mod pipeline;
mod plugin;
mod run;
mod serve;

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{BenchCommand, Cli, Command, MemoryCommand};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Pipeline(command) => pipeline::run(command),
        Command::Bench(BenchCommand::Pipeline(args)) => crate::bench::pipeline(args, cli.database_url.as_deref()),
        Command::Bench(BenchCommand::Http(args)) => crate::bench_http::http(args),
        Command::Bench(BenchCommand::Memory(args)) => crate::bench_memory::memory(args),
        Command::Bench(BenchCommand::Plugins(args)) => crate::bench_plugins::plugins(args),
        Command::Run(_)
        | Command::Resume(_)
        | Command::Migrate
        | Command::Serve(_)
        | Command::Admin(_)
        | Command::Gc(_)
        | Command::Memory(_)
        | Command::Plugin(_) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("failed to start the async runtime")?;
            runtime.block_on(async {
                match &cli.command {
                    Command::Run(args) => run::run(&cli, args).await,
                    Command::Serve(args) => serve::serve(&cli, args).await,
                    Command::Admin(command) => serve::admin(&cli, command).await,
                    Command::Resume(args) => run::resume(&cli, args).await,
                    Command::Gc(args) => maintenance::gc(&cli, args).await,
                    Command::Memory(MemoryCommand::Rekey) => maintenance::rekey(&cli).await,
                    Command::Plugin(command) => plugin::run(&cli, command).await,
                    Command::Migrate => {
                        crate::setup::ensure_data_dir(&cli.data_dir)?;
                        crate::setup::open_stores(&cli).await?;
                        println!("migrations applied");
                        Ok(ExitCode::SUCCESS)
                    }
                    _ => unreachable!("handled above"),
                }
            })
        }
    }
}
