-- Approval steps: a person decides whether an execution goes on. While only decisions are
-- awaited the execution is parked (status 'waiting', no lease): it is claimable again once
-- `wake_ms` (its earliest deadline, epoch milliseconds) passes, an approval of a waiting step
-- is decided, or a cancellation is asked.
ALTER TABLE executions ADD COLUMN wake_ms BIGINT;
CREATE INDEX executions_parked ON executions (wake_ms) WHERE status = 'waiting';

CREATE TABLE approvals (
    execution_id UUID NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_key TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    prompt TEXT NOT NULL,
    approvers JSONB NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL,
    deadline_ms BIGINT,
    decision TEXT,
    decided_by UUID,
    decided_at TIMESTAMPTZ,
    comment TEXT,
    PRIMARY KEY (execution_id, step_key, attempt)
);
