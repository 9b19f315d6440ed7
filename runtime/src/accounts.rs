//! The `AccountStore` port: users, sessions (refresh-token families), API keys, projects and
//! the audit log — what the gateway needs to authenticate callers and check ownership.
//!
//! Secrets never reach the store in the clear: passwords arrive as argon2id PHC strings,
//! refresh tokens and API keys as SHA-256 digests of high-entropy random values.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{ProjectId, UserId};
use crate::store::StoreError;

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees and manages everything.
    Admin,
    /// A user who may also own research experiments.
    Researcher,
    /// Sees and manages only their own resources.
    User,
}

impl Role {
    /// The role's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Researcher => "researcher",
            Role::User => "user",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "admin" => Ok(Role::Admin),
            "researcher" => Ok(Role::Researcher),
            "user" => Ok(Role::User),
            other => Err(format!("unknown role `{other}` (expected admin, researcher or user)")),
        }
    }
}

/// A user account.
#[derive(Clone, Debug, PartialEq)]
pub struct UserRecord {
    /// The id.
    pub id: UserId,
    /// The login (unique, stored lower-case).
    pub email: String,
    /// A display name.
    pub name: Option<String>,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// The role.
    pub role: Role,
    /// A disabled user cannot log in and every token of theirs is refused.
    pub disabled: bool,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When the user last logged in.
    pub last_login_at: Option<DateTime<Utc>>,
    /// The budget of this user's executions that set none (else the server's default).
    pub budget: Option<crate::pipeline::BudgetDef>,
    /// When the user proved they read mail at `email` (`None`: not yet).
    pub email_verified_at: Option<DateTime<Utc>>,
    /// The address the user asked to change to; it replaces `email` once verified.
    pub pending_email: Option<String>,
    /// The user's own settings for clients (the console's), a JSON object.
    pub preferences: serde_json::Value,
    /// The user's own model provider key (sealed) and model, used for their executions.
    pub llm: Option<UserLlmKey>,
}

/// A user's own model provider key, sealed at rest like memories (AES-256-GCM, bound to the
/// user); the store never sees it in the clear and no API returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct UserLlmKey {
    /// The id of the key that sealed it.
    pub key_id: String,
    /// The nonce.
    pub nonce: Vec<u8>,
    /// The sealed provider key.
    pub ciphertext: Vec<u8>,
    /// The provider key's last four characters, to recognise it.
    pub last4: String,
    /// The model to use (the server's default when `None`).
    pub model: Option<String>,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct UserUpdate {
    /// A new role.
    pub role: Option<Role>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// A new password hash.
    pub password_hash: Option<String>,
    /// Record a login at this time.
    pub last_login_at: Option<DateTime<Utc>>,
    /// Set (`Some(Some(..))`) or clear (`Some(None)`) the user's default budget.
    pub budget: Option<Option<crate::pipeline::BudgetDef>>,
    /// Record that the email address was verified at this time.
    pub email_verified_at: Option<DateTime<Utc>>,
    /// Set (`Some(Some(..))`) or clear (`Some(None)`) the display name.
    pub name: Option<Option<String>>,
    /// Set or clear the address the user is changing to.
    pub pending_email: Option<Option<String>>,
    /// A new (verified) email address.
    pub email: Option<String>,
    /// New preferences (a JSON object).
    pub preferences: Option<serde_json::Value>,
    /// Set or clear the user's own model provider key.
    pub llm: Option<Option<UserLlmKey>>,
}

/// An archive of everything a user owns, prepared in the background; sealed at rest.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportRecord {
    /// The id.
    pub id: Uuid,
    /// Whose.
    pub user_id: UserId,
    /// `preparing`, `ready` or `failed`.
    pub status: String,
    /// The sealed archive (key id, nonce, ciphertext) once ready.
    pub sealed: Option<(String, Vec<u8>, Vec<u8>)>,
    /// The archive's size in bytes, once ready.
    pub size: u64,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When it stops being downloadable (and is removed).
    pub expires_at: DateTime<Utc>,
}

/// What a mailed token lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Prove that the account's email address reaches its owner.
    Verify,
    /// Choose a new password without the old one.
    Reset,
}

impl TokenPurpose {
    /// The purpose's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Verify => "verify",
            TokenPurpose::Reset => "reset",
        }
    }
}

/// A single-use token sent by mail; the store keeps its SHA-256 only.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountToken {
    /// The id.
    pub id: Uuid,
    /// The account it acts on.
    pub user_id: UserId,
    /// What it allows.
    pub purpose: TokenPurpose,
    /// SHA-256 of the token (hex).
    pub token_hash: String,
    /// The address it was sent to (a verification proves this address only).
    pub email: String,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// One refresh token of a login. Every refresh replaces the session with a new one of the same
/// family; presenting a replaced (revoked) token again revokes the whole family.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionRecord {
    /// The id.
    pub id: Uuid,
    /// The user.
    pub user_id: UserId,
    /// Every session descended from one login shares this id.
    pub family_id: Uuid,
    /// SHA-256 of the refresh token (hex).
    pub refresh_hash: String,
    /// When the refresh token stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it was revoked (rotated, logged out, or its family revoked).
    pub revoked_at: Option<DateTime<Utc>>,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// The client's address.
    pub ip: Option<String>,
}

/// A long-lived key for programs; it acts as its user.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiKeyRecord {
    /// The id.
    pub id: Uuid,
    /// The user it acts as.
    pub user_id: UserId,
    /// A name chosen by the user.
    pub name: String,
    /// The first characters of the key, to recognise it in lists.
    pub prefix: String,
    /// SHA-256 of the key (hex).
    pub key_hash: String,
    /// A read-only key may only call safe (GET) endpoints.
    pub read_only: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A named group of executions (the SystemCrafter project).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProjectRecord {
    /// The id.
    pub id: ProjectId,
    /// The owner.
    pub owner: UserId,
    /// The name (unique per owner).
    pub name: String,
    /// A description.
    pub description: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A security-relevant action.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditRecord {
    /// The id (time-ordered).
    pub id: Uuid,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who did it (none for a failed login of an unknown user).
    pub actor: Option<UserId>,
    /// What happened, e.g. `login_failed`, `refresh_reuse`, `role_changed`.
    pub action: String,
    /// What it was done to (a user id, a key id, …).
    pub target: Option<String>,
    /// The client's address.
    pub ip: Option<String>,
    /// Anything else worth keeping (never a secret).
    pub details: serde_json::Value,
}

/// Persistence of accounts, sessions, API keys, projects and the audit log.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Inserts a user; when `claim_first_admin` and nobody has become the first admin yet, the
    /// user becomes it (role `admin`, whatever its role says) in the same transaction. Returns
    /// the stored user; a taken email is a `Conflict`.
    async fn create_user(&self, user: &UserRecord, claim_first_admin: bool) -> Result<UserRecord, StoreError>;

    /// Returns a user by id.
    async fn get_user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError>;

    /// Returns a user by (lower-case) email.
    async fn get_user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError>;

    /// Lists users by creation, after the cursor `after`, at most `limit`.
    async fn list_users(&self, after: Option<UserId>, limit: u32) -> Result<Vec<UserRecord>, StoreError>;

    /// Changes a user; returns the new record (`None` when the user does not exist).
    async fn update_user(&self, id: UserId, update: &UserUpdate) -> Result<Option<UserRecord>, StoreError>;

    /// Stores a new session.
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError>;

    /// Returns the session whose refresh token has this hash.
    async fn find_session(&self, refresh_hash: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// Revokes `old` and stores `new` in one transaction, only if `old` was still active;
    /// returns whether it was (false: the token was used concurrently — treat as reuse).
    async fn rotate_session(&self, old: Uuid, new: &SessionRecord) -> Result<bool, StoreError>;

    /// Revokes every session of a family; returns how many were active.
    async fn revoke_family(&self, family_id: Uuid) -> Result<u64, StoreError>;

    /// Revokes every active session of a user except those of `keep_family`.
    async fn revoke_user_sessions(&self, user: UserId, keep_family: Option<Uuid>) -> Result<u64, StoreError>;

    /// Returns the sessions of a family that are not revoked (expired ones included; callers
    /// compare expiry themselves).
    async fn unrevoked_sessions(&self, family_id: Uuid) -> Result<Vec<SessionRecord>, StoreError>;

    /// Returns every session of a user, oldest first (a login is a family of them).
    async fn list_user_sessions(&self, user: UserId) -> Result<Vec<SessionRecord>, StoreError>;

    /// Revokes every active API key of a user; returns how many.
    async fn revoke_user_api_keys(&self, user: UserId) -> Result<u64, StoreError>;

    /// Who became the first admin, if anybody has.
    async fn first_admin(&self) -> Result<Option<UserId>, StoreError>;

    /// Stores the digest of the one-time setup token unless one is stored already or the first
    /// admin exists; returns whether it stored it (exactly one caller wins, whichever node it
    /// runs on).
    async fn put_setup_token(&self, token_hash: &str) -> Result<bool, StoreError>;

    /// In one transaction: consumes the setup token whose digest is `token_hash`, claims the
    /// first admin and inserts `user` as `admin`. `None` when the token is not (or no longer)
    /// the stored one or an admin was claimed already; on any error nothing changes, the token
    /// included.
    async fn create_first_admin(&self, user: &UserRecord, token_hash: &str) -> Result<Option<UserRecord>, StoreError>;

    /// Stores a new API key.
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;

    /// Returns the API key with this hash.
    async fn find_api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// Lists a user's API keys, newest first.
    async fn list_api_keys(&self, user: UserId) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// Revokes one of a user's keys; returns whether it existed and was active.
    async fn revoke_api_key(&self, user: UserId, id: Uuid) -> Result<bool, StoreError>;

    /// Inserts a project; a name the owner already uses is a `Conflict`.
    async fn insert_project(&self, project: &ProjectRecord) -> Result<(), StoreError>;

    /// Returns a project.
    async fn get_project(&self, id: ProjectId) -> Result<Option<ProjectRecord>, StoreError>;

    /// Lists projects by name (every owner's when `owner` is `None`).
    async fn list_projects(&self, owner: Option<UserId>) -> Result<Vec<ProjectRecord>, StoreError>;

    /// Renames a project and/or changes its description; returns the new record.
    async fn update_project(
        &self,
        id: ProjectId,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<Option<ProjectRecord>, StoreError>;

    /// Deletes a project (its executions stay, without a project); returns whether it existed.
    async fn delete_project(&self, id: ProjectId) -> Result<bool, StoreError>;

    /// Appends to the audit log.
    async fn audit(&self, record: &AuditRecord) -> Result<(), StoreError>;

    /// Returns the newest audit records, newest first.
    async fn list_audit(&self, limit: u32) -> Result<Vec<AuditRecord>, StoreError>;

    /// Stores (or replaces) an export.
    async fn put_export(&self, export: &ExportRecord) -> Result<(), StoreError>;

    /// The user's export with this id (with its archive).
    async fn get_export(&self, user: UserId, id: Uuid) -> Result<Option<ExportRecord>, StoreError>;

    /// Removes exports that expired before `now`; returns how many.
    async fn purge_exports(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Retention: removes sessions revoked or expired before `before`; returns how many.
    async fn purge_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Retention: the accounts (not admins) created before `before` whose email was never
    /// verified.
    async fn unverified_before(&self, before: DateTime<Utc>) -> Result<Vec<UserId>, StoreError>;

    /// How many enabled admins there are besides `user`.
    async fn other_admins(&self, user: UserId) -> Result<u64, StoreError>;

    /// Account deletion: removes the user with their projects, sessions, API keys, mailed
    /// tokens and uploaded files, and strips their earlier audit rows of personal data (the
    /// client address, the details and the user's id). Returns whether the user existed.
    async fn delete_user(&self, user: UserId) -> Result<bool, StoreError>;

    /// Makes deleted rows unrecoverable from the database's own files where the engine keeps
    /// them (SQLite: deleted content is zeroed, `secure_delete`, and the write-ahead log is
    /// checkpointed and truncated); nothing to do on PostgreSQL.
    async fn scrub(&self) -> Result<(), StoreError>;

    /// Stores a mailed token.
    async fn insert_account_token(&self, token: &AccountToken) -> Result<(), StoreError>;

    /// Uses the token with this hash and purpose: returns it once if it is unused and not
    /// expired at `now`, and `None` ever after (concurrent uses have one winner). Using a
    /// token also spends the account's other tokens of the same purpose.
    async fn use_account_token(
        &self,
        token_hash: &str,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<AccountToken>, StoreError>;
}
