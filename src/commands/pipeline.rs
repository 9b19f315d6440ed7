//! `troupe pipeline check` and `troupe pipeline schema`.

use std::process::ExitCode;

use troupe_runtime::pipeline::{PipelineDef, PipelineEnv};

use crate::cli::PipelineCommand;

/// The agents and validators a pipeline may name in this build.
pub struct BuiltinEnv;

impl PipelineEnv for BuiltinEnv {
    fn has_agent(&self, kind: &str) -> bool {
        troupe_agents::BUILTIN_AGENTS.contains(&kind)
    }

    fn has_validator(&self, name: &str) -> bool {
        troupe_agents::BUILTIN_VALIDATORS.contains(&name)
    }
}

pub fn run(command: &PipelineCommand) -> anyhow::Result<ExitCode> {
    match command {
        PipelineCommand::Schema => {
            println!("{}", serde_json::to_string_pretty(&troupe_runtime::pipeline::json_schema())?);
            Ok(ExitCode::SUCCESS)
        }
        PipelineCommand::Check { file } => {
            match PipelineDef::from_path(file).and_then(|def| def.validate(&BuiltinEnv)) {
                Ok(pipeline) => {
                    println!(
                        "{}: pipeline `{}` is valid ({} steps)",
                        file.display(),
                        pipeline.name(),
                        pipeline.steps().len()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    eprintln!("{}: invalid pipeline", file.display());
                    for issue in &error.issues {
                        eprintln!("  {issue}");
                    }
                    Ok(ExitCode::from(2))
                }
            }
        }
    }
}
