-- Core tables of troupe on SQLite. Ids are UUIDs (16-byte blobs), JSON is text, timestamps
-- are RFC 3339 text, lease expiry is epoch milliseconds (compared as a number).

CREATE TABLE pipelines (
    owner_id BLOB NOT NULL,
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (owner_id, name)
);

CREATE TABLE executions (
    id BLOB PRIMARY KEY,
    owner_id BLOB NOT NULL,
    project_id BLOB,
    pipeline_name TEXT NOT NULL,
    pipeline_hash TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    input TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    idempotency_key TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    lease_owner TEXT,
    lease_expires_at INTEGER
);
CREATE INDEX executions_owner ON executions (owner_id, id);
CREATE INDEX executions_status ON executions (status);
CREATE INDEX executions_lease ON executions (lease_owner) WHERE status NOT IN ('completed', 'failed', 'cancelled');
CREATE INDEX executions_idempotency ON executions (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE steps (
    execution_id BLOB NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    agent TEXT NOT NULL,
    status TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    corrections INTEGER NOT NULL,
    error TEXT,
    started_at TEXT,
    finished_at TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (execution_id, key)
);

CREATE TABLE attempts (
    execution_id BLOB NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_key TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT NOT NULL,
    output TEXT,
    error TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    PRIMARY KEY (execution_id, step_key, attempt)
);

CREATE TABLE execution_events (
    execution_id BLOB NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (execution_id, seq)
);

CREATE TABLE execution_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id BLOB NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_key TEXT,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX execution_logs_execution ON execution_logs (execution_id, id);

CREATE TABLE artifacts (
    execution_id BLOB NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_key TEXT NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    content BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (execution_id, step_key, name)
);
