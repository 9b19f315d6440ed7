//! `sql_store!`: the `ExecutionStore` implementation shared by SQLite and PostgreSQL.
//!
//! Every statement uses `$n` placeholders and portable SQL (`ON CONFLICT … DO UPDATE`,
//! `RETURNING`), so one text serves both databases. Only applying a write batch differs (each
//! store's `apply_batch`): SQLite runs one cached prepared statement per row, PostgreSQL one
//! `UNNEST` statement per table, so neither re-prepares statements whose text depends on the
//! number of rows.

macro_rules! sql_store {
    ($store:path, $db:ty) => {
        mod store_impl {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use serde_json::Value;
            use sqlx::types::Json;
            use sqlx::{QueryBuilder, Row};
            use troupe_runtime::ids::{ExecutionId, ProjectId, UserId};
            use troupe_runtime::model::{
                ArtifactRecord, AttemptKind, AttemptRecord, CorrectionRecord, ErrorInfo, Event, EventKind,
                ExecutionRecord, LogLevel, LogRecord, StepRecord, Usage, UsageRecord,
            };
            use troupe_runtime::pipeline::PipelineDef;
            use troupe_runtime::pipeline::approval::{ApprovalRecord, Decided, Decision, DecisionRequest};
            use troupe_runtime::store::{
                ExecutionQuery, ExecutionSnapshot, ExecutionStore, StoreError, StoredPipeline, WriteBatch,
            };
            use uuid::Uuid;

            use super::super::{corrupt, db_error};

            type Db = $db;
            type DbRow = <Db as sqlx::Database>::Row;

            fn json<T: serde::de::DeserializeOwned>(value: Value, what: &str) -> Result<T, StoreError> {
                serde_json::from_value(value).map_err(|error| corrupt(what, error))
            }

            fn error_info(row: &DbRow, column: &str) -> Result<Option<ErrorInfo>, StoreError> {
                let value: Option<Json<Value>> = row.try_get(column).map_err(db_error)?;
                value.map(|Json(value)| json(value, column)).transpose()
            }

            fn execution_from_row(row: &DbRow) -> Result<ExecutionRecord, StoreError> {
                let status: String = row.try_get("status").map_err(db_error)?;
                let Json(pipeline): Json<Value> = row.try_get("pipeline").map_err(db_error)?;
                let Json(input): Json<Value> = row.try_get("input").map_err(db_error)?;
                Ok(ExecutionRecord {
                    id: ExecutionId(row.try_get::<Uuid, _>("id").map_err(db_error)?),
                    owner: UserId(row.try_get::<Uuid, _>("owner_id").map_err(db_error)?),
                    project_id: row.try_get::<Option<Uuid>, _>("project_id").map_err(db_error)?.map(ProjectId),
                    pipeline_name: row.try_get("pipeline_name").map_err(db_error)?,
                    pipeline_hash: row.try_get("pipeline_hash").map_err(db_error)?,
                    pipeline: std::sync::Arc::new(json::<PipelineDef>(pipeline, "executions.pipeline")?),
                    input,
                    status: status.parse().map_err(|error| corrupt("executions.status", error))?,
                    error: error_info(row, "error")?,
                    idempotency_key: row.try_get("idempotency_key").map_err(db_error)?,
                    created_at: row.try_get("created_at").map_err(db_error)?,
                    updated_at: row.try_get("updated_at").map_err(db_error)?,
                    started_at: row.try_get("started_at").map_err(db_error)?,
                    finished_at: row.try_get("finished_at").map_err(db_error)?,
                    lease_owner: row.try_get("lease_owner").map_err(db_error)?,
                    lease_expires_at: row.try_get("lease_expires_at").map_err(db_error)?,
                    lease_epoch: row.try_get("lease_epoch").map_err(db_error)?,
                })
            }

            fn step_from_row(row: &DbRow) -> Result<StepRecord, StoreError> {
                let status: String = row.try_get("status").map_err(db_error)?;
                let output: Option<Json<Value>> = row.try_get("output").map_err(db_error)?;
                Ok(StepRecord {
                    execution_id: ExecutionId(row.try_get::<Uuid, _>("execution_id").map_err(db_error)?),
                    key: row.try_get::<String, _>("key").map_err(db_error)?.into(),
                    agent: row.try_get::<String, _>("agent").map_err(db_error)?.into(),
                    status: status.parse().map_err(|error| corrupt("steps.status", error))?,
                    attempt: row.try_get::<i64, _>("attempt").map_err(db_error)? as u32,
                    corrections: row.try_get::<i64, _>("corrections").map_err(db_error)? as u32,
                    output: output.map(|Json(value)| value),
                    error: error_info(row, "error")?,
                    started_at: row.try_get("started_at").map_err(db_error)?,
                    finished_at: row.try_get("finished_at").map_err(db_error)?,
                    updated_at: row.try_get("updated_at").map_err(db_error)?,
                })
            }

            fn attempt_from_row(row: &DbRow) -> Result<AttemptRecord, StoreError> {
                let status: String = row.try_get("status").map_err(db_error)?;
                let kind: String = row.try_get("kind").map_err(db_error)?;
                let Json(input): Json<Value> = row.try_get("input").map_err(db_error)?;
                let output: Option<Json<Value>> = row.try_get("output").map_err(db_error)?;
                Ok(AttemptRecord {
                    execution_id: ExecutionId(row.try_get::<Uuid, _>("execution_id").map_err(db_error)?),
                    step_key: row.try_get("step_key").map_err(db_error)?,
                    attempt: row.try_get::<i64, _>("attempt").map_err(db_error)? as u32,
                    kind: AttemptKind::parse(&kind).ok_or_else(|| corrupt("attempts.kind", &kind))?,
                    status: status.parse().map_err(|error| corrupt("attempts.status", error))?,
                    input: std::sync::Arc::new(input),
                    output: output.map(|Json(value)| std::sync::Arc::new(value)),
                    error: error_info(row, "error")?,
                    started_at: row.try_get("started_at").map_err(db_error)?,
                    finished_at: row.try_get("finished_at").map_err(db_error)?,
                })
            }

            fn usage_from_row(row: &DbRow) -> Result<UsageRecord, StoreError> {
                Ok(UsageRecord {
                    execution_id: ExecutionId(row.try_get::<Uuid, _>("execution_id").map_err(db_error)?),
                    owner: UserId(row.try_get::<Uuid, _>("owner_id").map_err(db_error)?),
                    step_key: row.try_get("step_key").map_err(db_error)?,
                    attempt: row.try_get::<i64, _>("attempt").map_err(db_error)? as u32,
                    provider: row.try_get("provider").map_err(db_error)?,
                    model: row.try_get("model").map_err(db_error)?,
                    usage: Usage {
                        prompt_tokens: row.try_get::<i64, _>("prompt_tokens").map_err(db_error)? as u64,
                        completion_tokens: row.try_get::<i64, _>("completion_tokens").map_err(db_error)? as u64,
                        cost_usd: row.try_get("cost_usd").map_err(db_error)?,
                    },
                    created_at: row.try_get("created_at").map_err(db_error)?,
                })
            }

            fn correction_from_row(row: &DbRow) -> Result<CorrectionRecord, StoreError> {
                let Json(issues): Json<Value> = row.try_get("issues").map_err(db_error)?;
                let Json(strategy): Json<Value> = row.try_get("strategy").map_err(db_error)?;
                Ok(CorrectionRecord {
                    execution_id: ExecutionId(row.try_get::<Uuid, _>("execution_id").map_err(db_error)?),
                    step_key: row.try_get("step_key").map_err(db_error)?,
                    agent: row.try_get("agent").map_err(db_error)?,
                    attempt: row.try_get::<i64, _>("attempt").map_err(db_error)? as u32,
                    signature: row.try_get("signature").map_err(db_error)?,
                    issues: json(issues, "corrections.issues")?,
                    strategy,
                    passed: row.try_get("passed").map_err(db_error)?,
                    created_at: row.try_get("created_at").map_err(db_error)?,
                })
            }

            /// Appends the batch's usage and correction rows (few per batch: one per LLM attempt).
            pub(in super::super) async fn write_ledgers(
                tx: &mut sqlx::Transaction<'_, Db>,
                batch: &WriteBatch,
            ) -> Result<(), StoreError> {
                for row in &batch.usage {
                    sqlx::query(
                        "INSERT INTO llm_usage (execution_id, owner_id, step_key, attempt, provider, model, \
                         prompt_tokens, completion_tokens, cost_usd, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(row.execution_id.0)
                    .bind(row.owner.0)
                    .bind(&row.step_key)
                    .bind(row.attempt as i64)
                    .bind(&row.provider)
                    .bind(&row.model)
                    .bind(row.usage.prompt_tokens as i64)
                    .bind(row.usage.completion_tokens as i64)
                    .bind(row.usage.cost_usd)
                    .bind(row.created_at)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                }
                for row in &batch.corrections {
                    sqlx::query(
                        "INSERT INTO corrections (execution_id, step_key, agent, attempt, signature, issues, \
                         strategy, passed, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                         ON CONFLICT (execution_id, step_key, attempt) DO UPDATE SET passed = excluded.passed, \
                         strategy = excluded.strategy",
                    )
                    .bind(row.execution_id.0)
                    .bind(&row.step_key)
                    .bind(&row.agent)
                    .bind(row.attempt as i64)
                    .bind(&row.signature)
                    .bind(Json(&row.issues))
                    .bind(Json(&row.strategy))
                    .bind(row.passed)
                    .bind(row.created_at)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                }
                for row in &batch.approvals {
                    sqlx::query(
                        "INSERT INTO approvals (execution_id, step_key, attempt, prompt, approvers, requested_at, \
                         deadline_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (execution_id, step_key, attempt) DO NOTHING",
                    )
                    .bind(row.execution_id.0)
                    .bind(&row.step_key)
                    .bind(row.attempt as i64)
                    .bind(&row.prompt)
                    .bind(Json(&row.approvers))
                    .bind(row.requested_at)
                    .bind(row.deadline.map(|at| at.timestamp_millis()))
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                }
                Ok(())
            }

            const APPROVAL_COLUMNS: &str = "execution_id, step_key, attempt, prompt, approvers, requested_at, \
                 deadline_ms, decision, decided_by, decided_at, comment";

            fn approval_from_row(row: &DbRow) -> Result<ApprovalRecord, StoreError> {
                let Json(approvers): Json<Value> = row.try_get("approvers").map_err(db_error)?;
                let decision: Option<String> = row.try_get("decision").map_err(db_error)?;
                let deadline: Option<i64> = row.try_get("deadline_ms").map_err(db_error)?;
                Ok(ApprovalRecord {
                    execution_id: ExecutionId(row.try_get::<Uuid, _>("execution_id").map_err(db_error)?),
                    step_key: row.try_get("step_key").map_err(db_error)?,
                    attempt: row.try_get::<i64, _>("attempt").map_err(db_error)? as u32,
                    prompt: row.try_get("prompt").map_err(db_error)?,
                    approvers: json(approvers, "approvals.approvers")?,
                    requested_at: row.try_get("requested_at").map_err(db_error)?,
                    deadline: deadline.and_then(DateTime::from_timestamp_millis),
                    decision: decision
                        .map(|text| Decision::parse(&text).ok_or_else(|| corrupt("approvals.decision", &text)))
                        .transpose()?,
                    decided_by: row.try_get::<Option<Uuid>, _>("decided_by").map_err(db_error)?.map(UserId),
                    decided_at: row.try_get("decided_at").map_err(db_error)?,
                    comment: row.try_get("comment").map_err(db_error)?,
                })
            }

            /// When a parked execution is due (claimable): its wake time passed, an approval of a
            /// waiting step was decided, or a cancellation was asked. Others always are.
            fn due() -> String {
                format!(
                    "(status <> 'waiting' OR wake_ms <= {now} OR cancel_requested_at IS NOT NULL \
                     OR EXISTS (SELECT 1 FROM approvals a JOIN steps s ON s.execution_id = a.execution_id \
                     AND s.key = a.step_key AND s.attempt = a.attempt WHERE a.execution_id = executions.id \
                     AND a.decision IS NOT NULL AND s.status = 'waiting'))",
                    now = super::NOW_MS,
                )
            }

            fn event_from_row(row: &DbRow) -> Result<Event, StoreError> {
                let Json(payload): Json<Value> = row.try_get("payload").map_err(db_error)?;
                Ok(Event {
                    execution_id: ExecutionId(row.try_get::<Uuid, _>("execution_id").map_err(db_error)?),
                    seq: row.try_get::<i64, _>("seq").map_err(db_error)? as u64,
                    at: row.try_get("created_at").map_err(db_error)?,
                    kind: json::<EventKind>(payload, "execution_events.payload")?,
                })
            }

            fn artifact_from_row(row: &DbRow) -> Result<ArtifactRecord, StoreError> {
                Ok(ArtifactRecord {
                    execution_id: ExecutionId(row.try_get::<Uuid, _>("execution_id").map_err(db_error)?),
                    step_key: row.try_get("step_key").map_err(db_error)?,
                    name: row.try_get("name").map_err(db_error)?,
                    content_type: row.try_get("content_type").map_err(db_error)?,
                    content: row.try_get("content").map_err(db_error)?,
                    created_at: row.try_get("created_at").map_err(db_error)?,
                })
            }

            fn pipeline_from_row(row: &DbRow) -> Result<StoredPipeline, StoreError> {
                let Json(definition): Json<Value> = row.try_get("definition").map_err(db_error)?;
                Ok(StoredPipeline {
                    owner: UserId(row.try_get::<Uuid, _>("owner_id").map_err(db_error)?),
                    def: json(definition, "pipelines.definition")?,
                    hash: row.try_get("content_hash").map_err(db_error)?,
                })
            }

            const STEP_SELECT: &str = "SELECT s.execution_id, s.key, s.agent, s.status, s.attempt, s.corrections, \
                 s.error, s.started_at, s.finished_at, s.updated_at, a.output \
                 FROM steps s LEFT JOIN attempts a ON a.execution_id = s.execution_id AND a.step_key = s.key \
                 AND a.attempt = s.attempt AND s.status = 'completed' AND a.status = 'succeeded' \
                 WHERE s.execution_id = $1";

            impl $store {
                async fn steps_in_order(&self, id: ExecutionId) -> Result<Vec<StepRecord>, StoreError> {
                    let rows = sqlx::query(STEP_SELECT).bind(id.0).fetch_all(&self.reader).await.map_err(db_error)?;
                    let mut steps = rows.iter().map(step_from_row).collect::<Result<Vec<_>, _>>()?;
                    if let Some(execution) = self.get_execution(id).await? {
                        let position = |key: &str| execution.pipeline.steps.iter().position(|step| step.key == key);
                        steps.sort_by_key(|step| position(&step.key).unwrap_or(usize::MAX));
                    }
                    Ok(steps)
                }
            }

            #[async_trait]
            impl ExecutionStore for $store {
                async fn apply(&self, batch: &WriteBatch) -> Result<Vec<ExecutionId>, StoreError> {
                    if batch.is_empty() {
                        return Ok(Vec::new());
                    }
                    self.apply_batch(batch).await
                }

                async fn ping(&self) -> Result<(), StoreError> {
                    sqlx::query("SELECT 1").execute(&self.reader).await.map_err(db_error)?;
                    Ok(())
                }

                async fn claim_executions(
                    &self,
                    node: &str,
                    lease_ttl_ms: i64,
                    limit: Option<usize>,
                    mine: bool,
                ) -> Result<Vec<ExecutionId>, StoreError> {
                    static CLAIM: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                        format!(
                            "WITH candidates AS MATERIALIZED (SELECT id FROM executions \
                             WHERE status NOT IN ('completed', 'failed', 'cancelled') \
                             AND (lease_owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at < {now} \
                             OR ($3 AND lease_owner = $1)) AND {due} ORDER BY id LIMIT $4 {lock}), \
                             free AS MATERIALIZED (SELECT id FROM candidates WHERE 1 = 1 {claimable}) \
                             UPDATE executions SET lease_owner = $1, lease_expires_at = {now} + $2, \
                             lease_epoch = lease_epoch + 1 WHERE id IN (SELECT id FROM free) RETURNING id",
                            now = super::NOW_MS,
                            lock = super::SKIP_LOCKED,
                            claimable = super::CLAIMABLE,
                            due = due(),
                        )
                    });
                    let limit = limit.map_or(i64::MAX, |limit| limit.min(i64::MAX as usize) as i64);
                    let rows = sqlx::query(CLAIM.as_str())
                        .bind(node)
                        .bind(lease_ttl_ms)
                        .bind(mine)
                        .bind(limit)
                        .fetch_all(&self.writer)
                        .await
                        .map_err(db_error)?;
                    let mut ids = rows
                        .iter()
                        .map(|row| row.try_get::<Uuid, _>("id").map(ExecutionId).map_err(db_error))
                        .collect::<Result<Vec<_>, _>>()?;
                    ids.sort();
                    Ok(ids)
                }

                async fn claim_execution(
                    &self,
                    id: ExecutionId,
                    node: &str,
                    lease_ttl_ms: i64,
                ) -> Result<Option<i64>, StoreError> {
                    static CLAIM_ONE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                        format!(
                            "UPDATE executions SET lease_owner = $2, lease_expires_at = {now} + $3, \
                             lease_epoch = lease_epoch + 1 WHERE id = $1 \
                             AND status NOT IN ('completed', 'failed', 'cancelled') \
                             AND (lease_owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at < {now}) \
                             AND {due} {claimable} RETURNING lease_epoch",
                            now = super::NOW_MS,
                            due = due(),
                            claimable = super::CLAIMABLE,
                        )
                    });
                    sqlx::query_scalar::<_, i64>(CLAIM_ONE.as_str())
                        .bind(id.0)
                        .bind(node)
                        .bind(lease_ttl_ms)
                        .fetch_optional(&self.writer)
                        .await
                        .map_err(db_error)
                }

                async fn decide_approval(&self, request: &DecisionRequest) -> Result<Option<Decided>, StoreError> {
                    static DECIDE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                        format!(
                            "UPDATE approvals SET decision = $3, decided_by = $4, decided_at = $5, comment = $6 \
                             WHERE execution_id = $1 AND step_key = $2 AND decision IS NULL \
                             AND attempt = (SELECT attempt FROM steps WHERE execution_id = $1 AND key = $2 \
                             AND status = 'waiting') \
                             AND ($3 <> 'timed_out' OR (deadline_ms IS NOT NULL AND deadline_ms <= $7)) \
                             RETURNING {APPROVAL_COLUMNS}"
                        )
                    });
                    static LATEST: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                        format!(
                            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE execution_id = $1 AND step_key = $2 \
                             ORDER BY attempt DESC LIMIT 1"
                        )
                    });
                    let decided = sqlx::query(DECIDE.as_str())
                        .bind(request.execution_id.0)
                        .bind(&request.step_key)
                        .bind(request.decision.as_str())
                        .bind(request.by.map(|user| user.0))
                        .bind(request.at)
                        .bind(request.comment.as_deref())
                        .bind(request.at.timestamp_millis())
                        .fetch_optional(&self.writer)
                        .await
                        .map_err(db_error)?;
                    if let Some(row) = decided {
                        return Ok(Some(Decided { record: approval_from_row(&row)?, recorded: true }));
                    }
                    let latest = sqlx::query(LATEST.as_str())
                        .bind(request.execution_id.0)
                        .bind(&request.step_key)
                        .fetch_optional(&self.writer)
                        .await
                        .map_err(db_error)?;
                    latest.map(|row| Ok(Decided { record: approval_from_row(&row)?, recorded: false })).transpose()
                }

                async fn list_approvals(&self, id: ExecutionId) -> Result<Vec<ApprovalRecord>, StoreError> {
                    static LIST: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                        format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE execution_id = $1 ORDER BY step_key, attempt")
                    });
                    let rows = sqlx::query(LIST.as_str()).bind(id.0).fetch_all(&self.reader).await.map_err(db_error)?;
                    rows.iter().map(approval_from_row).collect()
                }

                async fn renew_leases(&self, node: &str, lease_ttl_ms: i64) -> Result<Vec<ExecutionId>, StoreError> {
                    static RENEW: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                        format!(
                            "UPDATE executions SET lease_expires_at = {now} + $2 WHERE id IN (SELECT id FROM executions \
                             WHERE lease_owner = $1 AND status NOT IN ('completed', 'failed', 'cancelled') \
                             ORDER BY id {lock}) RETURNING id",
                            now = super::NOW_MS,
                            lock = super::LOCK_ROWS,
                        )
                    });
                    let rows = sqlx::query(RENEW.as_str())
                        .bind(node)
                        .bind(lease_ttl_ms)
                        .fetch_all(&self.writer)
                        .await
                        .map_err(db_error)?;
                    rows.iter()
                        .map(|row| row.try_get::<Uuid, _>("id").map(ExecutionId).map_err(db_error))
                        .collect()
                }

                async fn release_leases(&self, node: &str) -> Result<u64, StoreError> {
                    let result = sqlx::query(
                        "UPDATE executions SET lease_owner = NULL, lease_expires_at = NULL \
                         WHERE lease_owner = $1 AND status NOT IN ('completed', 'failed', 'cancelled')",
                    )
                    .bind(node)
                    .execute(&self.writer)
                    .await
                    .map_err(db_error)?;
                    Ok(result.rows_affected())
                }

                async fn take_failed(&self, id: ExecutionId, node: &str, lease_ttl_ms: i64) -> Result<Option<i64>, StoreError> {
                    static TAKE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                        format!(
                            "UPDATE executions SET lease_owner = $2, lease_expires_at = {now} + $3, \
                             lease_epoch = lease_epoch + 1, cancel_requested_at = NULL \
                             WHERE id = $1 AND status = 'failed' RETURNING lease_epoch",
                            now = super::NOW_MS,
                        )
                    });
                    sqlx::query_scalar::<_, i64>(TAKE.as_str())
                        .bind(id.0)
                        .bind(node)
                        .bind(lease_ttl_ms)
                        .fetch_optional(&self.writer)
                        .await
                        .map_err(db_error)
                }

                async fn request_cancel(&self, id: ExecutionId) -> Result<bool, StoreError> {
                    let result = sqlx::query(
                        "UPDATE executions SET cancel_requested_at = $2 \
                         WHERE id = $1 AND status NOT IN ('completed', 'failed', 'cancelled')",
                    )
                    .bind(id.0)
                    .bind(Utc::now())
                    .execute(&self.writer)
                    .await
                    .map_err(db_error)?;
                    Ok(result.rows_affected() > 0)
                }

                async fn cancel_requests(&self, node: &str) -> Result<Vec<ExecutionId>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT id FROM executions WHERE lease_owner = $1 AND cancel_requested_at IS NOT NULL \
                         AND status NOT IN ('completed', 'failed', 'cancelled') ORDER BY id",
                    )
                    .bind(node)
                    .fetch_all(&self.reader)
                    .await
                    .map_err(db_error)?;
                    rows.iter()
                        .map(|row| row.try_get::<Uuid, _>("id").map(ExecutionId).map_err(db_error))
                        .collect()
                }

                async fn register_node(
                    &self,
                    node: &str,
                    fingerprints: &std::collections::BTreeMap<String, String>,
                    lease_ttl_ms: i64,
                ) -> Result<(), StoreError> {
                    static JOIN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                        format!(
                            "INSERT INTO cluster_nodes (id, started_at, heartbeat_ms, status) VALUES ($1, $2, {now}, $3) \
                             ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, \
                             heartbeat_ms = excluded.heartbeat_ms, status = excluded.status \
                             WHERE cluster_nodes.heartbeat_ms < {now} - $4 RETURNING id",
                            now = super::NOW_MS,
                        )
                    });
                    let mut tx = self.writer.begin().await.map_err(db_error)?;
                    for (name, fingerprint) in fingerprints {
                        sqlx::query("INSERT INTO cluster_secrets (name, fingerprint) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                            .bind(name)
                            .bind(fingerprint)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                    }
                    let rows = sqlx::query("SELECT name, fingerprint FROM cluster_secrets ORDER BY name")
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    let mut differ = Vec::new();
                    for row in &rows {
                        let name: String = row.try_get("name").map_err(db_error)?;
                        let theirs: String = row.try_get("fingerprint").map_err(db_error)?;
                        if fingerprints.get(&name).is_some_and(|ours| *ours != theirs) {
                            differ.push(name);
                        }
                    }
                    if !differ.is_empty() {
                        return Err(StoreError::Conflict(format!(
                            "this node's secrets differ from the cluster's: {} (every node must be given the same)",
                            differ.join(", ")
                        )));
                    }
                    let joined = sqlx::query(JOIN.as_str())
                        .bind(node)
                        .bind(Utc::now())
                        .bind(Json(serde_json::json!({})))
                        .bind(lease_ttl_ms)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    if joined.is_none() {
                        return Err(StoreError::Conflict(format!(
                            "a live node already runs as `{node}` (its heartbeat is recent); give each node its own TROUPE_NODE_ID"
                        )));
                    }
                    tx.commit().await.map_err(db_error)
                }

                async fn heartbeat_node(&self, node: &str, status: &Value) -> Result<(), StoreError> {
                    static BEAT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                        format!(
                            "INSERT INTO cluster_nodes (id, started_at, heartbeat_ms, status) VALUES ($1, $2, {now}, $3) \
                             ON CONFLICT (id) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms, status = excluded.status",
                            now = super::NOW_MS,
                        )
                    });
                    sqlx::query(BEAT.as_str())
                        .bind(node)
                        .bind(Utc::now())
                        .bind(Json(status))
                        .execute(&self.writer)
                        .await
                        .map_err(db_error)?;
                    Ok(())
                }

                async fn leave_cluster(&self, node: &str) -> Result<(), StoreError> {
                    sqlx::query("DELETE FROM cluster_nodes WHERE id = $1").bind(node).execute(&self.writer).await.map_err(db_error)?;
                    Ok(())
                }

                async fn list_nodes(&self, lease_ttl_ms: i64) -> Result<Vec<troupe_runtime::store::NodeRecord>, StoreError> {
                    static LIST: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                        format!(
                            "SELECT n.id, n.started_at, n.heartbeat_ms, n.status, {now} AS now_ms, \
                             (SELECT COUNT(*) FROM executions e WHERE e.lease_owner = n.id \
                              AND e.status NOT IN ('completed', 'failed', 'cancelled')) AS executions \
                             FROM cluster_nodes n ORDER BY n.id",
                            now = super::NOW_MS,
                        )
                    });
                    let rows = sqlx::query(LIST.as_str()).fetch_all(&self.reader).await.map_err(db_error)?;
                    let mut nodes = Vec::with_capacity(rows.len());
                    for row in &rows {
                        let heartbeat_ms: i64 = row.try_get("heartbeat_ms").map_err(db_error)?;
                        let now_ms: i64 = row.try_get("now_ms").map_err(db_error)?;
                        let Json(status): Json<Value> = row.try_get("status").map_err(db_error)?;
                        nodes.push(troupe_runtime::store::NodeRecord {
                            id: row.try_get("id").map_err(db_error)?,
                            started_at: row.try_get("started_at").map_err(db_error)?,
                            heartbeat_at: DateTime::<Utc>::from_timestamp_millis(heartbeat_ms).unwrap_or_default(),
                            live: heartbeat_ms >= now_ms - lease_ttl_ms,
                            executions: row.try_get::<i64, _>("executions").map_err(db_error)?.max(0) as u64,
                            status,
                        });
                    }
                    nodes.sort_by_key(|node| !node.live);
                    Ok(nodes)
                }

                async fn leased_by(&self, node: &str) -> Result<Vec<ExecutionId>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT id FROM executions \
                         WHERE lease_owner = $1 AND status NOT IN ('completed', 'failed', 'cancelled') ORDER BY id",
                    ).bind(node).fetch_all(&self.reader).await.map_err(db_error)?;
                    rows.iter()
                        .map(|row| row.try_get::<Uuid, _>("id").map(ExecutionId).map_err(db_error))
                        .collect()
                }

                async fn load_execution(&self, id: ExecutionId) -> Result<Option<ExecutionSnapshot>, StoreError> {
                    let Some(execution) = self.get_execution(id).await? else { return Ok(None) };
                    let steps = self.steps_in_order(id).await?;
                    let last_seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM execution_events WHERE execution_id = $1")
                        .bind(id.0)
                        .fetch_one(&self.reader)
                        .await
                        .map_err(db_error)?;
                    let usage = self.execution_usage(id).await?.iter().map(|row| row.usage).sum();
                    Ok(Some(ExecutionSnapshot { execution, steps, last_seq: last_seq.unwrap_or(0) as u64, usage }))
                }

                async fn execution_usage(&self, id: ExecutionId) -> Result<Vec<UsageRecord>, StoreError> {
                    let rows = sqlx::query("SELECT * FROM llm_usage WHERE execution_id = $1 ORDER BY created_at, step_key, attempt")
                        .bind(id.0)
                        .fetch_all(&self.reader)
                        .await
                        .map_err(db_error)?;
                    rows.iter().map(usage_from_row).collect()
                }

                async fn owner_usage(&self, owner: UserId) -> Result<Usage, StoreError> {
                    let row = sqlx::query(
                        "SELECT CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT) AS prompt, \
                         CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT) AS completion, \
                         CAST(COALESCE(SUM(cost_usd), 0) AS DOUBLE PRECISION) AS cost FROM llm_usage WHERE owner_id = $1",
                    )
                    .bind(owner.0)
                    .fetch_one(&self.reader)
                    .await
                    .map_err(db_error)?;
                    Ok(Usage {
                        prompt_tokens: row.try_get::<i64, _>("prompt").map_err(db_error)? as u64,
                        completion_tokens: row.try_get::<i64, _>("completion").map_err(db_error)? as u64,
                        cost_usd: row.try_get::<f64, _>("cost").map_err(db_error)?,
                    })
                }

                async fn list_corrections(&self, id: ExecutionId) -> Result<Vec<CorrectionRecord>, StoreError> {
                    let rows = sqlx::query("SELECT * FROM corrections WHERE execution_id = $1 ORDER BY created_at, attempt")
                    .bind(id.0)
                    .fetch_all(&self.reader)
                    .await
                    .map_err(db_error)?;
                    rows.iter().map(correction_from_row).collect()
                }

                async fn get_execution(&self, id: ExecutionId) -> Result<Option<ExecutionRecord>, StoreError> {
                    let row = sqlx::query("SELECT * FROM executions WHERE id = $1")
                        .bind(id.0)
                        .fetch_optional(&self.reader)
                        .await
                        .map_err(db_error)?;
                    row.as_ref().map(execution_from_row).transpose()
                }

                async fn find_by_idempotency_key(&self, owner: UserId, key: &str) -> Result<Option<ExecutionRecord>, StoreError> {
                    let row = sqlx::query("SELECT * FROM executions WHERE owner_id = $1 AND idempotency_key = $2 ORDER BY id LIMIT 1")
                        .bind(owner.0)
                        .bind(key)
                        .fetch_optional(&self.reader)
                        .await
                        .map_err(db_error)?;
                    row.as_ref().map(execution_from_row).transpose()
                }

                async fn list_executions(&self, query: &ExecutionQuery) -> Result<Vec<ExecutionRecord>, StoreError> {
                    let mut sql = QueryBuilder::<Db>::new("SELECT * FROM executions WHERE 1 = 1");
                    if let Some(owner) = query.owner {
                        sql.push(" AND owner_id = ").push_bind(owner.0);
                    }
                    if let Some(status) = query.status {
                        sql.push(" AND status = ").push_bind(status.as_str());
                    }
                    if let Some(pipeline) = &query.pipeline {
                        sql.push(" AND pipeline_name = ").push_bind(pipeline.clone());
                    }
                    if let Some(project) = query.project {
                        sql.push(" AND project_id = ").push_bind(project.0);
                    }
                    if let Some(before) = query.before {
                        sql.push(" AND id < ").push_bind(before.0);
                    }
                    sql.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(query.limit.unwrap_or(50)));
                    let rows = sql.build().fetch_all(&self.reader).await.map_err(db_error)?;
                    rows.iter().map(execution_from_row).collect()
                }

                async fn list_steps(&self, id: ExecutionId) -> Result<Vec<StepRecord>, StoreError> {
                    self.steps_in_order(id).await
                }

                async fn list_attempts(&self, id: ExecutionId) -> Result<Vec<AttemptRecord>, StoreError> {
                    let rows = sqlx::query("SELECT * FROM attempts WHERE execution_id = $1 ORDER BY step_key, attempt")
                        .bind(id.0)
                        .fetch_all(&self.reader)
                        .await
                        .map_err(db_error)?;
                    rows.iter().map(attempt_from_row).collect()
                }

                async fn list_events(&self, id: ExecutionId, after_seq: u64, limit: u32) -> Result<Vec<Event>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT * FROM execution_events WHERE execution_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                    )
                    .bind(id.0)
                    .bind(after_seq as i64)
                    .bind(i64::from(limit))
                    .fetch_all(&self.reader)
                    .await
                    .map_err(db_error)?;
                    rows.iter().map(event_from_row).collect()
                }

                async fn list_logs(&self, id: ExecutionId) -> Result<Vec<LogRecord>, StoreError> {
                    let rows = sqlx::query("SELECT * FROM execution_logs WHERE execution_id = $1 ORDER BY id")
                        .bind(id.0)
                        .fetch_all(&self.reader)
                        .await
                        .map_err(db_error)?;
                    rows.iter()
                        .map(|row| {
                            let level: String = row.try_get("level").map_err(db_error)?;
                            Ok(LogRecord {
                                execution_id: id,
                                step_key: row.try_get("step_key").map_err(db_error)?,
                                level: LogLevel::parse(&level).ok_or_else(|| corrupt("execution_logs.level", &level))?,
                                message: row.try_get("message").map_err(db_error)?,
                                created_at: row.try_get::<DateTime<Utc>, _>("created_at").map_err(db_error)?,
                            })
                        })
                        .collect()
                }

                async fn list_artifacts(&self, id: ExecutionId) -> Result<Vec<ArtifactRecord>, StoreError> {
                    let rows = sqlx::query("SELECT * FROM artifacts WHERE execution_id = $1 ORDER BY step_key, name")
                        .bind(id.0)
                        .fetch_all(&self.reader)
                        .await
                        .map_err(db_error)?;
                    rows.iter().map(artifact_from_row).collect()
                }

                async fn get_artifact(&self, id: ExecutionId, step_key: &str, name: &str) -> Result<Option<ArtifactRecord>, StoreError> {
                    let row = sqlx::query("SELECT * FROM artifacts WHERE execution_id = $1 AND step_key = $2 AND name = $3")
                        .bind(id.0)
                        .bind(step_key)
                        .bind(name)
                        .fetch_optional(&self.reader)
                        .await
                        .map_err(db_error)?;
                    row.as_ref().map(artifact_from_row).transpose()
                }

                async fn put_pipeline(&self, owner: UserId, def: &PipelineDef) -> Result<(), StoreError> {
                    let now = Utc::now();
                    sqlx::query(
                        "INSERT INTO pipelines (owner_id, name, definition, content_hash, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (owner_id, name) DO UPDATE SET \
                         definition = excluded.definition, content_hash = excluded.content_hash, updated_at = excluded.updated_at",
                    )
                    .bind(owner.0)
                    .bind(&def.name)
                    .bind(Json(def))
                    .bind(def.content_hash())
                    .bind(now)
                    .execute(&self.writer)
                    .await
                    .map_err(db_error)?;
                    Ok(())
                }

                async fn get_pipeline(&self, owner: UserId, name: &str) -> Result<Option<StoredPipeline>, StoreError> {
                    let row = sqlx::query("SELECT * FROM pipelines WHERE owner_id = $1 AND name = $2")
                        .bind(owner.0)
                        .bind(name)
                        .fetch_optional(&self.reader)
                        .await
                        .map_err(db_error)?;
                    row.as_ref().map(pipeline_from_row).transpose()
                }

                async fn list_pipelines(&self, owner: Option<UserId>) -> Result<Vec<StoredPipeline>, StoreError> {
                    let rows = match owner {
                        Some(owner) => sqlx::query("SELECT * FROM pipelines WHERE owner_id = $1 ORDER BY name")
                            .bind(owner.0)
                            .fetch_all(&self.reader)
                            .await,
                        None => sqlx::query("SELECT * FROM pipelines ORDER BY owner_id, name").fetch_all(&self.reader).await,
                    }
                    .map_err(db_error)?;
                    rows.iter().map(pipeline_from_row).collect()
                }

                async fn purge_finished(
                    &self,
                    before: DateTime<Utc>,
                    limit: u32,
                ) -> Result<troupe_runtime::store::PurgeReport, StoreError> {
                    let mut report = troupe_runtime::store::PurgeReport::default();
                    let mut transaction = self.writer.begin().await.map_err(db_error)?;
                    let ids: Vec<Uuid> = sqlx::query_scalar(
                        "SELECT id FROM executions WHERE purged_at IS NULL \
                         AND status IN ('completed', 'failed', 'cancelled') AND finished_at < $1 \
                         ORDER BY finished_at LIMIT $2",
                    )
                    .bind(before)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *transaction)
                    .await
                    .map_err(db_error)?;
                    let now = troupe_runtime::model::now();
                    for id in ids {
                        report.executions += 1;
                        report.logs += sqlx::query("DELETE FROM execution_logs WHERE execution_id = $1")
                            .bind(id)
                            .execute(&mut *transaction)
                            .await
                            .map_err(db_error)?
                            .rows_affected();
                        report.artifacts += sqlx::query("DELETE FROM artifacts WHERE execution_id = $1")
                            .bind(id)
                            .execute(&mut *transaction)
                            .await
                            .map_err(db_error)?
                            .rows_affected();
                        report.events += sqlx::query(
                            "DELETE FROM execution_events WHERE execution_id = $1 \
                             AND seq < (SELECT MAX(seq) FROM execution_events WHERE execution_id = $1)",
                        )
                        .bind(id)
                        .execute(&mut *transaction)
                        .await
                        .map_err(db_error)?
                        .rows_affected();
                        sqlx::query("UPDATE executions SET purged_at = $2 WHERE id = $1")
                            .bind(id)
                            .bind(now)
                            .execute(&mut *transaction)
                            .await
                            .map_err(db_error)?;
                    }
                    transaction.commit().await.map_err(db_error)?;
                    Ok(report)
                }

                async fn delete_owner(&self, owner: UserId) -> Result<u64, StoreError> {
                    let mut transaction = self.writer.begin().await.map_err(db_error)?;
                    // Steps, attempts, events, logs, artifacts, ledgers and approvals cascade.
                    let executions = sqlx::query("DELETE FROM executions WHERE owner_id = $1")
                        .bind(owner.0)
                        .execute(&mut *transaction)
                        .await
                        .map_err(db_error)?
                        .rows_affected();
                    sqlx::query("DELETE FROM pipelines WHERE owner_id = $1")
                        .bind(owner.0)
                        .execute(&mut *transaction)
                        .await
                        .map_err(db_error)?;
                    transaction.commit().await.map_err(db_error)?;
                    Ok(executions)
                }

                async fn delete_finished(
                    &self,
                    statuses: &[troupe_runtime::status::ExecutionStatus],
                    before: DateTime<Utc>,
                    limit: u32,
                ) -> Result<Vec<troupe_runtime::ids::ExecutionId>, StoreError> {
                    let mut transaction = self.writer.begin().await.map_err(db_error)?;
                    let mut gone = Vec::new();
                    for status in statuses.iter().filter(|status| status.is_terminal()) {
                        // Steps, attempts, events, logs, artifacts, ledgers and approvals cascade.
                        let ids: Vec<Uuid> = sqlx::query_scalar(
                            "DELETE FROM executions WHERE id IN (SELECT id FROM executions WHERE status = $1 \
                             AND finished_at < $2 ORDER BY finished_at LIMIT $3) RETURNING id",
                        )
                        .bind(status.as_str())
                        .bind(before)
                        .bind(i64::from(limit))
                        .fetch_all(&mut *transaction)
                        .await
                        .map_err(db_error)?;
                        gone.extend(ids.into_iter().map(troupe_runtime::ids::ExecutionId));
                    }
                    transaction.commit().await.map_err(db_error)?;
                    Ok(gone)
                }

                async fn purge_logs(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError> {
                    let removed = sqlx::query(
                        "DELETE FROM execution_logs WHERE id IN (SELECT l.id FROM execution_logs l \
                         JOIN executions e ON e.id = l.execution_id \
                         WHERE e.status IN ('completed', 'failed', 'cancelled') AND e.finished_at < $1 LIMIT $2)",
                    )
                    .bind(before)
                    .bind(i64::from(limit))
                    .execute(&self.writer)
                    .await
                    .map_err(db_error)?
                    .rows_affected();
                    Ok(removed)
                }

                async fn delete_pipeline(&self, owner: UserId, name: &str) -> Result<bool, StoreError> {
                    let result = sqlx::query("DELETE FROM pipelines WHERE owner_id = $1 AND name = $2")
                        .bind(owner.0)
                        .bind(name)
                        .execute(&self.writer)
                        .await
                        .map_err(db_error)?;
                    Ok(result.rows_affected() > 0)
                }
            }
        }
    };
}
