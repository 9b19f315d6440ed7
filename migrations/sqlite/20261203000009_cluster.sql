-- Leases carry an epoch (raised by every claim), checked in the transaction of every write.
-- SQLite serves one node; the cluster tables exist so that both stores share one shape.
ALTER TABLE executions ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0;

CREATE TABLE cluster_nodes (
    id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    heartbeat_ms INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE cluster_secrets (
    name TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL
);

-- Idempotency keys are unique per owner; earlier duplicates keep the first execution.
UPDATE executions SET idempotency_key = NULL
WHERE idempotency_key IS NOT NULL AND EXISTS (
    SELECT 1 FROM executions AS o
    WHERE o.owner_id = executions.owner_id AND o.idempotency_key = executions.idempotency_key AND o.id < executions.id
);
DROP INDEX executions_idempotency;
CREATE UNIQUE INDEX executions_idempotency ON executions (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

ALTER TABLE executions ADD COLUMN cancel_requested_at TEXT;
