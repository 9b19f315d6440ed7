-- A default LLM budget per user (used when an execution sets none).
ALTER TABLE users ADD COLUMN budget_max_tokens BIGINT;
ALTER TABLE users ADD COLUMN budget_max_cost_usd DOUBLE PRECISION;
