//! troupe: the command line, the configuration and the composition root.
//!
//! This package reads configuration once ([`config`]), assembles the system in one place
//! ([`system`]: stores, memory, the plugin track, agents, the runtime, background jobs, the
//! server) and runs a command ([`commands`]); it also holds the benchmarks and their load
//! generators. `main` is a one-line call into [`cli_main`], so tests run the same entry point.
//! Nothing below this package knows about clap, TOML or benchmarks.

#![warn(missing_docs)]

mod bench;
pub mod cli;
mod commands;
pub mod config;
pub mod jobs;
mod progress;
pub mod retention;
pub mod system;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

pub use cli::Cli;
pub use config::Config;
pub use system::{Mode, Server, System};

/// Parses the command line, runs the command and returns the process exit code.
pub fn cli_main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match &cli.config {
        Some(path) => config::Settings::from_file(path).and_then(|file| cli.settings.layered(file)),
        None => Ok(cli.settings.clone()),
    };
    let config = settings.and_then(|settings| Config::resolve(&settings));
    init_tracing(config.as_ref().map(|config| config.log_format).unwrap_or_default());
    let outcome = config.and_then(|config| commands::run(&cli, config));
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// Sends logs to standard error, filtered by `RUST_LOG` (default `warn`; qdrant-edge's own
/// start-up notices about its unset internal flags are not ours to act on, so only its errors).
fn init_tracing(format: config::LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,qdrant_edge=error"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        config::LogFormat::Json => builder.json().try_init(),
        config::LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
    };
}
