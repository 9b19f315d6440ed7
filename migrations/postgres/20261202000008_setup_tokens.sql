-- The one-time token that creates the first admin (its SHA-256 only; one row at most).
CREATE TABLE setup_tokens (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    token_hash TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- Who became the first admin: one row at most, so claiming it decides every race between
-- setup tokens and `troupe admin create-user`, on any number of nodes.
CREATE TABLE first_admin (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    user_id UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- Installations from before this migration already have their admin.
INSERT INTO first_admin (id, user_id, created_at)
SELECT 1, id, created_at FROM users WHERE role = 'admin' ORDER BY created_at LIMIT 1;
