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
pub mod embeddings;
pub mod jobs;
mod progress;
pub mod retention;
pub mod system;
pub mod webdriver;

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
    // A node of a cluster names itself on every line it logs.
    let node = match (&cli.command, &config) {
        (cli::Command::Serve, Ok(config)) => {
            config::secrets::ensure_data_dir(&config.data_dir).and_then(|()| config::secrets::node_id(config)).ok()
        }
        _ => None,
    };
    init_tracing(config.as_ref().map(|config| config.log_format).unwrap_or_default(), node);
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
/// start-up notices about its unset internal flags are not ours to act on, so only its errors),
/// each line naming the node when there is one.
fn init_tracing(format: config::LogFormat, node: Option<String>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,qdrant_edge=error"));
    let json = format == config::LogFormat::Json;
    let writer = NodeWriter { node: node.map(|node| std::sync::Arc::from(node.as_str())), json };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let _ = match format {
        config::LogFormat::Json => builder.json().try_init(),
        config::LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
    };
}

/// Standard error, each log line (one write per event) starting with the node's id: `node=… `
/// in text, a `"node"` field in JSON.
#[derive(Clone)]
struct NodeWriter {
    node: Option<std::sync::Arc<str>>,
    json: bool,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for NodeWriter {
    type Writer = NodeWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl std::io::Write for NodeWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut stderr = std::io::stderr().lock();
        match &self.node {
            Some(node) if self.json && line.first() == Some(&b'{') => {
                let field = serde_json::to_string(node.as_ref()).unwrap_or_default();
                stderr.write_all(format!("{{\"node\":{field},").as_bytes())?;
                stderr.write_all(&line[1..])?;
            }
            Some(node) if !self.json => {
                stderr.write_all(format!("node={node} ").as_bytes())?;
                stderr.write_all(line)?;
            }
            _ => stderr.write_all(line)?,
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
