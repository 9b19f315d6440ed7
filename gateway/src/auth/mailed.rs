//! What a mailed token does: verify an email address, reset a forgotten password.
//!
//! Tokens are random, single-use, expiring, and stored as SHA-256 digests. Requests that
//! send mail are rate-limited per address and per client, and a password-reset request
//! answers the same whether or not the address has an account.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use governor::{DefaultKeyedRateLimiter, Quota};
use serde_json::json;
use troupe_runtime::accounts::{AccountToken, TokenPurpose, UserRecord, UserUpdate};
use uuid::Uuid;

use super::tokens::{digest, random_token};
use super::{Auth, AuthError, ClientInfo, normalize_email};
use crate::mail::Mailer;

/// How long a verification token works.
pub const VERIFY_TTL: Duration = Duration::from_secs(48 * 3600);
/// How long a password-reset token works.
pub const RESET_TTL: Duration = Duration::from_secs(3600);

/// Mails per address: a burst of 3, then one every 10 minutes.
const PER_ADDRESS: (u32, Duration) = (3, Duration::from_secs(600));
/// Mail requests per client address: a burst of 10, then one a minute.
const PER_CLIENT: (u32, Duration) = (10, Duration::from_secs(60));

/// The mailer and what bounds its use.
pub struct AccountMail {
    mailer: Mailer,
    /// The console's address, for links in mails (`None`: the mail gives the bare token).
    public_url: Option<String>,
    per_address: DefaultKeyedRateLimiter<String>,
    per_client: DefaultKeyedRateLimiter<String>,
}

impl AccountMail {
    /// Mail through `mailer`, with links to the console at `public_url`.
    pub fn new(mailer: Mailer, public_url: Option<String>) -> Self {
        let quota = |(burst, period): (u32, Duration)| {
            Quota::with_period(period).expect("a positive period").allow_burst(NonZeroU32::new(burst).expect("a burst"))
        };
        Self {
            mailer,
            public_url: public_url.map(|url| url.trim_end_matches('/').to_owned()),
            per_address: DefaultKeyedRateLimiter::keyed(quota(PER_ADDRESS)),
            per_client: DefaultKeyedRateLimiter::keyed(quota(PER_CLIENT)),
        }
    }

    /// No mail (tests, tools).
    pub fn off() -> Self {
        Self::new(Mailer::off(), None)
    }

    /// Whether mail goes anywhere.
    pub fn is_on(&self) -> bool {
        self.mailer.is_on()
    }

    /// Sends a notice (no token) to `address`, where mail goes anywhere.
    pub fn notice(&self, address: &str, subject: &str, body: String) {
        self.mailer.send(address, subject, body);
    }

    /// Account deletion: forgets the mails kept for `address` (the development outbox).
    pub fn forget_recipient(&self, address: &str) -> usize {
        self.mailer.forget_recipient(address)
    }

    /// Takes one mail of `address` (and of `client`) from the rate limits.
    fn allow(&self, address: &str, client: &ClientInfo) -> Result<(), AuthError> {
        if let Some(ip) = &client.ip
            && self.per_client.check_key(ip).is_err()
        {
            return Err(AuthError::MailLimited);
        }
        if self.per_address.check_key(&address.to_owned()).is_err() {
            return Err(AuthError::MailLimited);
        }
        Ok(())
    }

    fn link(&self, page: &str, token: &str) -> String {
        match &self.public_url {
            Some(url) => format!("\n\nOr open {url}/#/{page}?token={token}\n"),
            None => String::new(),
        }
    }
}

impl Auth {
    /// Issues a single-use token for `user` at `address` and stores its digest.
    async fn issue_mail_token(
        &self,
        user: &UserRecord,
        address: &str,
        purpose: TokenPurpose,
        ttl: Duration,
    ) -> Result<String, AuthError> {
        let token = random_token(match purpose {
            TokenPurpose::Verify => "tv_",
            TokenPurpose::Reset => "tr_",
        });
        let now = Utc::now();
        let record = AccountToken {
            id: Uuid::now_v7(),
            user_id: user.id,
            purpose,
            token_hash: digest(&token),
            email: address.to_owned(),
            created_at: now,
            expires_at: now + chrono::Duration::from_std(ttl).expect("a short ttl"),
        };
        self.store.insert_account_token(&record).await?;
        Ok(token)
    }

    /// Mails `user` a token that verifies `address` — their email, or the one they are
    /// changing to (rate-limited per address and client).
    pub async fn send_verification(
        &self,
        user: &UserRecord,
        address: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        if !self.mail.is_on() {
            return Err(AuthError::MailOff);
        }
        self.mail.allow(address, client)?;
        let token = self.issue_mail_token(user, address, TokenPurpose::Verify, VERIFY_TTL).await?;
        let body = format!(
            "To verify {address} for your troupe account, enter this code in the console or send it to \
             POST /api/v1/auth/verify:\n\n{token}{link}\n\nIt works once, for {hours} hours. If you did not \
             ask for this, ignore this mail.\n",
            link = self.mail.link("verify", &token),
            hours = VERIFY_TTL.as_secs() / 3600,
        );
        self.mail.mailer.send(address, "Verify your email address for troupe", body);
        Ok(())
    }

    /// Spends a verification token: the address it was sent to is verified if it is still the
    /// account's, or becomes the account's email if the user was changing to it.
    pub async fn verify_email(&self, token: &str) -> Result<UserRecord, AuthError> {
        let now = Utc::now();
        let used = self.store.use_account_token(&digest(token), TokenPurpose::Verify, now).await?;
        let Some(used) = used else { return Err(AuthError::BadMailToken) };
        let user = self.store.get_user(used.user_id).await?.ok_or(AuthError::BadMailToken)?;
        let (update, action) = if user.email == used.email {
            (UserUpdate { email_verified_at: Some(now), ..UserUpdate::default() }, "email_verified")
        } else if user.pending_email.as_deref() == Some(used.email.as_str()) {
            let update = UserUpdate {
                email: Some(used.email.clone()),
                pending_email: Some(None),
                email_verified_at: Some(now),
                ..UserUpdate::default()
            };
            (update, "email_changed")
        } else {
            return Err(AuthError::BadMailToken);
        };
        let user = match self.store.update_user(user.id, &update).await {
            Ok(user) => user.ok_or(AuthError::BadMailToken)?,
            Err(troupe_runtime::store::StoreError::Conflict(_)) => return Err(AuthError::EmailTaken),
            Err(error) => return Err(error.into()),
        };
        self.cache.forget_user(user.id);
        self.audit(Some(user.id), action, Some(user.id.to_string()), None, json!({})).await;
        Ok(user)
    }

    /// Mails a password-reset token to `email` if it has an enabled account. Only the rate
    /// limits are checked before answering; the lookup, the token and the mail happen in the
    /// background, so neither the answer nor its timing tells whether the address exists.
    pub async fn request_reset(&self, email: &str, client: &ClientInfo) -> Result<(), AuthError> {
        if !self.mail.is_on() {
            return Err(AuthError::MailOff);
        }
        let email = normalize_email(email);
        self.mail.allow(&email, client)?;
        let auth = self.clone();
        let ip = client.ip.clone();
        tokio::spawn(async move {
            if let Err(error) = auth.mail_reset(&email, ip).await {
                tracing::warn!(%error, "cannot mail a password-reset code");
            }
        });
        Ok(())
    }

    async fn mail_reset(&self, email: &str, ip: Option<String>) -> Result<(), AuthError> {
        let Some(user) = self.store.get_user_by_email(email).await?.filter(|user| !user.disabled) else {
            return Ok(());
        };
        let token = self.issue_mail_token(&user, &user.email, TokenPurpose::Reset, RESET_TTL).await?;
        let body = format!(
            "Someone asked to reset the password of the troupe account {email}.\n\nTo choose a new one, \
             enter this code in the console or send it with the new password to \
             POST /api/v1/auth/password-reset/confirm:\n\n{token}{link}\n\nIt works once, for {minutes} \
             minutes. Using it signs out every session and revokes every API key of the account. If you \
             did not ask, ignore this mail: your password stays as it is.\n",
            link = self.mail.link("reset", &token),
            minutes = RESET_TTL.as_secs() / 60,
        );
        self.mail.mailer.send(&user.email, "Reset your troupe password", body);
        self.audit(Some(user.id), "password_reset_requested", Some(user.id.to_string()), ip, json!({})).await;
        Ok(())
    }

    /// Tells `address` (the account's current email) that a change to another address was
    /// asked for, so a stolen session cannot move the account away unnoticed.
    pub fn mail_change_notice(&self, address: &str, new_address: &str) {
        let body = format!(
            "Someone signed in to your troupe account asked to change its email address to {new_address}. \
             The change takes effect once that address is verified. If it was not you, change your \
             password now.\n"
        );
        self.mail.mailer.send(address, "Your troupe email address is being changed", body);
    }

    /// Spends a reset token: sets the new password and ends every session and API key of
    /// the account. The mail reached its owner, so the address counts as verified too.
    pub async fn reset_password(&self, token: &str, new_password: &str) -> Result<UserRecord, AuthError> {
        let used = self.store.use_account_token(&digest(token), TokenPurpose::Reset, Utc::now()).await?;
        let Some(used) = used else { return Err(AuthError::BadMailToken) };
        let user = self.store.get_user(used.user_id).await?.ok_or(AuthError::BadMailToken)?;
        if user.email != used.email || user.disabled {
            return Err(AuthError::BadMailToken);
        }
        let password_hash = self.passwords.hash(new_password.to_owned()).await?.map_err(AuthError::Internal)?;
        let update = UserUpdate {
            password_hash: Some(password_hash),
            email_verified_at: user.email_verified_at.is_none().then(Utc::now),
            ..UserUpdate::default()
        };
        let user = self.store.update_user(user.id, &update).await?.ok_or(AuthError::BadMailToken)?;
        let sessions = self.store.revoke_user_sessions(user.id, None).await?;
        let keys = self.store.revoke_user_api_keys(user.id).await?;
        self.cache.forget_user(user.id);
        self.cache.forget_families();
        self.audit(
            Some(user.id),
            "password_reset",
            Some(user.id.to_string()),
            None,
            json!({"sessions_revoked": sessions, "api_keys_revoked": keys}),
        )
        .await;
        Ok(user)
    }
}

/// Shared between the service's clones.
pub type SharedMail = Arc<AccountMail>;
