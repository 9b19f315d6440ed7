-- Files users upload (see the PostgreSQL migration of the same name).
CREATE TABLE files (
    id BLOB PRIMARY KEY,
    owner_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    content BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX files_owner ON files (owner_id, created_at);
