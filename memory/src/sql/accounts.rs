//! `sql_accounts!`: the `AccountStore` implementation shared by SQLite and PostgreSQL (same
//! statements, `$n` placeholders). Expiry is compared in Rust, never in SQL, because SQLite
//! keeps timestamps as text.

macro_rules! sql_accounts {
    ($store:path, $db:ty) => {
        mod accounts_impl {
            use async_trait::async_trait;
            use chrono::Utc;
            use serde_json::Value;
            use sqlx::Row;
            use sqlx::types::Json;
            use troupe_runtime::accounts::{
                AccountStore, AccountToken, ApiKeyRecord, AuditRecord, ExportRecord, ProjectRecord, SessionRecord,
                TokenPurpose, UserLlmKey, UserRecord, UserUpdate,
            };
            use troupe_runtime::ids::{ProjectId, UserId};
            use troupe_runtime::store::StoreError;
            use uuid::Uuid;

            use super::super::{corrupt, db_error};

            type DbRow = <$db as sqlx::Database>::Row;

            fn user_from_row(row: &DbRow) -> Result<UserRecord, StoreError> {
                let role: String = row.try_get("role").map_err(db_error)?;
                Ok(UserRecord {
                    id: UserId(row.try_get("id").map_err(db_error)?),
                    email: row.try_get("email").map_err(db_error)?,
                    name: row.try_get("name").map_err(db_error)?,
                    password_hash: row.try_get("password_hash").map_err(db_error)?,
                    role: role.parse().map_err(|error| corrupt("users.role", error))?,
                    disabled: row.try_get("disabled").map_err(db_error)?,
                    created_at: row.try_get("created_at").map_err(db_error)?,
                    updated_at: row.try_get("updated_at").map_err(db_error)?,
                    last_login_at: row.try_get("last_login_at").map_err(db_error)?,
                    budget: {
                        let max_tokens: Option<i64> = row.try_get("budget_max_tokens").map_err(db_error)?;
                        let max_cost_usd: Option<f64> = row.try_get("budget_max_cost_usd").map_err(db_error)?;
                        (max_tokens.is_some() || max_cost_usd.is_some()).then(|| troupe_runtime::pipeline::BudgetDef {
                            max_tokens: max_tokens.map(|tokens| tokens as u64),
                            max_cost_usd,
                        })
                    },
                    email_verified_at: row.try_get("email_verified_at").map_err(db_error)?,
                    pending_email: row.try_get("pending_email").map_err(db_error)?,
                    preferences: {
                        let preferences: Option<Json<Value>> = row.try_get("preferences").map_err(db_error)?;
                        preferences.map_or_else(|| Value::Object(Default::default()), |Json(value)| value)
                    },
                    llm: match row.try_get::<Option<String>, _>("llm_key_id").map_err(db_error)? {
                        Some(key_id) => Some(UserLlmKey {
                            key_id,
                            nonce: row.try_get("llm_key_nonce").map_err(db_error)?,
                            ciphertext: row.try_get("llm_key_ciphertext").map_err(db_error)?,
                            last4: row.try_get("llm_key_last4").map_err(db_error)?,
                            model: row.try_get("llm_model").map_err(db_error)?,
                        }),
                        None => None,
                    },
                })
            }

            fn session_from_row(row: &DbRow) -> Result<SessionRecord, StoreError> {
                Ok(SessionRecord {
                    id: row.try_get("id").map_err(db_error)?,
                    user_id: UserId(row.try_get("user_id").map_err(db_error)?),
                    family_id: row.try_get("family_id").map_err(db_error)?,
                    refresh_hash: row.try_get("refresh_hash").map_err(db_error)?,
                    expires_at: row.try_get("expires_at").map_err(db_error)?,
                    created_at: row.try_get("created_at").map_err(db_error)?,
                    revoked_at: row.try_get("revoked_at").map_err(db_error)?,
                    user_agent: row.try_get("user_agent").map_err(db_error)?,
                    ip: row.try_get("ip").map_err(db_error)?,
                })
            }

            fn api_key_from_row(row: &DbRow) -> Result<ApiKeyRecord, StoreError> {
                Ok(ApiKeyRecord {
                    id: row.try_get("id").map_err(db_error)?,
                    user_id: UserId(row.try_get("user_id").map_err(db_error)?),
                    name: row.try_get("name").map_err(db_error)?,
                    prefix: row.try_get("prefix").map_err(db_error)?,
                    key_hash: row.try_get("key_hash").map_err(db_error)?,
                    read_only: row.try_get("read_only").map_err(db_error)?,
                    created_at: row.try_get("created_at").map_err(db_error)?,
                    revoked_at: row.try_get("revoked_at").map_err(db_error)?,
                })
            }

            fn project_from_row(row: &DbRow) -> Result<ProjectRecord, StoreError> {
                Ok(ProjectRecord {
                    id: ProjectId(row.try_get("id").map_err(db_error)?),
                    owner: UserId(row.try_get("owner_id").map_err(db_error)?),
                    name: row.try_get("name").map_err(db_error)?,
                    description: row.try_get("description").map_err(db_error)?,
                    created_at: row.try_get("created_at").map_err(db_error)?,
                    updated_at: row.try_get("updated_at").map_err(db_error)?,
                })
            }

            fn audit_from_row(row: &DbRow) -> Result<AuditRecord, StoreError> {
                let Json(details): Json<Value> = row.try_get("details").map_err(db_error)?;
                Ok(AuditRecord {
                    id: row.try_get("id").map_err(db_error)?,
                    at: row.try_get("at").map_err(db_error)?,
                    actor: row.try_get::<Option<Uuid>, _>("actor_id").map_err(db_error)?.map(UserId),
                    action: row.try_get("action").map_err(db_error)?,
                    target: row.try_get("target").map_err(db_error)?,
                    ip: row.try_get("ip").map_err(db_error)?,
                    details,
                })
            }

            /// Claims the first admin for `user`: true when nobody had (one row at most, so
            /// concurrent claims on any number of nodes have exactly one winner).
            async fn claim_admin(tx: &mut sqlx::Transaction<'_, $db>, user: &UserRecord) -> Result<bool, StoreError> {
                let claimed = sqlx::query(
                    "INSERT INTO first_admin (id, user_id, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
                )
                .bind(user.id.0)
                .bind(user.created_at)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
                Ok(claimed.rows_affected() > 0)
            }

            async fn insert_user(
                tx: &mut sqlx::Transaction<'_, $db>,
                user: &UserRecord,
                role: &str,
            ) -> Result<UserRecord, StoreError> {
                let row = sqlx::query(
                    "INSERT INTO users (id, email, name, password_hash, role, disabled, created_at, updated_at, \
                     email_verified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING *",
                )
                .bind(user.id.0)
                .bind(&user.email)
                .bind(&user.name)
                .bind(&user.password_hash)
                .bind(role)
                .bind(user.disabled)
                .bind(user.created_at)
                .bind(user.email_verified_at)
                .fetch_one(&mut **tx)
                .await
                .map_err(db_error)?;
                user_from_row(&row)
            }

            #[async_trait]
            impl AccountStore for $store {
                async fn create_user(&self, user: &UserRecord, claim_first_admin: bool) -> Result<UserRecord, StoreError> {
                    let mut tx = self.writer.begin().await.map_err(db_error)?;
                    let mut role = user.role.as_str();
                    if claim_first_admin && claim_admin(&mut tx, user).await? {
                        role = "admin";
                    }
                    let stored = insert_user(&mut tx, user, role).await?;
                    tx.commit().await.map_err(db_error)?;
                    Ok(stored)
                }

                async fn get_user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
                    let row = sqlx::query("SELECT * FROM users WHERE id = $1")
                        .bind(id.0)
                        .fetch_optional(&self.reader)
                        .await
                        .map_err(db_error)?;
                    row.as_ref().map(user_from_row).transpose()
                }

                async fn get_user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
                    let row = sqlx::query("SELECT * FROM users WHERE email = $1")
                        .bind(email)
                        .fetch_optional(&self.reader)
                        .await
                        .map_err(db_error)?;
                    row.as_ref().map(user_from_row).transpose()
                }

                async fn list_users(&self, after: Option<UserId>, limit: u32) -> Result<Vec<UserRecord>, StoreError> {
                    let rows = sqlx::query("SELECT * FROM users WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2")
                        .bind(after.map(|id| id.0))
                        .bind(i64::from(limit))
                        .fetch_all(&self.reader)
                        .await
                        .map_err(db_error)?;
                    rows.iter().map(user_from_row).collect()
                }

                async fn update_user(&self, id: UserId, update: &UserUpdate) -> Result<Option<UserRecord>, StoreError> {
                    let llm = update.llm.as_ref().and_then(Option::as_ref);
                    let row = sqlx::query(
                        "UPDATE users SET role = COALESCE($2, role), disabled = COALESCE($3, disabled), \
                         password_hash = COALESCE($4, password_hash), last_login_at = COALESCE($5, last_login_at), \
                         updated_at = $6, \
                         budget_max_tokens = CASE WHEN $7 THEN $8 ELSE budget_max_tokens END, \
                         budget_max_cost_usd = CASE WHEN $7 THEN $9 ELSE budget_max_cost_usd END, \
                         email_verified_at = COALESCE($10, email_verified_at), \
                         name = CASE WHEN $11 THEN $12 ELSE name END, \
                         pending_email = CASE WHEN $13 THEN $14 ELSE pending_email END, \
                         email = COALESCE($15, email), \
                         preferences = COALESCE($16, preferences), \
                         llm_key_id = CASE WHEN $17 THEN $18 ELSE llm_key_id END, \
                         llm_key_nonce = CASE WHEN $17 THEN $19 ELSE llm_key_nonce END, \
                         llm_key_ciphertext = CASE WHEN $17 THEN $20 ELSE llm_key_ciphertext END, \
                         llm_key_last4 = CASE WHEN $17 THEN $21 ELSE llm_key_last4 END, \
                         llm_model = CASE WHEN $17 THEN $22 ELSE llm_model END \
                         WHERE id = $1 RETURNING *",
                    )
                    .bind(id.0)
                    .bind(update.role.map(|role| role.as_str()))
                    .bind(update.disabled)
                    .bind(&update.password_hash)
                    .bind(update.last_login_at)
                    .bind(Utc::now())
                    .bind(update.budget.is_some())
                    .bind(update.budget.as_ref().and_then(|budget| budget.as_ref()?.max_tokens).map(|tokens| tokens as i64))
                    .bind(update.budget.as_ref().and_then(|budget| budget.as_ref()?.max_cost_usd))
                    .bind(update.email_verified_at)
                    .bind(update.name.is_some())
                    .bind(update.name.clone().flatten())
                    .bind(update.pending_email.is_some())
                    .bind(update.pending_email.clone().flatten())
                    .bind(&update.email)
                    .bind(update.preferences.as_ref().map(Json))
                    .bind(update.llm.is_some())
                    .bind(llm.map(|llm| llm.key_id.as_str()))
                    .bind(llm.map(|llm| llm.nonce.as_slice()))
                    .bind(llm.map(|llm| llm.ciphertext.as_slice()))
                    .bind(llm.map(|llm| llm.last4.as_str()))
                    .bind(llm.and_then(|llm| llm.model.as_deref()))
                    .fetch_optional(&self.writer)
                    .await
                    .map_err(db_error)?;
                    row.as_ref().map(user_from_row).transpose()
                }

                async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
                    insert_session(&self.writer, session).await
                }

                async fn find_session(&self, refresh_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
                    // The writer: a token rotated a moment ago must be seen as rotated.
                    let row = sqlx::query("SELECT * FROM sessions WHERE refresh_hash = $1")
                        .bind(refresh_hash)
                        .fetch_optional(&self.writer)
                        .await
                        .map_err(db_error)?;
                    row.as_ref().map(session_from_row).transpose()
                }

                async fn rotate_session(&self, old: Uuid, new: &SessionRecord) -> Result<bool, StoreError> {
                    let mut tx = self.writer.begin().await.map_err(db_error)?;
                    let revoked =
                        sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                            .bind(old)
                            .bind(Utc::now())
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?
                            .rows_affected();
                    if revoked == 0 {
                        return Ok(false);
                    }
                    insert_session(&mut *tx, new).await?;
                    tx.commit().await.map_err(db_error)?;
                    Ok(true)
                }

                async fn revoke_family(&self, family_id: Uuid) -> Result<u64, StoreError> {
                    let result =
                        sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
                            .bind(family_id)
                            .bind(Utc::now())
                            .execute(&self.writer)
                            .await
                            .map_err(db_error)?;
                    Ok(result.rows_affected())
                }

                async fn revoke_user_sessions(
                    &self,
                    user: UserId,
                    keep_family: Option<Uuid>,
                ) -> Result<u64, StoreError> {
                    let result = sqlx::query(
                        "UPDATE sessions SET revoked_at = $3 WHERE user_id = $1 AND revoked_at IS NULL \
                         AND ($2 IS NULL OR family_id <> $2)",
                    )
                    .bind(user.0)
                    .bind(keep_family)
                    .bind(Utc::now())
                    .execute(&self.writer)
                    .await
                    .map_err(db_error)?;
                    Ok(result.rows_affected())
                }

                async fn unrevoked_sessions(&self, family_id: Uuid) -> Result<Vec<SessionRecord>, StoreError> {
                    // The writer: a revocation a moment ago must be seen.
                    let rows = sqlx::query("SELECT * FROM sessions WHERE family_id = $1 AND revoked_at IS NULL")
                        .bind(family_id)
                        .fetch_all(&self.writer)
                        .await
                        .map_err(db_error)?;
                    rows.iter().map(session_from_row).collect()
                }

                async fn list_user_sessions(&self, user: UserId) -> Result<Vec<SessionRecord>, StoreError> {
                    let rows = sqlx::query("SELECT * FROM sessions WHERE user_id = $1 ORDER BY created_at, id")
                        .bind(user.0)
                        .fetch_all(&self.reader)
                        .await
                        .map_err(db_error)?;
                    rows.iter().map(session_from_row).collect()
                }

                async fn revoke_user_api_keys(&self, user: UserId) -> Result<u64, StoreError> {
                    let result =
                        sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                            .bind(user.0)
                            .bind(Utc::now())
                            .execute(&self.writer)
                            .await
                            .map_err(db_error)?;
                    Ok(result.rows_affected())
                }

                async fn first_admin(&self) -> Result<Option<UserId>, StoreError> {
                    let row = sqlx::query("SELECT user_id FROM first_admin WHERE id = 1")
                        .fetch_optional(&self.reader)
                        .await
                        .map_err(db_error)?;
                    row.map(|row| row.try_get("user_id").map(UserId).map_err(db_error)).transpose()
                }

                async fn put_setup_token(&self, token_hash: &str) -> Result<bool, StoreError> {
                    let result = sqlx::query(
                        "INSERT INTO setup_tokens (id, token_hash, created_at) \
                         SELECT 1, $1, $2 WHERE NOT EXISTS (SELECT 1 FROM first_admin) \
                         ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(token_hash)
                    .bind(Utc::now())
                    .execute(&self.writer)
                    .await
                    .map_err(db_error)?;
                    Ok(result.rows_affected() > 0)
                }

                async fn create_first_admin(
                    &self,
                    user: &UserRecord,
                    token_hash: &str,
                ) -> Result<Option<UserRecord>, StoreError> {
                    let mut tx = self.writer.begin().await.map_err(db_error)?;
                    let taken = sqlx::query("DELETE FROM setup_tokens WHERE id = 1 AND token_hash = $1")
                        .bind(token_hash)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    if taken.rows_affected() == 0 || !claim_admin(&mut tx, user).await? {
                        return Ok(None);
                    }
                    let stored = insert_user(&mut tx, user, "admin").await?;
                    tx.commit().await.map_err(db_error)?;
                    Ok(Some(stored))
                }

                async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, read_only, created_at, revoked_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(key.id)
                    .bind(key.user_id.0)
                    .bind(&key.name)
                    .bind(&key.prefix)
                    .bind(&key.key_hash)
                    .bind(key.read_only)
                    .bind(key.created_at)
                    .bind(key.revoked_at)
                    .execute(&self.writer)
                    .await
                    .map_err(db_error)?;
                    Ok(())
                }

                async fn find_api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
                    let row = sqlx::query("SELECT * FROM api_keys WHERE key_hash = $1")
                        .bind(key_hash)
                        .fetch_optional(&self.reader)
                        .await
                        .map_err(db_error)?;
                    row.as_ref().map(api_key_from_row).transpose()
                }

                async fn list_api_keys(&self, user: UserId) -> Result<Vec<ApiKeyRecord>, StoreError> {
                    let rows = sqlx::query("SELECT * FROM api_keys WHERE user_id = $1 ORDER BY id DESC")
                        .bind(user.0)
                        .fetch_all(&self.reader)
                        .await
                        .map_err(db_error)?;
                    rows.iter().map(api_key_from_row).collect()
                }

                async fn revoke_api_key(&self, user: UserId, id: Uuid) -> Result<bool, StoreError> {
                    let result = sqlx::query(
                        "UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
                    )
                    .bind(id)
                    .bind(user.0)
                    .bind(Utc::now())
                    .execute(&self.writer)
                    .await
                    .map_err(db_error)?;
                    Ok(result.rows_affected() > 0)
                }

                async fn insert_project(&self, project: &ProjectRecord) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO projects (id, owner_id, name, description, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(project.id.0)
                    .bind(project.owner.0)
                    .bind(&project.name)
                    .bind(&project.description)
                    .bind(project.created_at)
                    .bind(project.updated_at)
                    .execute(&self.writer)
                    .await
                    .map_err(db_error)?;
                    Ok(())
                }

                async fn get_project(&self, id: ProjectId) -> Result<Option<ProjectRecord>, StoreError> {
                    let row = sqlx::query("SELECT * FROM projects WHERE id = $1")
                        .bind(id.0)
                        .fetch_optional(&self.reader)
                        .await
                        .map_err(db_error)?;
                    row.as_ref().map(project_from_row).transpose()
                }

                async fn list_projects(&self, owner: Option<UserId>) -> Result<Vec<ProjectRecord>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT * FROM projects WHERE ($1 IS NULL OR owner_id = $1) ORDER BY name, id",
                    )
                    .bind(owner.map(|owner| owner.0))
                    .fetch_all(&self.reader)
                    .await
                    .map_err(db_error)?;
                    rows.iter().map(project_from_row).collect()
                }

                async fn update_project(
                    &self,
                    id: ProjectId,
                    name: Option<&str>,
                    description: Option<&str>,
                ) -> Result<Option<ProjectRecord>, StoreError> {
                    let row = sqlx::query(
                        "UPDATE projects SET name = COALESCE($2, name), description = COALESCE($3, description), \
                         updated_at = $4 WHERE id = $1 RETURNING *",
                    )
                    .bind(id.0)
                    .bind(name)
                    .bind(description)
                    .bind(Utc::now())
                    .fetch_optional(&self.writer)
                    .await
                    .map_err(db_error)?;
                    row.as_ref().map(project_from_row).transpose()
                }

                async fn delete_project(&self, id: ProjectId) -> Result<bool, StoreError> {
                    let mut tx = self.writer.begin().await.map_err(db_error)?;
                    sqlx::query("UPDATE executions SET project_id = NULL WHERE project_id = $1")
                        .bind(id.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    let deleted = sqlx::query("DELETE FROM projects WHERE id = $1")
                        .bind(id.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?
                        .rows_affected();
                    tx.commit().await.map_err(db_error)?;
                    Ok(deleted > 0)
                }

                async fn audit(&self, record: &AuditRecord) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO audit_log (id, at, actor_id, action, target, ip, details) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(record.id)
                    .bind(record.at)
                    .bind(record.actor.map(|actor| actor.0))
                    .bind(&record.action)
                    .bind(&record.target)
                    .bind(&record.ip)
                    .bind(Json(&record.details))
                    .execute(&self.writer)
                    .await
                    .map_err(db_error)?;
                    Ok(())
                }

                async fn list_audit(&self, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
                    let rows = sqlx::query("SELECT * FROM audit_log ORDER BY id DESC LIMIT $1")
                        .bind(i64::from(limit))
                        .fetch_all(&self.reader)
                        .await
                        .map_err(db_error)?;
                    rows.iter().map(audit_from_row).collect()
                }

                async fn put_export(&self, export: &ExportRecord) -> Result<(), StoreError> {
                    let sealed = export.sealed.as_ref();
                    sqlx::query(
                        "INSERT INTO exports (id, user_id, status, key_id, nonce, ciphertext, size, error, created_at, \
                         expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                         ON CONFLICT (id) DO UPDATE SET status = excluded.status, key_id = excluded.key_id, \
                         nonce = excluded.nonce, ciphertext = excluded.ciphertext, size = excluded.size, \
                         error = excluded.error, expires_at = excluded.expires_at",
                    )
                    .bind(export.id)
                    .bind(export.user_id.0)
                    .bind(&export.status)
                    .bind(sealed.map(|(key_id, _, _)| key_id.as_str()))
                    .bind(sealed.map(|(_, nonce, _)| nonce.as_slice()))
                    .bind(sealed.map(|(_, _, ciphertext)| ciphertext.as_slice()))
                    .bind(export.size as i64)
                    .bind(&export.error)
                    .bind(export.created_at)
                    .bind(export.expires_at)
                    .execute(&self.writer)
                    .await
                    .map_err(db_error)?;
                    Ok(())
                }

                async fn get_export(&self, user: UserId, id: Uuid) -> Result<Option<ExportRecord>, StoreError> {
                    let row = sqlx::query("SELECT * FROM exports WHERE id = $1 AND user_id = $2")
                        .bind(id)
                        .bind(user.0)
                        .fetch_optional(&self.writer)
                        .await
                        .map_err(db_error)?;
                    let Some(row) = row else { return Ok(None) };
                    let key_id: Option<String> = row.try_get("key_id").map_err(db_error)?;
                    Ok(Some(ExportRecord {
                        id,
                        user_id: user,
                        status: row.try_get("status").map_err(db_error)?,
                        sealed: match key_id {
                            Some(key_id) => Some((
                                key_id,
                                row.try_get("nonce").map_err(db_error)?,
                                row.try_get("ciphertext").map_err(db_error)?,
                            )),
                            None => None,
                        },
                        size: row.try_get::<i64, _>("size").map_err(db_error)? as u64,
                        error: row.try_get("error").map_err(db_error)?,
                        created_at: row.try_get("created_at").map_err(db_error)?,
                        expires_at: row.try_get("expires_at").map_err(db_error)?,
                    }))
                }

                async fn purge_exports(&self, now: chrono::DateTime<Utc>) -> Result<u64, StoreError> {
                    let removed = sqlx::query("DELETE FROM exports WHERE expires_at < $1")
                        .bind(now)
                        .execute(&self.writer)
                        .await
                        .map_err(db_error)?
                        .rows_affected();
                    Ok(removed)
                }

                async fn purge_sessions(&self, before: chrono::DateTime<Utc>) -> Result<u64, StoreError> {
                    let removed = sqlx::query(
                        "DELETE FROM sessions WHERE (revoked_at IS NOT NULL AND revoked_at < $1) OR expires_at < $1",
                    )
                    .bind(before)
                    .execute(&self.writer)
                    .await
                    .map_err(db_error)?
                    .rows_affected();
                    Ok(removed)
                }

                async fn unverified_before(&self, before: chrono::DateTime<Utc>) -> Result<Vec<UserId>, StoreError> {
                    let ids: Vec<Uuid> = sqlx::query_scalar(
                        "SELECT id FROM users WHERE email_verified_at IS NULL AND role <> 'admin' AND created_at < $1 \
                         ORDER BY created_at LIMIT 1000",
                    )
                    .bind(before)
                    .fetch_all(&self.writer)
                    .await
                    .map_err(db_error)?;
                    Ok(ids.into_iter().map(UserId).collect())
                }

                async fn other_admins(&self, user: UserId) -> Result<u64, StoreError> {
                    let count: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = $2 AND id <> $1",
                    )
                    .bind(user.0)
                    .bind(false)
                    .fetch_one(&self.writer)
                    .await
                    .map_err(db_error)?;
                    Ok(count as u64)
                }

                async fn delete_user(&self, user: UserId) -> Result<bool, StoreError> {
                    let mut tx = self.writer.begin().await.map_err(db_error)?;
                    sqlx::query("DELETE FROM projects WHERE owner_id = $1")
                        .bind(user.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    // Earlier rows keep what happened and when, not to whom or from where.
                    sqlx::query(
                        "UPDATE audit_log SET ip = NULL, details = $3, \
                         actor_id = CASE WHEN actor_id = $1 THEN NULL ELSE actor_id END, \
                         target = CASE WHEN target = $2 THEN NULL ELSE target END \
                         WHERE actor_id = $1 OR target = $2",
                    )
                    .bind(user.0)
                    .bind(user.0.to_string())
                    .bind(Json(Value::Object(Default::default())))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    // Sessions, API keys, mailed tokens and files cascade.
                    let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
                        .bind(user.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?
                        .rows_affected();
                    tx.commit().await.map_err(db_error)?;
                    Ok(deleted > 0)
                }

                async fn scrub(&self) -> Result<(), StoreError> {
                    use super::super::ScrubFiles;
                    self.writer.scrub_files().await
                }

                async fn insert_account_token(&self, token: &AccountToken) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO account_tokens (id, user_id, purpose, token_hash, email, created_at, expires_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(token.id)
                    .bind(token.user_id.0)
                    .bind(token.purpose.as_str())
                    .bind(&token.token_hash)
                    .bind(&token.email)
                    .bind(token.created_at)
                    .bind(token.expires_at)
                    .execute(&self.writer)
                    .await
                    .map_err(db_error)?;
                    Ok(())
                }

                async fn use_account_token(
                    &self,
                    token_hash: &str,
                    purpose: TokenPurpose,
                    now: chrono::DateTime<Utc>,
                ) -> Result<Option<AccountToken>, StoreError> {
                    let mut tx = self.writer.begin().await.map_err(db_error)?;
                    // Spent by whoever updates it first; an expired one is spent too.
                    let row = sqlx::query(
                        "UPDATE account_tokens SET used_at = $3 WHERE token_hash = $1 AND purpose = $2 \
                         AND used_at IS NULL RETURNING *",
                    )
                    .bind(token_hash)
                    .bind(purpose.as_str())
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    let Some(row) = row else { return Ok(None) };
                    let token = AccountToken {
                        id: row.try_get("id").map_err(db_error)?,
                        user_id: UserId(row.try_get("user_id").map_err(db_error)?),
                        purpose,
                        token_hash: row.try_get("token_hash").map_err(db_error)?,
                        email: row.try_get("email").map_err(db_error)?,
                        created_at: row.try_get("created_at").map_err(db_error)?,
                        expires_at: row.try_get("expires_at").map_err(db_error)?,
                    };
                    if token.expires_at <= now {
                        tx.commit().await.map_err(db_error)?;
                        return Ok(None);
                    }
                    // The account's other tokens of this purpose stop working with it.
                    sqlx::query(
                        "UPDATE account_tokens SET used_at = $3 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
                    )
                    .bind(token.user_id.0)
                    .bind(purpose.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    tx.commit().await.map_err(db_error)?;
                    Ok(Some(token))
                }
            }

            async fn insert_session<'e, E>(executor: E, session: &SessionRecord) -> Result<(), StoreError>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                sqlx::query(
                    "INSERT INTO sessions (id, user_id, family_id, refresh_hash, expires_at, created_at, revoked_at, \
                     user_agent, ip) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(session.id)
                .bind(session.user_id.0)
                .bind(session.family_id)
                .bind(&session.refresh_hash)
                .bind(session.expires_at)
                .bind(session.created_at)
                .bind(session.revoked_at)
                .bind(&session.user_agent)
                .bind(&session.ip)
                .execute(executor)
                .await
                .map_err(db_error)?;
                Ok(())
            }
        }
    };
}
