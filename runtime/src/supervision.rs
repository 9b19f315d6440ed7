//! Restart policies in the manner of Erlang/OTP: restart intensity and exponential backoff.
//!
//! A supervisor records each crash of a child in a [`RestartTracker`]. While fewer than
//! `max_restarts` crashes fall within `period`, the child is restarted after a backoff that
//! doubles with each crash in the window; past that, the supervisor escalates (for an agent
//! kind: quarantine).

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// How a supervisor restarts a crashed child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Crashes tolerated within `period`; one more escalates.
    pub max_restarts: u32,
    /// The sliding window crashes are counted in.
    pub period: Duration,
    /// The delay before the first restart in a window; it doubles per further crash.
    pub backoff_initial: Duration,
    /// The longest restart delay.
    pub backoff_max: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            max_restarts: 5,
            period: Duration::from_secs(30),
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_secs(5),
        }
    }
}

/// What a supervisor should do after a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartDecision {
    /// Restart the child after this delay.
    Restart(Duration),
    /// The restart intensity is exceeded: escalate.
    Escalate,
}

/// The crash history of one supervised child (or group of children).
#[derive(Clone, Debug)]
pub struct RestartTracker {
    policy: RestartPolicy,
    crashes: VecDeque<Instant>,
}

impl RestartTracker {
    /// Creates a tracker with no crashes.
    pub fn new(policy: RestartPolicy) -> Self {
        Self { policy, crashes: VecDeque::new() }
    }

    /// Records a crash at `now` and decides what to do.
    pub fn record_crash(&mut self, now: Instant) -> RestartDecision {
        while self.crashes.front().is_some_and(|&at| now.duration_since(at) > self.policy.period) {
            self.crashes.pop_front();
        }
        self.crashes.push_back(now);
        let in_window = self.crashes.len() as u32;
        if in_window > self.policy.max_restarts {
            return RestartDecision::Escalate;
        }
        let factor = 2u32.saturating_pow(in_window - 1);
        RestartDecision::Restart(self.policy.backoff_initial.saturating_mul(factor).min(self.policy.backoff_max))
    }

    /// Forgets every crash (after a release from quarantine).
    pub fn reset(&mut self) {
        self.crashes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intensity_escalates_after_max_restarts_within_the_period() {
        let policy = RestartPolicy {
            max_restarts: 2,
            period: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_millis(150),
        };
        let mut tracker = RestartTracker::new(policy);
        let start = Instant::now();
        assert_eq!(tracker.record_crash(start), RestartDecision::Restart(Duration::from_millis(100)));
        assert_eq!(
            tracker.record_crash(start + Duration::from_secs(1)),
            RestartDecision::Restart(Duration::from_millis(150))
        );
        assert_eq!(tracker.record_crash(start + Duration::from_secs(2)), RestartDecision::Escalate);
        // Crashes older than the period no longer count.
        let mut tracker = RestartTracker::new(policy);
        tracker.record_crash(start);
        tracker.record_crash(start + Duration::from_secs(5));
        assert_eq!(
            tracker.record_crash(start + Duration::from_secs(12)),
            RestartDecision::Restart(Duration::from_millis(150)),
            "the crash at 5 s still counts, the one at 0 s no longer does"
        );
    }
}
