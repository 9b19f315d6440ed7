//! Authentication: accounts, logins, refresh-token rotation with reuse detection, API keys and
//! the audit trail of it all. HTTP-free; the gateway's handlers call it.

pub mod password;
pub mod tokens;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use troupe_runtime::accounts::{AccountStore, ApiKeyRecord, AuditRecord, Role, SessionRecord, UserRecord, UserUpdate};
use troupe_runtime::ids::UserId;
use troupe_runtime::store::StoreError;
use uuid::Uuid;

pub use password::{HashCost, Passwords};
pub use tokens::Jwt;

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest password accepted (argon2 takes any length, but nobody needs a megabyte).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Returned by authentication operations.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown email or wrong password (deliberately not told apart).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// The account is disabled.
    #[error("the account is disabled")]
    Disabled,
    /// A token that is missing, malformed, expired, revoked or foreign.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// A refresh token was presented again after it was rotated: the family is revoked.
    #[error("the refresh token was already used; every session of this login is revoked")]
    RefreshReused,
    /// The email is taken.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing failed.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Where a request came from (for sessions and the audit log).
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    /// The peer address.
    pub ip: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
}

/// Tokens handed out by a login or a refresh.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The JWT.
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in: u64,
    /// The new refresh token (shown once).
    pub refresh_token: String,
    /// The user.
    pub user: UserRecord,
}

/// Who is calling, once authenticated.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The user (as stored now: current role, not the token's).
    pub user: UserRecord,
    /// The login the access token belongs to.
    pub family: Option<Uuid>,
    /// The API key used, if any.
    pub api_key: Option<Uuid>,
    /// Whether only safe methods are allowed.
    pub read_only: bool,
}

impl Caller {
    /// The caller's user id.
    pub fn id(&self) -> UserId {
        self.user.id
    }

    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }
}

/// The authentication service.
#[derive(Clone)]
pub struct Auth {
    store: Arc<dyn AccountStore>,
    passwords: Passwords,
    jwt: Jwt,
    refresh_ttl: Duration,
}

impl Auth {
    /// Builds the service.
    pub fn new(store: Arc<dyn AccountStore>, passwords: Passwords, jwt: Jwt, refresh_ttl: Duration) -> Self {
        Self { store, passwords, jwt, refresh_ttl }
    }

    /// The account store.
    pub fn store(&self) -> &Arc<dyn AccountStore> {
        &self.store
    }

    /// Creates an account; the first account of the installation is an admin.
    pub async fn create_user(
        &self,
        email: &str,
        password: &str,
        name: Option<String>,
        role: Role,
    ) -> Result<UserRecord, AuthError> {
        let password_hash =
            self.passwords.hash(password.to_owned()).await.map_err(|error| AuthError::Internal(error.to_string()))?;
        let now = Utc::now();
        let user = UserRecord {
            id: UserId::new(),
            email: normalize_email(email),
            name,
            password_hash,
            role,
            disabled: false,
            created_at: now,
            updated_at: now,
            last_login_at: None,
            budget: None,
        };
        match self.store.create_user(&user, true).await {
            Ok(user) => {
                self.audit(Some(user.id), "user_created", Some(user.id.to_string()), None, json!({"role": user.role}))
                    .await;
                Ok(user)
            }
            Err(StoreError::Conflict(_)) => Err(AuthError::EmailTaken),
            Err(error) => Err(error.into()),
        }
    }

    /// Checks a password and opens a session.
    pub async fn login(&self, email: &str, password: &str, client: &ClientInfo) -> Result<Issued, AuthError> {
        let email = normalize_email(email);
        let user = self.store.get_user_by_email(&email).await?;
        let verified = self.passwords.verify(password.to_owned(), user.as_ref().map(|u| u.password_hash.clone())).await;
        let user = match user {
            Some(user) if verified => user,
            user => {
                self.audit(user.map(|u| u.id), "login_failed", None, client.ip.clone(), json!({"email": email})).await;
                return Err(AuthError::InvalidCredentials);
            }
        };
        if user.disabled {
            self.audit(Some(user.id), "login_refused_disabled", None, client.ip.clone(), Value::Null).await;
            return Err(AuthError::Disabled);
        }
        let user = self
            .store
            .update_user(user.id, &UserUpdate { last_login_at: Some(Utc::now()), ..UserUpdate::default() })
            .await?
            .unwrap_or(user);
        let issued = self.open_session(user, Uuid::now_v7(), None, client).await?;
        self.audit(Some(issued.user.id), "login", None, client.ip.clone(), Value::Null).await;
        Ok(issued)
    }

    /// Exchanges a refresh token for new tokens, rotating it. Presenting a token that was
    /// already rotated revokes its whole family.
    pub async fn refresh(&self, refresh_token: &str, client: &ClientInfo) -> Result<Issued, AuthError> {
        const INVALID: AuthError = AuthError::Unauthenticated("invalid or expired refresh token");
        if !refresh_token.starts_with(tokens::REFRESH_PREFIX) {
            return Err(INVALID);
        }
        let Some(session) = self.store.find_session(&tokens::digest(refresh_token)).await? else {
            return Err(INVALID);
        };
        if session.revoked_at.is_some() {
            let revoked = self.store.revoke_family(session.family_id).await?;
            self.audit(
                Some(session.user_id),
                "refresh_reuse",
                Some(session.family_id.to_string()),
                client.ip.clone(),
                json!({"sessions_revoked": revoked}),
            )
            .await;
            return Err(AuthError::RefreshReused);
        }
        if session.expires_at <= Utc::now() {
            return Err(INVALID);
        }
        let user = self.store.get_user(session.user_id).await?.ok_or(INVALID)?;
        if user.disabled {
            return Err(AuthError::Disabled);
        }
        self.open_session(user, session.family_id, Some(session.id), client).await
    }

    /// Revokes the login a refresh token belongs to, if it is the caller's.
    pub async fn logout(&self, caller: &Caller, refresh_token: Option<&str>) -> Result<(), AuthError> {
        let family = match refresh_token {
            Some(token) => match self.store.find_session(&tokens::digest(token)).await? {
                Some(session) if session.user_id == caller.id() => Some(session.family_id),
                _ => return Err(AuthError::Unauthenticated("invalid refresh token")),
            },
            None => caller.family,
        };
        if let Some(family) = family {
            self.store.revoke_family(family).await?;
        }
        self.audit(Some(caller.id()), "logout", family.map(|f| f.to_string()), None, Value::Null).await;
        Ok(())
    }

    /// Changes the caller's password and revokes their other logins.
    pub async fn change_password(&self, caller: &Caller, current: &str, new: &str) -> Result<(), AuthError> {
        if !self.passwords.verify(current.to_owned(), Some(caller.user.password_hash.clone())).await {
            return Err(AuthError::InvalidCredentials);
        }
        let password_hash =
            self.passwords.hash(new.to_owned()).await.map_err(|error| AuthError::Internal(error.to_string()))?;
        self.store
            .update_user(caller.id(), &UserUpdate { password_hash: Some(password_hash), ..UserUpdate::default() })
            .await?;
        let revoked = self.store.revoke_user_sessions(caller.id(), caller.family).await?;
        self.audit(Some(caller.id()), "password_changed", None, None, json!({"sessions_revoked": revoked})).await;
        Ok(())
    }

    /// Resolves a bearer credential (a JWT or an API key) to its caller.
    pub async fn authenticate(&self, credential: &str) -> Result<Caller, AuthError> {
        if credential.starts_with(tokens::API_KEY_PREFIX) {
            let key = self
                .store
                .find_api_key(&tokens::digest(credential))
                .await?
                .filter(|key| key.revoked_at.is_none())
                .ok_or(AuthError::Unauthenticated("invalid or revoked API key"))?;
            let user = self.active_user(key.user_id).await?;
            return Ok(Caller { user, family: None, api_key: Some(key.id), read_only: key.read_only });
        }
        let claims =
            self.jwt.verify(credential).map_err(|_| AuthError::Unauthenticated("invalid or expired access token"))?;
        let user = self.active_user(claims.sub).await?;
        Ok(Caller { user, family: Some(claims.sid), api_key: None, read_only: false })
    }

    /// The rate-limit bucket of a credential: its user for a valid access token (however many
    /// logins the user has), the credential itself otherwise (an API key, or garbage). Only a
    /// signature check, no store access.
    pub fn rate_key(&self, credential: &str) -> String {
        if !credential.starts_with(tokens::API_KEY_PREFIX)
            && let Ok(claims) = self.jwt.verify(credential)
        {
            return format!("user:{}", claims.sub);
        }
        format!("credential:{}", tokens::digest(credential))
    }

    /// Creates an API key for the caller; returns the record and the key (shown once).
    pub async fn create_api_key(
        &self,
        caller: &Caller,
        name: String,
        read_only: bool,
    ) -> Result<(ApiKeyRecord, String), AuthError> {
        let key = tokens::random_token(tokens::API_KEY_PREFIX);
        let record = ApiKeyRecord {
            id: Uuid::now_v7(),
            user_id: caller.id(),
            name,
            prefix: key[..tokens::API_KEY_PREFIX.len() + 6].to_owned(),
            key_hash: tokens::digest(&key),
            read_only,
            created_at: Utc::now(),
            revoked_at: None,
        };
        self.store.insert_api_key(&record).await?;
        self.audit(
            Some(caller.id()),
            "api_key_created",
            Some(record.id.to_string()),
            None,
            json!({"read_only": read_only}),
        )
        .await;
        Ok((record, key))
    }

    /// Appends to the audit log; a failure is logged, never fatal to the request.
    pub async fn audit(
        &self,
        actor: Option<UserId>,
        action: &str,
        target: Option<String>,
        ip: Option<String>,
        details: Value,
    ) {
        let record =
            AuditRecord { id: Uuid::now_v7(), at: Utc::now(), actor, action: action.to_owned(), target, ip, details };
        tracing::info!(target: "troupe::audit", action, actor = ?record.actor, target = ?record.target, "audit");
        if let Err(error) = self.store.audit(&record).await {
            tracing::warn!(%error, action, "failed to write the audit log");
        }
    }

    async fn active_user(&self, id: UserId) -> Result<UserRecord, AuthError> {
        match self.store.get_user(id).await? {
            Some(user) if !user.disabled => Ok(user),
            Some(_) => Err(AuthError::Disabled),
            None => Err(AuthError::Unauthenticated("unknown user")),
        }
    }

    async fn open_session(
        &self,
        user: UserRecord,
        family: Uuid,
        replaces: Option<Uuid>,
        client: &ClientInfo,
    ) -> Result<Issued, AuthError> {
        let refresh_token = tokens::random_token(tokens::REFRESH_PREFIX);
        let now = Utc::now();
        let session = SessionRecord {
            id: Uuid::now_v7(),
            user_id: user.id,
            family_id: family,
            refresh_hash: tokens::digest(&refresh_token),
            expires_at: now + self.refresh_ttl,
            created_at: now,
            revoked_at: None,
            user_agent: client.user_agent.as_ref().map(|agent| agent.chars().take(256).collect()),
            ip: client.ip.clone(),
        };
        match replaces {
            None => self.store.insert_session(&session).await?,
            Some(old) => {
                if !self.store.rotate_session(old, &session).await? {
                    // Rotated concurrently by someone else holding the same token: reuse.
                    self.store.revoke_family(family).await?;
                    self.audit(
                        Some(user.id),
                        "refresh_reuse",
                        Some(family.to_string()),
                        client.ip.clone(),
                        Value::Null,
                    )
                    .await;
                    return Err(AuthError::RefreshReused);
                }
            }
        }
        Ok(Issued {
            access_token: self.jwt.issue(user.id, user.role, family),
            expires_in: self.jwt.ttl.as_secs(),
            refresh_token,
            user,
        })
    }
}

/// Emails are compared case-insensitively and without surrounding spaces.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}
