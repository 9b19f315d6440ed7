//! troupe-agents: the agents steps run and the validators that check their output.
//!
//! For now this crate ships the demo agents used by the examples and benchmarks
//! ([`demo`]), the JSON Schema validator ([`validators::JsonSchemaValidator`]) and the LLM
//! provider layer ([`llm`]); the built-in software and research agents come with the agents
//! issue. This crate is the only one that talks to LLM APIs.

#![warn(missing_docs)]

pub mod demo;
pub mod llm;
pub mod validators;

use troupe_runtime::RuntimeBuilder;

/// The agent kinds [`register_builtins`] registers.
pub const BUILTIN_AGENTS: &[&str] = &["echo", "sleep"];
/// The validators [`register_builtins`] registers.
pub const BUILTIN_VALIDATORS: &[&str] = &["json_schema"];

/// Registers every agent and validator this crate provides under its usual name.
pub fn register_builtins(builder: RuntimeBuilder) -> RuntimeBuilder {
    builder
        .agent("echo", demo::EchoAgent)
        .agent("sleep", demo::SleepAgent::default())
        .validator("json_schema", validators::JsonSchemaValidator::default())
}

/// The pipelines every user can run without registering one, by name.
pub fn builtin_pipelines() -> Vec<troupe_runtime::pipeline::PipelineDef> {
    use troupe_runtime::pipeline::{PipelineDef, PipelineFormat};
    [include_str!("../../examples/hello.yaml")]
        .into_iter()
        .map(|text| PipelineDef::parse(text, PipelineFormat::Yaml).expect("built-in pipelines parse"))
        .collect()
}
