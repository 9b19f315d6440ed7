//! The PostgreSQL store: for production and for several nodes sharing one database.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use troupe_runtime::store::StoreError;

use super::db_error;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// The database's clock in epoch milliseconds: leases expire by it, never by a node's clock.
const NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::int8";
/// Claims skip rows another node is claiming, and executions a batch is being written for
/// (whose advisory key a writer holds, see `statements::FENCE_LOCK`).
const SKIP_LOCKED: &str = "FOR UPDATE SKIP LOCKED";
/// A claim takes an execution only if no batch of it is being written: the execution's
/// advisory key (the last 8 bytes of its id, as [`lease_key`]) taken exclusively.
const CLAIMABLE: &str =
    "AND pg_try_advisory_xact_lock(('x' || right(replace(id::text, '-', ''), 16))::bit(64)::bigint)";

/// The advisory-lock key of an execution: the last 8 bytes of its id (random in a UUIDv7).
fn lease_key(id: troupe_runtime::ids::ExecutionId) -> i64 {
    let bytes = id.0.as_bytes();
    i64::from_be_bytes(bytes[8..16].try_into().expect("a UUID has 16 bytes"))
}
/// Renewals lock the rows they extend in id order, as batch writes do (no deadlock between them).
const LOCK_ROWS: &str = "FOR UPDATE";

/// The production store: a PostgreSQL database.
#[derive(Clone)]
pub struct PostgresStore {
    pub(super) writer: PgPool,
    pub(super) reader: PgPool,
}

impl PostgresStore {
    /// Connects with a pool of at most `max_connections` and applies migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(db_error)?;
        MIGRATOR.run(&pool).await.map_err(|error| StoreError::Unavailable(format!("migration failed: {error}")))?;
        Ok(Self { writer: pool.clone(), reader: pool })
    }

    /// Applies pending migrations (done by `connect` too).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.writer).await.map_err(|error| StoreError::Unavailable(format!("migration failed: {error}")))
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.writer.close().await;
    }
}

sql_store!(super::PostgresStore, sqlx::Postgres);
sql_accounts!(super::PostgresStore, sqlx::Postgres);
sql_memories!(super::PostgresStore, sqlx::Postgres);
sql_files!(super::PostgresStore, sqlx::Postgres);

/// One statement per table whatever the number of rows: the rows travel as arrays and
/// `UNNEST` turns them back into rows, so the statement is prepared once per connection and a
/// batch costs a handful of round trips.
mod statements {
    pub const INSERT_EXECUTIONS: &str = "INSERT INTO executions (id, owner_id, project_id, pipeline_name, \
        pipeline_hash, pipeline, input, status, error, idempotency_key, created_at, updated_at, started_at, finished_at, \
        lease_owner, lease_expires_at, lease_epoch) SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], \
        $4::text[], $5::text[], $6::jsonb[], $7::jsonb[], $8::text[], $9::jsonb[], $10::text[], $11::timestamptz[], \
        $12::timestamptz[], $13::timestamptz[], $14::timestamptz[], $15::text[], $16::int8[], $17::int8[]) \
        ON CONFLICT DO NOTHING RETURNING id";
    /// Holds the executions a batch writes against claims for the rest of its transaction: a
    /// shared advisory lock per execution (in memory: no row is written, unlike `FOR UPDATE`,
    /// which tripled the cost of a batch). A claim takes the same key exclusively, or skips
    /// the execution this round.
    pub const FENCE_LOCK: &str = "SELECT pg_advisory_xact_lock_shared(k) FROM UNNEST($1::int8[]) AS k";
    /// Which of those executions `$3` still holds at the epoch given (read after the locks, so
    /// a claim that committed meanwhile is seen).
    /// (By the primary key: a join with `UNNEST` was planned as a scan of every execution.)
    pub const FENCE: &str = "SELECT id, lease_epoch FROM executions WHERE id = ANY($1) AND lease_owner = $2";
    /// A parked (`waiting`) execution gives its lease back in the same statement.
    pub const UPDATE_EXECUTIONS: &str = "UPDATE executions AS e SET status = u.status, error = u.error, \
        updated_at = u.updated_at, started_at = u.started_at, finished_at = u.finished_at, wake_ms = u.wake_ms, \
        lease_owner = CASE WHEN u.status = 'waiting' THEN NULL ELSE e.lease_owner END, \
        lease_expires_at = CASE WHEN u.status = 'waiting' THEN NULL ELSE e.lease_expires_at END \
        FROM UNNEST($1::uuid[], $2::text[], $3::jsonb[], $4::timestamptz[], $5::timestamptz[], $6::timestamptz[], \
        $7::int8[]) AS u(id, status, error, updated_at, started_at, finished_at, wake_ms) WHERE e.id = u.id";
    pub const UPDATE_PIPELINE: &str = "UPDATE executions SET pipeline = $2, pipeline_hash = $3 WHERE id = $1";
    pub const UPSERT_STEPS: &str = "INSERT INTO steps (execution_id, key, agent, status, attempt, corrections, error, \
        started_at, finished_at, updated_at) SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], \
        $5::int8[], $6::int8[], $7::jsonb[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[]) \
        ON CONFLICT (execution_id, key) DO UPDATE SET status = excluded.status, attempt = excluded.attempt, \
        corrections = excluded.corrections, error = excluded.error, started_at = excluded.started_at, \
        finished_at = excluded.finished_at, updated_at = excluded.updated_at";
    pub const UPSERT_ATTEMPTS: &str = "INSERT INTO attempts (execution_id, step_key, attempt, kind, status, input, \
        output, error, started_at, finished_at) SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::int8[], $4::text[], \
        $5::text[], $6::jsonb[], $7::jsonb[], $8::jsonb[], $9::timestamptz[], $10::timestamptz[]) \
        ON CONFLICT (execution_id, step_key, attempt) DO UPDATE SET status = excluded.status, \
        output = excluded.output, error = excluded.error, finished_at = excluded.finished_at";
    pub const INSERT_EVENTS: &str = "INSERT INTO execution_events (execution_id, seq, kind, payload, created_at) \
        SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::text[], $4::jsonb[], $5::timestamptz[])";
    pub const INSERT_LOGS: &str = "INSERT INTO execution_logs (execution_id, step_key, level, message, created_at) \
        SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])";
    pub const UPSERT_ARTIFACTS: &str = "INSERT INTO artifacts (execution_id, step_key, name, content_type, size, \
        content, created_at) SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int8[], \
        $6::bytea[], $7::timestamptz[]) ON CONFLICT (execution_id, step_key, name) DO UPDATE SET \
        content_type = excluded.content_type, size = excluded.size, content = excluded.content, \
        created_at = excluded.created_at";
}

impl PostgresStore {
    /// Applies a batch in one transaction, one `UNNEST` statement per table.
    pub(super) async fn apply_batch(
        &self,
        batch: &troupe_runtime::store::WriteBatch,
    ) -> Result<Vec<troupe_runtime::ids::ExecutionId>, StoreError> {
        use std::collections::HashSet;

        use sqlx::Row;
        use sqlx::types::Json;
        use troupe_runtime::ids::ExecutionId;

        use super::last_per_key;

        let mut tx = self.writer.begin().await.map_err(db_error)?;
        let mut lost = HashSet::new();
        if let Some(fence) = batch.fence.as_ref().filter(|fence| !fence.epochs.is_empty()) {
            sqlx::query(statements::FENCE_LOCK)
                .bind(fence.epochs.iter().map(|(id, _)| lease_key(*id)).collect::<Vec<_>>())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            let held: HashSet<(ExecutionId, i64)> = sqlx::query(statements::FENCE)
                .bind(fence.epochs.iter().map(|(id, _)| id.0).collect::<Vec<_>>())
                .bind(&fence.node)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_error)?
                .iter()
                .map(|row| {
                    let id = row.try_get::<uuid::Uuid, _>("id").map(ExecutionId).map_err(db_error)?;
                    Ok((id, row.try_get::<i64, _>("lease_epoch").map_err(db_error)?))
                })
                .collect::<Result<_, StoreError>>()?;
            lost.extend(fence.epochs.iter().filter(|pair| !held.contains(pair)).map(|(id, _)| *id));
        }
        let records = &batch.new_executions;
        if !records.is_empty() {
            let inserted: HashSet<ExecutionId> = sqlx::query(statements::INSERT_EXECUTIONS)
                .bind(records.iter().map(|record| record.id.0).collect::<Vec<_>>())
                .bind(records.iter().map(|record| record.owner.0).collect::<Vec<_>>())
                .bind(records.iter().map(|record| record.project_id.map(|project| project.0)).collect::<Vec<_>>())
                .bind(records.iter().map(|record| record.pipeline_name.as_str()).collect::<Vec<_>>())
                .bind(records.iter().map(|record| record.pipeline_hash.as_str()).collect::<Vec<_>>())
                .bind(records.iter().map(|record| Json(&record.pipeline)).collect::<Vec<_>>())
                .bind(records.iter().map(|record| Json(&record.input)).collect::<Vec<_>>())
                .bind(records.iter().map(|record| record.status.as_str()).collect::<Vec<_>>())
                .bind(records.iter().map(|record| record.error.as_ref().map(Json)).collect::<Vec<_>>())
                .bind(records.iter().map(|record| record.idempotency_key.as_deref()).collect::<Vec<_>>())
                .bind(records.iter().map(|record| record.created_at).collect::<Vec<_>>())
                .bind(records.iter().map(|record| record.updated_at).collect::<Vec<_>>())
                .bind(records.iter().map(|record| record.started_at).collect::<Vec<_>>())
                .bind(records.iter().map(|record| record.finished_at).collect::<Vec<_>>())
                .bind(records.iter().map(|record| record.lease_owner.as_deref()).collect::<Vec<_>>())
                .bind(records.iter().map(|record| record.lease_expires_at).collect::<Vec<_>>())
                .bind(records.iter().map(|record| record.lease_epoch).collect::<Vec<_>>())
                .fetch_all(&mut *tx)
                .await
                .map_err(db_error)?
                .iter()
                .map(|row| row.try_get::<uuid::Uuid, _>("id").map(ExecutionId).map_err(db_error))
                .collect::<Result<_, _>>()?;
            // Not inserted: its idempotency key was taken by another node's execution.
            lost.extend(records.iter().map(|record| record.id).filter(|id| !inserted.contains(id)));
        }
        let filtered;
        let batch = if lost.is_empty() {
            batch
        } else {
            filtered = batch.without(&lost);
            &filtered
        };
        let mut updates = last_per_key(&batch.execution_updates, |update| update.id);
        // In id order, as renewals lock rows: a node's own transactions never deadlock.
        updates.sort_by_key(|update| update.id);
        if !updates.is_empty() {
            sqlx::query(statements::UPDATE_EXECUTIONS)
                .bind(updates.iter().map(|update| update.id.0).collect::<Vec<_>>())
                .bind(updates.iter().map(|update| update.status.as_str()).collect::<Vec<_>>())
                .bind(updates.iter().map(|update| update.error.as_ref().map(Json)).collect::<Vec<_>>())
                .bind(updates.iter().map(|update| update.updated_at).collect::<Vec<_>>())
                .bind(updates.iter().map(|update| update.started_at).collect::<Vec<_>>())
                .bind(updates.iter().map(|update| update.finished_at).collect::<Vec<_>>())
                .bind(updates.iter().map(|update| update.wake_at.map(|at| at.timestamp_millis())).collect::<Vec<_>>())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        for (id, hash, def) in &batch.pipeline_updates {
            sqlx::query(statements::UPDATE_PIPELINE)
                .bind(id.0)
                .bind(Json(def))
                .bind(hash)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        let steps = last_per_key(&batch.steps, |step| (step.execution_id, &*step.key));
        if !steps.is_empty() {
            sqlx::query(statements::UPSERT_STEPS)
                .bind(steps.iter().map(|step| step.execution_id.0).collect::<Vec<_>>())
                .bind(steps.iter().map(|step| &*step.key).collect::<Vec<_>>())
                .bind(steps.iter().map(|step| &*step.agent).collect::<Vec<_>>())
                .bind(steps.iter().map(|step| step.status.as_str()).collect::<Vec<_>>())
                .bind(steps.iter().map(|step| step.attempt as i64).collect::<Vec<_>>())
                .bind(steps.iter().map(|step| step.corrections as i64).collect::<Vec<_>>())
                .bind(steps.iter().map(|step| step.error.as_ref().map(Json)).collect::<Vec<_>>())
                .bind(steps.iter().map(|step| step.started_at).collect::<Vec<_>>())
                .bind(steps.iter().map(|step| step.finished_at).collect::<Vec<_>>())
                .bind(steps.iter().map(|step| step.updated_at).collect::<Vec<_>>())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        let attempts =
            last_per_key(&batch.attempts, |attempt| (attempt.execution_id, attempt.step_key.as_str(), attempt.attempt));
        if !attempts.is_empty() {
            sqlx::query(statements::UPSERT_ATTEMPTS)
                .bind(attempts.iter().map(|attempt| attempt.execution_id.0).collect::<Vec<_>>())
                .bind(attempts.iter().map(|attempt| attempt.step_key.as_str()).collect::<Vec<_>>())
                .bind(attempts.iter().map(|attempt| attempt.attempt as i64).collect::<Vec<_>>())
                .bind(attempts.iter().map(|attempt| attempt.kind.as_str()).collect::<Vec<_>>())
                .bind(attempts.iter().map(|attempt| attempt.status.as_str()).collect::<Vec<_>>())
                .bind(attempts.iter().map(|attempt| Json(attempt.input.as_ref())).collect::<Vec<_>>())
                .bind(attempts.iter().map(|attempt| attempt.output.as_deref().map(Json)).collect::<Vec<_>>())
                .bind(attempts.iter().map(|attempt| attempt.error.as_ref().map(Json)).collect::<Vec<_>>())
                .bind(attempts.iter().map(|attempt| attempt.started_at).collect::<Vec<_>>())
                .bind(attempts.iter().map(|attempt| attempt.finished_at).collect::<Vec<_>>())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        let events = &batch.events;
        if !events.is_empty() {
            sqlx::query(statements::INSERT_EVENTS)
                .bind(events.iter().map(|event| event.execution_id.0).collect::<Vec<_>>())
                .bind(events.iter().map(|event| event.seq as i64).collect::<Vec<_>>())
                .bind(events.iter().map(|event| event.kind.name()).collect::<Vec<_>>())
                .bind(events.iter().map(|event| Json(&event.kind)).collect::<Vec<_>>())
                .bind(events.iter().map(|event| event.at).collect::<Vec<_>>())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        let logs = &batch.logs;
        if !logs.is_empty() {
            sqlx::query(statements::INSERT_LOGS)
                .bind(logs.iter().map(|log| log.execution_id.0).collect::<Vec<_>>())
                .bind(logs.iter().map(|log| log.step_key.as_deref()).collect::<Vec<_>>())
                .bind(logs.iter().map(|log| log.level.as_str()).collect::<Vec<_>>())
                .bind(logs.iter().map(|log| log.message.as_str()).collect::<Vec<_>>())
                .bind(logs.iter().map(|log| log.created_at).collect::<Vec<_>>())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        let artifacts = last_per_key(&batch.artifacts, |artifact| {
            (artifact.execution_id, artifact.step_key.as_str(), artifact.name.as_str())
        });
        if !artifacts.is_empty() {
            sqlx::query(statements::UPSERT_ARTIFACTS)
                .bind(artifacts.iter().map(|artifact| artifact.execution_id.0).collect::<Vec<_>>())
                .bind(artifacts.iter().map(|artifact| artifact.step_key.as_str()).collect::<Vec<_>>())
                .bind(artifacts.iter().map(|artifact| artifact.name.as_str()).collect::<Vec<_>>())
                .bind(artifacts.iter().map(|artifact| artifact.content_type.as_str()).collect::<Vec<_>>())
                .bind(artifacts.iter().map(|artifact| artifact.content.len() as i64).collect::<Vec<_>>())
                .bind(artifacts.iter().map(|artifact| artifact.content.as_slice()).collect::<Vec<_>>())
                .bind(artifacts.iter().map(|artifact| artifact.created_at).collect::<Vec<_>>())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        store_impl::write_ledgers(&mut tx, batch).await?;
        if !batch.events.is_empty() {
            // Delivered to every node's listener when (and only if) the batch commits.
            let from = batch.fence.as_ref().map_or("", |fence| fence.node.as_str());
            let signals = troupe_runtime::cluster::event_signals(&batch.events);
            for payload in troupe_runtime::cluster::encode_signals(from, &signals) {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(super::signals::CHANNEL)
                    .bind(payload)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
            }
        }
        tx.commit().await.map_err(db_error)?;
        let mut lost: Vec<ExecutionId> = lost.into_iter().collect();
        lost.sort();
        Ok(lost)
    }
}
