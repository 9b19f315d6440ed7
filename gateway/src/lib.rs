//! troupe-gateway: configuration, wiring and the `troupe` command line.
//!
//! This crate reads configuration, builds the concrete store and agents, starts the runtime
//! and runs commands (`run`, `resume`, `migrate`, `pipeline`, `bench`). It is the only crate
//! that will *serve* HTTP (the gateway issue); `main` stays a one-line call into [`cli_main`]
//! so tests can run the same entry point.

#![warn(missing_docs)]

mod bench;
mod cli;
mod commands;
pub mod config;
pub mod http;
mod progress;
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
