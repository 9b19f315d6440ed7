//! The commands: each takes the resolved configuration and assembles what it needs through
//! [`crate::system`].

mod maintenance;
mod pipeline;
mod plugin;
mod run;
mod serve;

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{BenchCommand, Cli, Command, MemoryCommand};
use crate::config::Config;

/// Runs the parsed command line.
pub fn run(cli: &Cli, config: Config) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Pipeline(command) => pipeline::run(command),
        Command::Bench(BenchCommand::Pipeline(args)) => {
            crate::bench::pipeline::pipeline(args, cli.settings.database_url.as_deref())
        }
        Command::Bench(BenchCommand::Http(args)) => crate::bench::http::http(args),
        Command::Bench(BenchCommand::HttpLoad) => crate::bench::load::http_load(),
        Command::Bench(BenchCommand::Memory(args)) => crate::bench::memory::memory(args),
        Command::Bench(BenchCommand::Plugins(args)) => crate::bench::plugins::plugins(args),
        Command::Bench(BenchCommand::Console(args)) => crate::bench::console::console(args),
        Command::Bench(BenchCommand::Cluster(args)) => {
            crate::bench::cluster::cluster(args, cli.settings.database_url.as_deref())
        }
        Command::Openapi => {
            println!("{}", serde_json::to_string_pretty(&troupe_gateway::http::openapi::document())?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Asyncapi => {
            println!("{}", serde_json::to_string_pretty(&troupe_gateway::http::asyncapi::document())?);
            Ok(ExitCode::SUCCESS)
        }
        command => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("failed to start the async runtime")?;
            runtime.block_on(async move {
                match command {
                    Command::Run(args) => run::run(config, args).await,
                    Command::Serve => serve::serve(config).await,
                    Command::Admin(command) => serve::admin(config, command).await,
                    Command::Resume(args) => run::resume(config, args).await,
                    Command::Gc => maintenance::gc(config).await,
                    Command::Memory(MemoryCommand::Rekey) => maintenance::rekey(config).await,
                    Command::Plugin(command) => plugin::run(config, command).await,
                    Command::Migrate => {
                        crate::system::open_stores(&config).await?;
                        println!("migrations applied");
                        Ok(ExitCode::SUCCESS)
                    }
                    Command::Pipeline(_) | Command::Bench(_) | Command::Openapi | Command::Asyncapi => {
                        unreachable!("handled without a runtime")
                    }
                }
            })
        }
    }
}
