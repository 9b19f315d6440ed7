//! troupe-gateway: configuration, wiring and the `troupe` command line.
//!
//! This crate reads configuration, builds the concrete stores and agents, starts the runtime
//! and runs commands (`serve`, `run`, `resume`, `migrate`, `gc`, `memory`, `plugin`, `admin`,
//! `pipeline`, `bench`). It is
//! the only crate that serves HTTP ([`http`], started by [`server::Server`]); `main` stays a
//! one-line call into [`cli_main`] so tests can run the same entry point.

#![warn(missing_docs)]

pub mod auth;
mod bench;
mod bench_http;
mod bench_memory;
mod bench_plugins;
mod cli;
mod commands;
pub mod config;
pub mod http;
pub mod jobs;
pub mod memory;
mod progress;
pub mod research;
pub mod retention;
pub mod server;
mod setup;

use std::process::ExitCode;

use clap::Parser;

pub use cli::Cli;

/// Parses the command line, runs the command and returns the process exit code.
pub fn cli_main() -> ExitCode {
    let cli = Cli::parse();
    setup::init_tracing(cli.log_format);
    match commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}
