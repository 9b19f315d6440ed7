-- LLM usage per attempt (accounting and budgets) and the corrector's memory.
CREATE TABLE llm_usage (
    execution_id BLOB NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    owner_id BLOB NOT NULL,
    step_key TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX llm_usage_by_execution ON llm_usage (execution_id);
CREATE INDEX llm_usage_by_owner ON llm_usage (owner_id);

CREATE TABLE corrections (
    execution_id BLOB NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_key TEXT NOT NULL,
    agent TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    signature TEXT NOT NULL,
    issues TEXT NOT NULL,
    strategy TEXT NOT NULL,
    passed INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (execution_id, step_key, attempt)
);
CREATE INDEX corrections_by_signature ON corrections (agent, signature, created_at);
