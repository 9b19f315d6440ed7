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
    /// Issues a single-use token for `user` and stores its digest.
    async fn issue_mail_token(
        &self,
        user: &UserRecord,
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
            email: user.email.clone(),
            created_at: now,
            expires_at: now + chrono::Duration::from_std(ttl).expect("a short ttl"),
        };
        self.store.insert_account_token(&record).await?;
        Ok(token)
    }

    /// Mails `user` a token that verifies their address (rate-limited per address and client).
    pub async fn send_verification(&self, user: &UserRecord, client: &ClientInfo) -> Result<(), AuthError> {
        if !self.mail.is_on() {
            return Err(AuthError::MailOff);
        }
        self.mail.allow(&user.email, client)?;
        let token = self.issue_mail_token(user, TokenPurpose::Verify, VERIFY_TTL).await?;
        let body = format!(
            "Welcome to troupe.\n\nTo verify {email}, enter this code in the console or send it to \
             POST /api/v1/auth/verify:\n\n{token}{link}\n\nIt works once, for {hours} hours. If you did not \
             create this account, ignore this mail.\n",
            email = user.email,
            link = self.mail.link("verify", &token),
            hours = VERIFY_TTL.as_secs() / 3600,
        );
        self.mail.mailer.send(&user.email, "Verify your troupe account", body);
        Ok(())
    }

    /// Spends a verification token: the address it was sent to is verified, if it is still
    /// the account's.
    pub async fn verify_email(&self, token: &str) -> Result<UserRecord, AuthError> {
        let used = self.store.use_account_token(&digest(token), TokenPurpose::Verify, Utc::now()).await?;
        let Some(used) = used else { return Err(AuthError::BadMailToken) };
        let user = self.store.get_user(used.user_id).await?.ok_or(AuthError::BadMailToken)?;
        if user.email != used.email {
            return Err(AuthError::BadMailToken);
        }
        let update = UserUpdate { email_verified_at: Some(Utc::now()), ..UserUpdate::default() };
        let user = self.store.update_user(user.id, &update).await?.ok_or(AuthError::BadMailToken)?;
        self.cache.forget_user(user.id);
        self.audit(Some(user.id), "email_verified", Some(user.id.to_string()), None, json!({})).await;
        Ok(user)
    }

    /// Mails a password-reset token to `email` if it has an enabled account. The caller
    /// answers the same either way; the rate limits count unknown addresses too.
    pub async fn request_reset(&self, email: &str, client: &ClientInfo) -> Result<(), AuthError> {
        if !self.mail.is_on() {
            return Err(AuthError::MailOff);
        }
        let email = normalize_email(email);
        self.mail.allow(&email, client)?;
        let Some(user) = self.store.get_user_by_email(&email).await?.filter(|user| !user.disabled) else {
            return Ok(());
        };
        let token = self.issue_mail_token(&user, TokenPurpose::Reset, RESET_TTL).await?;
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
        self.audit(Some(user.id), "password_reset_requested", Some(user.id.to_string()), client.ip.clone(), json!({}))
            .await;
        Ok(())
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
