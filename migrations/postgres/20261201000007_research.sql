-- The research track, in a schema of its own (the core tables never share it):
-- experiments, the append-only consent history, feature flags, registered plugins, the research
-- bus's pseudonymised observations, and the privacy-budget ledger with its releases.

CREATE SCHEMA IF NOT EXISTS research;

CREATE TABLE research.experiments (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    hypothesis TEXT NOT NULL,
    owner_id UUID NOT NULL,
    status TEXT NOT NULL,
    epsilon_total DOUBLE PRECISION NOT NULL,
    epsilon_per_release DOUBLE PRECISION NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE research.consent_changes (
    id BIGSERIAL PRIMARY KEY,
    user_id UUID NOT NULL,
    experiment_id TEXT NOT NULL,
    granted BOOLEAN NOT NULL,
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX consent_by_user ON research.consent_changes (user_id, experiment_id, id);

CREATE TABLE research.feature_flags (
    name TEXT PRIMARY KEY,
    enabled BOOLEAN NOT NULL,
    allow_list TEXT NOT NULL,
    rollout_percent INTEGER NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE research.plugins (
    name TEXT PRIMARY KEY,
    manifest TEXT NOT NULL,
    module BYTEA,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT,
    registered_by UUID NOT NULL,
    registered_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE research.observations (
    id BIGSERIAL PRIMARY KEY,
    experiment_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    pseudonym TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX observations_by_metric ON research.observations (experiment_id, metric, at);
CREATE INDEX observations_by_pseudonym ON research.observations (experiment_id, pseudonym);

CREATE TABLE research.releases (
    id UUID PRIMARY KEY,
    experiment_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    noisy_sum DOUBLE PRECISION NOT NULL,
    noisy_count DOUBLE PRECISION NOT NULL,
    epsilon DOUBLE PRECISION NOT NULL,
    sum_scale DOUBLE PRECISION NOT NULL,
    count_scale DOUBLE PRECISION NOT NULL,
    released_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX releases_by_experiment ON research.releases (experiment_id, released_at);

-- The ledger: every release's spend. The budget check and the entry are one transaction.
CREATE TABLE research.epsilon_ledger (
    release_id UUID PRIMARY KEY,
    experiment_id TEXT NOT NULL,
    epsilon DOUBLE PRECISION NOT NULL,
    spent_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ledger_by_experiment ON research.epsilon_ledger (experiment_id);
