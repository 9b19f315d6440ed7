//! Password hashing: argon2id in PHC strings, on the blocking pool (hashing is deliberately slow),
//! with a bound on the work in flight.
//!
//! At most as many hashes run at once as the machine has cores, and at most
//! [`QUEUE_PER_CORE`] per core wait for a turn; a request beyond that is refused at once
//! ([`Busy`]: the API answers 503 with `Retry-After`) instead of queueing gigabytes of argon2
//! work (19 MiB each) behind a burst.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// How many hashes may wait per core before new ones are refused.
pub const QUEUE_PER_CORE: usize = 4;

/// How expensive a password hash is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashCost {
    /// OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane. Always in production.
    Standard,
    /// 64 KiB, 1 pass: for tests only (refused in production); still argon2id and still verified.
    Fast,
}

/// Too many passwords are being hashed: retry in a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the server is busy checking passwords; retry in a moment")]
pub struct Busy;

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct Passwords {
    argon: Argon2<'static>,
    /// A hash of a random password, verified against when the user is unknown, so a login
    /// takes as long for an unknown email as for a wrong password.
    decoy: String,
    running: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
}

/// A turn to hash; the waiting count goes down when it is granted.
struct Turn(#[expect(dead_code, reason = "held for its drop, which frees the turn")] tokio::sync::OwnedSemaphorePermit);

impl Passwords {
    /// Builds a hasher of the given cost, bounded by the machine's cores.
    pub fn new(cost: HashCost) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self::with_bound(cost, cores, cores * QUEUE_PER_CORE)
    }

    /// Builds a hasher running at most `running` hashes with at most `waiting` more queued.
    pub fn with_bound(cost: HashCost, running: usize, waiting: usize) -> Self {
        let params = match cost {
            HashCost::Standard => Params::new(19 * 1024, 2, 1, None),
            HashCost::Fast => Params::new(64, 1, 1, None),
        }
        .expect("valid argon2 parameters");
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::generate(&mut OsRng);
        let decoy = argon.hash_password(uuid::Uuid::new_v4().as_bytes(), &salt).expect("argon2 hashes").to_string();
        Self {
            argon,
            decoy,
            running: Arc::new(Semaphore::new(running.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting: waiting,
        }
    }

    async fn turn(&self) -> Result<Turn, Busy> {
        if let Ok(permit) = Arc::clone(&self.running).try_acquire_owned() {
            return Ok(Turn(permit));
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy);
        }
        let permit = Arc::clone(&self.running).acquire_owned().await.expect("the semaphore is never closed");
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        Ok(Turn(permit))
    }

    /// Returns the PHC string of `password`.
    pub async fn hash(&self, password: String) -> Result<Result<String, String>, Busy> {
        let turn = self.turn().await?;
        let argon = self.argon.clone();
        let hashed = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let salt = SaltString::generate(&mut OsRng);
            argon.hash_password(password.as_bytes(), &salt).map(|hash| hash.to_string())
        })
        .await;
        Ok(match hashed {
            Ok(Ok(hash)) => Ok(hash),
            Ok(Err(error)) => Err(format!("password hashing failed: {error}")),
            Err(error) => Err(format!("password hashing failed: {error}")),
        })
    }

    /// Checks `password` against `hash` (against the decoy when `hash` is `None`, returning false).
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, Busy> {
        let turn = self.turn().await?;
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy.clone());
        let argon = self.argon.clone();
        let verified = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            PasswordHash::new(&hash).is_ok_and(|parsed| argon.verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
        .unwrap_or(false);
        Ok(known && verified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify_only_the_right_password() {
        let passwords = Passwords::new(HashCost::Fast);
        let hash = passwords.hash("correct horse".into()).await.unwrap().unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert!(passwords.verify("correct horse".into(), Some(hash.clone())).await.unwrap());
        assert!(!passwords.verify("wrong horse".into(), Some(hash)).await.unwrap());
        assert!(!passwords.verify("anything".into(), None).await.unwrap());
        assert!(!passwords.verify("x".into(), Some("not a phc string".into())).await.unwrap());
    }

    #[tokio::test]
    async fn past_the_queue_a_hash_is_refused_at_once() {
        let passwords = Passwords::with_bound(HashCost::Standard, 1, 1);
        // One running and one waiting fill the bound; the third is refused without waiting.
        let held = passwords.turn().await.unwrap();
        let waiting = {
            let passwords = passwords.clone();
            tokio::spawn(async move { passwords.turn().await.map(drop) })
        };
        while passwords.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(passwords.verify("x".into(), None).await, Err(Busy));
        drop(held);
        assert_eq!(waiting.await.unwrap(), Ok(()));
    }
}
