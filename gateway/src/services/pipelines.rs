//! Which pipeline a name means, and which agents a caller's own pipelines may name.

use std::collections::BTreeMap;
use std::sync::Arc;

use troupe_runtime::ids::UserId;
use troupe_runtime::pipeline::{PipelineDef, PipelineError, PipelineIssue};
use troupe_runtime::store::ExecutionStore;

use super::ServiceError;

/// Where a resolved pipeline came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A template shipped with troupe.
    Builtin,
    /// The caller's own (registered, or sent inline).
    Own,
}

/// The built-in pipelines and the rules for users' own.
#[derive(Clone, Debug)]
pub struct Catalog {
    builtin: Arc<BTreeMap<String, PipelineDef>>,
    restrict_demo_agents: bool,
}

impl Catalog {
    /// The built-in templates; with `restrict_demo_agents` (production), users' own
    /// pipelines may not name the demo agents unless the caller is an admin.
    pub fn new(restrict_demo_agents: bool) -> Self {
        let builtin = troupe_agents::builtin_pipelines().into_iter().map(|def| (def.name.clone(), def)).collect();
        Self { builtin: Arc::new(builtin), restrict_demo_agents }
    }

    /// Returns a built-in template by name.
    pub fn builtin(&self, name: &str) -> Option<&PipelineDef> {
        self.builtin.get(name)
    }

    /// Returns every built-in template, by name.
    pub fn builtins(&self) -> impl Iterator<Item = &PipelineDef> {
        self.builtin.values()
    }

    /// Finds the pipeline a name means to `owner`: their own first, then a built-in one.
    pub async fn resolve(
        &self,
        store: &dyn ExecutionStore,
        owner: UserId,
        name: &str,
    ) -> Result<(PipelineDef, Source), ServiceError> {
        if let Some(stored) = store.get_pipeline(owner, name).await? {
            return Ok((stored.def, Source::Own));
        }
        let builtin = self.builtin(name).cloned();
        builtin.map(|def| (def, Source::Builtin)).ok_or_else(|| ServiceError::NotFound(format!("pipeline `{name}`")))
    }

    /// Refuses a user's own pipeline that names a demo agent where those are restricted,
    /// unless the caller is an admin; each offending step is named.
    pub fn check_agents_allowed(&self, def: &PipelineDef, admin: bool) -> Result<(), ServiceError> {
        if !self.restrict_demo_agents || admin {
            return Ok(());
        }
        let issues: Vec<PipelineIssue> = def
            .steps
            .iter()
            .filter(|step| troupe_agents::demo::DEMO_AGENTS.contains(&step.agent.as_str()))
            .map(|step| PipelineIssue {
                step: Some(step.key.clone()),
                field: "agent".into(),
                message: format!("`{}` is a demo agent, not available to your own pipelines here", step.agent),
            })
            .collect();
        if issues.is_empty() { Ok(()) } else { Err(PipelineError { issues }.into()) }
    }
}
