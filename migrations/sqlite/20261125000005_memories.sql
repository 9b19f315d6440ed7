-- Memories: content sealed with AES-256-GCM (key id and nonce beside it); the vectors live in
-- the vector store under the same id.
CREATE TABLE memories (
    id BLOB PRIMARY KEY,
    user_id BLOB NOT NULL,
    kind TEXT NOT NULL,
    source TEXT,
    metadata TEXT NOT NULL,
    key_id TEXT NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX memories_by_user ON memories (user_id, created_at);
CREATE INDEX memories_by_key ON memories (key_id);
