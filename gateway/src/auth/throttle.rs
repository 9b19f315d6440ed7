//! Slowing down password guessing: each failed login of an account (and of a client address)
//! makes the next attempt wait longer, doubling from [`FIRST_DELAY`] after [`FREE_FAILURES`]
//! failures up to [`MAX_DELAY`]. It never locks anyone out: the right password still works
//! once the delay has passed, so a stranger cannot keep an account's owner out, only slow
//! themselves (and the owner, a little). A success clears the account's record; records of
//! quiet accounts are forgotten after [`FORGET_AFTER`].

use std::time::{Duration, Instant};

use dashmap::DashMap;

/// Failures that cost nothing.
pub const FREE_FAILURES: u32 = 3;
/// The delay after the first failure beyond the free ones.
pub const FIRST_DELAY: Duration = Duration::from_millis(250);
/// The longest delay.
pub const MAX_DELAY: Duration = Duration::from_secs(8);
/// A record with no failure for this long is forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
const MAX_ENTRIES: usize = 100_000;

/// Failure counts by key (an account's email, or a client address).
#[derive(Default)]
pub struct LoginThrottle {
    failures: DashMap<String, (u32, Instant)>,
}

impl LoginThrottle {
    /// How long the next attempt of `key` waits.
    pub fn delay(&self, key: &str) -> Duration {
        let Some(entry) = self.failures.get(key) else { return Duration::ZERO };
        let (count, last) = *entry;
        if last.elapsed() > FORGET_AFTER || count <= FREE_FAILURES {
            return Duration::ZERO;
        }
        let doublings = (count - FREE_FAILURES - 1).min(16);
        FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY)
    }

    /// Records a failed attempt of `key`.
    pub fn failed(&self, key: &str) {
        if self.failures.len() >= MAX_ENTRIES {
            self.failures.retain(|_, (_, last)| last.elapsed() <= FORGET_AFTER);
            if self.failures.len() >= MAX_ENTRIES {
                self.failures.clear();
            }
        }
        let mut entry = self.failures.entry(key.to_owned()).or_insert((0, Instant::now()));
        if entry.1.elapsed() > FORGET_AFTER {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = Instant::now();
    }

    /// Clears `key`'s failures (it logged in).
    pub fn succeeded(&self, key: &str) {
        self.failures.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_after_the_free_failures_and_a_success_clears_them() {
        let throttle = LoginThrottle::default();
        for _ in 0..FREE_FAILURES {
            throttle.failed("ada");
        }
        assert_eq!(throttle.delay("ada"), Duration::ZERO);
        throttle.failed("ada");
        assert_eq!(throttle.delay("ada"), FIRST_DELAY);
        throttle.failed("ada");
        assert_eq!(throttle.delay("ada"), FIRST_DELAY * 2);
        for _ in 0..20 {
            throttle.failed("ada");
        }
        assert_eq!(throttle.delay("ada"), MAX_DELAY);
        assert_eq!(throttle.delay("someone-else"), Duration::ZERO);
        throttle.succeeded("ada");
        assert_eq!(throttle.delay("ada"), Duration::ZERO);
    }
}
