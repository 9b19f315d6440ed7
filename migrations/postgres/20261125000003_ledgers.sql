-- LLM usage per attempt (accounting and budgets) and the corrector's memory.
CREATE TABLE llm_usage (
    execution_id UUID NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    owner_id UUID NOT NULL,
    step_key TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX llm_usage_by_execution ON llm_usage (execution_id);
CREATE INDEX llm_usage_by_owner ON llm_usage (owner_id);

CREATE TABLE corrections (
    execution_id UUID NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_key TEXT NOT NULL,
    agent TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    signature TEXT NOT NULL,
    issues JSONB NOT NULL,
    strategy JSONB NOT NULL,
    passed BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (execution_id, step_key, attempt)
);
CREATE INDEX corrections_by_signature ON corrections (agent, signature, created_at);
