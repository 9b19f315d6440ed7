//! troupe-agents: the agents steps run and the validators that check their output.
//!
//! It ships the built-in agents — the software pipeline ([`software`]), the research pipeline
//! ([`research`]) and the demo agents ([`demo`]) — the validators ([`validators`]), the LLM
//! providers ([`llm`]: chat and embeddings), the SSRF-safe fetcher ([`fetch`]) and the code box
//! ([`sandbox`]), the only way troupe runs a generated program. It is the only crate that talks
//! to LLM APIs; it stores nothing itself (stores and memories come in as ports).

#![warn(missing_docs)]

pub mod ask;
pub mod demo;
pub mod fetch;
pub mod llm;
pub mod research;
pub mod sandbox;
pub mod software;
pub mod validators;

use std::sync::Arc;

use troupe_runtime::RuntimeBuilder;

pub use ask::AgentsConfig;

/// The agent kinds [`register_builtins`] registers.
pub const BUILTIN_AGENTS: &[&str] = &[
    "echo",
    "sleep",
    "requirements",
    "architect",
    "api_design",
    "db_design",
    "backend",
    "frontend",
    "infra",
    "build",
    "qa",
    "deploy",
    "recovery",
    "planner",
    "ingest_pdf",
    "ingest_code",
    "ingest_web",
    "ingest_youtube",
    "analyse",
    "summarise",
];
/// The validators [`register_builtins`] registers.
pub const BUILTIN_VALIDATORS: &[&str] = &["json_schema", "openapi", "sql_ddl", "syntax", "completeness"];

/// Registers every agent and validator this crate provides under its usual name, with the
/// default configuration (the offline provider).
pub fn register_builtins(builder: RuntimeBuilder) -> RuntimeBuilder {
    register_builtins_with(builder, AgentsConfig::default())
}

/// Registers every agent and validator this crate provides, configured by `config`; with a
/// memory service in `config`, the runtime gets it too (steps recall the owner's memories, and
/// the corrections that passed are remembered for the corrector to find again).
pub fn register_builtins_with(builder: RuntimeBuilder, config: AgentsConfig) -> RuntimeBuilder {
    let mut builder = match &config.memories {
        Some(memories) => builder.memories(Arc::clone(memories)),
        None => builder,
    };
    let config = Arc::new(config);
    for kind in software::DesignKind::ALL {
        let config = Arc::clone(&config);
        builder = builder.agent(kind.name(), software::DesignAgent::new(kind, config));
    }
    builder
        .agent("build", software::workspace::CommandsAgent::new(software::workspace::Phase::Build, Arc::clone(&config)))
        .agent("qa", software::workspace::CommandsAgent::new(software::workspace::Phase::Test, Arc::clone(&config)))
        .agent("recovery", software::recovery::RecoveryAgent)
        .agent("planner", research::ResearchAgent::new(research::ResearchKind::Planner, Arc::clone(&config)))
        .agent("analyse", research::ResearchAgent::new(research::ResearchKind::Analyse, Arc::clone(&config)))
        .agent("summarise", research::ResearchAgent::new(research::ResearchKind::Summarise, Arc::clone(&config)))
        .agent("ingest_pdf", research::ingest::IngestAgent::new(research::ingest::IngestKind::Pdf, Arc::clone(&config)))
        .agent(
            "ingest_code",
            research::ingest::IngestAgent::new(research::ingest::IngestKind::Code, Arc::clone(&config)),
        )
        .agent("ingest_web", research::ingest::IngestAgent::new(research::ingest::IngestKind::Web, Arc::clone(&config)))
        .agent(
            "ingest_youtube",
            research::ingest::IngestAgent::new(research::ingest::IngestKind::YouTube, Arc::clone(&config)),
        )
        .agent("echo", demo::EchoAgent)
        .agent("sleep", demo::SleepAgent::default())
        .validator("json_schema", validators::JsonSchemaValidator::default())
        .validator("openapi", validators::OpenApiValidator)
        .validator("sql_ddl", validators::SqlDdlValidator)
        .validator("syntax", validators::SyntaxValidator)
        .validator("completeness", validators::CompletenessValidator)
}

/// The pipelines every user can run without registering one, by name.
pub fn builtin_pipelines() -> Vec<troupe_runtime::pipeline::PipelineDef> {
    use troupe_runtime::pipeline::{PipelineDef, PipelineFormat};
    let hello = PipelineDef::parse(include_str!("../../examples/hello.yaml"), PipelineFormat::Yaml)
        .expect("built-in pipelines parse");
    vec![hello, software::pipeline(), research::pipeline()]
}
