-- Core tables of troupe on PostgreSQL. Lease expiry is epoch milliseconds so that the same
-- statements serve SQLite and PostgreSQL.

CREATE TABLE pipelines (
    owner_id UUID NOT NULL,
    name TEXT NOT NULL,
    definition JSONB NOT NULL,
    content_hash TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (owner_id, name)
);

CREATE TABLE executions (
    id UUID PRIMARY KEY,
    owner_id UUID NOT NULL,
    project_id UUID,
    pipeline_name TEXT NOT NULL,
    pipeline_hash TEXT NOT NULL,
    pipeline JSONB NOT NULL,
    input JSONB NOT NULL,
    status TEXT NOT NULL,
    error JSONB,
    idempotency_key TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    lease_owner TEXT,
    lease_expires_at BIGINT
);
CREATE INDEX executions_owner ON executions (owner_id, id);
CREATE INDEX executions_status ON executions (status);
CREATE INDEX executions_lease ON executions (lease_owner) WHERE status NOT IN ('completed', 'failed', 'cancelled');
CREATE INDEX executions_idempotency ON executions (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE steps (
    execution_id UUID NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    agent TEXT NOT NULL,
    status TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    corrections BIGINT NOT NULL,
    error JSONB,
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (execution_id, key)
);

CREATE TABLE attempts (
    execution_id UUID NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_key TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    input JSONB NOT NULL,
    output JSONB,
    error JSONB,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    PRIMARY KEY (execution_id, step_key, attempt)
);

CREATE TABLE execution_events (
    execution_id UUID NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    payload JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (execution_id, seq)
);

CREATE TABLE execution_logs (
    id BIGSERIAL PRIMARY KEY,
    execution_id UUID NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_key TEXT,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX execution_logs_execution ON execution_logs (execution_id, id);

CREATE TABLE artifacts (
    execution_id UUID NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_key TEXT NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    content BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (execution_id, step_key, name)
);
