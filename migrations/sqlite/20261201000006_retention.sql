-- Retention: finished executions whose logs, events and artifacts were purged are marked, so
-- each pass only looks at the ones not purged yet; memories expire by age.
ALTER TABLE executions ADD COLUMN purged_at TEXT;
CREATE INDEX executions_purgeable ON executions (finished_at)
    WHERE purged_at IS NULL AND status IN ('completed', 'failed', 'cancelled');
CREATE INDEX memories_by_age ON memories (created_at);
