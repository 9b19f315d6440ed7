-- Approval steps (see the PostgreSQL migration of the same name).
ALTER TABLE executions ADD COLUMN wake_ms INTEGER;
CREATE INDEX executions_parked ON executions (wake_ms) WHERE status = 'waiting';

CREATE TABLE approvals (
    execution_id BLOB NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_key TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    prompt TEXT NOT NULL,
    approvers TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    deadline_ms INTEGER,
    decision TEXT,
    decided_by BLOB,
    decided_at TEXT,
    comment TEXT,
    PRIMARY KEY (execution_id, step_key, attempt)
);
