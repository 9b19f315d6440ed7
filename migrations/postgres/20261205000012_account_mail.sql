-- Verified email addresses and the single-use tokens sent by mail (verification, password
-- reset): SHA-256 digests only. Accounts from before this migration count as verified.
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMPTZ;
UPDATE users SET email_verified_at = created_at;

CREATE TABLE account_tokens (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ
);
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);

-- The profile: an address being changed to (it replaces `email` once verified), the user's
-- own settings, and their own model provider key, sealed like memories (never in the clear).
ALTER TABLE users ADD COLUMN pending_email TEXT;
ALTER TABLE users ADD COLUMN preferences JSONB;
ALTER TABLE users ADD COLUMN llm_key_id TEXT;
ALTER TABLE users ADD COLUMN llm_key_nonce BYTEA;
ALTER TABLE users ADD COLUMN llm_key_ciphertext BYTEA;
ALTER TABLE users ADD COLUMN llm_key_last4 TEXT;
ALTER TABLE users ADD COLUMN llm_model TEXT;

-- Exports of everything a user owns: the archive sealed like memories, kept for a day.
CREATE TABLE exports (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    key_id TEXT,
    nonce BYTEA,
    ciphertext BYTEA,
    size BIGINT NOT NULL,
    error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX exports_user ON exports (user_id);
