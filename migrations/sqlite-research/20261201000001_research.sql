-- The research track, in a database file of its own (the core tables never share it):
-- experiments, the append-only consent history, feature flags, registered plugins, the research
-- bus's pseudonymised observations, and the privacy-budget ledger with its releases.

CREATE TABLE experiments (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    hypothesis TEXT NOT NULL,
    owner_id BLOB NOT NULL,
    status TEXT NOT NULL,
    epsilon_total REAL NOT NULL,
    epsilon_per_release REAL NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE consent_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BLOB NOT NULL,
    experiment_id TEXT NOT NULL,
    granted INTEGER NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX consent_by_user ON consent_changes (user_id, experiment_id, id);

CREATE TABLE feature_flags (
    name TEXT PRIMARY KEY,
    enabled INTEGER NOT NULL,
    allow_list TEXT NOT NULL,
    rollout_percent INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE plugins (
    name TEXT PRIMARY KEY,
    manifest TEXT NOT NULL,
    module BLOB,
    enabled INTEGER NOT NULL,
    disabled_reason TEXT,
    registered_by BLOB NOT NULL,
    registered_at TEXT NOT NULL
);

CREATE TABLE observations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    experiment_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    pseudonym TEXT NOT NULL,
    value REAL NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX observations_by_metric ON observations (experiment_id, metric, at);
CREATE INDEX observations_by_pseudonym ON observations (experiment_id, pseudonym);

CREATE TABLE releases (
    id BLOB PRIMARY KEY,
    experiment_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    noisy_sum REAL NOT NULL,
    noisy_count REAL NOT NULL,
    epsilon REAL NOT NULL,
    sum_scale REAL NOT NULL,
    count_scale REAL NOT NULL,
    released_at TEXT NOT NULL
);
CREATE INDEX releases_by_experiment ON releases (experiment_id, released_at);

-- The ledger: every release's spend. The budget check and the entry are one transaction.
CREATE TABLE epsilon_ledger (
    release_id BLOB PRIMARY KEY,
    experiment_id TEXT NOT NULL,
    epsilon REAL NOT NULL,
    spent_at TEXT NOT NULL
);
CREATE INDEX ledger_by_experiment ON epsilon_ledger (experiment_id);
