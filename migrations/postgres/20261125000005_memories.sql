-- Memories: content sealed with AES-256-GCM (key id and nonce beside it); the vectors live in
-- the vector store under the same id.
CREATE TABLE memories (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL,
    kind TEXT NOT NULL,
    source TEXT,
    metadata JSONB NOT NULL,
    key_id TEXT NOT NULL,
    nonce BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX memories_by_user ON memories (user_id, created_at);
CREATE INDEX memories_by_key ON memories (key_id);
