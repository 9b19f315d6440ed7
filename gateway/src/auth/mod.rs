//! Authentication: accounts, logins, refresh-token rotation with reuse detection, API keys and
//! the audit trail of it all. HTTP-free; the gateway's handlers call it.

pub mod cache;
pub mod mailed;
pub mod password;
pub mod throttle;
pub mod tokens;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use troupe_runtime::accounts::{AccountStore, ApiKeyRecord, AuditRecord, Role, SessionRecord, UserRecord, UserUpdate};
use troupe_runtime::ids::UserId;
use troupe_runtime::store::StoreError;
use uuid::Uuid;

pub use password::{Busy, HashCost, Passwords};
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
    /// Too many passwords are being checked: retry in a moment.
    #[error(transparent)]
    Busy(#[from] Busy),
    /// The setup token is wrong, used, or setup is done.
    #[error("invalid setup token, or setup is done")]
    SetupRefused,
    /// Hashing failed.
    #[error("internal error: {0}")]
    Internal(String),
    /// Too many mails were asked for this address or from this client.
    #[error("too many mails were asked for; try again later")]
    MailLimited,
    /// This server sends no mail (production without `TROUPE_SMTP_URL`).
    #[error("this server sends no mail: email verification and password reset need TROUPE_SMTP_URL")]
    MailOff,
    /// A mailed token that is unknown, used, expired, or for an address the account no longer has.
    #[error("the code is invalid, used or expired; ask for a new one")]
    BadMailToken,
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
    /// When the access token expires (`None` for an API key).
    pub expires_at: Option<DateTime<Utc>>,
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

/// One login of a user (a family of refresh-token sessions), as the user sees it.
#[derive(Clone, Debug)]
pub struct Login {
    /// Its id (the session family).
    pub id: Uuid,
    /// The device's user agent when it logged in.
    pub device: Option<String>,
    /// The address it logged in from.
    pub address: Option<String>,
    /// When it logged in.
    pub created_at: DateTime<Utc>,
    /// When its tokens were last refreshed (or issued).
    pub last_used_at: DateTime<Utc>,
    /// Whether the caller's own access token belongs to it.
    pub current: bool,
}

/// The authentication service.
#[derive(Clone)]
pub struct Auth {
    store: Arc<dyn AccountStore>,
    passwords: Passwords,
    jwt: Jwt,
    refresh_ttl: Duration,
    cache: Arc<cache::CredentialCache>,
    throttle: Arc<throttle::LoginThrottle>,
    mail: mailed::SharedMail,
}

impl Auth {
    /// Builds the service.
    pub fn new(store: Arc<dyn AccountStore>, passwords: Passwords, jwt: Jwt, refresh_ttl: Duration) -> Self {
        let mail = Arc::new(mailed::AccountMail::off());
        Self { store, passwords, jwt, refresh_ttl, cache: Arc::default(), throttle: Arc::default(), mail }
    }

    /// Sends account mail (verification, password reset) through `mail`.
    pub fn with_mail(mut self, mail: mailed::AccountMail) -> Self {
        self.mail = Arc::new(mail);
        self
    }

    /// Whether `password` is `user`'s.
    pub async fn check_password(&self, user: &UserRecord, password: &str) -> Result<bool, AuthError> {
        Ok(self.passwords.verify(password.to_owned(), Some(user.password_hash.clone())).await?)
    }

    /// Mails `address` a notice (no token in it), where this server sends mail.
    pub fn mail_notice(&self, address: &str, subject: &str, body: String) {
        self.mail.notice(address, subject, body);
    }

    /// Account deletion: forgets the mails kept for `address` (the development outbox).
    pub fn forget_mail_to(&self, address: &str) -> usize {
        self.mail.forget_recipient(address)
    }

    /// Whether this server sends mail.
    pub fn sends_mail(&self) -> bool {
        self.mail.is_on()
    }

    /// How long access tokens live.
    pub fn access_ttl(&self) -> Duration {
        self.jwt.ttl
    }

    /// Tells the credential cache that a user changed here (role, disabled, budget, keys).
    pub fn user_changed(&self, id: UserId) {
        self.cache.forget_user(id);
    }

    /// The account store.
    pub fn store(&self) -> &Arc<dyn AccountStore> {
        &self.store
    }

    /// Creates an account; with `claim_first_admin` it becomes the first admin (role `admin`)
    /// unless somebody already did. `verified`: its address counts as verified (an operator
    /// created it); else it is not until the owner uses the mailed code.
    pub async fn create_user(
        &self,
        email: &str,
        password: &str,
        name: Option<String>,
        role: Role,
        claim_first_admin: bool,
        verified: bool,
    ) -> Result<UserRecord, AuthError> {
        let mut user = self.new_user(email, password, name, role).await?;
        if verified {
            user.email_verified_at = Some(user.created_at);
        }
        match self.store.create_user(&user, claim_first_admin).await {
            Ok(user) => {
                self.audit(Some(user.id), "user_created", Some(user.id.to_string()), None, json!({"role": user.role}))
                    .await;
                Ok(user)
            }
            Err(StoreError::Conflict(_)) => Err(AuthError::EmailTaken),
            Err(error) => Err(error.into()),
        }
    }

    /// A user record with a freshly hashed password, not yet stored.
    async fn new_user(
        &self,
        email: &str,
        password: &str,
        name: Option<String>,
        role: Role,
    ) -> Result<UserRecord, AuthError> {
        let password_hash = self.passwords.hash(password.to_owned()).await?.map_err(AuthError::Internal)?;
        let now = Utc::now();
        Ok(UserRecord {
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
            email_verified_at: None,
            pending_email: None,
            preferences: json!({}),
            llm: None,
        })
    }

    /// Checks a password and opens a session.
    pub async fn login(&self, email: &str, password: &str, client: &ClientInfo) -> Result<Issued, AuthError> {
        let email = normalize_email(email);
        let address = client.ip.as_ref().map(|ip| format!("address:{ip}"));
        // Each failure of this account (or from this address) makes the next attempt wait.
        let delay =
            self.throttle.delay(&email).max(address.as_deref().map_or(Duration::ZERO, |a| self.throttle.delay(a)));
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let user = self.store.get_user_by_email(&email).await?;
        let verified =
            self.passwords.verify(password.to_owned(), user.as_ref().map(|u| u.password_hash.clone())).await?;
        let user = match user {
            Some(user) if verified => user,
            user => {
                self.throttle.failed(&email);
                if let Some(address) = &address {
                    self.throttle.failed(address);
                }
                self.audit(user.map(|u| u.id), "login_failed", None, client.ip.clone(), json!({"email": email})).await;
                return Err(AuthError::InvalidCredentials);
            }
        };
        self.throttle.succeeded(&email);
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
            self.cache.forget_family(family);
        }
        self.audit(Some(caller.id()), "logout", family.map(|f| f.to_string()), None, Value::Null).await;
        Ok(())
    }

    /// Changes the caller's password, revokes their other logins and — unless
    /// `revoke_api_keys` is false — their API keys.
    pub async fn change_password(
        &self,
        caller: &Caller,
        current: &str,
        new: &str,
        revoke_api_keys: bool,
    ) -> Result<(), AuthError> {
        if !self.passwords.verify(current.to_owned(), Some(caller.user.password_hash.clone())).await? {
            return Err(AuthError::InvalidCredentials);
        }
        let password_hash = self.passwords.hash(new.to_owned()).await?.map_err(AuthError::Internal)?;
        self.store
            .update_user(caller.id(), &UserUpdate { password_hash: Some(password_hash), ..UserUpdate::default() })
            .await?;
        let revoked = self.store.revoke_user_sessions(caller.id(), caller.family).await?;
        let keys = if revoke_api_keys { self.store.revoke_user_api_keys(caller.id()).await? } else { 0 };
        self.cache.forget_user(caller.id());
        self.cache.forget_families();
        self.audit(
            Some(caller.id()),
            "password_changed",
            None,
            None,
            json!({"sessions_revoked": revoked, "api_keys_revoked": keys}),
        )
        .await;
        Ok(())
    }

    /// Lists the caller's active logins, newest first.
    pub async fn logins(&self, caller: &Caller) -> Result<Vec<Login>, AuthError> {
        let now = Utc::now();
        let mut logins: Vec<Login> = Vec::new();
        for session in self.store.list_user_sessions(caller.id()).await? {
            match logins.iter_mut().find(|login| login.id == session.family_id) {
                Some(login) => {
                    login.last_used_at = login.last_used_at.max(session.created_at);
                    // An active login is one whose newest token still works.
                    login.current = login.current || (session.revoked_at.is_none() && session.expires_at > now);
                }
                None => logins.push(Login {
                    id: session.family_id,
                    device: session.user_agent.clone(),
                    address: session.ip.clone(),
                    created_at: session.created_at,
                    last_used_at: session.created_at,
                    current: session.revoked_at.is_none() && session.expires_at > now,
                }),
            }
        }
        // `current` held "active" while folding; keep the active ones and mark the caller's.
        let mut active: Vec<Login> = logins
            .into_iter()
            .filter(|login| login.current)
            .map(|login| Login { current: caller.family == Some(login.id), ..login })
            .collect();
        active.sort_by_key(|login| std::cmp::Reverse(login.last_used_at));
        Ok(active)
    }

    /// Ends one of the caller's logins (its access tokens stop working); returns whether it
    /// was one of theirs and active.
    pub async fn end_login(&self, caller: &Caller, id: Uuid) -> Result<bool, AuthError> {
        let sessions = self.store.unrevoked_sessions(id).await?;
        if !sessions.iter().any(|session| session.user_id == caller.id()) {
            return Ok(false);
        }
        self.store.revoke_family(id).await?;
        self.cache.forget_family(id);
        self.audit(Some(caller.id()), "session_ended", Some(id.to_string()), None, Value::Null).await;
        Ok(true)
    }

    /// Creates the one-time setup token when the installation has no user and none exists;
    /// returns it (to be written where only the operator can read it), or `None`.
    pub async fn ensure_setup_token(&self) -> Result<Option<String>, AuthError> {
        let token = tokens::random_token(tokens::SETUP_PREFIX);
        Ok(self.store.put_setup_token(&tokens::digest(&token)).await?.then_some(token))
    }

    /// Creates the first admin with the setup token, which works once: consuming it, claiming
    /// the first admin and creating the account are one transaction, so a failure (a taken
    /// email) keeps the token and two racing requests never make two admins.
    pub async fn setup(
        &self,
        token: &str,
        email: &str,
        password: &str,
        name: Option<String>,
    ) -> Result<UserRecord, AuthError> {
        if token.starts_with(tokens::SETUP_PREFIX) {
            let mut user = self.new_user(email, password, name, Role::Admin).await?;
            user.email_verified_at = Some(user.created_at);
            match self.store.create_first_admin(&user, &tokens::digest(token)).await {
                Ok(Some(user)) => {
                    self.audit(Some(user.id), "setup_done", Some(user.id.to_string()), None, Value::Null).await;
                    return Ok(user);
                }
                Ok(None) => {}
                Err(StoreError::Conflict(_)) => return Err(AuthError::EmailTaken),
                Err(error) => return Err(error.into()),
            }
        }
        self.audit(None, "setup_refused", None, None, Value::Null).await;
        Err(AuthError::SetupRefused)
    }

    /// Resolves a bearer credential (a JWT or an API key) to its caller.
    pub async fn authenticate(&self, credential: &str) -> Result<Caller, AuthError> {
        if credential.starts_with(tokens::API_KEY_PREFIX) {
            let key = self.api_key(&tokens::digest(credential)).await?;
            let user = self.active_user(key.user_id).await?;
            return Ok(Caller {
                user,
                family: None,
                api_key: Some(key.id),
                read_only: key.read_only,
                expires_at: None,
            });
        }
        let claims =
            self.jwt.verify(credential).map_err(|_| AuthError::Unauthenticated("invalid or expired access token"))?;
        if !self.login_active(claims.sid).await? {
            return Err(AuthError::Unauthenticated("the session has ended"));
        }
        let user = self.active_user(claims.sub).await?;
        let expires_at = DateTime::from_timestamp(claims.exp, 0);
        Ok(Caller { user, family: Some(claims.sid), api_key: None, read_only: false, expires_at })
    }

    /// Checks that an authenticated caller still is one: the token has not expired, its login
    /// has not ended, its key is not revoked, its user is not disabled. WebSockets call it on
    /// every subscription and periodically.
    pub async fn recheck(&self, caller: &Caller) -> Result<(), AuthError> {
        if caller.expires_at.is_some_and(|expires| expires <= Utc::now()) {
            return Err(AuthError::Unauthenticated("the access token has expired"));
        }
        if let Some(family) = caller.family
            && !self.login_active(family).await?
        {
            return Err(AuthError::Unauthenticated("the session has ended"));
        }
        if let Some(key) = caller.api_key {
            let keys = self.store.list_api_keys(caller.id()).await?;
            if !keys.iter().any(|record| record.id == key && record.revoked_at.is_none()) {
                return Err(AuthError::Unauthenticated("the API key was revoked"));
            }
        }
        self.active_user(caller.id()).await.map(drop)
    }

    async fn api_key(&self, digest: &str) -> Result<ApiKeyRecord, AuthError> {
        let key = match self.cache.key(digest) {
            Some(key) => key,
            None => {
                let key = self.store.find_api_key(digest).await?;
                self.cache.put_key(digest.to_owned(), key.clone());
                key
            }
        };
        key.filter(|key| key.revoked_at.is_none()).ok_or(AuthError::Unauthenticated("invalid or revoked API key"))
    }

    async fn login_active(&self, family: Uuid) -> Result<bool, AuthError> {
        if let Some(active) = self.cache.family(family) {
            return Ok(active);
        }
        let now = Utc::now();
        let active = self.store.unrevoked_sessions(family).await?.iter().any(|session| session.expires_at > now);
        self.cache.put_family(family, active);
        Ok(active)
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
        let user = match self.cache.user(id) {
            Some(user) => user,
            None => {
                let user = self.store.get_user(id).await?;
                self.cache.put_user(id, user.clone());
                user
            }
        };
        match user {
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
