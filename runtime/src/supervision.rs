//! Supervision in the manner of Erlang/OTP: restart intensity and exponential backoff, and the
//! bookkeeping every supervisor of troupe shares (the core, the agent supervisors, the plugin
//! host).
//!
//! A supervisor keeps its children in [`Children`]: when ractor reports that a child exited,
//! [`Children::exited`] says which of its children it was and why. A crash is recorded in a
//! [`RestartTracker`]: while fewer than `max_restarts` crashes fall within `period`, the child
//! is restarted after a backoff that doubles with each crash in the window; past that, the
//! supervisor escalates (for an agent kind: quarantine; for a plugin: disabled; for the core:
//! the root restarts the whole core tree).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use ractor::{ActorId, SupervisionEvent};
use tokio::time::Instant;

/// The children a supervisor watches, each with what the supervisor knows it as.
#[derive(Debug)]
pub struct Children<K> {
    by_id: HashMap<ActorId, K>,
}

impl<K> Default for Children<K> {
    fn default() -> Self {
        Self { by_id: HashMap::new() }
    }
}

/// A child that exited.
#[derive(Debug)]
pub struct Exit<K> {
    /// The actor that exited.
    pub actor: ActorId,
    /// What the supervisor knew it as.
    pub child: K,
    /// Why it exited (the error or the stop reason).
    pub reason: String,
    /// Whether it failed (a panic or an error), as opposed to stopping.
    pub failed: bool,
}

impl<K> Children<K> {
    /// Watches a child started (linked) by the supervisor.
    pub fn insert(&mut self, actor: ActorId, child: K) {
        self.by_id.insert(actor, child);
    }

    /// Returns the children, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &K> {
        self.by_id.values()
    }

    /// Takes the child a supervision event is about: `None` when the event is not an exit, or
    /// is about an actor that is not (or no longer) one of these children. Every supervisor
    /// handles every exit itself (ractor's default would stop the supervisor when any child
    /// exits, even normally).
    pub fn exited(&mut self, event: SupervisionEvent) -> Option<Exit<K>> {
        let (cell, reason, failed) = match event {
            SupervisionEvent::ActorFailed(cell, error) => (cell, error.to_string(), true),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, reason.unwrap_or_else(|| "stopped".into()), false)
            }
            _ => return None,
        };
        let actor = cell.get_id();
        let child = self.by_id.remove(&actor)?;
        Some(Exit { actor, child, reason, failed })
    }
}

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
