//! The research track's stores: [`SqliteResearchStore`] (its own database file) and
//! [`PostgresResearchStore`] (the `research` schema of the same database, reached through a
//! pool whose `search_path` is that schema, so both run the same unqualified statements).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};
use troupe_runtime::store::StoreError;

use super::db_error;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite-research");

/// The research store of the embedded default: a SQLite file beside the core one.
#[derive(Clone)]
pub struct SqliteResearchStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteResearchStore {
    /// Opens (creating if needed) the research database at `path` and applies its migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = super::sqlite::connect_options(path)?;
        let writer =
            SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await.map_err(db_error)?;
        SQLITE_MIGRATOR
            .run(&writer)
            .await
            .map_err(|error| StoreError::Unavailable(format!("research migration failed: {error}")))?;
        let reader = SqlitePoolOptions::new().max_connections(2).connect_with(options).await.map_err(db_error)?;
        Ok(Self { writer, reader })
    }
}

/// The research store on PostgreSQL: the `research` schema (created by the core migrations).
#[derive(Clone)]
pub struct PostgresResearchStore {
    writer: PgPool,
    reader: PgPool,
}

impl PostgresResearchStore {
    /// Connects a small pool to the `research` schema of the database at `url` (migrated by
    /// [`super::PostgresStore::connect`]).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(db_error)?.options([("search_path", "research")]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(db_error)?;
        Ok(Self { writer: pool.clone(), reader: pool })
    }
}

/// Implements `ResearchStore` for a store type over a sqlx database; `$lock` is the statement
/// that locks an experiment's row for the budget check (PostgreSQL: `FOR UPDATE`; SQLite has
/// one writer, so a plain read serialises already).
macro_rules! sql_research {
    ($store:path, $db:ty, $lock:expr) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::Row;
            use troupe_runtime::ids::UserId;
            use troupe_runtime::research::{
                ConsentChange, Experiment, FeatureFlag, Observation, PluginRecord, Release, ResearchStore,
            };
            use troupe_runtime::store::StoreError;
            use uuid::Uuid;

            use super::{corrupt, db_error};

            type DbRow = <$db as sqlx::Database>::Row;

            fn experiment_from_row(row: &DbRow) -> Result<Experiment, StoreError> {
                let status: String = row.try_get("status").map_err(db_error)?;
                Ok(Experiment {
                    id: row.try_get("id").map_err(db_error)?,
                    title: row.try_get("title").map_err(db_error)?,
                    hypothesis: row.try_get("hypothesis").map_err(db_error)?,
                    owner: UserId(row.try_get("owner_id").map_err(db_error)?),
                    status: status.parse().map_err(|error| corrupt("experiments.status", error))?,
                    epsilon_total: row.try_get("epsilon_total").map_err(db_error)?,
                    epsilon_per_release: row.try_get("epsilon_per_release").map_err(db_error)?,
                    created_at: row.try_get("created_at").map_err(db_error)?,
                })
            }

            fn consent_from_row(row: &DbRow) -> Result<ConsentChange, StoreError> {
                Ok(ConsentChange {
                    user: UserId(row.try_get("user_id").map_err(db_error)?),
                    experiment: row.try_get("experiment_id").map_err(db_error)?,
                    granted: row.try_get("granted").map_err(db_error)?,
                    at: row.try_get("at").map_err(db_error)?,
                })
            }

            fn flag_from_row(row: &DbRow) -> Result<FeatureFlag, StoreError> {
                let allow: String = row.try_get("allow_list").map_err(db_error)?;
                let allow: Vec<Uuid> =
                    serde_json::from_str(&allow).map_err(|error| corrupt("feature_flags.allow_list", error))?;
                let percent: i32 = row.try_get("rollout_percent").map_err(db_error)?;
                Ok(FeatureFlag {
                    name: row.try_get("name").map_err(db_error)?,
                    enabled: row.try_get("enabled").map_err(db_error)?,
                    allow: allow.into_iter().map(UserId).collect(),
                    rollout_percent: u8::try_from(percent.clamp(0, 100)).unwrap_or(0),
                    updated_at: row.try_get("updated_at").map_err(db_error)?,
                })
            }

            fn plugin_from_row(row: &DbRow) -> Result<PluginRecord, StoreError> {
                let manifest: String = row.try_get("manifest").map_err(db_error)?;
                Ok(PluginRecord {
                    name: row.try_get("name").map_err(db_error)?,
                    manifest: serde_json::from_str(&manifest).map_err(|error| corrupt("plugins.manifest", error))?,
                    module: row.try_get("module").map_err(db_error)?,
                    enabled: row.try_get("enabled").map_err(db_error)?,
                    disabled_reason: row.try_get("disabled_reason").map_err(db_error)?,
                    registered_by: UserId(row.try_get("registered_by").map_err(db_error)?),
                    registered_at: row.try_get("registered_at").map_err(db_error)?,
                })
            }

            fn observation_from_row(row: &DbRow) -> Result<Observation, StoreError> {
                Ok(Observation {
                    experiment: row.try_get("experiment_id").map_err(db_error)?,
                    metric: row.try_get("metric").map_err(db_error)?,
                    pseudonym: row.try_get("pseudonym").map_err(db_error)?,
                    value: row.try_get("value").map_err(db_error)?,
                    at: row.try_get("at").map_err(db_error)?,
                })
            }

            fn release_from_row(row: &DbRow) -> Result<Release, StoreError> {
                Ok(Release {
                    id: row.try_get("id").map_err(db_error)?,
                    experiment: row.try_get("experiment_id").map_err(db_error)?,
                    metric: row.try_get("metric").map_err(db_error)?,
                    noisy_sum: row.try_get("noisy_sum").map_err(db_error)?,
                    noisy_count: row.try_get("noisy_count").map_err(db_error)?,
                    epsilon: row.try_get("epsilon").map_err(db_error)?,
                    sum_scale: row.try_get("sum_scale").map_err(db_error)?,
                    count_scale: row.try_get("count_scale").map_err(db_error)?,
                    released_at: row.try_get("released_at").map_err(db_error)?,
                })
            }

            #[async_trait]
            impl ResearchStore for $store {
                async fn put_experiment(&self, experiment: &Experiment) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO experiments (id, title, hypothesis, owner_id, status, epsilon_total, \
                         epsilon_per_release, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (id) DO UPDATE SET title = $2, hypothesis = $3, owner_id = $4, status = $5, \
                         epsilon_total = $6, epsilon_per_release = $7",
                    )
                    .bind(&experiment.id)
                    .bind(&experiment.title)
                    .bind(&experiment.hypothesis)
                    .bind(experiment.owner.0)
                    .bind(experiment.status.as_str())
                    .bind(experiment.epsilon_total)
                    .bind(experiment.epsilon_per_release)
                    .bind(experiment.created_at)
                    .execute(&self.writer)
                    .await
                    .map_err(db_error)?;
                    Ok(())
                }

                async fn create_experiment(&self, experiment: &Experiment) -> Result<bool, StoreError> {
                    let result = sqlx::query(
                        "INSERT INTO experiments (id, title, hypothesis, owner_id, status, epsilon_total, \
                         epsilon_per_release, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(&experiment.id)
                    .bind(&experiment.title)
                    .bind(&experiment.hypothesis)
                    .bind(experiment.owner.0)
                    .bind(experiment.status.as_str())
                    .bind(experiment.epsilon_total)
                    .bind(experiment.epsilon_per_release)
                    .bind(experiment.created_at)
                    .execute(&self.writer)
                    .await
                    .map_err(db_error)?;
                    Ok(result.rows_affected() > 0)
                }

                async fn get_experiment(&self, id: &str) -> Result<Option<Experiment>, StoreError> {
                    let row = sqlx::query("SELECT * FROM experiments WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&self.reader)
                        .await
                        .map_err(db_error)?;
                    row.as_ref().map(experiment_from_row).transpose()
                }

                async fn list_experiments(&self) -> Result<Vec<Experiment>, StoreError> {
                    let rows = sqlx::query("SELECT * FROM experiments ORDER BY id")
                        .fetch_all(&self.reader)
                        .await
                        .map_err(db_error)?;
                    rows.iter().map(experiment_from_row).collect()
                }

                async fn record_consent(&self, change: &ConsentChange) -> Result<(), StoreError> {
                    sqlx::query("INSERT INTO consent_changes (user_id, experiment_id, granted, at) VALUES ($1, $2, $3, $4)")
                        .bind(change.user.0)
                        .bind(&change.experiment)
                        .bind(change.granted)
                        .bind(change.at)
                        .execute(&self.writer)
                        .await
                        .map_err(db_error)?;
                    Ok(())
                }

                async fn consent_history(
                    &self,
                    user: UserId,
                    experiment: Option<&str>,
                ) -> Result<Vec<ConsentChange>, StoreError> {
                    let rows = match experiment {
                        Some(experiment) => sqlx::query(
                            "SELECT * FROM consent_changes WHERE user_id = $1 AND experiment_id = $2 ORDER BY id",
                        )
                        .bind(user.0)
                        .bind(experiment)
                        .fetch_all(&self.reader)
                        .await,
                        None => sqlx::query("SELECT * FROM consent_changes WHERE user_id = $1 ORDER BY id")
                            .bind(user.0)
                            .fetch_all(&self.reader)
                            .await,
                    }
                    .map_err(db_error)?;
                    rows.iter().map(consent_from_row).collect()
                }

                async fn has_consent(&self, user: UserId, experiment: &str) -> Result<bool, StoreError> {
                    // Read from the writer: a grant or revocation just made is seen at once.
                    let granted: Option<bool> = sqlx::query_scalar(
                        "SELECT granted FROM consent_changes WHERE user_id = $1 AND experiment_id = $2 \
                         ORDER BY id DESC LIMIT 1",
                    )
                    .bind(user.0)
                    .bind(experiment)
                    .fetch_optional(&self.writer)
                    .await
                    .map_err(db_error)?;
                    Ok(granted.unwrap_or(false))
                }

                async fn put_flag(&self, flag: &FeatureFlag) -> Result<(), StoreError> {
                    let allow: Vec<Uuid> = flag.allow.iter().map(|user| user.0).collect();
                    let allow = serde_json::to_string(&allow).map_err(|error| corrupt("allow list", error))?;
                    sqlx::query(
                        "INSERT INTO feature_flags (name, enabled, allow_list, rollout_percent, updated_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET enabled = $2, \
                         allow_list = $3, rollout_percent = $4, updated_at = $5",
                    )
                    .bind(&flag.name)
                    .bind(flag.enabled)
                    .bind(allow)
                    .bind(i32::from(flag.rollout_percent))
                    .bind(flag.updated_at)
                    .execute(&self.writer)
                    .await
                    .map_err(db_error)?;
                    Ok(())
                }

                async fn get_flag(&self, name: &str) -> Result<Option<FeatureFlag>, StoreError> {
                    let row = sqlx::query("SELECT * FROM feature_flags WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&self.writer)
                        .await
                        .map_err(db_error)?;
                    row.as_ref().map(flag_from_row).transpose()
                }

                async fn list_flags(&self) -> Result<Vec<FeatureFlag>, StoreError> {
                    let rows = sqlx::query("SELECT * FROM feature_flags ORDER BY name")
                        .fetch_all(&self.reader)
                        .await
                        .map_err(db_error)?;
                    rows.iter().map(flag_from_row).collect()
                }

                async fn put_plugin(&self, plugin: &PluginRecord) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO plugins (name, manifest, module, enabled, disabled_reason, registered_by, \
                         registered_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO UPDATE SET \
                         manifest = $2, module = $3, enabled = $4, disabled_reason = $5, registered_by = $6, \
                         registered_at = $7",
                    )
                    .bind(&plugin.name)
                    .bind(plugin.manifest.to_string())
                    .bind(&plugin.module)
                    .bind(plugin.enabled)
                    .bind(&plugin.disabled_reason)
                    .bind(plugin.registered_by.0)
                    .bind(plugin.registered_at)
                    .execute(&self.writer)
                    .await
                    .map_err(db_error)?;
                    Ok(())
                }

                async fn list_plugins(&self) -> Result<Vec<PluginRecord>, StoreError> {
                    let rows = sqlx::query("SELECT * FROM plugins ORDER BY name")
                        .fetch_all(&self.writer)
                        .await
                        .map_err(db_error)?;
                    rows.iter().map(plugin_from_row).collect()
                }

                async fn set_plugin_enabled(
                    &self,
                    name: &str,
                    enabled: bool,
                    reason: Option<&str>,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query("UPDATE plugins SET enabled = $2, disabled_reason = $3 WHERE name = $1")
                        .bind(name)
                        .bind(enabled)
                        .bind(reason)
                        .execute(&self.writer)
                        .await
                        .map_err(db_error)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn delete_plugin(&self, name: &str) -> Result<bool, StoreError> {
                    let done = sqlx::query("DELETE FROM plugins WHERE name = $1")
                        .bind(name)
                        .execute(&self.writer)
                        .await
                        .map_err(db_error)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn add_observations(&self, observations: &[Observation]) -> Result<(), StoreError> {
                    let mut transaction = self.writer.begin().await.map_err(db_error)?;
                    for observation in observations {
                        sqlx::query(
                            "INSERT INTO observations (experiment_id, metric, pseudonym, value, at) \
                             VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(&observation.experiment)
                        .bind(&observation.metric)
                        .bind(&observation.pseudonym)
                        .bind(observation.value)
                        .bind(observation.at)
                        .execute(&mut *transaction)
                        .await
                        .map_err(db_error)?;
                    }
                    transaction.commit().await.map_err(db_error)
                }

                async fn pending_observations(
                    &self,
                    experiment: &str,
                    metric: &str,
                ) -> Result<Vec<Observation>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT * FROM observations WHERE experiment_id = $1 AND metric = $2 ORDER BY at, id",
                    )
                    .bind(experiment)
                    .bind(metric)
                    .fetch_all(&self.writer)
                    .await
                    .map_err(db_error)?;
                    rows.iter().map(observation_from_row).collect()
                }

                async fn scrub(&self) -> Result<(), StoreError> {
                    use super::ScrubFiles;
                    self.writer.scrub_files().await
                }

                async fn delete_consents(&self, user: UserId) -> Result<u64, StoreError> {
                    let done = sqlx::query("DELETE FROM consent_changes WHERE user_id = $1")
                        .bind(user.0)
                        .execute(&self.writer)
                        .await
                        .map_err(db_error)?;
                    Ok(done.rows_affected())
                }

                async fn forget_pseudonym(&self, experiment: &str, pseudonym: &str) -> Result<u64, StoreError> {
                    let done = sqlx::query("DELETE FROM observations WHERE experiment_id = $1 AND pseudonym = $2")
                        .bind(experiment)
                        .bind(pseudonym)
                        .execute(&self.writer)
                        .await
                        .map_err(db_error)?;
                    Ok(done.rows_affected())
                }

                async fn record_release(
                    &self,
                    release: &Release,
                    epsilon_total: f64,
                    consumed_until: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    let mut transaction = self.writer.begin().await.map_err(db_error)?;
                    sqlx::query($lock).bind(&release.experiment).fetch_optional(&mut *transaction).await.map_err(db_error)?;
                    let spent: f64 = sqlx::query_scalar(
                        "SELECT CAST(COALESCE(SUM(epsilon), 0) AS DOUBLE PRECISION) FROM epsilon_ledger \
                         WHERE experiment_id = $1",
                    )
                    .bind(&release.experiment)
                    .fetch_one(&mut *transaction)
                    .await
                    .map_err(db_error)?;
                    // A small tolerance so that, say, four releases of 0.5 fit a budget of 2.0.
                    if spent + release.epsilon > epsilon_total + 1e-9 {
                        return Err(StoreError::Conflict(format!(
                            "the privacy budget of experiment `{}` is spent: {spent} of {epsilon_total} used, \
                             a release needs {}",
                            release.experiment, release.epsilon
                        )));
                    }
                    sqlx::query("INSERT INTO epsilon_ledger (release_id, experiment_id, epsilon, spent_at) VALUES ($1, $2, $3, $4)")
                        .bind(release.id)
                        .bind(&release.experiment)
                        .bind(release.epsilon)
                        .bind(release.released_at)
                        .execute(&mut *transaction)
                        .await
                        .map_err(db_error)?;
                    sqlx::query(
                        "INSERT INTO releases (id, experiment_id, metric, noisy_sum, noisy_count, epsilon, sum_scale, \
                         count_scale, released_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(release.id)
                    .bind(&release.experiment)
                    .bind(&release.metric)
                    .bind(release.noisy_sum)
                    .bind(release.noisy_count)
                    .bind(release.epsilon)
                    .bind(release.sum_scale)
                    .bind(release.count_scale)
                    .bind(release.released_at)
                    .execute(&mut *transaction)
                    .await
                    .map_err(db_error)?;
                    sqlx::query("DELETE FROM observations WHERE experiment_id = $1 AND metric = $2 AND at <= $3")
                        .bind(&release.experiment)
                        .bind(&release.metric)
                        .bind(consumed_until)
                        .execute(&mut *transaction)
                        .await
                        .map_err(db_error)?;
                    transaction.commit().await.map_err(db_error)
                }

                async fn spent_epsilon(&self, experiment: &str) -> Result<f64, StoreError> {
                    sqlx::query_scalar(
                        "SELECT CAST(COALESCE(SUM(epsilon), 0) AS DOUBLE PRECISION) FROM epsilon_ledger \
                         WHERE experiment_id = $1",
                    )
                    .bind(experiment)
                    .fetch_one(&self.writer)
                    .await
                    .map_err(db_error)
                }

                async fn list_releases(&self, experiment: &str) -> Result<Vec<Release>, StoreError> {
                    let rows = sqlx::query("SELECT * FROM releases WHERE experiment_id = $1 ORDER BY released_at, id")
                        .bind(experiment)
                        .fetch_all(&self.reader)
                        .await
                        .map_err(db_error)?;
                    rows.iter().map(release_from_row).collect()
                }
            }
        };
    };
}

sql_research!(SqliteResearchStore, sqlx::Sqlite, "SELECT id FROM experiments WHERE id = $1");
sql_research!(PostgresResearchStore, sqlx::Postgres, "SELECT id FROM experiments WHERE id = $1 FOR UPDATE");
