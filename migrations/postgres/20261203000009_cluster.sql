-- Many nodes, one system. Each claim of an execution raises its lease epoch; a node writes an
-- execution's rows only under the epoch it claimed at (checked in the write's transaction).
ALTER TABLE executions ADD COLUMN lease_epoch BIGINT NOT NULL DEFAULT 0;

-- The live nodes (heartbeats by the database's clock, epoch milliseconds).
CREATE TABLE cluster_nodes (
    id TEXT PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    heartbeat_ms BIGINT NOT NULL,
    status JSONB NOT NULL DEFAULT '{}'
);

-- The fingerprints of the secrets every node must share (the first node records them).
CREATE TABLE cluster_secrets (
    name TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL
);

-- Idempotency keys are unique per owner in the database, whichever node accepts a request.
-- Earlier duplicates (possible with several nodes before this migration) keep the first
-- execution as the key's answer; the later ones keep running but lose the key.
UPDATE executions AS e SET idempotency_key = NULL
WHERE e.idempotency_key IS NOT NULL AND EXISTS (
    SELECT 1 FROM executions AS o
    WHERE o.owner_id = e.owner_id AND o.idempotency_key = e.idempotency_key AND o.id < e.id
);
DROP INDEX executions_idempotency;
CREATE UNIQUE INDEX executions_idempotency ON executions (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- What a user asked of an execution (cancel) that its owner node has not carried out yet.
ALTER TABLE executions ADD COLUMN cancel_requested_at TIMESTAMPTZ;
