//! What the API answers with: plain views of the records, with their OpenAPI schemas.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use troupe_runtime::accounts::{ApiKeyRecord, ProjectRecord, UserRecord};
use troupe_runtime::model::{AttemptRecord, ExecutionRecord, StepRecord};
use utoipa::ToSchema;

use super::schemas::{
    AttemptKindName, AttemptStatusName, Budget, ErrorInfoSchema, ExecutionStatusName, PipelineDefinition, RoleName,
    StepStatusName,
};
use uuid::Uuid;

/// A user (never with the password hash).
#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    #[schema(value_type = RoleName)]
    pub role: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    /// The default budget of the user's executions, when one is set.
    #[schema(value_type = Option<Budget>)]
    pub budget: Option<Value>,
    /// Whether the owner proved that mail to `email` reaches them (the mailed code).
    pub email_verified: bool,
}

impl From<&UserRecord> for UserView {
    fn from(user: &UserRecord) -> Self {
        Self {
            id: user.id.0,
            email: user.email.clone(),
            name: user.name.clone(),
            role: user.role.as_str().to_owned(),
            disabled: user.disabled,
            created_at: user.created_at,
            last_login_at: user.last_login_at,
            budget: user.budget.as_ref().map(to_json),
            email_verified: user.email_verified_at.is_some(),
        }
    }
}

/// The caller's own account, with what only they see.
#[derive(Serialize, ToSchema)]
pub struct ProfileView {
    #[serde(flatten)]
    pub user: UserView,
    /// The address being changed to; it replaces `email` once the code mailed to it is used.
    pub pending_email: Option<String>,
    /// The user's own settings for clients (a JSON object).
    #[schema(value_type = Object)]
    pub preferences: Value,
    /// The user's own model provider key (its last four characters only) and model.
    pub llm: Option<OwnModelView>,
}

/// A user's own model provider key as shown: never the key itself.
#[derive(Serialize, ToSchema)]
pub struct OwnModelView {
    /// The key's last four characters.
    pub key_last4: String,
    /// The model (the server's default when null).
    pub model: Option<String>,
}

impl From<&UserRecord> for ProfileView {
    fn from(user: &UserRecord) -> Self {
        Self {
            user: UserView::from(user),
            pending_email: user.pending_email.clone(),
            preferences: user.preferences.clone(),
            llm: user.llm.as_ref().map(|llm| OwnModelView { key_last4: llm.last4.clone(), model: llm.model.clone() }),
        }
    }
}

/// One login of the caller.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    /// Its id (end it with `DELETE /api/v1/auth/sessions/{id}`).
    pub id: uuid::Uuid,
    /// The device's user agent when it logged in.
    pub device: Option<String>,
    /// The client address it logged in from.
    pub address: Option<String>,
    /// When it logged in.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When its tokens were last refreshed or issued.
    pub last_used_at: chrono::DateTime<chrono::Utc>,
    /// Whether this request's own access token belongs to it.
    pub current: bool,
}

impl From<&crate::auth::Login> for SessionView {
    fn from(login: &crate::auth::Login) -> Self {
        Self {
            id: login.id,
            device: login.device.clone(),
            address: login.address.clone(),
            created_at: login.created_at,
            last_used_at: login.last_used_at,
            current: login.current,
        }
    }
}

/// Tokens from a login or a refresh.
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    /// The JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The refresh token: single use, rotated by `/auth/refresh`.
    pub refresh_token: String,
    pub user: UserView,
}

/// An API key (the key itself is only shown when created).
#[derive(Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the key.
    pub prefix: String,
    pub read_only: bool,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The key, present only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl From<&ApiKeyRecord> for ApiKeyView {
    fn from(key: &ApiKeyRecord) -> Self {
        Self {
            id: key.id,
            name: key.name.clone(),
            prefix: key.prefix.clone(),
            read_only: key.read_only,
            created_at: key.created_at,
            revoked_at: key.revoked_at,
            key: None,
        }
    }
}

/// A project.
#[derive(Serialize, ToSchema)]
pub struct ProjectView {
    pub id: Uuid,
    pub owner: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&ProjectRecord> for ProjectView {
    fn from(project: &ProjectRecord) -> Self {
        Self {
            id: project.id.0,
            owner: project.owner.0,
            name: project.name.clone(),
            description: project.description.clone(),
            created_at: project.created_at,
            updated_at: project.updated_at,
        }
    }
}

/// A pipeline definition and where it comes from.
#[derive(Serialize, ToSchema)]
pub struct PipelineView {
    pub name: String,
    /// `builtin` or `user`.
    pub source: &'static str,
    /// The owner of a user pipeline.
    pub owner: Option<Uuid>,
    /// SHA-256 of the canonical definition.
    pub hash: String,
    /// The definition (see docs/pipeline.schema.json).
    #[schema(value_type = PipelineDefinition)]
    pub definition: Value,
}

/// An execution.
#[derive(Serialize, ToSchema)]
pub struct ExecutionView {
    pub id: Uuid,
    pub owner: Uuid,
    pub project_id: Option<Uuid>,
    pub pipeline: String,
    pub pipeline_hash: String,
    #[schema(value_type = ExecutionStatusName)]
    pub status: String,
    /// The input it was started with (any JSON).
    pub input: Value,
    /// Why it failed.
    #[schema(value_type = Option<ErrorInfoSchema>)]
    pub error: Option<Value>,
    pub idempotency_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// LLM use: totals in lists, with each call on the execution detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageView>,
    /// The pinned pipeline definition, steps appended at run time included (on the execution
    /// detail only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub definition: Option<Value>,
}

/// Tokens and cost of LLM calls.
#[derive(Serialize, ToSchema)]
pub struct UsageView {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    /// US dollars (0 when no price is configured).
    pub cost_usd: f64,
    /// Per step attempt and model (on the execution detail).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<UsageCallView>,
}

/// The LLM use of one attempt with one model.
#[derive(Serialize, ToSchema)]
pub struct UsageCallView {
    pub step: String,
    pub attempt: u32,
    pub provider: String,
    pub model: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
}

impl UsageView {
    /// Totals and calls of an execution's ledger rows.
    pub fn of(rows: &[troupe_runtime::model::UsageRecord]) -> Self {
        let total = rows.iter().map(|row| row.usage).sum();
        let calls = rows
            .iter()
            .map(|row| UsageCallView {
                step: row.step_key.clone(),
                attempt: row.attempt,
                provider: row.provider.clone(),
                model: row.model.clone(),
                prompt_tokens: row.usage.prompt_tokens,
                completion_tokens: row.usage.completion_tokens,
                cost_usd: row.usage.cost_usd,
            })
            .collect();
        Self { calls, ..Self::total(total) }
    }

    /// Totals only.
    pub fn total(usage: troupe_runtime::model::Usage) -> Self {
        Self {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            total_tokens: usage.tokens(),
            cost_usd: usage.cost_usd,
            calls: Vec::new(),
        }
    }
}

impl From<&ExecutionRecord> for ExecutionView {
    fn from(record: &ExecutionRecord) -> Self {
        Self {
            id: record.id.0,
            owner: record.owner.0,
            project_id: record.project_id.map(|id| id.0),
            pipeline: record.pipeline_name.clone(),
            pipeline_hash: record.pipeline_hash.clone(),
            status: record.status.to_string(),
            input: record.input.clone(),
            error: record.error.as_ref().map(to_json),
            idempotency_key: record.idempotency_key.clone(),
            created_at: record.created_at,
            updated_at: record.updated_at,
            started_at: record.started_at,
            finished_at: record.finished_at,
            usage: None,
            definition: None,
        }
    }
}

/// A page of executions.
#[derive(Serialize, ToSchema)]
pub struct ExecutionPage {
    pub items: Vec<ExecutionView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<Uuid>,
}

/// A step with its attempts.
#[derive(Serialize, ToSchema)]
pub struct StepView {
    pub key: String,
    pub agent: String,
    #[schema(value_type = StepStatusName)]
    pub status: String,
    pub attempt: u32,
    pub corrections: u32,
    /// What it produced (any JSON), once completed.
    pub output: Option<Value>,
    /// Why it failed or was skipped.
    #[schema(value_type = Option<ErrorInfoSchema>)]
    pub error: Option<Value>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub attempts: Vec<AttemptView>,
}

/// One attempt of a step.
#[derive(Serialize, ToSchema)]
pub struct AttemptView {
    pub attempt: u32,
    #[schema(value_type = AttemptKindName)]
    pub kind: String,
    #[schema(value_type = AttemptStatusName)]
    pub status: String,
    /// What the agent was given (any JSON).
    pub input: Value,
    /// What it answered (any JSON).
    pub output: Option<Value>,
    /// Why it failed.
    #[schema(value_type = Option<ErrorInfoSchema>)]
    pub error: Option<Value>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl StepView {
    /// Joins a step with its attempts.
    pub fn new(step: &StepRecord, attempts: Vec<&AttemptRecord>) -> Self {
        Self {
            key: String::from(&*step.key),
            agent: String::from(&*step.agent),
            status: step.status.to_string(),
            attempt: step.attempt,
            corrections: step.corrections,
            output: step.output.clone(),
            error: step.error.as_ref().map(to_json),
            started_at: step.started_at,
            finished_at: step.finished_at,
            attempts: attempts
                .into_iter()
                .map(|attempt| AttemptView {
                    attempt: attempt.attempt,
                    kind: to_json(&attempt.kind).as_str().unwrap_or_default().to_owned(),
                    status: to_json(&attempt.status).as_str().unwrap_or_default().to_owned(),
                    input: (*attempt.input).clone(),
                    output: attempt.output.as_deref().cloned(),
                    error: attempt.error.as_ref().map(to_json),
                    started_at: attempt.started_at,
                    finished_at: attempt.finished_at,
                })
                .collect(),
        }
    }
}

/// Serialises a record's field to JSON (records always serialise).
pub fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// An artifact's metadata.
#[derive(Serialize, ToSchema)]
pub struct ArtifactView {
    pub step: String,
    pub name: String,
    pub content_type: String,
    pub size: usize,
    pub created_at: DateTime<Utc>,
    /// Where to download it.
    pub url: String,
}

/// A node of the cluster.
#[derive(Serialize, ToSchema)]
pub struct NodeView {
    /// Its id (`TROUPE_NODE_ID`).
    pub id: String,
    /// Whether it is the node that answered.
    pub this_node: bool,
    /// Whether its heartbeat is within a lease period.
    pub live: bool,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    /// Unfinished executions whose lease it holds.
    pub executions: u64,
    /// What it last reported: host, pid, live executions, agent health.
    #[schema(value_type = Object)]
    pub status: serde_json::Value,
}

impl NodeView {
    /// The view of `node`, as seen from node `this`.
    pub fn new(node: troupe_runtime::store::NodeRecord, this: &str) -> Self {
        Self {
            this_node: node.id == this,
            id: node.id,
            live: node.live,
            started_at: node.started_at,
            heartbeat_at: node.heartbeat_at,
            executions: node.executions,
            status: node.status,
        }
    }
}

/// An agent kind.
#[derive(Serialize, ToSchema)]
pub struct AgentView {
    pub kind: String,
    pub pool_size: usize,
    pub live_actors: usize,
    pub in_flight: usize,
    /// `healthy`, `restarting` or `quarantined`.
    pub status: &'static str,
    /// Why the kind is quarantined.
    pub reason: Option<String>,
    pub restarts: u64,
    pub crashes: u64,
}
