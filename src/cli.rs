//! The command-line interface: the commands and their own arguments (settings are global,
//! see [`crate::config::Settings`]).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{RoleArg, Settings};

/// troupe: an actor-based multi-agent runtime — pipelines of supervised agents, an HTTP and
/// WebSocket API, a sandboxed plugin track.
#[derive(Debug, Parser)]
#[command(name = "troupe", version, about)]
pub struct Cli {
    /// A TOML file with any of the settings, by their long names with underscores (flags and
    /// `TROUPE_*` variables win over it).
    #[arg(long, global = true, env = "TROUPE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Every setting (also read from its environment variable).
    #[command(flatten)]
    pub settings: Settings,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serves the HTTP API (resuming unfinished executions first).
    Serve,
    /// Runs a pipeline (a built-in one by name, or a .json/.yaml file) and shows live progress
    /// per step.
    Run(RunArgs),
    /// Finishes the executions a stopped or killed process left unfinished.
    Resume(ResumeArgs),
    /// Applies database migrations.
    Migrate,
    /// Runs one retention pass: deletes the logs, events and artifacts of executions that
    /// finished longer ago than `--retention-executions`, and memories older than
    /// `--retention-memories`. Live executions are never touched.
    Gc,
    /// Works with memories.
    #[command(subcommand)]
    Memory(MemoryCommand),
    /// Works with plugins (custom and research agents in their WebAssembly sandbox).
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Administers accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Works with pipeline definitions.
    #[command(subcommand)]
    Pipeline(PipelineCommand),
    /// Runs benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Prints the HTTP API's OpenAPI 3.1 document (what `/api/docs/openapi.json` serves), for
    /// generating clients.
    Openapi,
    /// Prints the WebSocket protocol's AsyncAPI 3 document (`/api/docs/asyncapi.json`).
    Asyncapi,
}

/// How progress is shown.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print every event as one JSON object per line (machine output).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `troupe run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A built-in pipeline's name (`hello`, `software`, `research`) or a definition file.
    pub pipeline: PathBuf,
    /// The execution input, as JSON.
    #[arg(long, default_value = "{}")]
    pub input: String,
    /// How many executions of the pipeline to start.
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    /// The most executions running at once (the rest wait in `planned`).
    #[arg(long)]
    pub max_live: Option<usize>,
    /// Output options.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Arguments of `troupe resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Output options.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `troupe admin …`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Creates an account; the first account of an installation is the admin. The password is
    /// read from standard input (or `TROUPE_NEW_USER_PASSWORD`), never from the command line.
    CreateUser {
        /// The login.
        #[arg(long)]
        email: String,
        /// A display name.
        #[arg(long)]
        name: Option<String>,
        /// `admin`, `researcher` or `user` (the first account is always `admin`).
        #[arg(long, value_enum, ignore_case = true, default_value = "user")]
        role: RoleArg,
    },
    /// Deletes an account and everything it owns, as `DELETE /api/v1/users/{id}` does: its
    /// executions (live ones cancelled), pipelines, projects, files, memories and their
    /// vectors, research consent and pending observations, sessions, API keys, workspaces. The
    /// last admin cannot be deleted. With the embedded vector store, stop the server first.
    DeleteUser {
        /// The account's login.
        #[arg(long)]
        email: String,
    },
}

/// `troupe memory …`.
#[derive(Debug, Subcommand)]
pub enum MemoryCommand {
    /// Re-encrypts every memory with the active key (the first of `TROUPE_MEMORY_KEYS`), so
    /// older keys can then be dropped from the list.
    Rekey,
}

/// `troupe plugin …`.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Checks and registers the plugin in a directory (its plugin.toml or plugin.json and its
    /// module); a running server loads it within seconds.
    Add {
        /// The plugin's directory.
        dir: PathBuf,
    },
    /// Lists the registered plugins.
    List,
    /// Prints the JSON Schema of the manifest format.
    Schema,
}

/// `troupe pipeline …`.
#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Checks a pipeline definition and reports every problem, naming the step and field.
    Check {
        /// The pipeline definition file.
        file: PathBuf,
    },
    /// Prints the JSON Schema of the pipeline format.
    Schema,
}

/// `troupe bench …`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Measures orchestration: 10-step linear pipelines of stand-in agents.
    Pipeline(crate::bench::pipeline::PipelineBenchArgs),
    /// Measures the gateway: request rates, open-loop latency, WebSocket fan-out.
    Http(crate::bench::http::HttpBenchArgs),
    /// Measures vector memory: inserts, index build, filtered search latency and recall.
    Memory(crate::bench::memory::MemoryBenchArgs),
    /// Measures the production track's throughput beside crashing and CPU-burning plugins.
    Plugins(crate::bench::plugins::PluginBenchArgs),
    /// Measures several nodes sharing PostgreSQL: throughput, cross-node events, takeover.
    Cluster(crate::bench::cluster::ClusterBenchArgs),
    /// Measures the web console in headless Chromium: first render of the executions list and
    /// of a large execution.
    Console(crate::bench::console::ConsoleBenchArgs),
    /// The load generator of `bench http`, run by it as a process of its own (reads what to
    /// do on standard input).
    #[command(hide = true)]
    HttpLoad,
}
