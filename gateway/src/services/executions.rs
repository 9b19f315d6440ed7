//! Creating executions: the pipeline a request names, budget defaults, idempotency keys.

use std::sync::Arc;

use dashmap::DashMap;
use serde_json::Value;
use troupe_runtime::ids::{ProjectId, UserId};
use troupe_runtime::model::ExecutionRecord;
use troupe_runtime::pipeline::{BudgetDef, PipelineDef};
use troupe_runtime::{Runtime, SubmitRequest};

use super::ServiceError;
use super::pipelines::{Catalog, Source};

/// Who asks.
#[derive(Clone, Debug)]
pub struct Requester {
    /// Their id (the owner of what they create).
    pub id: UserId,
    /// Whether they are an admin.
    pub admin: bool,
    /// Their default budget (an admin sets it per user).
    pub budget: Option<BudgetDef>,
}

/// Which pipeline a request runs.
#[derive(Clone, Debug)]
pub enum PipelineChoice {
    /// One of the requester's own by name, else a built-in one.
    Name(String),
    /// A definition sent with the request.
    Inline(Value),
}

/// A request for a new execution.
#[derive(Clone, Debug)]
pub struct NewExecution {
    /// The pipeline.
    pub pipeline: PipelineChoice,
    /// The execution's input.
    pub input: Value,
    /// One of the requester's projects (checked by the caller).
    pub project: Option<ProjectId>,
    /// Caps on LLM use; default: the pipeline's, else the requester's, else the server's.
    pub budget: Option<BudgetDef>,
    /// Repeating a request with the same key answers the first execution.
    pub idempotency_key: Option<String>,
}

/// What a create did.
#[derive(Debug)]
pub struct Created {
    /// The execution.
    pub record: ExecutionRecord,
    /// `false` when an earlier request with the same idempotency key created it.
    pub created: bool,
}

/// Creates executions.
pub struct Executions {
    runtime: Arc<Runtime>,
    catalog: Catalog,
    default_budget: Option<BudgetDef>,
    /// One lock per (user, idempotency key) being created on this node.
    locks: DashMap<(UserId, String), Arc<tokio::sync::Mutex<()>>>,
}

/// The lock of one (user, idempotency key); its map entry goes when the create ends, however
/// it ends. A request still waiting on the old lock finds the execution in the store.
struct KeyLock<'a> {
    locks: &'a DashMap<(UserId, String), Arc<tokio::sync::Mutex<()>>>,
    key: (UserId, String),
    mutex: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for KeyLock<'_> {
    fn drop(&mut self) {
        self.locks.remove(&self.key);
    }
}

impl Executions {
    /// Creates executions on `runtime`; `default_budget` caps those that set none.
    pub fn new(runtime: Arc<Runtime>, catalog: Catalog, default_budget: Option<BudgetDef>) -> Self {
        Self { runtime, catalog, default_budget, locks: DashMap::new() }
    }

    /// Returns the pipeline catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Resolves and checks the pipeline, applies the budget defaults, and submits — unless an
    /// execution with the same (requester, idempotency key) exists, which is answered instead.
    pub async fn create(&self, requester: &Requester, request: NewExecution) -> Result<Created, ServiceError> {
        let (mut def, source) = match request.pipeline {
            PipelineChoice::Name(name) => {
                self.catalog.resolve(self.runtime.store().as_ref(), requester.id, &name).await?
            }
            PipelineChoice::Inline(definition) => (PipelineDef::from_value(definition)?, Source::Own),
        };
        if source == Source::Own {
            self.catalog.check_agents_allowed(&def, requester.admin)?;
        }
        if let Some(budget) = request.budget {
            def.budget = Some(budget);
        }
        if def.budget.is_none() {
            def.budget = requester.budget.clone().or_else(|| self.default_budget.clone());
        }
        if let Some(schema) = &def.input_schema {
            check_input(schema, &request.input)?;
        }
        let pipeline = self.runtime.validate(def)?;
        // One create per (user, key) at a time on this node, so two concurrent repeats cannot
        // both miss the first one's row.
        let lock = request.idempotency_key.as_ref().map(|key| {
            let key = (requester.id, key.clone());
            let mutex = Arc::clone(self.locks.entry(key.clone()).or_default().value());
            KeyLock { locks: &self.locks, key, mutex }
        });
        let _guard = match &lock {
            Some(lock) => Some(lock.mutex.lock().await),
            None => None,
        };
        let store = self.runtime.store();
        if let Some(key) = &request.idempotency_key
            && let Some(record) = store.find_by_idempotency_key(requester.id, key).await?
        {
            return Ok(Created { record, created: false });
        }
        let submit = SubmitRequest {
            pipeline,
            input: request.input,
            owner: requester.id,
            project: request.project,
            idempotency_key: request.idempotency_key,
        };
        let (id, created) = self.runtime.submit_once(submit).await?;
        let record = store.get_execution(id).await?.ok_or_else(|| ServiceError::NotFound("execution".into()))?;
        Ok(Created { record, created })
    }
}

/// Checks an input against its pipeline's `input_schema`; every problem names its field under
/// `input`.
fn check_input(schema: &serde_json::Value, input: &serde_json::Value) -> Result<(), ServiceError> {
    let validator = jsonschema::validator_for(schema).map_err(|error| {
        ServiceError::InvalidFields(vec![(
            "pipeline.input_schema".into(),
            format!("not a usable JSON Schema: {error}"),
        )])
    })?;
    let problems: Vec<(String, String)> = validator
        .iter_errors(input)
        .take(20)
        .map(|error| {
            let pointer = error.instance_path().to_string();
            let field = pointer.trim_start_matches('/').replace('/', ".");
            let field = if field.is_empty() { "input".to_owned() } else { format!("input.{field}") };
            (field, error.to_string())
        })
        .collect();
    if problems.is_empty() { Ok(()) } else { Err(ServiceError::InvalidFields(problems)) }
}
