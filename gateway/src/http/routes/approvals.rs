//! `/api/v1/executions/{id}/approvals` and `…/steps/{key}/approve|reject`: people decide the
//! approval steps an execution waits for.
//!
//! Who cannot see the execution gets 404 (its owner and admins see it, and so do the users and
//! roles an approval step names); who can see it but may not decide gets 403. The first decision
//! wins on whichever node it arrives: sending the same one again answers it again (200),
//! the other one answers 409 `already_decided`.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use troupe_runtime::ErrorCode;
use troupe_runtime::ids::ExecutionId;
use troupe_runtime::model::ExecutionRecord;
use troupe_runtime::pipeline::approval::{ApprovalRecord, Decision, MAX_COMMENT_BYTES};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::http::extract::{ApiJson, parse_id};
use crate::http::{ApiError, AppState, ErrorBody};

/// A decision's optional comment.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    /// Why (shown with the decision; at most 4 KiB).
    #[schema(max_length = 4096)]
    pub comment: Option<String>,
}

/// Who may decide an approval.
#[derive(Serialize, ToSchema)]
pub struct ApproversView {
    /// Whether the execution's owner may.
    pub owner: bool,
    /// Roles whose members may.
    pub roles: Vec<String>,
    /// Users who may.
    pub users: Vec<Uuid>,
}

/// An approval an approval step asked for, and its decision once made.
#[derive(Serialize, ToSchema)]
pub struct ApprovalView {
    /// The execution.
    pub execution_id: Uuid,
    /// The approval step.
    pub step: String,
    /// The step's attempt that asked.
    pub attempt: u32,
    /// What is to be approved.
    pub prompt: String,
    /// Who may decide.
    pub approvers: ApproversView,
    /// When it was asked.
    pub requested_at: DateTime<Utc>,
    /// When it times out, if it does.
    pub deadline: Option<DateTime<Utc>>,
    /// `approved`, `rejected` or `timed_out`; absent while undecided.
    #[schema(value_type = Option<DecisionName>)]
    pub decision: Option<Decision>,
    /// Who decided (absent for a timeout).
    pub decided_by: Option<Uuid>,
    /// When.
    pub decided_at: Option<DateTime<Utc>>,
    /// The decider's comment.
    pub comment: Option<String>,
}

/// How an approval was decided.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionName {
    /// Approved.
    Approved,
    /// Rejected.
    Rejected,
    /// Nobody decided in time.
    TimedOut,
}

impl From<&ApprovalRecord> for ApprovalView {
    fn from(record: &ApprovalRecord) -> Self {
        Self {
            execution_id: record.execution_id.0,
            step: record.step_key.clone(),
            attempt: record.attempt,
            prompt: record.prompt.clone(),
            approvers: ApproversView {
                owner: record.approvers.owner,
                roles: record.approvers.roles.clone(),
                users: record.approvers.users.iter().map(|user| user.0).collect(),
            },
            requested_at: record.requested_at,
            deadline: record.deadline,
            decision: record.decision,
            decided_by: record.decided_by.map(|user| user.0),
            decided_at: record.decided_at,
            comment: record.comment.clone(),
        }
    }
}

/// Whether the caller sees the execution: its owner, an admin, or someone an approval of it
/// names.
fn sees(caller: &Caller, record: &ExecutionRecord, approvals: &[ApprovalRecord]) -> bool {
    let role = caller.user.role.as_str();
    record.owner == caller.id()
        || caller.is_admin()
        || approvals.iter().any(|approval| approval.approvers.names(caller.id(), role))
}

/// Loads the execution and its approvals, or 404 when the caller cannot see it.
async fn load(state: &AppState, caller: &Caller, id: &str) -> Result<(ExecutionRecord, Vec<ApprovalRecord>), ApiError> {
    let id: ExecutionId = parse_id(id, "id")?;
    let store = state.runtime.store();
    let record = store.get_execution(id).await?.ok_or_else(|| ApiError::not_found("execution"))?;
    let approvals = store.list_approvals(id).await?;
    if !sees(caller, &record, &approvals) {
        return Err(ApiError::not_found("execution"));
    }
    Ok((record, approvals))
}

/// Lists the approvals an execution's steps asked for, with their decisions.
#[utoipa::path(get, path = "/api/v1/executions/{id}/approvals", tag = "executions", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<ApprovalView>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_approvals(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<ApprovalView>>, ApiError> {
    let (_, approvals) = load(&state, &caller, &id).await?;
    Ok(Json(approvals.iter().map(ApprovalView::from).collect()))
}

/// Approves the approval step `key` is waiting for: the step completes and the execution goes
/// on (on whichever node takes it up).
#[utoipa::path(post, path = "/api/v1/executions/{id}/steps/{key}/approve", tag = "executions",
    params(("id" = Uuid, Path), ("key" = String, Path)), request_body = DecideRequest,
    responses((status = 200, body = ApprovalView, description = "Approved (now or by an identical earlier request)"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Not waiting, or already decided the other way")),
    security(("bearer" = [])))]
pub async fn approve_step(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, key)): Path<(String, String)>,
    ApiJson(request): ApiJson<DecideRequest>,
) -> Result<Json<ApprovalView>, ApiError> {
    decide(&state, &caller, &id, &key, Decision::Approved, request).await
}

/// Rejects the approval step `key` is waiting for: the step fails with `approval_rejected` and
/// its `on_failure` step runs.
#[utoipa::path(post, path = "/api/v1/executions/{id}/steps/{key}/reject", tag = "executions",
    params(("id" = Uuid, Path), ("key" = String, Path)), request_body = DecideRequest,
    responses((status = 200, body = ApprovalView, description = "Rejected (now or by an identical earlier request)"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Not waiting, or already decided the other way")),
    security(("bearer" = [])))]
pub async fn reject_step(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, key)): Path<(String, String)>,
    ApiJson(request): ApiJson<DecideRequest>,
) -> Result<Json<ApprovalView>, ApiError> {
    decide(&state, &caller, &id, &key, Decision::Rejected, request).await
}

async fn decide(
    state: &AppState,
    caller: &Caller,
    id: &str,
    key: &str,
    decision: Decision,
    request: DecideRequest,
) -> Result<Json<ApprovalView>, ApiError> {
    let comment = request.comment.map(|text| text.trim().to_owned()).filter(|text| !text.is_empty());
    if comment.as_ref().is_some_and(|text| text.len() > MAX_COMMENT_BYTES) {
        return Err(ApiError::invalid_field("comment", format!("may be at most {MAX_COMMENT_BYTES} bytes long")));
    }
    let (record, approvals) = load(state, caller, id).await?;
    if !record.pipeline.steps.iter().any(|step| step.key == key) {
        return Err(ApiError::not_found("step"));
    }
    let latest = approvals.iter().filter(|approval| approval.step_key == key).max_by_key(|approval| approval.attempt);
    let Some(latest) = latest else {
        return Err(ApiError::new(ErrorCode::NotWaiting, format!("step `{key}` is not waiting for a decision"))
            .with_details(serde_json::json!({ "step": key })));
    };
    if !latest.approvers.allows(caller.id(), caller.user.role.as_str(), record.owner) {
        return Err(ApiError::new(ErrorCode::Forbidden, format!("you may not decide step `{key}`")));
    }
    let decided = state.runtime.decide(record.id, key, decision, caller.id(), comment).await?;
    let stored = &decided.record;
    if !decided.recorded && stored.decision != Some(decision) {
        let earlier = stored.decision.map_or("decided", Decision::as_str);
        return Err(ApiError::new(ErrorCode::AlreadyDecided, format!("step `{key}` was already {earlier}"))
            .with_details(serde_json::to_value(ApprovalView::from(stored)).unwrap_or_default()));
    }
    Ok(Json(ApprovalView::from(stored)))
}
