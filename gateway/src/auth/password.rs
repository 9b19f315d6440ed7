//! Password hashing: argon2id in PHC strings, on the blocking pool (hashing is deliberately slow).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// How expensive a password hash is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashCost {
    /// OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane. Always in production.
    Standard,
    /// 64 KiB, 1 pass: for tests only (refused in production); still argon2id and still verified.
    Fast,
}

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct Passwords {
    argon: Argon2<'static>,
    /// A hash of a random password, verified against when the user is unknown, so a login
    /// takes as long for an unknown email as for a wrong password.
    decoy: String,
}

impl Passwords {
    /// Builds a hasher of the given cost.
    pub fn new(cost: HashCost) -> Self {
        let params = match cost {
            HashCost::Standard => Params::new(19 * 1024, 2, 1, None),
            HashCost::Fast => Params::new(64, 1, 1, None),
        }
        .expect("valid argon2 parameters");
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::generate(&mut OsRng);
        let decoy = argon.hash_password(uuid::Uuid::new_v4().as_bytes(), &salt).expect("argon2 hashes").to_string();
        Self { argon, decoy }
    }

    /// Returns the PHC string of `password`.
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let argon = self.argon.clone();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon.hash_password(password.as_bytes(), &salt).map(|hash| hash.to_string())
        })
        .await?
        .map_err(|error| anyhow::anyhow!("password hashing failed: {error}"))
    }

    /// Checks `password` against `hash` (against the decoy when `hash` is `None`, returning false).
    pub async fn verify(&self, password: String, hash: Option<String>) -> bool {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy.clone());
        let argon = self.argon.clone();
        let verified = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|parsed| argon.verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
        .unwrap_or(false);
        known && verified
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify_only_the_right_password() {
        let passwords = Passwords::new(HashCost::Fast);
        let hash = passwords.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert!(passwords.verify("correct horse".into(), Some(hash.clone())).await);
        assert!(!passwords.verify("wrong horse".into(), Some(hash)).await);
        assert!(!passwords.verify("anything".into(), None).await);
        assert!(!passwords.verify("x".into(), Some("not a phc string".into())).await);
    }
}
