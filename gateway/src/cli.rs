//! The command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// troupe: an actor-based multi-agent runtime.
#[derive(Debug, Parser)]
#[command(name = "troupe", version, about)]
pub struct Cli {
    /// Where troupe keeps its state (SQLite database, node id, secrets).
    #[arg(long, global = true, env = "TROUPE_DATA_DIR", default_value = "./troupe-data")]
    pub data_dir: PathBuf,
    /// The database to use instead of the SQLite file in the data dir (`postgres://…` or
    /// `sqlite://path`).
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Log format on standard error.
    #[arg(long, global = true, env = "TROUPE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Memory settings (keys, vector store, embedder).
    #[command(flatten)]
    pub memory: crate::memory::MemoryArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serves the HTTP API (resuming unfinished executions first).
    Serve(Box<crate::config::ServeArgs>),
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
    Gc(GcArgs),
    /// Works with memories.
    #[command(subcommand)]
    Memory(MemoryCommand),
    /// Works with plugins (custom and research agents in the sandbox).
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
    /// LLM settings.
    #[command(flatten)]
    pub llm: crate::config::LlmArgs,
}

/// Arguments of `troupe resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Output options.
    #[command(flatten)]
    pub output: OutputArgs,
    /// LLM settings.
    #[command(flatten)]
    pub llm: crate::config::LlmArgs,
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
        #[arg(long, default_value = "user")]
        role: String,
    },
}

/// Arguments of `troupe gc`.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// What to remove.
    #[command(flatten)]
    pub retention: crate::retention::RetentionArgs,
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
    Pipeline(crate::bench::PipelineBenchArgs),
    /// Measures the gateway: request rates, open-loop latency, WebSocket fan-out.
    Http(crate::bench_http::HttpBenchArgs),
    /// Measures vector memory: inserts, index build, filtered search latency and recall.
    Memory(crate::bench_memory::MemoryBenchArgs),
    /// Measures the production track's throughput beside crashing and CPU-burning plugins.
    Plugins(crate::bench_plugins::PluginBenchArgs),
}
